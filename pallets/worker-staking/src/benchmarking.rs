//! Benchmarks (v2) for every call and for the duties the inference pallet invokes, each at its
//! worst case: full model lists, full delegator sets, full unbonding queues.

use super::*;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get,
};
use frame_system::RawOrigin;
use sp_runtime::{traits::Saturating, Perbill};

/// Keys and model ids made from an index, for benchmarks only.
pub trait BenchmarkHelper<WorkerKey, ModelId> {
	/// A worker key made from `i` whose secret the benchmark can sign with.
	fn worker_key(i: u32) -> WorkerKey;
	/// A model id made from `i`, registered so that workers may serve it.
	fn model_id(i: u32) -> ModelId;
}

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::MinWorkerBond::get()
		.saturating_add(T::MinDelegation::get())
		.saturating_mul(1_000u32.into())
		.saturating_add(T::Currency::minimum_balance());
	T::Currency::set_balance(&who, amount);
	who
}

fn models<T: Config>(m: u32, offset: u32) -> ModelsOf<T> {
	(0..m)
		.map(|i| T::BenchmarkHelper::model_id(offset + i))
		.collect::<Vec<_>>()
		.try_into()
		.expect("m <= MaxModelsPerWorker")
}

/// `n` other accounts on the validator candidate list.
fn fill_candidates<T: Config>(n: u32) {
	let list: Vec<T::AccountId> = (0..n).map(|i| account("candidate", i, 0)).collect();
	ValidatorCandidates::<T>::put(frame_support::BoundedVec::try_from(list).expect("n <= MaxValidatorCandidates"));
}

/// A registered worker serving `m` models.
fn worker<T: Config>(i: u32, m: u32) -> T::AccountId {
	let who = funded::<T>("worker", i);
	Pallet::<T>::do_register_worker(
		who.clone(),
		T::MinWorkerBond::get().saturating_mul(2u32.into()),
		T::BenchmarkHelper::worker_key(i),
		models::<T>(m, 0),
		Perbill::from_percent(10),
	)
	.expect("registers");
	who
}

fn delegator<T: Config>(worker: &T::AccountId, i: u32) -> T::AccountId {
	let who = funded::<T>("delegator", i);
	Pallet::<T>::do_delegate(who.clone(), worker.clone(), T::MinDelegation::get().saturating_mul(2u32.into()))
		.expect("delegates");
	who
}

/// Fill a position's unbonding queue but for one slot, each chunk at a different block.
fn fill_unbonding<T: Config>(worker: &T::AccountId, who: &T::AccountId) {
	let step = T::MinDelegation::get().max(1u32.into());
	for _ in 1..T::MaxUnbondingChunks::get() {
		let now = frame_system::Pallet::<T>::block_number();
		frame_system::Pallet::<T>::set_block_number(now.saturating_add(1u32.into()));
		if who == worker {
			Pallet::<T>::do_bond_extra(who.clone(), step).expect("bonds");
			Pallet::<T>::do_unbond(who.clone(), step).expect("unbonds");
		} else {
			Pallet::<T>::do_delegate(who.clone(), worker.clone(), step).expect("delegates");
			Pallet::<T>::do_undelegate(who.clone(), worker.clone(), step).expect("undelegates");
		}
	}
	// The benchmarked call then unbonds in a block of its own: a new chunk, not a merge.
	let now = frame_system::Pallet::<T>::block_number();
	frame_system::Pallet::<T>::set_block_number(now.saturating_add(1u32.into()));
}

/// Fill the candidate lists of `models` with workers registered at the minimum bond, so a
/// stronger newcomer evicts one from each (after scanning them all). Worker numbers start at
/// `first`.
fn fill_lists<T: Config>(models: &ModelsOf<T>, first: u32) {
	for i in 0..T::MaxWorkersPerModel::get() {
		let who = funded::<T>("incumbent", first + i);
		Pallet::<T>::do_register_worker(
			who,
			T::MinWorkerBond::get(),
			T::BenchmarkHelper::worker_key(first + i),
			models.clone(),
			Perbill::from_percent(10),
		)
		.expect("an incumbent registers");
	}
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_worker(m: Linear<0, { T::MaxModelsPerWorker::get() }>) {
		let who = funded::<T>("worker", 0);
		let bond = T::MinWorkerBond::get().saturating_mul(2u32.into());
		let key = T::BenchmarkHelper::worker_key(0);
		let proof = sp_runtime::RuntimeAppPublic::sign(&key, &opg_primitives::worker::key_possession_payload(&who))
			.expect("the benchmark's worker keys can sign");
		let models = models::<T>(m, 0);
		// Every list full: the registration scans each and evicts a candidate from each.
		fill_lists::<T>(&models, 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), bond, key, models, Perbill::from_percent(5), proof);

		assert!(Workers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn update_worker(m: Linear<0, { T::MaxModelsPerWorker::get() }>) {
		let who = worker::<T>(0, T::MaxModelsPerWorker::get());
		// Replace every model with one whose list is full: the most list edits and scans.
		let new = models::<T>(m, T::MaxModelsPerWorker::get());
		fill_lists::<T>(&new, 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), new.clone(), Perbill::from_percent(20));

		assert_eq!(Workers::<T>::get(&who).map(|w| w.models), Some(new));
	}

	#[benchmark]
	fn bond_extra() {
		let who = worker::<T>(0, 1);
		let amount = T::MinDelegation::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), amount);

		assert!(Workers::<T>::get(&who).is_some());
	}

	#[benchmark]
	fn unbond() {
		let who = worker::<T>(0, 1);
		fill_unbonding::<T>(&who, &who);
		let amount = T::MinWorkerBond::get().min(1u32.into()).max(1u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), amount);

		assert_eq!(Workers::<T>::get(&who).map(|w| w.own.unbonding.len() as u32), Some(T::MaxUnbondingChunks::get()));
	}

	#[benchmark]
	fn leave(m: Linear<0, { T::MaxModelsPerWorker::get() }>) {
		let who = worker::<T>(0, m);
		fill_unbonding::<T>(&who, &who);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));

		assert!(Workers::<T>::get(&who).is_some_and(|w| !w.is_active()));
	}

	#[benchmark]
	fn delegate() {
		let w = worker::<T>(0, 1);
		let who = funded::<T>("delegator", 0);
		let amount = T::MinDelegation::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), w.clone(), amount);

		assert!(Delegations::<T>::contains_key(&w, &who));
	}

	#[benchmark]
	fn undelegate() {
		let w = worker::<T>(0, 1);
		let who = delegator::<T>(&w, 0);
		fill_unbonding::<T>(&w, &who);
		let amount = T::MinDelegation::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), w.clone(), amount);

		assert!(Delegations::<T>::contains_key(&w, &who));
	}

	#[benchmark]
	fn withdraw_unbonded() {
		// The delegator path with a full queue: removes its record and releases a hold.
		let w = worker::<T>(0, 1);
		let who = delegator::<T>(&w, 0);
		fill_unbonding::<T>(&w, &who);
		let rest = Delegations::<T>::get(&w, &who).map(|p| p.active).unwrap_or_default();
		Pallet::<T>::do_undelegate(who.clone(), w.clone(), rest).expect("undelegates");
		let now = frame_system::Pallet::<T>::block_number();
		frame_system::Pallet::<T>::set_block_number(now.saturating_add(T::UnbondingPeriod::get()));

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), w.clone());

		assert!(!Delegations::<T>::contains_key(&w, &who));
	}

	#[benchmark]
	fn claim_rewards() {
		let w = worker::<T>(0, 1);
		let who = delegator::<T>(&w, 0);
		let reward = T::MinDelegation::get().saturating_mul(10u32.into());
		T::Currency::mint_into(&Pallet::<T>::reward_account(), reward.saturating_add(T::Currency::minimum_balance()))
			.expect("mints");
		Pallet::<T>::credit_reward(&w, reward);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), w.clone());

		assert!(Delegations::<T>::get(&w, &who).is_some_and(|p| p.unclaimed == 0u32.into()));
	}

	#[benchmark]
	fn set_delegations_open() {
		let w = worker::<T>(0, 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), false);

		assert!(ClosedToDelegations::<T>::contains_key(&w));
	}

	#[benchmark]
	fn kick() {
		let w = worker::<T>(0, 1);
		let who = delegator::<T>(&w, 0);
		fill_unbonding::<T>(&w, &who);

		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), who.clone());

		assert!(Delegations::<T>::get(&w, &who).is_some_and(|p| p.active == 0u32.into()));
	}

	#[benchmark]
	fn release() {
		// A kicked delegator with a full queue and rewards owed: releases a hold, pays the
		// rewards and removes its record.
		let w = worker::<T>(0, 1);
		let who = delegator::<T>(&w, 0);
		fill_unbonding::<T>(&w, &who);
		let reward = T::MinDelegation::get().saturating_mul(10u32.into());
		T::Currency::mint_into(&Pallet::<T>::reward_account(), reward.saturating_add(T::Currency::minimum_balance()))
			.expect("mints");
		Pallet::<T>::credit_reward(&w, reward);
		Pallet::<T>::do_kick(w.clone(), who.clone()).expect("kicks");
		let now = frame_system::Pallet::<T>::block_number();
		frame_system::Pallet::<T>::set_block_number(now.saturating_add(T::UnbondingPeriod::get()));
		let caller = funded::<T>("caller", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), w.clone(), who.clone());

		assert!(!Delegations::<T>::contains_key(&w, &who));
	}

	#[benchmark]
	fn credit_reward() {
		let w = worker::<T>(0, 1);
		let reward = T::MinDelegation::get();
		// A commission rise due now: the reward applies it first.
		let now = frame_system::Pallet::<T>::block_number();
		PendingCommission::<T>::insert(&w, (Perbill::from_percent(20), now));

		#[block]
		{
			Pallet::<T>::credit_reward(&w, reward);
		}

		assert!(Workers::<T>::get(&w).is_some_and(|w| w.own.unclaimed > 0u32.into()));
	}

	#[benchmark]
	fn slash(d: Linear<0, { T::MaxDelegatorsPerWorker::get() }>) {
		let w = worker::<T>(0, 1);
		for i in 0..d {
			delegator::<T>(&w, i);
		}

		#[block]
		{
			Pallet::<T>::slash(&w, Perbill::from_percent(10), opg_primitives::Misconduct::WrongOutput);
		}

		assert!(T::Currency::balance(&T::Treasury::get()) > 0u32.into());
	}

	#[benchmark]
	fn validate() {
		// The candidate list one short of full: the check for a duplicate reads all of it.
		let w = worker::<T>(0, 0);
		T::SessionKeys::set_keys_for_benchmark(&w);
		fill_candidates::<T>(T::MaxValidatorCandidates::get().saturating_sub(1));

		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()));

		assert!(ValidatorCandidates::<T>::get().contains(&w));
	}

	#[benchmark]
	fn chill() {
		// Last on a full candidate list.
		let w = worker::<T>(0, 0);
		T::SessionKeys::set_keys_for_benchmark(&w);
		fill_candidates::<T>(T::MaxValidatorCandidates::get().saturating_sub(1));
		Pallet::<T>::do_validate(w.clone()).expect("offers to validate");

		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()));

		assert!(!ValidatorCandidates::<T>::get().contains(&w));
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
