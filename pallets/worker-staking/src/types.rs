//! What the pallet stores.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::*, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use scale_info::TypeInfo;
use sp_runtime::{
	traits::{Saturating, Zero},
	FixedPointNumber, FixedU128, Perbill,
};

/// Funds that stop being bonded at `unlock_at` and can then be withdrawn.
#[derive(Clone, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct UnbondChunk<Balance, BlockNumber> {
	pub amount: Balance,
	pub unlock_at: BlockNumber,
}

/// One staker's position with one worker: the worker's own bond, or a delegation.
///
/// `active` is at risk and earns rewards; `unbonding` is at risk but earns nothing. Rewards are
/// accounted lazily: `reward_checkpoint` is the worker's reward-per-stake when this position was
/// last settled, so what it earned since is `active × (now − checkpoint)`.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxChunks))]
#[codec(mel_bound(Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct Stake<
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxChunks: Get<u32>,
> {
	pub active: Balance,
	pub unbonding: BoundedVec<UnbondChunk<Balance, BlockNumber>, MaxChunks>,
	pub reward_checkpoint: FixedU128,
	/// Rewards settled and not yet claimed.
	pub unclaimed: Balance,
}

impl<Balance, BlockNumber, MaxChunks> Stake<Balance, BlockNumber, MaxChunks>
where
	Balance: Copy + Zero + Saturating + sp_runtime::traits::AtLeast32BitUnsigned + core::fmt::Debug,
	BlockNumber: Copy + PartialOrd + Eq + core::fmt::Debug,
	MaxChunks: Get<u32>,
{
	pub fn new(active: Balance, reward_per_stake: FixedU128) -> Self {
		Self { active, unbonding: BoundedVec::new(), reward_checkpoint: reward_per_stake, unclaimed: Zero::zero() }
	}

	/// Everything held for this position: active plus unbonding.
	pub fn total(&self) -> Balance {
		self.unbonding.iter().fold(self.active, |acc, c| acc.saturating_add(c.amount))
	}

	/// Move what this position earned since its checkpoint into `unclaimed`.
	pub fn settle(&mut self, reward_per_stake: FixedU128) {
		let earned = reward_per_stake.saturating_sub(self.reward_checkpoint).saturating_mul_int(self.active);
		self.unclaimed = self.unclaimed.saturating_add(earned);
		self.reward_checkpoint = reward_per_stake;
	}

	/// Funds whose unbonding has ended at `now`.
	pub fn withdrawable(&self, now: BlockNumber) -> Balance {
		self.unbonding
			.iter()
			.filter(|c| c.unlock_at <= now)
			.fold(Zero::zero(), |acc: Balance, c| acc.saturating_add(c.amount))
	}

	/// Remove the chunks that have ended at `now`; return their sum.
	pub fn take_withdrawable(&mut self, now: BlockNumber) -> Balance {
		let amount = self.withdrawable(now);
		self.unbonding.retain(|c| c.unlock_at > now);
		amount
	}

	/// Move `amount` of active stake into unbonding until `unlock_at` (merged with a chunk that
	/// ends the same block). `Err` when there is no room for another chunk.
	pub fn start_unbonding(&mut self, amount: Balance, unlock_at: BlockNumber) -> Result<(), ()>
	where
		BlockNumber: PartialEq,
	{
		if let Some(chunk) = self.unbonding.iter_mut().find(|c| c.unlock_at == unlock_at) {
			chunk.amount = chunk.amount.saturating_add(amount);
		} else {
			self.unbonding.try_push(UnbondChunk { amount, unlock_at }).map_err(|_| ())?;
		}
		self.active = self.active.saturating_sub(amount);
		Ok(())
	}

	/// Move all of active stake into unbonding until `unlock_at`; with no room for another
	/// chunk, into the latest chunk, whose unlock moves to `unlock_at` (never earlier), so a
	/// full queue cannot keep the stake active. `Err` only when no chunk is allowed at all.
	pub fn unbond_all(&mut self, unlock_at: BlockNumber) -> Result<(), ()>
	where
		BlockNumber: PartialEq + Ord,
	{
		let amount = self.active;
		if self.start_unbonding(amount, unlock_at).is_ok() {
			return Ok(());
		}
		let latest = self.unbonding.iter_mut().max_by(|a, b| a.unlock_at.cmp(&b.unlock_at)).ok_or(())?;
		latest.amount = latest.amount.saturating_add(amount);
		latest.unlock_at = core::cmp::max(latest.unlock_at, unlock_at);
		self.active = Zero::zero();
		Ok(())
	}

	/// Cut `fraction` of active and of every unbonding chunk (rounded down, in the staker's
	/// favour); the caller settles rewards first. Returns `(cut from active, cut in total)`.
	pub fn cut(&mut self, fraction: Perbill) -> (Balance, Balance) {
		let from_active = fraction.mul_floor(self.active);
		self.active = self.active.saturating_sub(from_active);
		let mut total = from_active;
		for chunk in self.unbonding.iter_mut() {
			let c = fraction.mul_floor(chunk.amount);
			chunk.amount = chunk.amount.saturating_sub(c);
			total = total.saturating_add(c);
		}
		self.unbonding.retain(|c| !c.amount.is_zero());
		(from_active, total)
	}

	/// Nothing bonded, unbonding or owed: the record can go.
	pub fn is_empty(&self) -> bool {
		self.active.is_zero() && self.unbonding.is_empty() && self.unclaimed.is_zero()
	}
}

/// Whether a worker takes new work and new delegations.
#[derive(Clone, Copy, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum WorkerStatus<BlockNumber> {
	/// Serving its models; eligible for committees while its own bond is at least the minimum.
	Active,
	/// Left at `since`: no new work or delegations; its bond is unbonding, still slashable.
	Leaving { since: BlockNumber },
}

/// A registered worker.
#[derive(CloneNoBound, Encode, Decode, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxModels, MaxChunks))]
#[codec(mel_bound(
	WorkerKey: MaxEncodedLen,
	ModelId: MaxEncodedLen,
	Balance: MaxEncodedLen,
	BlockNumber: MaxEncodedLen
))]
pub struct Worker<
	WorkerKey: Clone + PartialEq + Eq + core::fmt::Debug,
	ModelId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxModels: Get<u32>,
	MaxChunks: Get<u32>,
> {
	/// The key the worker's node signs its duties with (not the stash account).
	pub key: WorkerKey,
	/// The models it serves.
	pub models: BoundedVec<ModelId, MaxModels>,
	/// Share of each reward the worker keeps before the rest is split by stake.
	pub commission: Perbill,
	pub status: WorkerStatus<BlockNumber>,
	/// The worker's own bond.
	pub own: Stake<Balance, BlockNumber, MaxChunks>,
	/// Sum of the delegations' active stake.
	pub delegated: Balance,
	/// Number of delegation records (including ones only unbonding or owed rewards).
	pub delegators: u32,
	/// Rewards per unit of active stake accumulated since registration.
	pub reward_per_stake: FixedU128,
}

impl<WorkerKey, ModelId, Balance, BlockNumber, MaxModels, MaxChunks>
	Worker<WorkerKey, ModelId, Balance, BlockNumber, MaxModels, MaxChunks>
where
	WorkerKey: Clone + PartialEq + Eq + core::fmt::Debug,
	ModelId: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Copy + Saturating + sp_runtime::traits::AtLeast32BitUnsigned + core::fmt::Debug,
	MaxModels: Get<u32>,
	MaxChunks: Get<u32>,
{
	/// Stake that counts for committee selection and earns rewards.
	pub fn active_stake(&self) -> Balance {
		self.own.active.saturating_add(self.delegated)
	}

	pub fn is_active(&self) -> bool {
		matches!(self.status, WorkerStatus::Active)
	}
}
