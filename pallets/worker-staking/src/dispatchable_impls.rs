//! The bodies of the pallet's calls. Each reads and checks everything first, then moves funds,
//! then writes storage and emits its event.

use super::*;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, InspectHold, Mutate, MutateHold},
		tokens::{Fortitude, Precision, Preservation},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{Saturating, Zero},
	Perbill,
};

impl<T: Config> Pallet<T> {
	fn ensure_models(models: &ModelsOf<T>) -> DispatchResult {
		let mut sorted = models.clone().into_inner();
		sorted.sort();
		ensure!(sorted.windows(2).all(|w| w[0] != w[1]), Error::<T>::DuplicateModel);
		Ok(())
	}

	/// Hold `amount` more on `who` for `reason`, mapping "not enough free balance" to our error.
	fn hold(reason: HoldReason, who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let spendable = T::Currency::reducible_balance(who, Preservation::Preserve, Fortitude::Polite);
		ensure!(spendable >= amount, Error::<T>::InsufficientBalance);
		T::Currency::hold(&reason.into(), who, amount)
	}

	fn unlock_at() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number().saturating_add(T::UnbondingPeriod::get())
	}

	/// Every model in `models` that is not in `already` is registered.
	pub(crate) fn ensure_registered(models: &[T::ModelId], already: &[T::ModelId]) -> DispatchResult {
		let unknown = models.iter().any(|m| !already.contains(m) && !T::Models::is_registered(m));
		ensure!(!unknown, Error::<T>::UnknownModel);
		Ok(())
	}

	/// What a candidate's place on a model's list is worth: its active stake while it can be
	/// drawn, nothing once it cannot (leaving, or its own bond slashed below the minimum).
	pub(crate) fn standing(worker: &WorkerOf<T>) -> BalanceOf<T> {
		if worker.is_active() && worker.own.active >= T::MinWorkerBond::get() {
			worker.active_stake()
		} else {
			Zero::zero()
		}
	}

	/// Put `worker`, with `stake` active, on the candidate list of each model. A full list
	/// gives the place of its weakest candidate (the first of equals) to a worker with more
	/// stake; the evicted worker stops serving that model. Fails if a list is full of
	/// candidates at least as strong.
	fn join_models(worker: &T::AccountId, stake: BalanceOf<T>, models: &[T::ModelId]) -> DispatchResult {
		for model in models {
			let mut list = ModelWorkers::<T>::get(model);
			if list.contains(worker) {
				continue;
			}
			if list.try_push(worker.clone()).is_err() {
				let (weakest, standing) = list
					.iter()
					.enumerate()
					.map(|(i, who)| (i, Workers::<T>::get(who).map_or(Zero::zero(), |w| Self::standing(&w))))
					.min_by_key(|(_, standing)| *standing)
					.ok_or(Error::<T>::ModelFull)?;
				ensure!(stake > standing, Error::<T>::ModelFull);
				let evicted = list.remove(weakest);
				list.try_push(worker.clone()).map_err(|_| Error::<T>::ModelFull)?;
				if let Some(mut record) = Workers::<T>::get(&evicted) {
					record.models.retain(|m| m != model);
					Workers::<T>::insert(&evicted, record);
				}
				Self::deposit_event(Event::Evicted { worker: evicted, model: *model, by: worker.clone() });
			}
			ModelWorkers::<T>::insert(model, list);
		}
		Ok(())
	}

	pub(crate) fn leave_models(worker: &T::AccountId, models: &[T::ModelId]) {
		for model in models {
			ModelWorkers::<T>::mutate_exists(model, |maybe| {
				if let Some(list) = maybe {
					list.retain(|w| w != worker);
					if list.is_empty() {
						*maybe = None;
					}
				}
			});
		}
	}

	pub(crate) fn do_register_worker(
		who: T::AccountId,
		bond: BalanceOf<T>,
		key: T::WorkerKey,
		models: ModelsOf<T>,
		commission: Perbill,
	) -> DispatchResult {
		ensure!(!Workers::<T>::contains_key(&who), Error::<T>::AlreadyWorker);
		ensure!(!WorkerKeys::<T>::contains_key(&key), Error::<T>::KeyInUse);
		ensure!(bond >= T::MinWorkerBond::get() && !bond.is_zero(), Error::<T>::BondTooLow);
		Self::ensure_models(&models)?;

		// `join_models` is the last check that can fail; the call is transactional, so a full
		// model list undoes the hold as well.
		Self::hold(HoldReason::WorkerBond, &who, bond)?;
		Self::join_models(&who, bond, &models)?;

		let worker = Worker {
			key: key.clone(),
			models,
			commission,
			status: WorkerStatus::Active,
			own: Stake::new(bond, Default::default()),
			delegated: Zero::zero(),
			delegators: 0,
			reward_per_stake: Default::default(),
		};
		Workers::<T>::insert(&who, worker);
		WorkerKeys::<T>::insert(&key, &who);
		Self::deposit_event(Event::WorkerRegistered { worker: who, key, bond, commission });
		Ok(())
	}

	pub(crate) fn do_update_worker(who: T::AccountId, models: ModelsOf<T>, commission: Perbill) -> DispatchResult {
		let mut worker = Workers::<T>::get(&who).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::WorkerLeaving);
		Self::ensure_models(&models)?;
		Self::ensure_registered(&models, &worker.models)?;

		// Settle everyone at the old commission: only future rewards see the new one. Positions
		// settle lazily, so nothing to do for delegators; the worker's own settles on claim.
		let old = core::mem::replace(&mut worker.models, models.clone());
		let dropped: alloc::vec::Vec<_> = old.iter().filter(|m| !models.contains(m)).copied().collect();
		Self::leave_models(&who, &dropped);
		Self::join_models(&who, Self::standing(&worker), &models)?;
		// A rise whose delay has passed is the rate the new one is compared with.
		Self::apply_due_commission(&who, &mut worker);
		if commission > worker.commission {
			// Asking again for the rise already waiting keeps its date; another rate restarts it.
			if PendingCommission::<T>::get(&who).is_none_or(|(pending, _)| pending != commission) {
				let now = frame_system::Pallet::<T>::block_number();
				let applies_at = now.saturating_add(T::CommissionRiseDelay::get());
				PendingCommission::<T>::insert(&who, (commission, applies_at));
				Self::deposit_event(Event::CommissionRiseScheduled { worker: who.clone(), commission, applies_at });
			}
		} else {
			PendingCommission::<T>::remove(&who);
			worker.commission = commission;
		}
		let commission = worker.commission;
		Workers::<T>::insert(&who, worker);
		Self::deposit_event(Event::WorkerUpdated { worker: who, models, commission });
		Ok(())
	}

	pub(crate) fn do_set_delegations_open(who: T::AccountId, open: bool) -> DispatchResult {
		ensure!(Workers::<T>::contains_key(&who), Error::<T>::UnknownWorker);
		if open {
			ClosedToDelegations::<T>::remove(&who);
		} else {
			ClosedToDelegations::<T>::insert(&who, ());
		}
		Self::deposit_event(Event::DelegationsOpen { worker: who, open });
		Ok(())
	}

	pub(crate) fn do_kick(worker_id: T::AccountId, delegator: T::AccountId) -> DispatchResult {
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		let mut position = Delegations::<T>::get(&worker_id, &delegator).ok_or(Error::<T>::NoDelegation)?;
		let amount = position.active;
		ensure!(!amount.is_zero(), Error::<T>::InsufficientStake);

		let unlock_at = Self::unlock_at();
		position.settle(worker.reward_per_stake);
		// A delegator keeping its queue full cannot avoid the kick.
		position.unbond_all(unlock_at).map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
		worker.delegated = worker.delegated.saturating_sub(amount);
		Delegations::<T>::insert(&worker_id, &delegator, position);
		Workers::<T>::insert(&worker_id, worker);
		Self::deposit_event(Event::Kicked { worker: worker_id, delegator, amount, unlock_at });
		Ok(())
	}

	pub(crate) fn do_release(worker_id: T::AccountId, staker: T::AccountId) -> DispatchResult {
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		let now = frame_system::Pallet::<T>::block_number();
		let (reason, mut position) = if staker == worker_id {
			(HoldReason::WorkerBond, worker.own.clone())
		} else {
			(HoldReason::Delegation, Delegations::<T>::get(&worker_id, &staker).ok_or(Error::<T>::NoDelegation)?)
		};
		position.settle(worker.reward_per_stake);
		let unbonded = position.take_withdrawable(now);
		let owed = core::mem::take(&mut position.unclaimed);
		ensure!(!unbonded.is_zero() || !owed.is_zero(), Error::<T>::NothingToRelease);

		if !unbonded.is_zero() {
			T::Currency::release(&reason.into(), &staker, unbonded, Precision::Exact)?;
		}
		if !owed.is_zero() {
			T::Currency::transfer(&Self::reward_account(), &staker, owed, Preservation::Preserve)?;
		}
		if staker == worker_id {
			worker.own = position;
		} else {
			Self::store_position(&worker_id, &staker, position, &mut worker);
		}
		if !unbonded.is_zero() {
			Self::deposit_event(Event::Withdrawn { worker: worker_id.clone(), who: staker.clone(), amount: unbonded });
		}
		if !owed.is_zero() {
			Self::deposit_event(Event::RewardClaimed { worker: worker_id.clone(), who: staker, amount: owed });
		}
		Self::store_or_remove(worker_id, worker);
		Ok(())
	}

	pub(crate) fn do_bond_extra(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut worker = Workers::<T>::get(&who).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::WorkerLeaving);

		Self::hold(HoldReason::WorkerBond, &who, amount)?;
		worker.own.settle(worker.reward_per_stake);
		worker.own.active = worker.own.active.saturating_add(amount);
		Workers::<T>::insert(&who, worker);
		Self::deposit_event(Event::Bonded { worker: who, amount });
		Ok(())
	}

	pub(crate) fn do_unbond(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut worker = Workers::<T>::get(&who).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::WorkerLeaving);
		ensure!(amount <= worker.own.active, Error::<T>::InsufficientStake);
		ensure!(worker.own.active.saturating_sub(amount) >= T::MinWorkerBond::get(), Error::<T>::WouldFallBelowMinimum);

		let unlock_at = Self::unlock_at();
		worker.own.settle(worker.reward_per_stake);
		worker.own.start_unbonding(amount, unlock_at).map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
		Workers::<T>::insert(&who, worker);
		Self::deposit_event(Event::Unbonding { worker: who.clone(), who, amount, unlock_at });
		Ok(())
	}

	pub(crate) fn do_leave(who: T::AccountId) -> DispatchResult {
		let mut worker = Workers::<T>::get(&who).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::AlreadyLeaving);

		let unlock_at = Self::unlock_at();
		let amount = worker.own.active;
		worker.own.settle(worker.reward_per_stake);
		if !amount.is_zero() {
			worker.own.start_unbonding(amount, unlock_at).map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
		}
		let now = frame_system::Pallet::<T>::block_number();
		worker.status = WorkerStatus::Leaving { since: now };
		Self::leave_models(&who, &worker.models);
		if Self::remove_candidate(&who) {
			Self::deposit_event(Event::Chilled { worker: who.clone() });
		}
		Workers::<T>::insert(&who, worker);
		Self::deposit_event(Event::WorkerLeaving { worker: who, unlock_at });
		Ok(())
	}

	pub(crate) fn do_delegate(who: T::AccountId, worker_id: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(who != worker_id, Error::<T>::SelfDelegation);
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::WorkerLeaving);
		ensure!(!ClosedToDelegations::<T>::contains_key(&worker_id), Error::<T>::ClosedToDelegations);
		let existing = Delegations::<T>::get(&worker_id, &who);
		let mut position = existing.clone().unwrap_or_else(|| Stake::new(Zero::zero(), worker.reward_per_stake));
		ensure!(position.active.saturating_add(amount) >= T::MinDelegation::get(), Error::<T>::DelegationTooLow);
		if existing.is_none() {
			ensure!(worker.delegators < T::MaxDelegatorsPerWorker::get(), Error::<T>::TooManyDelegators);
		}

		Self::hold(HoldReason::Delegation, &who, amount)?;
		position.settle(worker.reward_per_stake);
		position.active = position.active.saturating_add(amount);
		worker.delegated = worker.delegated.saturating_add(amount);
		if existing.is_none() {
			worker.delegators = worker.delegators.saturating_add(1);
		}
		Delegations::<T>::insert(&worker_id, &who, position);
		Workers::<T>::insert(&worker_id, worker);
		Self::deposit_event(Event::Delegated { worker: worker_id, delegator: who, amount });
		Ok(())
	}

	pub(crate) fn do_undelegate(who: T::AccountId, worker_id: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		let mut position = Delegations::<T>::get(&worker_id, &who).ok_or(Error::<T>::NoDelegation)?;
		ensure!(amount <= position.active, Error::<T>::InsufficientStake);
		let remaining = position.active.saturating_sub(amount);
		ensure!(remaining.is_zero() || remaining >= T::MinDelegation::get(), Error::<T>::DelegationTooLow);

		let unlock_at = Self::unlock_at();
		position.settle(worker.reward_per_stake);
		position.start_unbonding(amount, unlock_at).map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
		worker.delegated = worker.delegated.saturating_sub(amount);
		Delegations::<T>::insert(&worker_id, &who, position);
		Workers::<T>::insert(&worker_id, worker);
		Self::deposit_event(Event::Unbonding { worker: worker_id, who, amount, unlock_at });
		Ok(())
	}

	pub(crate) fn do_withdraw_unbonded(who: T::AccountId, worker_id: T::AccountId) -> DispatchResult {
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		let now = frame_system::Pallet::<T>::block_number();
		let amount = if who == worker_id {
			let amount = worker.own.take_withdrawable(now);
			ensure!(!amount.is_zero(), Error::<T>::NothingToWithdraw);
			T::Currency::release(&HoldReason::WorkerBond.into(), &who, amount, Precision::Exact)?;
			amount
		} else {
			let mut position = Delegations::<T>::get(&worker_id, &who).ok_or(Error::<T>::NoDelegation)?;
			let amount = position.take_withdrawable(now);
			ensure!(!amount.is_zero(), Error::<T>::NothingToWithdraw);
			T::Currency::release(&HoldReason::Delegation.into(), &who, amount, Precision::Exact)?;
			Self::store_position(&worker_id, &who, position, &mut worker);
			amount
		};
		Self::store_or_remove(worker_id.clone(), worker);
		Self::deposit_event(Event::Withdrawn { worker: worker_id, who, amount });
		Ok(())
	}

	pub(crate) fn do_claim_rewards(who: T::AccountId, worker_id: T::AccountId) -> DispatchResult {
		let mut worker = Workers::<T>::get(&worker_id).ok_or(Error::<T>::UnknownWorker)?;
		let amount = if who == worker_id {
			worker.own.settle(worker.reward_per_stake);
			core::mem::take(&mut worker.own.unclaimed)
		} else {
			let mut position = Delegations::<T>::get(&worker_id, &who).ok_or(Error::<T>::NoDelegation)?;
			position.settle(worker.reward_per_stake);
			let amount = core::mem::take(&mut position.unclaimed);
			ensure!(!amount.is_zero(), Error::<T>::NothingToClaim);
			Self::store_position(&worker_id, &who, position, &mut worker);
			amount
		};
		ensure!(!amount.is_zero(), Error::<T>::NothingToClaim);

		// The reward account keeps its existential deposit, so it is never reaped.
		T::Currency::transfer(&Self::reward_account(), &who, amount, Preservation::Preserve)?;
		Self::store_or_remove(worker_id.clone(), worker);
		Self::deposit_event(Event::RewardClaimed { worker: worker_id, who, amount });
		Ok(())
	}

	/// Write back a delegation, or remove it (and count one delegator less) once it holds and
	/// owes nothing.
	fn store_position(worker_id: &T::AccountId, who: &T::AccountId, position: StakeOf<T>, worker: &mut WorkerOf<T>) {
		if position.is_empty() {
			Delegations::<T>::remove(worker_id, who);
			worker.delegators = worker.delegators.saturating_sub(1);
		} else {
			Delegations::<T>::insert(worker_id, who, position);
		}
	}

	/// Write back a worker, or remove a leaving one that has nothing left with it.
	pub(crate) fn store_or_remove(worker_id: T::AccountId, worker: WorkerOf<T>) {
		let finished = !worker.is_active() && worker.own.is_empty() && worker.delegators == 0;
		if finished {
			WorkerKeys::<T>::remove(&worker.key);
			PendingCommission::<T>::remove(&worker_id);
			ClosedToDelegations::<T>::remove(&worker_id);
			Workers::<T>::remove(&worker_id);
			Self::deposit_event(Event::WorkerRemoved { worker: worker_id });
		} else {
			Workers::<T>::insert(&worker_id, worker);
		}
	}

	/// Funds this pallet holds on `who` for `reason`.
	pub fn held(reason: HoldReason, who: &T::AccountId) -> BalanceOf<T> {
		T::Currency::balance_on_hold(&reason.into(), who)
	}
}
