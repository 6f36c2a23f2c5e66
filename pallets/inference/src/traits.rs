//! What this pallet needs from the rest of the runtime, and what it offers other pallets.

use alloc::vec::Vec;
use opg_primitives::Misconduct;
use sp_runtime::Perbill;

/// The workers who execute and verify inference, and their stake. Implemented by the runtime
/// (with the worker staking pallet).
pub trait WorkerRegistry<AccountId, WorkerKey, ModelId, Balance> {
	/// Workers that may be drawn for `model` now, with the stake that weighs the draw, in a
	/// canonical order.
	fn eligible_workers(model: &ModelId) -> Vec<(AccountId, Balance)>;
	/// The stash account registered with a worker key.
	fn worker_of_key(key: &WorkerKey) -> Option<AccountId>;
	/// The worker key of a stash account.
	fn key_of_worker(worker: &AccountId) -> Option<WorkerKey>;
	/// The account member rewards are paid into before they are credited.
	fn reward_account() -> AccountId;
	/// Credit `amount`, already paid into [`Self::reward_account`], to `worker` and its
	/// delegators.
	fn credit_reward(worker: &AccountId, amount: Balance);
	/// Slash `fraction` of everything staked on `worker`; returns the amount slashed.
	fn slash(worker: &AccountId, fraction: Perbill, reason: Misconduct) -> Balance;
	/// The most one `slash` can weigh (the registry knows how many stakers it touches).
	fn slash_weight() -> frame_support::weights::Weight;
}

/// Where committee draws get their randomness. A draw must not be steerable by whoever can
/// shape the blocks around a request: the author of the block that includes it (which could
/// otherwise re-seal its block until the hash seats its friends), or a requester that knows a
/// block's randomness in advance. Implemented by the runtime from BABE's VRF outputs, which an
/// author computes from its key and the slot and can only publish or withhold.
pub trait DrawRandomness {
	/// How many blocks after block `n` the randomness first owes nothing to block `n` or to
	/// any earlier block: a request entering its draw in block `n` is drawn in block
	/// `n + DELAY` or later. At least 1.
	const DELAY: u32;
	/// The randomness of the block being built, or `None` when it has none (draws then wait
	/// for a block that has).
	fn block_randomness() -> Option<[u8; 32]>;
}

/// Why a request ended without an answer (the requester was refunded in full).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	codec::Encode,
	codec::Decode,
	codec::DecodeWithMemTracking,
	codec::MaxEncodedLen,
	scale_info::TypeInfo,
	Debug,
)]
pub enum FailureReason {
	/// Too few eligible workers to draw (or re-draw) the committee.
	NotEnoughWorkers,
	/// No quorum, even after escalation to a larger committee.
	NoQuorum,
	/// The chain had no room to draw the request's committee within `MaxDrawWait` blocks, or to
	/// schedule its deadlines.
	Congested,
	/// No member of the committee committed: the model could not be fetched or run by anyone.
	/// Nobody is slashed.
	Unanswered,
	/// The input is not a value: a request made before inputs were typed, ended at the runtime
	/// upgrade that typed them.
	InputNotAValue,
}

/// Called when a request ends, for pallets that consume inference results on chain.
pub trait OnInferenceResult<AccountId, ModelId> {
	/// `request` settled: `output` is the committee's agreed answer.
	fn on_result(request: u64, requester: &AccountId, model: &ModelId, output: &[u8]);
	/// `request` ended rejected: the committee agreed the model refuses its input.
	fn on_rejected(request: u64, requester: &AccountId, model: &ModelId, reason: opg_primitives::inference::Rejection);
	/// `request` failed and was refunded.
	fn on_failure(request: u64, requester: &AccountId, reason: FailureReason);
}

impl<AccountId, ModelId> OnInferenceResult<AccountId, ModelId> for () {
	fn on_result(_: u64, _: &AccountId, _: &ModelId, _: &[u8]) {}
	fn on_rejected(_: u64, _: &AccountId, _: &ModelId, _: opg_primitives::inference::Rejection) {}
	fn on_failure(_: u64, _: &AccountId, _: FailureReason) {}
}
