//! # Worker staking
//!
//! Workers run inference and sit on verification committees; this pallet is what they put at
//! stake for it.
//!
//! - A **worker** registers a stash account with a bond of at least `MinWorkerBond`, a worker key
//!   (an sr25519 key its node signs duties with, distinct from the stash), the models it serves
//!   and a commission.
//! - Any account **delegates** to a worker. Bonds and delegations are fungible holds on the
//!   staker's own account (`HoldReason::WorkerBond`, `HoldReason::Delegation`).
//! - Unbonding takes `UnbondingPeriod` blocks; unbonding funds stay slashable, so leaving does
//!   not escape a pending slash. A leaving worker goes through the same delay.
//! - **Rewards** credited to a worker pay its commission first; the rest is shared by its active
//!   stake (its own bond included) through a reward-per-stake accumulator, settled lazily and
//!   claimed with `claim_rewards`: no loop over delegators.
//! - A **slash** takes a fraction of the worker's and every delegation's stake (active and
//!   unbonding) and moves it to the treasury account.
//!
//! - A worker with session keys may declare itself a **validator candidate** (`validate`, until
//!   `chill` or `leave`). At each session the validators are the candidates with the most
//!   stake (own + delegated, active), at most `MaxValidators`; with fewer than `MinValidators`
//!   candidates the set stays as it is ([`validator_impls`]). The runtime hands the choice to
//!   the session pallet.
//!
//! The inference pallet reaches this pallet through a trait it defines; the runtime implements
//! that trait with the public functions in [`duty_impls`].

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
mod dispatchable_impls;
pub mod duty_impls;
mod invariants;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod traits;
pub mod types;
pub mod validator_impls;
pub mod weights;

pub use traits::{ModelCatalog, SessionKeysRegistry};
pub use types::*;
pub use weights::WeightInfo;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			BuildGenesisConfig,
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{Perbill, RuntimeAppPublic};

	pub(crate) type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type StakeOf<T> = Stake<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::MaxUnbondingChunks>;
	pub type WorkerOf<T> = Worker<
		<T as Config>::WorkerKey,
		<T as Config>::ModelId,
		BalanceOf<T>,
		BlockNumberFor<T>,
		<T as Config>::MaxModelsPerWorker,
		<T as Config>::MaxUnbondingChunks,
	>;
	pub type ModelsOf<T> = BoundedVec<<T as Config>::ModelId, <T as Config>::MaxModelsPerWorker>;
	/// A worker key's signature: the proof that a registering stash holds the key.
	pub type KeyProofOf<T> = <<T as Config>::WorkerKey as RuntimeAppPublic>::Signature;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		#[allow(deprecated)]
		type RuntimeEvent: From<Event<Self>> + IsType<<Self as frame_system::Config>::RuntimeEvent>;

		/// The staked token.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// A worker's public key; it signs its possession proof at registration.
		type WorkerKey: Parameter + Member + MaxEncodedLen + Ord + MaybeSerializeDeserialize + RuntimeAppPublic;

		/// A model's content id.
		type ModelId: Parameter + Member + MaxEncodedLen + Ord + Copy + MaybeSerializeDeserialize;

		/// The smallest own bond a worker may register with or keep while serving.
		#[pallet::constant]
		type MinWorkerBond: Get<BalanceOf<Self>>;

		/// The smallest delegation.
		#[pallet::constant]
		type MinDelegation: Get<BalanceOf<Self>>;

		/// Blocks between unbonding and withdrawing; slashes still reach funds in this window.
		#[pallet::constant]
		type UnbondingPeriod: Get<BlockNumberFor<Self>>;

		/// Blocks between a worker raising its commission and the new rate applying: its
		/// delegators' time to undelegate first. Lowering it applies at once.
		#[pallet::constant]
		type CommissionRiseDelay: Get<BlockNumberFor<Self>>;

		/// Models one worker may serve.
		#[pallet::constant]
		type MaxModelsPerWorker: Get<u32>;

		/// Workers one model may have (bounds the committee candidate list). When it is full,
		/// a worker with more active stake than the weakest candidate takes its place.
		#[pallet::constant]
		type MaxWorkersPerModel: Get<u32>;

		/// Delegation records one worker may have (bounds a slash's work).
		#[pallet::constant]
		type MaxDelegatorsPerWorker: Get<u32>;

		/// Unbonding chunks one position may have at once.
		#[pallet::constant]
		type MaxUnbondingChunks: Get<u32>;

		/// Derives the account that holds rewards until they are claimed.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Where slashed funds go.
		type Treasury: Get<Self::AccountId>;

		/// The models that exist to be served: a worker may join only these.
		type Models: ModelCatalog<Self::ModelId>;

		/// Who has session keys set: only they may be validator candidates.
		type SessionKeys: SessionKeysRegistry<Self::AccountId>;

		/// The most validators a session has: the candidates with the most stake.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// The fewest validators a session has: with fewer eligible candidates the validator
		/// set is left as it is.
		#[pallet::constant]
		type MinValidators: Get<u32>;

		/// Slots in a session (a BABE epoch) on a chain whose genesis sets no other length.
		#[pallet::constant]
		type DefaultSessionLength: Get<u64>;

		/// Validator candidates at once (bounds the work of choosing a session's validators).
		#[pallet::constant]
		type MaxValidatorCandidates: Get<u32>;

		type WeightInfo: WeightInfo;

		/// Makes worker keys and model ids for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::BenchmarkHelper<Self::WorkerKey, Self::ModelId>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A worker's own bond (active or unbonding).
		WorkerBond,
		/// Funds delegated to workers (active or unbonding).
		Delegation,
	}

	/// Registered workers by stash account.
	#[pallet::storage]
	pub type Workers<T: Config> = StorageMap<_, Twox64Concat, T::AccountId, WorkerOf<T>>;

	/// The stash account behind each worker key (keys are unique across workers).
	#[pallet::storage]
	pub type WorkerKeys<T: Config> = StorageMap<_, Blake2_128Concat, T::WorkerKey, T::AccountId>;

	/// The workers serving each model, in the order they joined: at most `MaxWorkersPerModel`,
	/// the weakest replaced by a stronger newcomer when full.
	#[pallet::storage]
	pub type ModelWorkers<T: Config> =
		StorageMap<_, Identity, T::ModelId, BoundedVec<T::AccountId, T::MaxWorkersPerModel>, ValueQuery>;

	/// Delegations: worker, delegator → position.
	#[pallet::storage]
	pub type Delegations<T: Config> =
		StorageDoubleMap<_, Twox64Concat, T::AccountId, Blake2_128Concat, T::AccountId, StakeOf<T>>;

	/// Commission rises waiting out `CommissionRiseDelay`: the new rate and the first block it
	/// applies in.
	#[pallet::storage]
	pub type PendingCommission<T: Config> = StorageMap<_, Twox64Concat, T::AccountId, (Perbill, BlockNumberFor<T>)>;

	/// Workers that offer to validate, in the order they declared it.
	#[pallet::storage]
	pub type ValidatorCandidates<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxValidatorCandidates>, ValueQuery>;

	/// Workers that take no new delegations (the ones they have stay).
	#[pallet::storage]
	pub type ClosedToDelegations<T: Config> = StorageMap<_, Twox64Concat, T::AccountId, ()>;

	/// The fraction each validator was slashed to for offences (equivocations) in a session. A
	/// report of a later offender in the same slot or round repeats the earlier ones with a
	/// larger fraction: only the difference is slashed. Forgotten with the session's history.
	#[pallet::storage]
	pub type OffenceSlashes<T: Config> =
		StorageDoubleMap<_, Twox64Concat, u32, Twox64Concat, T::AccountId, Perbill, ValueQuery>;

	/// Slots in a session, a BABE epoch (the runtime's `EpochDuration`). Set at genesis — short
	/// for development chains, ten minutes by default — and never changed: BABE cannot change the
	/// length of its epochs on a running chain, so no call writes it.
	#[pallet::storage]
	pub type SessionLength<T: Config> = StorageValue<_, u64, ValueQuery, T::DefaultSessionLength>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Workers registered at genesis: stash, bond (smallest units), worker key, the models
		/// it serves, and its commission. Each is registered as `register_worker` would.
		pub workers: alloc::vec::Vec<(T::AccountId, u128, T::WorkerKey, alloc::vec::Vec<T::ModelId>, Perbill)>,
		/// Genesis workers that are also validator candidates (the genesis validators, whose
		/// session keys the session pallet's genesis sets).
		pub validators: alloc::vec::Vec<T::AccountId>,
		/// Slots in a session, when not `DefaultSessionLength`.
		pub session_length: Option<u64>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// The reward account must exist before the first (possibly tiny) reward arrives.
			let pot = Pallet::<T>::reward_account();
			let ed = T::Currency::minimum_balance();
			if T::Currency::balance(&pot) < ed {
				let _ = T::Currency::mint_into(&pot, ed);
			}
			for (stash, bond, key, models, commission) in &self.workers {
				use sp_runtime::SaturatedConversion;
				let models: ModelsOf<T> =
					models.clone().try_into().expect("genesis worker serves at most MaxModelsPerWorker models");
				Pallet::<T>::do_register_worker(
					stash.clone(),
					(*bond).saturated_into(),
					key.clone(),
					models,
					*commission,
				)
				.expect("genesis worker registers: funded stash, unique key, bond over the minimum");
			}
			if let Some(slots) = self.session_length {
				assert!(slots >= 2, "a session lasts at least two slots");
				SessionLength::<T>::put(slots);
			}
			for who in &self.validators {
				assert!(Workers::<T>::contains_key(who), "a genesis validator candidate is a genesis worker");
				ValidatorCandidates::<T>::try_append(who.clone())
					.expect("genesis validator candidates fit MaxValidatorCandidates");
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A worker registered with `bond` held from its stash.
		WorkerRegistered { worker: T::AccountId, key: T::WorkerKey, bond: BalanceOf<T>, commission: Perbill },
		/// A worker changed the models it serves or its commission.
		WorkerUpdated { worker: T::AccountId, models: ModelsOf<T>, commission: Perbill },
		/// A worker added to its own bond.
		Bonded { worker: T::AccountId, amount: BalanceOf<T> },
		/// A worker started to leave; its bond unbonds until `unlock_at`.
		WorkerLeaving { worker: T::AccountId, unlock_at: BlockNumberFor<T> },
		/// A leaving worker has nothing bonded or delegated any more and is gone.
		WorkerRemoved { worker: T::AccountId },
		/// `delegator` delegated `amount` more to `worker`.
		Delegated { worker: T::AccountId, delegator: T::AccountId, amount: BalanceOf<T> },
		/// `who` (the worker itself or a delegator) started unbonding `amount` from `worker`.
		Unbonding { worker: T::AccountId, who: T::AccountId, amount: BalanceOf<T>, unlock_at: BlockNumberFor<T> },
		/// Unbonded funds were released to `who`.
		Withdrawn { worker: T::AccountId, who: T::AccountId, amount: BalanceOf<T> },
		/// `worker` was credited `amount`: `commission` to it, the rest shared by its stake.
		Rewarded { worker: T::AccountId, amount: BalanceOf<T>, commission: BalanceOf<T> },
		/// `who` claimed its rewards from `worker`.
		RewardClaimed { worker: T::AccountId, who: T::AccountId, amount: BalanceOf<T> },
		/// `fraction` of everything staked on `worker` was slashed: `amount` went to the treasury.
		Slashed { worker: T::AccountId, fraction: Perbill, reason: opg_primitives::Misconduct, amount: BalanceOf<T> },
		/// `model`'s candidate list was full: `by`, with more active stake, took the place of
		/// `worker`, the weakest candidate (or one no longer eligible), which no longer serves it.
		Evicted { worker: T::AccountId, model: T::ModelId, by: T::AccountId },
		/// `worker` raised its commission to `commission` from block `applies_at`; until then
		/// the old rate applies.
		CommissionRiseScheduled { worker: T::AccountId, commission: Perbill, applies_at: BlockNumberFor<T> },
		/// `worker`'s scheduled commission rise applies from now.
		CommissionRaised { worker: T::AccountId, commission: Perbill },
		/// `worker` opened (`open`) or closed itself to new delegations.
		DelegationsOpen { worker: T::AccountId, open: bool },
		/// `worker` unbonded all of `delegator`'s active delegation, `amount`, until `unlock_at`.
		Kicked { worker: T::AccountId, delegator: T::AccountId, amount: BalanceOf<T>, unlock_at: BlockNumberFor<T> },
		/// `worker` offers to validate; a session boundary that ranks its stake among the largest
		/// chooses it for the session after.
		ValidatorCandidate { worker: T::AccountId },
		/// `worker` no longer offers to validate; the next session boundary chooses a set
		/// without it, in office from the boundary after.
		Chilled { worker: T::AccountId },
		/// The validators of session `session`, chosen by stake from the candidates.
		ValidatorsChosen { session: u32, validators: alloc::vec::Vec<T::AccountId> },
		/// `worker`, a validator, earned `amount` authoring a block (the block reward, or its
		/// share of a transaction's fee and tip), shared like a committee reward: `commission` to
		/// the worker, the rest to its stake pro rata.
		AuthorRewarded { worker: T::AccountId, amount: BalanceOf<T>, commission: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is already a registered worker.
		AlreadyWorker,
		/// No worker is registered under this account.
		UnknownWorker,
		/// Another worker already uses this worker key; generate a new one.
		KeyInUse,
		/// The bond is below `MinWorkerBond`.
		BondTooLow,
		/// The delegation would be below `MinDelegation`; delegate more or withdraw it all.
		DelegationTooLow,
		/// Amounts must be greater than zero.
		ZeroAmount,
		/// The free balance cannot cover the bond or delegation.
		InsufficientBalance,
		/// More than the active stake was asked for.
		InsufficientStake,
		/// The worker is leaving: it takes no new delegations or changes.
		WorkerLeaving,
		/// The worker is already leaving.
		AlreadyLeaving,
		/// A worker adds to its own bond with `bond_extra`, not by delegating to itself.
		SelfDelegation,
		/// The worker has as many delegators as `MaxDelegatorsPerWorker` allows.
		TooManyDelegators,
		/// No position of this account with this worker.
		NoDelegation,
		/// Too many unbonding chunks; withdraw the ended ones first.
		TooManyUnbondingChunks,
		/// More models than `MaxModelsPerWorker`.
		TooManyModels,
		/// A model is listed twice.
		DuplicateModel,
		/// A model already has `MaxWorkersPerModel` workers, none with less active stake than
		/// this one.
		ModelFull,
		/// No unbonding has ended yet.
		NothingToWithdraw,
		/// No rewards to claim.
		NothingToClaim,
		/// Unbonding the worker's own bond would leave it below `MinWorkerBond`; use `leave`.
		WouldFallBelowMinimum,
		/// A model to serve is not registered.
		UnknownModel,
		/// The proof is not the worker key's signature of
		/// `opg_primitives::worker::key_possession_payload(signer)`.
		BadKeyProof,
		/// The worker takes no new delegations.
		ClosedToDelegations,
		/// Nothing has finished unbonding and no rewards are owed.
		NothingToRelease,
		/// Set session keys (`Session::set_keys`) before offering to validate.
		NoSessionKeys,
		/// The worker is already a validator candidate.
		AlreadyCandidate,
		/// The worker is not a validator candidate.
		NotCandidate,
		/// `MaxValidatorCandidates` workers already offer to validate.
		TooManyCandidates,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register the signer as a worker.
		///
		/// - `bond`: held from the signer's free balance; at least `MinWorkerBond`.
		/// - `key`: the worker key its node signs duties with; unique among workers.
		/// - `models`: the registered model ids it serves (no duplicates). Where a model's list
		///   is full, it takes the place of the weakest candidate if its bond is larger.
		/// - `commission`: its share of each reward before the rest is split by stake.
		/// - `proof`: the key's signature of `opg_primitives::worker::key_possession_payload`
		///   of the signer, so nobody registers a key whose secret it does not hold.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_worker(models.len() as u32)
			.saturating_add(Pallet::<T>::eviction_weight(models.len() as u32)))]
		pub fn register_worker(
			origin: OriginFor<T>,
			#[pallet::compact] bond: BalanceOf<T>,
			key: T::WorkerKey,
			models: ModelsOf<T>,
			commission: Perbill,
			proof: KeyProofOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let payload = opg_primitives::worker::key_possession_payload(&who);
			ensure!(key.verify(&payload, &proof), Error::<T>::BadKeyProof);
			Self::ensure_registered(&models, &[])?;
			Self::do_register_worker(who, bond, key, models, commission)
		}

		/// Change the models a worker serves and its commission. Signed by the worker's stash.
		/// A model it newly serves must be registered, and is joined as `register_worker` does.
		/// A lower (or equal) commission applies at once; a higher one after
		/// `CommissionRiseDelay`, so delegators can leave before it does.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_worker(models.len() as u32)
			.saturating_add(Pallet::<T>::eviction_weight(models.len() as u32)))]
		pub fn update_worker(origin: OriginFor<T>, models: ModelsOf<T>, commission: Perbill) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_worker(who, models, commission)
		}

		/// Add `amount` from the worker's free balance to its own bond.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::bond_extra())]
		pub fn bond_extra(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_bond_extra(who, amount)
		}

		/// Start unbonding `amount` of the worker's own bond; what stays must be at least
		/// `MinWorkerBond` (to go lower, `leave`).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::unbond())]
		pub fn unbond(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unbond(who, amount)
		}

		/// Stop serving: the worker leaves every model's candidate list now and its whole bond
		/// starts unbonding. Delegators keep their positions until they undelegate.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::leave(T::MaxModelsPerWorker::get()))]
		pub fn leave(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_leave(who)
		}

		/// Delegate `amount` of the signer's free balance to `worker` (an active worker other
		/// than the signer).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::delegate())]
		pub fn delegate(
			origin: OriginFor<T>,
			worker: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_delegate(who, worker, amount)
		}

		/// Start unbonding `amount` of the signer's delegation to `worker`. What stays must be
		/// zero or at least `MinDelegation`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::undelegate())]
		pub fn undelegate(
			origin: OriginFor<T>,
			worker: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_undelegate(who, worker, amount)
		}

		/// Release the signer's unbonded funds with `worker` whose unbonding period has ended
		/// (the worker's own bond when the signer is `worker`).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded())]
		pub fn withdraw_unbonded(origin: OriginFor<T>, worker: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_unbonded(who, worker)
		}

		/// Pay the signer's rewards earned with `worker` (as the worker or as a delegator).
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::claim_rewards())]
		pub fn claim_rewards(origin: OriginFor<T>, worker: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_claim_rewards(who, worker)
		}

		/// Open or close the signing worker to new delegations; existing ones are not touched.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::bond_extra())]
		pub fn set_delegations_open(origin: OriginFor<T>, open: bool) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_delegations_open(who, open)
		}

		/// The signing worker unbonds all of `delegator`'s active delegation to it: the funds
		/// return to the delegator after `UnbondingPeriod` (slashable until then), and the
		/// record goes once they are released. Frees a delegator place, and lets a leaving
		/// worker end every delegation.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::undelegate())]
		pub fn kick(origin: OriginFor<T>, delegator: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_kick(who, delegator)
		}

		/// Offer the signing worker as a validator: from the session after next on (chosen at the
		/// next boundary, in office from the one after) it validates while its stake ranks among
		/// the top `MaxValidators` candidates. Needs its session keys set
		/// (`Session::set_keys`, after `author_rotateKeys` on its node).
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::validate())]
		pub fn validate(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_validate(who)
		}

		/// Stop offering the signing worker as a validator; it leaves the set two session
		/// boundaries on (the next chooses the set after it). Its bond stays (use `leave` to
		/// unbond).
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::chill())]
		pub fn chill(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_chill(who)
		}

		/// Anyone releases `staker`'s funds with `worker` whose unbonding has ended, and pays
		/// it the rewards it is owed; both go to `staker`. A staker who never comes back cannot
		/// keep a leaving worker's record, or a place among its delegators, forever.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded().saturating_add(T::WeightInfo::claim_rewards()))]
		pub fn release(origin: OriginFor<T>, worker: T::AccountId, staker: T::AccountId) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_release(worker, staker)
		}
	}

	impl<T: Config> Pallet<T> {
		/// What finding the weakest candidate of `models` full lists weighs beyond the
		/// benchmarked call: every candidate's record read, and the one evicted written.
		pub fn eviction_weight(models: u32) -> Weight {
			let reads = models.saturating_mul(T::MaxWorkersPerModel::get());
			T::DbWeight::get().reads_writes(reads.into(), models.into())
		}

		/// The account rewards wait in until claimed.
		pub fn reward_account() -> T::AccountId {
			use sp_runtime::traits::AccountIdConversion;
			T::PalletId::get().into_account_truncating()
		}
	}
}
