//! What the inference pallet uses: committee candidates, worker keys, rewards and slashes.
//! The runtime wires these into the trait the inference pallet defines.

use super::*;
use alloc::vec::Vec;
use frame_support::{
	defensive,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
		Get,
	},
};
use sp_runtime::{
	traits::{Saturating, Zero},
	FixedPointNumber, FixedU128, Perbill,
};

impl<T: Config> Pallet<T> {
	/// Workers that may sit on a committee for `model` now, with the stake that weighs their
	/// draw (own + delegated active stake), in registration order.
	///
	/// A worker whose own bond was slashed below `MinWorkerBond` is skipped until it tops up
	/// (and any newcomer may take its place on the list meanwhile).
	pub fn eligible_workers(model: &T::ModelId) -> Vec<(T::AccountId, BalanceOf<T>)> {
		ModelWorkers::<T>::get(model)
			.into_iter()
			.filter_map(|who| {
				let stake = Self::standing(&Workers::<T>::get(&who)?);
				(!stake.is_zero()).then_some((who, stake))
			})
			.collect()
	}

	/// The stash account registered with a worker key.
	pub fn worker_of_key(key: &T::WorkerKey) -> Option<T::AccountId> {
		WorkerKeys::<T>::get(key)
	}

	/// The worker key of a stash account.
	pub fn key_of_worker(worker: &T::AccountId) -> Option<T::WorkerKey> {
		Workers::<T>::get(worker).map(|w| w.key)
	}

	/// Credit `amount`, which the caller has already paid into [`Self::reward_account`], to
	/// `worker`: its commission first, the rest to its active stake pro rata.
	///
	/// With no active stake left (everyone unbonding), the whole amount goes to the worker.
	/// Rounding dust stays in the reward account.
	pub fn credit_reward(worker_id: &T::AccountId, amount: BalanceOf<T>) {
		if let Some(commission) = Self::share_reward(worker_id, amount) {
			Self::deposit_event(Event::Rewarded { worker: worker_id.clone(), amount, commission });
		}
	}

	/// [`Self::credit_reward`] for what `worker` earned authoring a block as a validator (the
	/// block reward, its share of fees and tips), told apart by its event.
	pub fn credit_author_reward(worker_id: &T::AccountId, amount: BalanceOf<T>) {
		if let Some(commission) = Self::share_reward(worker_id, amount) {
			Self::deposit_event(Event::AuthorRewarded { worker: worker_id.clone(), amount, commission });
		}
	}

	/// Share `amount` between `worker`'s commission and its active stake; the commission, or
	/// `None` when there was nothing to share or no such worker.
	fn share_reward(worker_id: &T::AccountId, amount: BalanceOf<T>) -> Option<BalanceOf<T>> {
		if amount.is_zero() {
			return None;
		}
		let Some(mut worker) = Workers::<T>::get(worker_id) else {
			defensive!("reward credited to an unknown worker");
			return None;
		};
		Self::apply_due_commission(worker_id, &mut worker);
		let active = worker.active_stake();
		let mut commission = worker.commission.mul_floor(amount);
		let shared = amount.saturating_sub(commission);
		if active.is_zero() {
			commission = amount;
		} else {
			let per_stake = FixedU128::saturating_from_rational(shared, active);
			worker.reward_per_stake = worker.reward_per_stake.saturating_add(per_stake);
		}
		worker.own.unclaimed = worker.own.unclaimed.saturating_add(commission);
		Workers::<T>::insert(worker_id, worker);
		Some(commission)
	}

	/// A scheduled commission rise whose delay has passed becomes the worker's rate.
	pub(crate) fn apply_due_commission(worker_id: &T::AccountId, worker: &mut WorkerOf<T>) {
		let Some((commission, applies_at)) = PendingCommission::<T>::get(worker_id) else { return };
		if frame_system::Pallet::<T>::block_number() >= applies_at {
			PendingCommission::<T>::remove(worker_id);
			worker.commission = commission;
			Self::deposit_event(Event::CommissionRaised { worker: worker_id.clone(), commission });
		}
	}

	/// Slash `fraction` of every stake on `worker`: its own bond and each delegation, active and
	/// unbonding alike. The funds move from the stakers' holds to the treasury. Returns the
	/// total slashed. Work is bounded by `MaxDelegatorsPerWorker`.
	pub fn slash(worker_id: &T::AccountId, fraction: Perbill, reason: opg_primitives::Misconduct) -> BalanceOf<T> {
		let Some(mut worker) = Workers::<T>::get(worker_id) else { return Zero::zero() };
		if fraction.is_zero() {
			return Zero::zero();
		}
		let treasury = T::Treasury::get();
		let rps = worker.reward_per_stake;

		// Rewards earned so far are settled at the old stake before it shrinks.
		worker.own.settle(rps);
		let (_, own_cut) = worker.own.cut(fraction);
		let mut total = Self::move_to_treasury(HoldReason::WorkerBond, worker_id, own_cut, &treasury);

		let mut delegated_cut = BalanceOf::<T>::zero();
		let positions: Vec<_> = Delegations::<T>::iter_prefix(worker_id).collect();
		for (delegator, mut position) in positions {
			position.settle(rps);
			let (active_cut, cut) = position.cut(fraction);
			delegated_cut = delegated_cut.saturating_add(active_cut);
			total = total.saturating_add(Self::move_to_treasury(HoldReason::Delegation, &delegator, cut, &treasury));
			Delegations::<T>::insert(worker_id, &delegator, position);
		}
		worker.delegated = worker.delegated.saturating_sub(delegated_cut);
		Workers::<T>::insert(worker_id, worker);
		Self::deposit_event(Event::Slashed { worker: worker_id.clone(), fraction, reason, amount: total });
		total
	}

	fn move_to_treasury(
		reason: HoldReason,
		from: &T::AccountId,
		amount: BalanceOf<T>,
		treasury: &T::AccountId,
	) -> BalanceOf<T> {
		if amount.is_zero() {
			return amount;
		}
		match T::Currency::transfer_on_hold(
			&reason.into(),
			from,
			treasury,
			amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Force,
		) {
			Ok(moved) => moved,
			Err(_) => {
				// Records and holds agree (a `try_state` invariant), so this cannot fail.
				defensive!("slash could not move held funds to the treasury");
				Zero::zero()
			},
		}
	}
}
