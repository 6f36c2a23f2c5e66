//! # Inference
//!
//! dApps ask for inference on a registered model and escrow `$OPG`; a stake-weighted random
//! committee of workers runs the model, commits to its outputs, reveals them, and the request
//! settles only when a quorum agrees.
//!
//! Lifecycle of a request (every phase has a deadline in blocks):
//!
//! 1. `request_inference` holds `max_fee` on the requester (`HoldReason::Escrow`) and a storage
//!    deposit (`HoldReason::RequestDeposit`, until the request fails or its answer is pruned);
//!    past an eighth of a full draw queue it also pays the treasury a queue fee.
//! 2. **Draw**: requests wait in a queue (at most `MaxPendingDraws`); `DrawRandomness::DELAY`
//!    blocks later at the earliest, `on_initialize` draws a committee of `seats` workers
//!    serving the model, weighted by stake, from the drawing block's randomness (the runtime's
//!    BABE VRF outputs, which no author can re-roll, only withhold; `docs/ARCHITECTURE.md` has
//!    the remaining bias). Escalated committees likewise, `DELAY` blocks after the verdict
//!    (`Phase::Escalating`). The hook spends at most `MaxHookWeight` a
//!    block on draws and deadlines together; what does not fit waits, in order, for the next.
//!    A request not drawn within `MaxDrawWait` blocks ends `Congested`, refunded in full.
//! 3. **Commit** until `CommitWindow` blocks have passed or every member committed:
//!    `commit = blake2_256(blake2_256(answer) ‖ member account ‖ salt)`, where the answer is
//!    the model's output or its typed refusal of the input, and the salt a fresh secret 32
//!    bytes. Members missing the deadline are slashed `NoShowSlash`.
//! 4. **Reveal** until `RevealWindow` more blocks or everyone revealed; a reveal (answer and
//!    salt) must match its commitment. A first round that may escalate is **sealed**: its
//!    members reveal only their answers' digests (`reveal_digest`). A quorum of equal digests
//!    (or a request that cannot escalate) goes on to **Publish**, where the answers behind the
//!    digests are published (`publish`) and judged as below; otherwise the request escalates
//!    at once, and the first round publishes during the escalated round's reveal phase, after
//!    the escalated committee has committed, so no escalated member can read a first-round
//!    answer before it commits (a digest hides the answer unless the model has so few possible
//!    answers that hashing each one finds it). A member that revealed a digest and does not
//!    publish is slashed like one that did not reveal.
//! 5. **Verdict**: outputs are grouped by the model's comparison rule; ⌈2k/3⌉ agreeing members
//!    settle the request. Members outside the group, and members that committed without a valid
//!    reveal, are slashed `WrongOutputSlash`. Without a quorum the request escalates once to
//!    `2k + 1` seats (when `max_fee` pays both rounds' `3k + 1` members), keeping the first
//!    round's answers: the escalated verdict judges them too, so a first-round member who
//!    revealed another answer is slashed and one who revealed the agreed answer is paid. When
//!    neither round reaches a quorum the request fails with a full refund and nobody who
//!    revealed is slashed: no answer is known to be wrong.
//! 6. **Settle**: the owner gets the price, each agreeing member the per-member fee (credited to
//!    it and its delegators through the worker registry), the treasury its share; the rest of
//!    the hold returns to the requester. The answer is kept for `ResultRetention` blocks and
//!    consumers are told through `OnInferenceResult`. When the agreed answer is a refusal of the
//!    input, the request ends **rejected**: the agreeing members and the treasury are paid, the
//!    owner is not, the rest of the hold returns to the requester.
//!
//! Members submit `commit` and `reveal` as fee-free general transactions authorized by a
//! signature of their worker key (`#[pallet::authorize]`): only a member of the request's open
//! phase can submit, once per phase.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
mod dispatchable_impls;
mod invariants;
pub mod migrations;
#[cfg(test)]
mod mock;
pub mod protocol;
mod queries;
#[cfg(test)]
mod tests;
mod tick_impls;
pub mod traits;
pub mod types;
pub mod weights;

pub use traits::*;
pub use types::*;
pub use weights::WeightInfo;

/// The message a member signs to commit.
pub fn commit_payload(request: RequestId, round: u8, commitment: &[u8; 32]) -> alloc::vec::Vec<u8> {
	use codec::Encode;
	(b"opg/commit", request, round, commitment).encode()
}

/// The message a member signs to reveal: the answer (by its hash) and the salt.
pub fn reveal_payload(
	request: RequestId,
	round: u8,
	answer: &opg_primitives::inference::Answer,
	salt: &[u8; 32],
) -> alloc::vec::Vec<u8> {
	use codec::Encode;
	(b"opg/reveal", request, round, sp_runtime::traits::BlakeTwo256::hash(&answer.encode()), salt).encode()
}

/// The message a member of a sealed round signs to reveal its answer's digest and its salt.
pub fn reveal_digest_payload(request: RequestId, round: u8, digest: &[u8; 32], salt: &[u8; 32]) -> alloc::vec::Vec<u8> {
	use codec::Encode;
	(b"opg/reveal-digest", request, round, digest, salt).encode()
}

/// The message a member of a sealed first round signs to publish its answer (by its hash).
pub fn publish_payload(request: RequestId, answer: &opg_primitives::inference::Answer) -> alloc::vec::Vec<u8> {
	use codec::Encode;
	(b"opg/publish", request, sp_runtime::traits::BlakeTwo256::hash(&answer.encode())).encode()
}

use sp_runtime::traits::Hash as _;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::fungible::{Inspect, Mutate, MutateHold},
	};
	use frame_system::pallet_prelude::*;
	use opg_primitives::inference::{
		Answer, BoundedValue, ComparisonRule, ExecutionProfile, ModelFormat, Rejection, Value,
	};
	use sp_runtime::{Perbill, RuntimeAppPublic};

	pub(crate) type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type ModelOf<T> = Model<
		<T as frame_system::Config>::AccountId,
		BalanceOf<T>,
		<T as Config>::MaxArchitectureLen,
		<T as Config>::MaxUris,
		<T as Config>::MaxUriLen,
	>;
	pub type RequestOf<T> = Request<
		<T as frame_system::Config>::AccountId,
		BalanceOf<T>,
		BlockNumberFor<T>,
		<T as Config>::ModelId,
		<T as Config>::WorkerKey,
		<T as Config>::MaxInputLen,
		<T as Config>::MaxSeats,
	>;
	pub type ResultOf<T> = InferenceResult<<T as Config>::ModelId, BlockNumberFor<T>, <T as Config>::MaxOutputLen>;
	pub type AnswerOf<T> = StoredAnswer<<T as Config>::MaxOutputLen>;
	pub type UrisOf<T> = BoundedVec<BoundedVec<u8, <T as Config>::MaxUriLen>, <T as Config>::MaxUris>;
	pub type SignatureOf<T> = <<T as Config>::WorkerKey as RuntimeAppPublic>::Signature;
	pub type SealedAnswerOf<T> = SealedAnswer<<T as frame_system::Config>::AccountId, <T as Config>::WorkerKey>;

	/// 1: committee draws queue by request id (`NextToDraw`) instead of one block's list.
	/// 2: inputs and outputs are stored as typed values (`BoundedValue`) instead of bytes.
	/// 4: sealed first rounds (`Digests`, `SealedSince`); commitments bind answers by digest.
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(4);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		#[allow(deprecated)]
		type RuntimeEvent: From<Event<Self>> + IsType<<Self as frame_system::Config>::RuntimeEvent>;

		/// The token fees and deposits are paid in.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		type RuntimeHoldReason: From<HoldReason>;

		/// A model's content id.
		type ModelId: Parameter + Member + MaxEncodedLen + Copy + Ord;

		/// The key workers sign commits and reveals with.
		type WorkerKey: Parameter + Member + MaxEncodedLen + Ord + RuntimeAppPublic;

		/// Workers, their stake, their rewards and their slashes.
		type Workers: WorkerRegistry<Self::AccountId, Self::WorkerKey, Self::ModelId, BalanceOf<Self>>;

		/// Told about every settled or failed request.
		type OnResult: OnInferenceResult<Self::AccountId, Self::ModelId>;

		/// Receives the treasury share of each settled request.
		type Treasury: Get<Self::AccountId>;

		/// Held from a model's owner while the model is registered.
		#[pallet::constant]
		type ModelDeposit: Get<BalanceOf<Self>>;

		/// The newest version of the portable execution profile the network's workers implement.
		/// A model may be registered under any version up to it; raise it once the engines that
		/// implement the new version are deployed.
		#[pallet::constant]
		type LatestPortableVersion: Get<u16>;

		/// Paid to each agreeing committee member of a settled request.
		#[pallet::constant]
		type VerificationFee: Get<BalanceOf<Self>>;

		/// The treasury's share on top of price and member fees.
		#[pallet::constant]
		type TreasuryShare: Get<Perbill>;

		/// Committee seats when the requester does not choose.
		#[pallet::constant]
		type DefaultSeats: Get<u32>;

		/// Members a request's rounds may hold together: a request may ask for at most
		/// `(MaxSeats - 1) / 3` seats, so that its escalated committee (`2k + 1`) and the first
		/// round it judges again fit, and so does the deadline that judges them all.
		#[pallet::constant]
		type MaxSeats: Get<u32>;

		/// Blocks members have to commit.
		#[pallet::constant]
		type CommitWindow: Get<BlockNumberFor<Self>>;

		/// Blocks members have to reveal after the commit phase.
		#[pallet::constant]
		type RevealWindow: Get<BlockNumberFor<Self>>;

		/// Slash for a wrong, unrevealed or mismatching output.
		#[pallet::constant]
		type WrongOutputSlash: Get<Perbill>;

		/// Slash for not committing at all.
		#[pallet::constant]
		type NoShowSlash: Get<Perbill>;

		/// Largest request input in bytes.
		#[pallet::constant]
		type MaxInputLen: Get<u32>;

		/// Largest revealed output in bytes.
		#[pallet::constant]
		type MaxOutputLen: Get<u32>;

		#[pallet::constant]
		type MaxArchitectureLen: Get<u32>;

		#[pallet::constant]
		type MaxUris: Get<u32>;

		#[pallet::constant]
		type MaxUriLen: Get<u32>;

		/// Requests accepted and not yet drawn; a request beyond it is refused (`TooManyRequests`).
		#[pallet::constant]
		type MaxPendingDraws: Get<u32>;

		/// Blocks a request may wait in the draw queue; one still waiting after them is ended
		/// (`Congested`) and refunded rather than drawn late.
		#[pallet::constant]
		type MaxDrawWait: Get<BlockNumberFor<Self>>;

		/// Deadlines, and expiries, scheduled for one block.
		#[pallet::constant]
		type MaxDeadlinesPerBlock: Get<u32>;

		/// The most `on_initialize` spends a block on committee draws and phase deadlines
		/// (expiries, bounded by `MaxDeadlinesPerBlock`, come on top). It must hold the worst
		/// single deadline (checked by `integrity_test`), and with the share of the block
		/// ordinary transactions get it must not exceed the block: then the hook never takes
		/// room that users' transactions need.
		#[pallet::constant]
		type MaxHookWeight: Get<Weight>;

		/// Blocks a settled answer stays in storage.
		#[pallet::constant]
		type ResultRetention: Get<BlockNumberFor<Self>>;

		/// Held from a requester while its request, and then its answer, take room in state:
		/// released when the request fails, or when its answer is pruned after
		/// `ResultRetention`.
		#[pallet::constant]
		type RequestDeposit: Get<BalanceOf<Self>>;

		/// What a request pays the treasury, beyond its fee ceiling and not refunded, when the
		/// draw queue is busy: nothing while at most an eighth of `MaxPendingDraws` wait, then
		/// `QueueFee × (8 × beyond / MaxPendingDraws)²` for the requests waiting beyond that
		/// eighth, so filling the queue to keep others out costs more the fuller it gets.
		#[pallet::constant]
		type QueueFee: Get<BalanceOf<Self>>;

		/// The randomness committees are drawn from (see [`DrawRandomness`]).
		type Randomness: DrawRandomness;

		type WeightInfo: WeightInfo;

		/// Sets up workers and keys for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::benchmarking::BenchmarkHelper<Self>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A model owner's deposit.
		ModelDeposit,
		/// A requester's fee ceiling, held until the request ends.
		Escrow,
		/// A requester's storage deposit, held until its request fails or its answer is pruned.
		RequestDeposit,
	}

	#[pallet::storage]
	pub type Models<T: Config> = StorageMap<_, Identity, T::ModelId, ModelOf<T>>;

	#[pallet::storage]
	pub type NextRequestId<T: Config> = StorageValue<_, RequestId, ValueQuery>;

	/// Open requests.
	#[pallet::storage]
	pub type Requests<T: Config> = StorageMap<_, Twox64Concat, RequestId, RequestOf<T>>;

	/// Revealed answers of open requests, by seat.
	#[pallet::storage]
	pub type Outputs<T: Config> = StorageDoubleMap<_, Twox64Concat, RequestId, Twox64Concat, u32, AnswerOf<T>>;

	/// The first request still waiting for its committee: requests `NextToDraw..NextRequestId`
	/// are drawn in this order as the hook has room.
	#[pallet::storage]
	pub type NextToDraw<T: Config> = StorageValue<_, RequestId, ValueQuery>;

	/// The earliest block whose deadlines are not all processed yet, when the hook fell behind.
	#[pallet::storage]
	pub type OverdueSince<T: Config> = StorageValue<_, BlockNumberFor<T>, OptionQuery>;

	/// Requests whose phase deadline falls in a block.
	#[pallet::storage]
	pub type Deadlines<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, BoundedVec<RequestId, T::MaxDeadlinesPerBlock>, ValueQuery>;

	/// Settled answers, kept for `ResultRetention` blocks.
	#[pallet::storage]
	pub type Results<T: Config> = StorageMap<_, Twox64Concat, RequestId, ResultOf<T>>;

	/// Answers that expire in a block.
	#[pallet::storage]
	pub type Expiries<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, BoundedVec<RequestId, T::MaxDeadlinesPerBlock>, ValueQuery>;

	/// The answers a first round revealed before it escalated, by seat, with who revealed them:
	/// judged against the escalated round's verdict (slashed if they differ, paid if they
	/// agree), dropped unjudged when no round reaches a quorum.
	#[pallet::storage]
	pub type FirstRoundAnswers<T: Config> =
		StorageDoubleMap<_, Twox64Concat, RequestId, Twox64Concat, u32, (T::AccountId, AnswerOf<T>)>;

	/// The digests a sealed first round revealed, by seat: kept until the request ends, so the
	/// answers published later (in the `Publish` phase, or in the escalated round's reveal
	/// phase) can be checked against them and their members held to account.
	#[pallet::storage]
	pub type Digests<T: Config> = StorageDoubleMap<_, Twox64Concat, RequestId, Twox64Concat, u32, SealedAnswerOf<T>>;

	/// Requests made from this block on seal a first round that may escalate; older ones were
	/// committed to before commitments bound answers by digest, and reveal them whole.
	#[pallet::storage]
	pub type SealedSince<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// Storage deposits of open requests and retained answers: who holds them, and how much
	/// (requests made before deposits have none).
	#[pallet::storage]
	pub type Deposits<T: Config> = StorageMap<_, Twox64Concat, RequestId, (T::AccountId, BalanceOf<T>)>;

	/// The open requests each worker sits on (what its node must work on).
	#[pallet::storage]
	pub type Assignments<T: Config> = StorageDoubleMap<_, Twox64Concat, T::AccountId, Twox64Concat, RequestId, ()>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		ModelRegistered {
			model: T::ModelId,
			owner: T::AccountId,
			price: BalanceOf<T>,
		},
		ModelUpdated {
			model: T::ModelId,
			price: BalanceOf<T>,
		},
		/// The model takes no new requests; open ones finish at their terms.
		ModelRetired {
			model: T::ModelId,
		},
		InferenceRequested {
			request: RequestId,
			requester: T::AccountId,
			model: T::ModelId,
			seats: u32,
			max_fee: BalanceOf<T>,
		},
		/// A committee was drawn; its members commit in blocks up to `commit_ends`, inclusive.
		CommitteeDrawn {
			request: RequestId,
			round: u8,
			members: Vec<T::AccountId>,
			commit_ends: BlockNumberFor<T>,
		},
		Committed {
			request: RequestId,
			worker: T::AccountId,
		},
		/// Commits are closed; members reveal in blocks up to `ends`, inclusive.
		RevealStarted {
			request: RequestId,
			ends: BlockNumberFor<T>,
		},
		/// A member revealed its answer, or in a sealed round the answer's digest.
		Revealed {
			request: RequestId,
			worker: T::AccountId,
		},
		/// A member was slashed for `reason` on this request.
		MemberSlashed {
			request: RequestId,
			worker: T::AccountId,
			reason: opg_primitives::Misconduct,
			amount: BalanceOf<T>,
		},
		/// No quorum: a larger committee of `seats` is drawn by the hook of block `draws_at`.
		Escalated {
			request: RequestId,
			seats: u32,
			draws_at: BlockNumberFor<T>,
		},
		/// The committee agreed on `output`; the requester paid `paid` and got the rest back.
		/// `agreeing` are the members paid: this round's and, after an escalation, the first
		/// round's members who revealed the same answer (once per seat).
		Settled {
			request: RequestId,
			output: BoundedValue<T::MaxOutputLen>,
			agreeing: Vec<T::AccountId>,
			paid: BalanceOf<T>,
		},
		/// The committee agreed that the model refuses the input for `reason`: the members were
		/// paid for their work (`paid` in all), the owner nothing, the rest released.
		Rejected {
			request: RequestId,
			reason: Rejection,
			agreeing: Vec<T::AccountId>,
			paid: BalanceOf<T>,
		},
		/// The request ended without an answer; the requester's hold was released in full.
		Failed {
			request: RequestId,
			reason: FailureReason,
		},
		/// A settled answer left storage at the end of its retention window.
		ResultPruned {
			request: RequestId,
		},
		/// The sealed first round's digests reached a quorum (or it is published to be judged by the rule): its
		/// members publish their answers in blocks up to `ends`, inclusive.
		PublishStarted {
			request: RequestId,
			ends: BlockNumberFor<T>,
		},
		/// A first-round member published the answer behind its revealed digest.
		Published {
			request: RequestId,
			worker: T::AccountId,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No model is registered under this id.
		UnknownModel,
		/// A model with this id is already registered.
		ModelExists,
		/// Only the model's owner may do this.
		NotOwner,
		/// More than `MaxUris` URIs, a URI longer than `MaxUriLen`, or no URI at all.
		BadUris,
		/// The architecture name is empty or longer than `MaxArchitectureLen`.
		BadArchitecture,
		/// The input holds nothing: no text, no tokens, or a tensor without elements.
		EmptyInput,
		/// The input's encoding is longer than `MaxInputLen` bytes.
		InputTooLarge,
		/// The output's encoding is longer than `MaxOutputLen` bytes.
		OutputTooLarge,
		/// Seats must be at least 1 and at most `(MaxSeats - 1) / 3`.
		SeatsOutOfBounds,
		/// `max_fee` is below price + seats × verification fee + treasury share.
		FeeTooLow,
		/// The free balance cannot cover `max_fee` or the model deposit.
		InsufficientBalance,
		/// Fewer eligible workers serve this model than the committee needs.
		NotEnoughWorkers,
		/// `MaxPendingDraws` requests already wait for their committee; submit again later.
		TooManyRequests,
		/// No open request with this id.
		UnknownRequest,
		/// The request is not in the phase (or round) this submission is for.
		WrongPhase,
		/// The key is not on the request's committee.
		NotMember,
		/// This member already committed in this round.
		AlreadyCommitted,
		/// This member already revealed, or never committed.
		CannotReveal,
		/// The output does not match the member's commitment (or its revealed digest).
		CommitmentMismatch,
		/// The worker key's signature does not verify.
		BadSignature,
		/// An amount overflowed.
		Overflow,
		/// The revealed output is not exactly one canonically encoded value.
		UndecodableOutput,
		/// The comparison rule is looser than `MAX_RULE_ULPS` / `MAX_RULE_ABS_TOL_BITS` (or its
		/// absolute tolerance is negative, infinite or NaN).
		RuleTooLoose,
		/// The profile is a portable version the network's workers do not implement (above
		/// `LatestPortableVersion`), or version 1 spelled as `PortableVersion(1)`.
		UnsupportedProfile,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::tick(now)
		}

		fn integrity_test() {
			let worst = Self::worst_single_deadline();
			assert!(
				worst.all_lte(T::MaxHookWeight::get()),
				"MaxHookWeight {:?} cannot hold the worst deadline {:?}",
				T::MaxHookWeight::get(),
				worst
			);
			assert!(T::MaxPendingDraws::get() > 0, "MaxPendingDraws must be positive");
			// The smallest value (an empty text) encodes to two bytes.
			assert!(
				T::MaxInputLen::get() >= 2 && T::MaxOutputLen::get() >= 2,
				"MaxInputLen and MaxOutputLen must hold a value"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register a model; its owner is the signer, who deposits `ModelDeposit`.
		///
		/// - `model`: blake2-256 of the model bundle's canonical manifest.
		/// - `format`, `architecture`: how the engine loads it.
		/// - `price`: what the owner earns per settled request.
		/// - `rule`, `profile`: how outputs are compared, how workers must execute.
		/// - `uris`: where workers fetch the bundle (at least one).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_model())]
		pub fn register_model(
			origin: OriginFor<T>,
			model: T::ModelId,
			format: ModelFormat,
			architecture: Vec<u8>,
			#[pallet::compact] price: BalanceOf<T>,
			rule: ComparisonRule,
			profile: ExecutionProfile,
			uris: Vec<Vec<u8>>,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_register_model(owner, model, format, architecture, price, rule, profile, uris)
		}

		/// Change a model's price and URIs. Owner only; open requests keep their terms.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_model())]
		pub fn update_model(
			origin: OriginFor<T>,
			model: T::ModelId,
			#[pallet::compact] price: BalanceOf<T>,
			uris: Vec<Vec<u8>>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_model(who, model, price, uris)
		}

		/// Retire a model: no new requests, the deposit is released. Owner only.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::retire_model())]
		pub fn retire_model(origin: OriginFor<T>, model: T::ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_retire_model(who, model)
		}

		/// Ask for inference on `model` with `input`, holding `max_fee` until the request ends.
		///
		/// - `seats`: committee size (default `DefaultSeats`).
		/// - `max_fee`: the most the committee's work will cost the signer; must cover price +
		///   seats × verification fee + treasury share. What is not spent is released.
		///
		/// Besides, `RequestDeposit` is held until the request fails or its answer is pruned,
		/// and when the draw queue is busy [`Pallet::queue_fee`] goes to the treasury (what it
		/// is in the block the request is included in).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::request_inference(input.encoded_size() as u32)
			.saturating_add(Pallet::<T>::deposit_weight()))]
		pub fn request_inference(
			origin: OriginFor<T>,
			model: T::ModelId,
			input: Value,
			#[pallet::compact] max_fee: BalanceOf<T>,
			seats: Option<u32>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_request_inference(who, model, input, max_fee, seats)
		}

		/// A committee member commits to its answer:
		/// `blake2_256(blake2_256(SCALE(answer)) ‖ SCALE(account) ‖ salt)` with a fresh secret
		/// salt ([`opg_primitives::inference::commitment`]), signed with its worker key over
		/// [`commit_payload`]. Fee-free; valid once per member and round while commits are open.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::commit())]
		#[pallet::authorize(Pallet::<T>::authorize_commit)]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_commit())]
		pub fn commit(
			origin: OriginFor<T>,
			request: RequestId,
			round: u8,
			key: T::WorkerKey,
			commitment: [u8; 32],
			signature: SignatureOf<T>,
		) -> DispatchResultWithPostInfo {
			frame_system::ensure_authorized(origin)?;
			Self::do_commit(request, round, key, commitment, &signature)
		}

		/// A committee member reveals the answer it committed to (the model's output, or its
		/// refusal of the input) and the salt, signed with its worker key over
		/// [`reveal_payload`]. Fee-free; valid once per member while reveals are open.
		#[pallet::call_index(5)]
		#[pallet::weight(
			T::WeightInfo::reveal(T::MaxSeats::get())
				.saturating_add(Pallet::<T>::slashes_weight(T::MaxSeats::get()))
				.saturating_add(T::WeightInfo::draw(T::MaxSeats::get()))
		)]
		#[pallet::authorize(Pallet::<T>::authorize_reveal)]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_reveal())]
		pub fn reveal(
			origin: OriginFor<T>,
			request: RequestId,
			round: u8,
			key: T::WorkerKey,
			answer: Answer,
			salt: [u8; 32],
			signature: SignatureOf<T>,
		) -> DispatchResultWithPostInfo {
			frame_system::ensure_authorized(origin)?;
			Self::do_reveal(request, round, key, answer, salt, &signature)
		}

		/// A member of a sealed first round reveals the digest of the answer it committed to
		/// ([`opg_primitives::inference::answer_digest`]) and the salt, signed with its worker key
		/// over [`reveal_digest_payload`]. The answer stays hidden until the round is published
		/// or the escalated round has committed. Fee-free; once per member.
		#[pallet::call_index(6)]
		#[pallet::weight(
			T::WeightInfo::reveal(T::MaxSeats::get())
				.saturating_add(Pallet::<T>::slashes_weight(T::MaxSeats::get()))
				.saturating_add(T::WeightInfo::draw(T::MaxSeats::get()))
				.saturating_add(Pallet::<T>::sealed_reads_weight())
		)]
		#[pallet::authorize(Pallet::<T>::authorize_reveal_digest)]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_reveal())]
		pub fn reveal_digest(
			origin: OriginFor<T>,
			request: RequestId,
			round: u8,
			key: T::WorkerKey,
			digest: [u8; 32],
			salt: [u8; 32],
			signature: SignatureOf<T>,
		) -> DispatchResultWithPostInfo {
			frame_system::ensure_authorized(origin)?;
			Self::do_reveal_digest(request, round, key, digest, salt, &signature)
		}

		/// A member of a sealed first round publishes the answer behind the digest it revealed,
		/// signed with its worker key over [`publish_payload`]: in the `Publish` phase, or in
		/// the escalated round's reveal phase. Fee-free; once per member.
		#[pallet::call_index(7)]
		#[pallet::weight(
			T::WeightInfo::reveal(T::MaxSeats::get())
				.saturating_add(Pallet::<T>::slashes_weight(T::MaxSeats::get()))
				.saturating_add(Pallet::<T>::sealed_reads_weight())
		)]
		#[pallet::authorize(Pallet::<T>::authorize_publish)]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_reveal().saturating_add(Pallet::<T>::sealed_reads_weight()))]
		pub fn publish(
			origin: OriginFor<T>,
			request: RequestId,
			key: T::WorkerKey,
			answer: Answer,
			signature: SignatureOf<T>,
		) -> DispatchResultWithPostInfo {
			frame_system::ensure_authorized(origin)?;
			Self::do_publish(request, key, answer, &signature)
		}
	}

	impl<T: Config> Pallet<T> {
		/// The largest first round a request may ask for: with its escalation (`2k + 1`) the
		/// two rounds hold `3k + 1` members, at most `MaxSeats`.
		pub fn max_first_round_seats() -> u32 {
			T::MaxSeats::get().saturating_sub(1) / 3
		}

		/// What a request on `model` with `seats` costs at most, if the model exists.
		pub fn quote(model: &T::ModelId, seats: u32) -> Option<BalanceOf<T>> {
			let m = Models::<T>::get(model)?;
			protocol::cost(m.price, T::VerificationFee::get(), T::TreasuryShare::get(), seats).map(|c| c.total)
		}

		/// The holds and transfers of a request's deposit and queue fee beyond the benchmarked
		/// call, and of releasing the deposit beyond the benchmarked pruning: until the weights
		/// are regenerated with the benchmarks that cover them, two reads and writes each.
		pub fn deposit_weight() -> Weight {
			T::DbWeight::get().reads_writes(2, 2)
		}

		/// Reading a request's sealed digests and publications beyond the benchmarked reveal:
		/// until the weights are regenerated with benchmarks of `reveal_digest` and `publish`,
		/// two reads for each first-round seat.
		pub fn sealed_reads_weight() -> Weight {
			T::DbWeight::get().reads(2 * Self::max_first_round_seats() as u64)
		}

		/// What a request made now pays the treasury for its place in a busy draw queue.
		pub fn queue_fee() -> BalanceOf<T> {
			let waiting = NextRequestId::<T>::get().saturating_sub(NextToDraw::<T>::get());
			protocol::queue_fee(T::QueueFee::get(), waiting, T::MaxPendingDraws::get())
		}
	}
}
