//! What the pallet stores.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::*, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use opg_primitives::inference::{
	Answer, BoundedValue, ComparisonRule, ExecutionProfile, ModelFormat, Rejection, ValueError,
};
use scale_info::TypeInfo;

/// A request's id: assigned in order from 0.
pub type RequestId = u64;

/// A registered model.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxArchitectureLen, MaxUris, MaxUriLen))]
pub struct Model<
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxArchitectureLen: Get<u32>,
	MaxUris: Get<u32>,
	MaxUriLen: Get<u32>,
> {
	pub owner: AccountId,
	pub format: ModelFormat,
	/// The architecture or config name the engine loads the bundle with, e.g. `bert`.
	pub architecture: BoundedVec<u8, MaxArchitectureLen>,
	/// What the owner earns per settled request.
	pub price: Balance,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	/// Where workers can fetch the bundle (they verify it against the id).
	pub uris: BoundedVec<BoundedVec<u8, MaxUriLen>, MaxUris>,
	/// Held from the owner while registered.
	pub deposit: Balance,
}

/// One committee seat.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Seat<AccountId, WorkerKey> {
	pub worker: AccountId,
	/// The key the member signs with, fixed at the draw.
	pub key: WorkerKey,
	pub commitment: Option<[u8; 32]>,
	/// The output was revealed and matches the commitment.
	pub revealed: bool,
}

/// Where a request is in its lifecycle. Every phase has a deadline.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum Phase<BlockNumber> {
	/// Waiting in the draw queue for a block to draw the committee.
	Drawing,
	/// Members run the model and commit to their outputs; `ends` is the last block that takes
	/// a commit, and the next block's hook closes the phase.
	Commit { ends: BlockNumber },
	/// Members reveal their outputs; `ends` is the last block that takes a reveal.
	Reveal { ends: BlockNumber },
	/// A first round that may escalate reveals digests of its answers, not the answers: a
	/// quorum of equal digests goes on to `Publish`; otherwise the escalated committee is
	/// drawn and commits before any first-round answer is public.
	SealedReveal { ends: BlockNumber },
	/// The sealed first round agreed (or cannot escalate): its members publish the answers
	/// behind their digests, then the round is judged by the model's rule.
	Publish { ends: BlockNumber },
	/// The first round found no quorum: the escalated committee is drawn by the hook of block
	/// `draws_at` (or a later one), from randomness of blocks built after the verdict.
	Escalating { draws_at: BlockNumber },
}

impl<BlockNumber: Copy> Phase<BlockNumber> {
	/// The last block of the phase that takes submissions (`None` while drawing).
	pub fn ends(&self) -> Option<BlockNumber> {
		match *self {
			Phase::Drawing | Phase::Escalating { .. } => None,
			Phase::Commit { ends }
			| Phase::Reveal { ends }
			| Phase::SealedReveal { ends }
			| Phase::Publish { ends } => Some(ends),
		}
	}
}

/// A sealed first-round seat that revealed its digest: who sat there, the key it signs with,
/// and the digest its published answer must have.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct SealedAnswer<AccountId, WorkerKey> {
	pub worker: AccountId,
	pub key: WorkerKey,
	pub digest: [u8; 32],
}

/// An open request.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxInputLen, MaxSeats))]
pub struct Request<
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	ModelId: Clone + PartialEq + Eq + core::fmt::Debug,
	WorkerKey: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxInputLen: Get<u32>,
	MaxSeats: Get<u32>,
> {
	pub requester: AccountId,
	pub model: ModelId,
	/// The value the model runs on.
	pub input: BoundedValue<MaxInputLen>,
	/// Copied from the model at request time: retiring or repricing a model does not change
	/// what an open request pays or how it is judged.
	pub owner: AccountId,
	pub price: Balance,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	/// Seats of the first round; an escalation draws `2 × seats + 1`.
	pub seats: u32,
	/// The requester's ceiling, held in full until the request ends.
	pub max_fee: Balance,
	/// 0 for the first committee, 1 after escalation.
	pub round: u8,
	pub phase: Phase<BlockNumber>,
	pub committee: BoundedVec<Seat<AccountId, WorkerKey>, MaxSeats>,
	pub created: BlockNumber,
	/// The request's transaction's index in block `created` (`None` for requests made before
	/// it was recorded).
	pub extrinsic: Option<u32>,
}

/// Where a request's transaction is: its input can be read back from that block's body alone,
/// long after the block's state is pruned.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Inclusion<BlockNumber> {
	pub block: BlockNumber,
	pub index: u32,
}

/// A revealed answer as stored: the model's output, or its refusal of the input.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxOutputLen))]
pub enum StoredAnswer<MaxOutputLen: Get<u32>> {
	Output(BoundedValue<MaxOutputLen>),
	Rejected(Rejection),
}

impl<MaxOutputLen: Get<u32>> StoredAnswer<MaxOutputLen> {
	/// The answer as stored: an output must be exactly one encoded value within `MaxOutputLen`.
	pub fn bounded(answer: Answer) -> Result<Self, ValueError> {
		Ok(match answer {
			Answer::Output(bytes) => StoredAnswer::Output(BoundedValue::from_encoded(bytes)?),
			Answer::Rejected(reason) => StoredAnswer::Rejected(reason),
		})
	}

	/// Whether two revealed answers are the same answer under `rule`.
	pub fn agrees(&self, other: &Self, rule: ComparisonRule) -> bool {
		match (self, other) {
			(StoredAnswer::Output(a), StoredAnswer::Output(b)) => {
				opg_primitives::inference::outputs_agree(rule, a.as_bytes(), b.as_bytes())
			},
			(StoredAnswer::Rejected(a), StoredAnswer::Rejected(b)) => a == b,
			_ => false,
		}
	}
}

/// A settled request's answer, kept for the retention window.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxOutputLen))]
pub struct InferenceResult<
	ModelId: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxOutputLen: Get<u32>,
> {
	pub model: ModelId,
	/// The agreed output, or the agreed refusal of the input.
	pub answer: StoredAnswer<MaxOutputLen>,
	pub settled: BlockNumber,
	/// How the answer was computed and judged: what anyone re-running the model needs, even
	/// once the model is retired.
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	/// The request's transaction, which holds the input (`None` for results settled before it
	/// was recorded).
	pub requested: Option<Inclusion<BlockNumber>>,
}
