//! `try_state` invariants: the pallet's holds equal its records, and its indexes and per-worker
//! settings belong to registered workers.

use super::*;
use alloc::collections::btree_map::BTreeMap;
use frame_support::{ensure, traits::fungible::Inspect};
use sp_runtime::{traits::Saturating, TryRuntimeError};

impl<T: Config> Pallet<T> {
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let mut bonded: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut delegated: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut owed = BalanceOf::<T>::default();

		for (who, worker) in Workers::<T>::iter() {
			ensure!(
				WorkerKeys::<T>::get(&worker.key).as_ref() == Some(&who),
				"worker key index does not point back at the worker"
			);
			let mut own = worker.own.clone();
			own.settle(worker.reward_per_stake);
			owed = owed.saturating_add(own.unclaimed);
			*bonded.entry(who.clone()).or_default() = worker.own.total();

			let mut count = 0u32;
			let mut active = BalanceOf::<T>::default();
			for (delegator, mut position) in Delegations::<T>::iter_prefix(&who) {
				count += 1;
				active = active.saturating_add(position.active);
				let entry = delegated.entry(delegator).or_default();
				*entry = entry.saturating_add(position.total());
				position.settle(worker.reward_per_stake);
				owed = owed.saturating_add(position.unclaimed);
			}
			ensure!(count == worker.delegators, "delegator count differs from records");
			ensure!(active == worker.delegated, "delegated total differs from records");

			for model in worker.models.iter() {
				let listed = ModelWorkers::<T>::get(model).contains(&who);
				ensure!(listed == worker.is_active(), "model candidate list out of date");
			}
		}
		ensure!(
			WorkerKeys::<T>::iter().all(|(_, who)| Workers::<T>::contains_key(&who)),
			"worker key of a removed worker"
		);
		for (who, _) in PendingCommission::<T>::iter() {
			ensure!(Workers::<T>::contains_key(&who), "commission rise of a removed worker");
		}
		for who in ValidatorCandidates::<T>::get().iter() {
			ensure!(
				Workers::<T>::get(who).is_some_and(|w| w.is_active()),
				"validator candidate that is not an active worker"
			);
		}
		for (who, ()) in ClosedToDelegations::<T>::iter() {
			ensure!(Workers::<T>::contains_key(&who), "delegation policy of a removed worker");
		}
		for (model, list) in ModelWorkers::<T>::iter() {
			for who in list.iter() {
				let serves = Workers::<T>::get(who).is_some_and(|w| w.is_active() && w.models.contains(&model));
				ensure!(serves, "model candidate that does not serve the model");
			}
		}
		for (who, amount) in bonded.iter() {
			ensure!(Self::held(HoldReason::WorkerBond, who) == *amount, "bond hold != records");
		}
		for (who, amount) in delegated.iter() {
			ensure!(Self::held(HoldReason::Delegation, who) == *amount, "delegation hold != records");
		}
		// Everyone owed a reward can be paid, and the reward account survives it.
		let pot = T::Currency::balance(&Self::reward_account());
		ensure!(pot >= owed.saturating_add(T::Currency::minimum_balance()), "reward account cannot pay what is owed");
		Ok(())
	}
}
