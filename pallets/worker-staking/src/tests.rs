//! Unit and property tests of worker staking on the mock runtime.

use crate::{mock::*, *};
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
};
use opg_primitives::Misconduct;
use sp_runtime::{testing::UintAuthorityId, BoundedVec, Perbill};

const W: AccountId = 1;
const W2: AccountId = 2;
const D1: AccountId = 5;
const D2: AccountId = 6;
const D3: AccountId = 7;
const D4: AccountId = 8;

fn models(ids: &[u32]) -> BoundedVec<u32, frame_support::traits::ConstU32<4>> {
	ids.to_vec().try_into().unwrap()
}

fn register(who: AccountId, bond: Balance, key: u64, ids: &[u32], commission: u32) {
	let (key, proof) = key_and_proof(who, key);
	assert_ok!(Staking::register_worker(
		RuntimeOrigin::signed(who),
		bond,
		key,
		models(ids),
		Perbill::from_percent(commission),
		proof
	));
}

/// Register `who` with worker key `key` and a valid proof, at zero commission.
fn try_register(who: AccountId, bond: Balance, key: u64, ids: &[u32]) -> frame_support::dispatch::DispatchResult {
	let (key, proof) = key_and_proof(who, key);
	Staking::register_worker(RuntimeOrigin::signed(who), bond, key, models(ids), Perbill::zero(), proof)
}

fn bond_hold(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::WorkerBond.into(), &who)
}

fn delegation_hold(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::Delegation.into(), &who)
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

fn advance(blocks: u64) {
	System::set_block_number(System::block_number() + blocks);
}

/// Pay `amount` into the reward account and credit it to `worker`, as the inference pallet does.
fn reward(worker: AccountId, amount: Balance) {
	use frame_support::traits::fungible::Mutate;
	assert_ok!(Balances::transfer(
		&12,
		&Staking::reward_account(),
		amount,
		frame_support::traits::tokens::Preservation::Preserve
	));
	Staking::credit_reward(&worker, amount);
}

// ---- registration ----

#[test]
fn register_holds_bond_and_indexes_key_and_models() {
	run(|| {
		register(W, 5_000, 100, &[1, 2], 10);
		assert_eq!(bond_hold(W), 5_000);
		assert_eq!(free(W), INITIAL - 5_000);
		assert_eq!(Staking::worker_of_key(&UintAuthorityId(100)), Some(W));
		assert_eq!(Staking::key_of_worker(&W), Some(UintAuthorityId(100)));
		assert_eq!(Staking::eligible_workers(&1), vec![(W, 5_000)]);
		assert_eq!(Staking::eligible_workers(&2), vec![(W, 5_000)]);
		assert!(Staking::eligible_workers(&3).is_empty());
		assert_eq!(
			last_event(),
			RuntimeEvent::Staking(Event::WorkerRegistered {
				worker: W,
				key: UintAuthorityId(100),
				bond: 5_000,
				commission: Perbill::from_percent(10)
			})
		);
	});
}

#[test]
fn register_rejects_bad_input_without_state_change() {
	run(|| {
		register(W, 5_000, 100, &[1], 10);
		let r = |who, bond, key, ids: &[u32]| try_register(who, bond, key, ids);
		assert_noop!(r(W2, MIN_WORKER_BOND - 1, 200, &[1]), Error::<Test>::BondTooLow);
		assert_noop!(r(W2, 0, 200, &[1]), Error::<Test>::BondTooLow);
		assert_noop!(r(W2, 5_000, 100, &[1]), Error::<Test>::KeyInUse);
		assert_noop!(r(W, 5_000, 200, &[1]), Error::<Test>::AlreadyWorker);
		assert_noop!(r(W2, 5_000, 200, &[1, 1]), Error::<Test>::DuplicateModel);
		assert_noop!(r(W2, INITIAL, 200, &[1]), Error::<Test>::InsufficientBalance);
		// Model 1 takes three workers.
		register(W2, 5_000, 200, &[1], 0);
		register(3, 5_000, 300, &[1], 0);
		assert_noop!(r(4, 5_000, 400, &[2, 1]), Error::<Test>::ModelFull);
		assert_eq!(bond_hold(4), 0);
	});
}

/// A key is registered only with its holder's proof: someone who saw the key (published, or in
/// a pending registration) cannot register it first, and a proof made for one stash does not
/// serve another.
#[test]
fn a_worker_key_needs_its_holders_proof() {
	run(|| {
		let (key, proof_for_w) = key_and_proof(W, 100);
		assert_noop!(
			Staking::register_worker(
				RuntimeOrigin::signed(W2),
				5_000,
				key.clone(),
				models(&[1]),
				Perbill::zero(),
				proof_for_w.clone()
			),
			Error::<Test>::BadKeyProof
		);
		let (_, proof_by_other_key) = key_and_proof(W, 101);
		assert_noop!(
			Staking::register_worker(
				RuntimeOrigin::signed(W),
				5_000,
				key.clone(),
				models(&[1]),
				Perbill::zero(),
				proof_by_other_key
			),
			Error::<Test>::BadKeyProof
		);
		assert_ok!(Staking::register_worker(
			RuntimeOrigin::signed(W),
			5_000,
			key,
			models(&[1]),
			Perbill::zero(),
			proof_for_w
		));
		assert_eq!(Staking::worker_of_key(&UintAuthorityId(100)), Some(W));
	});
}

#[test]
fn update_worker_changes_models_and_commission() {
	run(|| {
		register(W, 5_000, 100, &[1, 2], 10);
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W), models(&[2, 3]), Perbill::from_percent(50)));
		assert!(Staking::eligible_workers(&1).is_empty());
		assert_eq!(Staking::eligible_workers(&3), vec![(W, 5_000)]);
		// A rise waits out the delay (see `a_commission_rise_waits_and_a_cut_applies_at_once`).
		assert_eq!(Workers::<Test>::get(W).unwrap().commission, Perbill::from_percent(10));
		assert_eq!(PendingCommission::<Test>::get(W), Some((Perbill::from_percent(50), 1 + 5)));
		assert_noop!(
			Staking::update_worker(RuntimeOrigin::signed(W2), models(&[1]), Perbill::zero()),
			Error::<Test>::UnknownWorker
		);
		assert_noop!(
			Staking::update_worker(RuntimeOrigin::signed(W), models(&[4, 4]), Perbill::zero()),
			Error::<Test>::DuplicateModel
		);
	});
}

#[test]
fn only_registered_models_can_be_served() {
	run(|| {
		let r = |who, ids: &[u32]| try_register(who, 5_000, 100 + who, ids);
		assert_noop!(r(W, &[1, UNREGISTERED_MODEL]), Error::<Test>::UnknownModel);
		register(W, 5_000, 100, &[1], 0);
		assert_noop!(
			Staking::update_worker(RuntimeOrigin::signed(W), models(&[1, UNREGISTERED_MODEL]), Perbill::zero()),
			Error::<Test>::UnknownModel
		);
		assert!(ModelWorkers::<Test>::get(UNREGISTERED_MODEL).is_empty());
	});
}

/// The squatting scenario: minimum-bond workers fill a model's list to keep others out. A
/// worker with more stake still joins, in the weakest squatter's place, and the squatter
/// cannot come back without outstaking a candidate.
#[test]
fn a_full_model_list_gives_the_weakest_place_to_a_stronger_worker() {
	run(|| {
		register(W, 3_000, 100, &[1, 2], 0);
		register(W2, MIN_WORKER_BOND, 200, &[1], 0);
		register(3, 2_000, 300, &[1], 0);
		// A tie keeps the incumbent.
		assert_noop!(try_register(4, MIN_WORKER_BOND, 400, &[1]), Error::<Test>::ModelFull);
		register(4, 5_000, 400, &[1], 0);
		assert!(System::events()
			.iter()
			.any(|r| r.event == RuntimeEvent::Staking(Event::Evicted { worker: W2, model: 1, by: 4 })));
		assert_eq!(ModelWorkers::<Test>::get(1).into_inner(), vec![W, 3, 4]);
		let squatter = Workers::<Test>::get(W2).unwrap();
		assert!(squatter.models.is_empty(), "the evicted worker no longer serves the model");
		assert!(squatter.is_active(), "it stays registered, bonded and free to join elsewhere");
		assert_eq!(bond_hold(W2), MIN_WORKER_BOND);
		assert_noop!(
			Staking::update_worker(RuntimeOrigin::signed(W2), models(&[1]), Perbill::zero()),
			Error::<Test>::ModelFull
		);
		// Stake counts delegations too: with them it outstakes the weakest (3) again.
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W2, 1_500));
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W2), models(&[1]), Perbill::zero()));
		assert_eq!(ModelWorkers::<Test>::get(1).into_inner(), vec![W, 4, W2]);
		assert_eq!(Workers::<Test>::get(3).unwrap().models.into_inner(), Vec::<u32>::new());
		// An eviction from one list leaves the others alone.
		assert_eq!(Workers::<Test>::get(W).unwrap().models.into_inner(), vec![1, 2]);
	});
}

/// A candidate that can no longer be drawn (its bond slashed below the minimum, or leaving)
/// does not hold its place: any newcomer takes it, even one weaker than the candidate was.
#[test]
fn ineligible_candidates_give_way_to_anyone() {
	run(|| {
		register(W, 10_000, 100, &[1], 0);
		register(W2, 10_000, 200, &[1], 0);
		register(3, 1_050, 300, &[1], 0);
		Staking::slash(&W, Perbill::from_percent(95), Misconduct::WrongOutput);
		assert!(Staking::eligible_workers(&1).iter().all(|(w, _)| *w != W), "below the minimum: never drawn");
		register(4, 1_100, 400, &[1], 0);
		assert_eq!(ModelWorkers::<Test>::get(1).into_inner(), vec![W2, 3, 4]);
		assert!(Workers::<Test>::get(W).unwrap().models.is_empty());
	});
}

// ---- what a worker can do about its delegators, and they about it ----

#[test]
fn a_commission_rise_waits_and_a_cut_applies_at_once() {
	run(|| {
		register(W, 5_000, 100, &[1], 10);
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W), models(&[1]), Perbill::from_percent(50)));
		assert_eq!(
			System::events().iter().rev().nth(1).map(|r| r.event.clone()),
			Some(RuntimeEvent::Staking(Event::CommissionRiseScheduled {
				worker: W,
				commission: Perbill::from_percent(50),
				applies_at: 6
			}))
		);
		// Asking again for the same rise keeps its date.
		advance(2);
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W), models(&[1]), Perbill::from_percent(50)));
		assert_eq!(PendingCommission::<Test>::get(W), Some((Perbill::from_percent(50), 6)));
		// Before the delay, rewards pay the old rate.
		advance(2);
		reward(W, 1_000);
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::Rewarded { worker: W, amount: 1_000, commission: 100 }));
		advance(1);
		reward(W, 1_000);
		assert!(System::events().iter().any(|r| r.event
			== RuntimeEvent::Staking(Event::CommissionRaised { worker: W, commission: Perbill::from_percent(50) })));
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::Rewarded { worker: W, amount: 1_000, commission: 500 }));
		assert_eq!(PendingCommission::<Test>::get(W), None);
		// A cut applies at once and drops a pending rise.
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W), models(&[1]), Perbill::from_percent(80)));
		assert_ok!(Staking::update_worker(RuntimeOrigin::signed(W), models(&[1]), Perbill::from_percent(20)));
		assert_eq!(PendingCommission::<Test>::get(W), None);
		reward(W, 1_000);
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::Rewarded { worker: W, amount: 1_000, commission: 200 }));
	});
}

#[test]
fn a_worker_closed_to_delegations_takes_none_and_keeps_its_delegators() {
	run(|| {
		register(W, 5_000, 100, &[1], 10);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500));
		assert_ok!(Staking::set_delegations_open(RuntimeOrigin::signed(W), false));
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D2), W, 500), Error::<Test>::ClosedToDelegations);
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500), Error::<Test>::ClosedToDelegations);
		assert_eq!(Workers::<Test>::get(W).unwrap().delegated, 500);
		assert_ok!(Staking::set_delegations_open(RuntimeOrigin::signed(W), true));
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D2), W, 500));
		assert_noop!(Staking::set_delegations_open(RuntimeOrigin::signed(D3), false), Error::<Test>::UnknownWorker);
	});
}

/// Dust delegations fill a worker's delegator places; the worker kicks one, and once its
/// unbonding ends anyone releases it, which frees the place.
#[test]
fn a_worker_kicks_a_dust_delegator_to_make_room() {
	run(|| {
		register(W, 5_000, 100, &[1], 10);
		for d in [D1, D2, D3] {
			assert_ok!(Staking::delegate(RuntimeOrigin::signed(d), W, MIN_DELEGATION));
		}
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D4), W, 10_000), Error::<Test>::TooManyDelegators);
		assert_noop!(Staking::kick(RuntimeOrigin::signed(W), D4), Error::<Test>::NoDelegation);
		assert_noop!(Staking::kick(RuntimeOrigin::signed(D4), D1), Error::<Test>::UnknownWorker);
		assert_ok!(Staking::kick(RuntimeOrigin::signed(W), D1));
		assert_eq!(
			last_event(),
			RuntimeEvent::Staking(Event::Kicked {
				worker: W,
				delegator: D1,
				amount: MIN_DELEGATION,
				unlock_at: 1 + UNBONDING
			})
		);
		assert_eq!(Workers::<Test>::get(W).unwrap().delegated, 2 * MIN_DELEGATION);
		// Still slashable and still holding its place while it unbonds.
		assert_noop!(Staking::kick(RuntimeOrigin::signed(W), D1), Error::<Test>::InsufficientStake);
		assert_noop!(Staking::release(RuntimeOrigin::signed(D4), W, D1), Error::<Test>::NothingToRelease);
		advance(UNBONDING);
		let before = free(D1);
		assert_ok!(Staking::release(RuntimeOrigin::signed(D4), W, D1));
		assert_eq!(free(D1), before + MIN_DELEGATION);
		assert_eq!(delegation_hold(D1), 0);
		assert!(Delegations::<Test>::get(W, D1).is_none());
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D4), W, 10_000));
	});
}

/// A delegator that keeps its unbonding queue full cannot dodge a kick: the kicked stake joins
/// its latest chunk, whose unlock moves to a full period from now.
#[test]
fn a_full_unbonding_queue_does_not_stop_a_kick() {
	run(|| {
		register(W, 5_000, 100, &[1], 10);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 1_000));
		for _ in 0..3 {
			advance(1);
			assert_ok!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 100));
		}
		advance(1);
		assert_noop!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 100), Error::<Test>::TooManyUnbondingChunks);
		assert_ok!(Staking::kick(RuntimeOrigin::signed(W), D1));
		let position = Delegations::<Test>::get(W, D1).unwrap();
		assert_eq!(position.active, 0);
		assert_eq!(position.total(), 1_000);
		let latest = position.unbonding.iter().map(|c| (c.unlock_at, c.amount)).max().unwrap();
		assert_eq!(latest, (5 + UNBONDING, 800));
		assert_eq!(Workers::<Test>::get(W).unwrap().delegated, 0);
	});
}

/// A worker that leaves is gone once its bond and every delegation are out, even when a
/// delegator never comes back: the worker kicks it and releases it after the unbonding period,
/// with the rewards it was owed.
#[test]
fn a_departing_worker_is_not_pinned_by_a_delegator_who_never_withdraws() {
	run(|| {
		register(W, 5_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 5_000));
		reward(W, 1_000);
		assert_ok!(Staking::leave(RuntimeOrigin::signed(W)));
		assert_ok!(Staking::kick(RuntimeOrigin::signed(W), D1));
		advance(UNBONDING);
		let before = free(D1);
		assert_ok!(Staking::release(RuntimeOrigin::signed(W), W, D1));
		assert_eq!(free(D1), before + 5_000 + 500, "its delegation and its half of the reward");
		assert_ok!(Staking::release(RuntimeOrigin::signed(W), W, W));
		assert!(System::events()
			.iter()
			.any(|r| r.event == RuntimeEvent::Staking(Event::RewardClaimed { worker: W, who: W, amount: 500 })));
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::WorkerRemoved { worker: W }));
		assert!(Workers::<Test>::get(W).is_none(), "nothing left: the worker is removed");
		assert_eq!(Staking::worker_of_key(&UintAuthorityId(100)), None, "its key is free again");
		assert_eq!((bond_hold(W), delegation_hold(D1)), (0, 0));
	});
}

// ---- own bond ----

#[test]
fn bond_extra_and_unbond_respect_the_minimum() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(W), 500));
		assert_eq!(bond_hold(W), 2_500);
		assert_noop!(Staking::bond_extra(RuntimeOrigin::signed(W), 0), Error::<Test>::ZeroAmount);
		assert_noop!(Staking::bond_extra(RuntimeOrigin::signed(W2), 10), Error::<Test>::UnknownWorker);
		assert_noop!(Staking::unbond(RuntimeOrigin::signed(W), 1_501), Error::<Test>::WouldFallBelowMinimum);
		assert_noop!(Staking::unbond(RuntimeOrigin::signed(W), 9_999), Error::<Test>::InsufficientStake);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 1_500));
		// Unbonding stays held and no longer counts as stake.
		assert_eq!(bond_hold(W), 2_500);
		assert_eq!(Staking::eligible_workers(&1), vec![(W, 1_000)]);
	});
}

#[test]
fn unbonding_chunks_are_bounded_and_merge_per_block() {
	run(|| {
		register(W, 10_000, 100, &[1], 0);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 100));
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 100)); // same block: merged
		advance(1);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 100));
		advance(1);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 100));
		advance(1);
		assert_noop!(Staking::unbond(RuntimeOrigin::signed(W), 100), Error::<Test>::TooManyUnbondingChunks);
		assert_eq!(Workers::<Test>::get(W).unwrap().own.unbonding.len(), 3);
	});
}

#[test]
fn withdraw_only_after_the_unbonding_period() {
	run(|| {
		register(W, 3_000, 100, &[1], 0);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(W), 1_000));
		assert_noop!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W), Error::<Test>::NothingToWithdraw);
		advance(UNBONDING - 1);
		assert_noop!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W), Error::<Test>::NothingToWithdraw);
		advance(1);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W));
		assert_eq!(bond_hold(W), 2_000);
		assert_eq!(free(W), INITIAL - 2_000);
		// Over-withdrawal: nothing left to take.
		assert_noop!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W), Error::<Test>::NothingToWithdraw);
	});
}

// ---- delegation ----

#[test]
fn delegate_holds_and_counts_toward_stake() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500));
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 300));
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D2), W, 200));
		assert_eq!(delegation_hold(D1), 800);
		assert_eq!(delegation_hold(D2), 200);
		let worker = Workers::<Test>::get(W).unwrap();
		assert_eq!((worker.delegated, worker.delegators), (1_000, 2));
		assert_eq!(Staking::eligible_workers(&1), vec![(W, 3_000)]);
	});
}

#[test]
fn delegate_rejects_bad_input_without_state_change() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D1), W2, 500), Error::<Test>::UnknownWorker);
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D1), W, 0), Error::<Test>::ZeroAmount);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(D1), W, MIN_DELEGATION - 1),
			Error::<Test>::DelegationTooLow
		);
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(W), W, 500), Error::<Test>::SelfDelegation);
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D1), W, INITIAL), Error::<Test>::InsufficientBalance);
		for d in [D1, D2, D3] {
			assert_ok!(Staking::delegate(RuntimeOrigin::signed(d), W, 100));
		}
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D4), W, 100), Error::<Test>::TooManyDelegators);
		// An existing delegator may still add.
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 100));
	});
}

#[test]
fn delegating_to_a_leaving_worker_fails() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::leave(RuntimeOrigin::signed(W)));
		assert_noop!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500), Error::<Test>::WorkerLeaving);
		assert_noop!(Staking::bond_extra(RuntimeOrigin::signed(W), 500), Error::<Test>::WorkerLeaving);
		assert_noop!(Staking::leave(RuntimeOrigin::signed(W)), Error::<Test>::AlreadyLeaving);
		assert_noop!(
			Staking::update_worker(RuntimeOrigin::signed(W), models(&[1]), Perbill::zero()),
			Error::<Test>::WorkerLeaving
		);
	});
}

#[test]
fn undelegate_and_withdraw() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500));
		assert_noop!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 501), Error::<Test>::InsufficientStake);
		assert_noop!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 450), Error::<Test>::DelegationTooLow);
		assert_noop!(Staking::undelegate(RuntimeOrigin::signed(D2), W, 100), Error::<Test>::NoDelegation);
		assert_noop!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 0), Error::<Test>::ZeroAmount);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 500));
		assert_eq!(Workers::<Test>::get(W).unwrap().delegated, 0);
		assert_eq!(delegation_hold(D1), 500);
		advance(UNBONDING);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(D1), W));
		assert_eq!(delegation_hold(D1), 0);
		assert_eq!(free(D1), INITIAL);
		assert!(!Delegations::<Test>::contains_key(W, D1));
		assert_eq!(Workers::<Test>::get(W).unwrap().delegators, 0);
		assert_noop!(Staking::withdraw_unbonded(RuntimeOrigin::signed(D1), W), Error::<Test>::NoDelegation);
	});
}

// ---- leaving ----

#[test]
fn leaving_worker_unbonds_everything_and_is_removed_when_empty() {
	run(|| {
		register(W, 2_000, 100, &[1, 2], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 500));
		assert_ok!(Staking::leave(RuntimeOrigin::signed(W)));
		assert!(Staking::eligible_workers(&1).is_empty());
		assert!(ModelWorkers::<Test>::get(1).is_empty());
		advance(UNBONDING);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W));
		assert_eq!(bond_hold(W), 0);
		// The delegator keeps the worker record alive until it leaves too.
		assert!(Workers::<Test>::contains_key(W));
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 500));
		advance(UNBONDING);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(D1), W));
		assert!(!Workers::<Test>::contains_key(W));
		assert_eq!(Staking::worker_of_key(&UintAuthorityId(100)), None);
		assert_eq!(free(W), INITIAL);
		assert_eq!(free(D1), INITIAL);
		// The key is free again.
		register(W2, 2_000, 100, &[1], 0);
	});
}

// ---- rewards ----

#[test]
fn rewards_pay_commission_then_share_by_stake() {
	run(|| {
		// Own 1_000, delegators 2_000 and 1_000: a 4_000 stake.
		register(W, 1_000, 100, &[1], 20);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 2_000));
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D2), W, 1_000));
		reward(W, 10_000);
		// Commission 2_000; 8_000 shared: worker 2_000, D1 4_000, D2 2_000.
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(W), W));
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(D1), W));
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(D2), W));
		assert_eq!(free(W), INITIAL - 1_000 + 4_000);
		assert_eq!(free(D1), INITIAL - 2_000 + 4_000);
		assert_eq!(free(D2), INITIAL - 1_000 + 2_000);
		assert_noop!(Staking::claim_rewards(RuntimeOrigin::signed(D1), W), Error::<Test>::NothingToClaim);
		assert_noop!(Staking::claim_rewards(RuntimeOrigin::signed(D3), W), Error::<Test>::NoDelegation);
	});
}

#[test]
fn late_delegators_and_unbonding_stake_earn_nothing_from_earlier_rewards() {
	run(|| {
		register(W, 1_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 1_000));
		reward(W, 1_000); // 500 each
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D2), W, 2_000));
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 1_000));
		reward(W, 3_000); // own 1_000 and D2 2_000 share: 1_000 and 2_000
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(D1), W));
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(D2), W));
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(W), W));
		assert_eq!(free(D1), INITIAL - 1_000 + 500);
		assert_eq!(free(D2), INITIAL - 2_000 + 2_000);
		assert_eq!(free(W), INITIAL - 1_000 + 1_500);
	});
}

#[test]
fn reward_with_no_active_stake_goes_to_the_worker() {
	run(|| {
		register(W, 1_000, 100, &[1], 0);
		assert_ok!(Staking::leave(RuntimeOrigin::signed(W)));
		reward(W, 700);
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(W), W));
		assert_eq!(free(W), INITIAL - 1_000 + 700);
	});
}

// ---- slashing ----

#[test]
fn slash_hits_worker_and_delegators_pro_rata_and_pays_the_treasury() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 1_000));
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D2), W, 500));
		let issuance = Balances::total_issuance();
		let slashed = Staking::slash(&W, Perbill::from_percent(10), Misconduct::WrongOutput);
		assert_eq!(slashed, 350);
		assert_eq!(bond_hold(W), 1_800);
		assert_eq!(delegation_hold(D1), 900);
		assert_eq!(delegation_hold(D2), 450);
		assert_eq!(free(TREASURY), ED + 350);
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(Staking::eligible_workers(&1), vec![(W, 3_150)]);
		assert_eq!(
			last_event(),
			RuntimeEvent::Staking(Event::Slashed {
				worker: W,
				fraction: Perbill::from_percent(10),
				reason: Misconduct::WrongOutput,
				amount: 350
			})
		);
	});
}

#[test]
fn unbonding_does_not_escape_a_slash() {
	run(|| {
		register(W, 2_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 1_000));
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(D1), W, 1_000));
		assert_ok!(Staking::leave(RuntimeOrigin::signed(W)));
		let slashed = Staking::slash(&W, Perbill::from_percent(50), Misconduct::NoShow);
		assert_eq!(slashed, 1_500);
		advance(UNBONDING);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(W), W));
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(D1), W));
		assert_eq!(free(W), INITIAL - 1_000);
		assert_eq!(free(D1), INITIAL - 500);
		assert!(!Workers::<Test>::contains_key(W));
	});
}

#[test]
fn slashed_below_minimum_is_not_eligible_until_topped_up() {
	run(|| {
		register(W, MIN_WORKER_BOND, 100, &[1], 0);
		Staking::slash(&W, Perbill::from_percent(1), Misconduct::NoShow);
		assert!(Staking::eligible_workers(&1).is_empty());
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(W), 10));
		assert_eq!(Staking::eligible_workers(&1), vec![(W, MIN_WORKER_BOND)]);
	});
}

#[test]
fn rewards_earned_before_a_slash_are_kept() {
	run(|| {
		register(W, 1_000, 100, &[1], 0);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), W, 1_000));
		reward(W, 1_000);
		Staking::slash(&W, Perbill::from_percent(50), Misconduct::WrongOutput);
		reward(W, 1_000); // stakes now 500/500
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(D1), W));
		assert_eq!(free(D1), INITIAL - 1_000 + 500 + 500);
	});
}

#[test]
fn slash_and_reward_of_unknown_worker_do_nothing() {
	run(|| {
		assert_eq!(Staking::slash(&W, Perbill::from_percent(10), Misconduct::NoShow), 0);
		assert!(System::events().is_empty());
	});
}

// ---- property test: random operation sequences ----

mod properties {
	use super::*;
	use proptest::prelude::*;

	#[derive(Debug, Clone)]
	enum Op {
		Register { who: u8, bond: u32, key: u8, model: u8 },
		BondExtra { who: u8, amount: u32 },
		Unbond { who: u8, amount: u32 },
		Leave { who: u8 },
		Delegate { who: u8, worker: u8, amount: u32 },
		Undelegate { who: u8, worker: u8, amount: u32 },
		Withdraw { who: u8, worker: u8 },
		Claim { who: u8, worker: u8 },
		Reward { worker: u8, amount: u32 },
		Slash { worker: u8, percent: u8 },
		Advance { blocks: u8 },
		Kick { worker: u8, delegator: u8 },
		Release { by: u8, worker: u8, staker: u8 },
		SetOpen { worker: u8, open: bool },
	}

	fn op() -> impl Strategy<Value = Op> {
		let who = 1u8..=6;
		prop_oneof![
			(who.clone(), 0u32..5_000, 0u8..4, 0u8..3).prop_map(|(who, bond, key, model)| Op::Register {
				who,
				bond,
				key,
				model
			}),
			(who.clone(), 0u32..2_000).prop_map(|(who, amount)| Op::BondExtra { who, amount }),
			(who.clone(), 0u32..2_000).prop_map(|(who, amount)| Op::Unbond { who, amount }),
			who.clone().prop_map(|who| Op::Leave { who }),
			(who.clone(), who.clone(), 0u32..3_000).prop_map(|(who, worker, amount)| Op::Delegate {
				who,
				worker,
				amount
			}),
			(who.clone(), who.clone(), 0u32..3_000).prop_map(|(who, worker, amount)| Op::Undelegate {
				who,
				worker,
				amount
			}),
			(who.clone(), who.clone()).prop_map(|(who, worker)| Op::Withdraw { who, worker }),
			(who.clone(), who.clone()).prop_map(|(who, worker)| Op::Claim { who, worker }),
			(who.clone(), 0u32..5_000).prop_map(|(worker, amount)| Op::Reward { worker, amount }),
			(who.clone(), 0u8..=100).prop_map(|(worker, percent)| Op::Slash { worker, percent }),
			(0u8..15).prop_map(|blocks| Op::Advance { blocks }),
			(who.clone(), who.clone()).prop_map(|(worker, delegator)| Op::Kick { worker, delegator }),
			(who.clone(), who.clone(), who.clone()).prop_map(|(by, worker, staker)| Op::Release { by, worker, staker }),
			(who.clone(), proptest::bool::ANY).prop_map(|(worker, open)| Op::SetOpen { worker, open }),
		]
	}

	proptest! {
		#![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

		/// Whatever the sequence: issuance is unchanged, the treasury gains exactly what was
		/// slashed, holds match records, and nobody ends with more than it started with plus the
		/// rewards it was paid.
		#[test]
		fn random_sequences_conserve_funds(ops in proptest::collection::vec(op(), 1..60)) {
			new_test_ext().execute_with(|| {
				let issuance = Balances::total_issuance();
				let mut slashed: Balance = 0;
				let mut paid_in: Balance = 0;
				for op in ops {
					let acc = |x: u8| x as AccountId;
					let _ = match op {
						Op::Register { who, bond, key, model } => {
							let (key, proof) = key_and_proof(acc(who), key as u64);
							Staking::register_worker(RuntimeOrigin::signed(acc(who)), bond as Balance, key,
								models(&[model as u32]), Perbill::from_percent(10), proof)
						},
						Op::BondExtra { who, amount } =>
							Staking::bond_extra(RuntimeOrigin::signed(acc(who)), amount as Balance),
						Op::Unbond { who, amount } =>
							Staking::unbond(RuntimeOrigin::signed(acc(who)), amount as Balance),
						Op::Leave { who } => Staking::leave(RuntimeOrigin::signed(acc(who))),
						Op::Delegate { who, worker, amount } => Staking::delegate(
							RuntimeOrigin::signed(acc(who)), acc(worker), amount as Balance),
						Op::Undelegate { who, worker, amount } => Staking::undelegate(
							RuntimeOrigin::signed(acc(who)), acc(worker), amount as Balance),
						Op::Withdraw { who, worker } => Staking::withdraw_unbonded(
							RuntimeOrigin::signed(acc(who)), acc(worker)),
						Op::Claim { who, worker } => Staking::claim_rewards(
							RuntimeOrigin::signed(acc(who)), acc(worker)),
						Op::Reward { worker, amount } => {
							if Workers::<Test>::contains_key(acc(worker)) {
								reward(acc(worker), amount as Balance);
								paid_in += amount as Balance;
							}
							Ok(())
						},
						Op::Slash { worker, percent } => {
							slashed += Staking::slash(&acc(worker),
								Perbill::from_percent(percent as u32), Misconduct::WrongOutput);
							Ok(())
						},
						Op::Advance { blocks } => { advance(blocks as u64); Ok(()) },
						Op::Kick { worker, delegator } =>
							Staking::kick(RuntimeOrigin::signed(acc(worker)), acc(delegator)),
						Op::Release { by, worker, staker } =>
							Staking::release(RuntimeOrigin::signed(acc(by)), acc(worker), acc(staker)),
						Op::SetOpen { worker, open } =>
							Staking::set_delegations_open(RuntimeOrigin::signed(acc(worker)), open),
					};
					prop_assert_eq!(Staking::do_try_state(), Ok(()));
				}
				prop_assert_eq!(Balances::total_issuance(), issuance);
				prop_assert_eq!(free(TREASURY), ED + slashed);
				// Rewards paid out never exceed what was paid in.
				let pot = free(Staking::reward_account());
				prop_assert!(pot >= ED);
				let claimed = paid_in - (pot - ED);
				let mut gained: Balance = 0;
				for who in 1..=6u64 {
					let total = Balances::total_balance(&who);
					prop_assert!(total <= INITIAL + claimed, "{} ended with {}", who, total);
					gained += total.saturating_sub(INITIAL);
				}
				prop_assert!(gained <= claimed);
				Ok(())
			})?;
		}
	}
}

// ---- validators ----

#[test]
fn ranking_takes_the_most_stake_breaks_ties_by_account_and_needs_a_minimum() {
	use crate::validator_impls::rank_validators;
	let candidates = [(4u64, 10u128), (2, 30), (3, 10), (1, 0), (5, 20)];
	assert_eq!(rank_validators(&candidates, 3, 2), Some(vec![2, 5, 3]), "ties go to the lower account");
	assert_eq!(rank_validators(&candidates, 10, 2), Some(vec![2, 5, 3, 4]), "no stake, no seat");
	assert_eq!(rank_validators(&candidates, 10, 5), None, "four with stake are fewer than five");
	assert_eq!(rank_validators::<u64, u128>(&[], 10, 0), None, "never an empty set");
}

#[test]
fn too_few_candidates_are_topped_up_with_current_validators_by_stake() {
	use crate::validator_impls::choose_validators;
	let candidates = [(7u64, 50u128), (8, 0)];
	let current = [(1u64, 10u128), (2, 30), (3, 0), (7, 50)];
	assert_eq!(choose_validators(&candidates, &current, 5, 1), Some(vec![7]), "enough candidates: no top-up");
	assert_eq!(choose_validators(&candidates, &current, 5, 3), Some(vec![7, 2, 1]), "the most stake first");
	assert_eq!(choose_validators(&candidates, &current, 5, 5), None, "four in all are fewer than five");
	assert_eq!(choose_validators(&candidates, &current, 5, 4), Some(vec![7, 2, 1, 3]), "even without stake");
	assert_eq!(choose_validators::<u64, u128>(&[], &[], 5, 4), None);
}

#[test]
fn candidates_with_keys_and_the_most_stake_are_chosen_each_session() {
	run(|| {
		for (who, bond, model) in [(1, 5_000, 1), (2, 3_000, 1), (3, 4_000, 1), (4, 2_000, 2)] {
			register(who, bond, 100 + who, &[model], 0);
		}
		NO_KEYS.with(|k| k.borrow_mut().insert(4));
		assert_noop!(Staking::validate(RuntimeOrigin::signed(4)), Error::<Test>::NoSessionKeys);
		assert_noop!(Staking::validate(RuntimeOrigin::signed(D1)), Error::<Test>::UnknownWorker);
		assert_ok!(Staking::validate(RuntimeOrigin::signed(1)));
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::ValidatorCandidate { worker: 1 }));
		assert_noop!(Staking::validate(RuntimeOrigin::signed(1)), Error::<Test>::AlreadyCandidate);
		// One candidate is below `MinValidators` (2): the set stays as it is.
		assert_eq!(Staking::elect_validators(1, &[]), None);
		assert_ok!(Staking::validate(RuntimeOrigin::signed(2)));
		assert_eq!(Staking::elect_validators(2, &[]), Some(vec![1, 2]));
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::ValidatorsChosen { session: 2, validators: vec![1, 2] }));
		// Delegated stake counts: 2 overtakes 1.
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(D1), 2, 2_500));
		assert_ok!(Staking::validate(RuntimeOrigin::signed(3)));
		assert_eq!(Staking::elect_validators(3, &[1, 2]), Some(vec![2, 1, 3]));
		// At most `MaxValidators` (3): the weakest stays out; one whose keys are gone too.
		NO_KEYS.with(|k| k.borrow_mut().remove(&4));
		assert_ok!(Staking::validate(RuntimeOrigin::signed(4)));
		assert_eq!(Staking::elect_validators(4, &[2, 1, 3]), Some(vec![2, 1, 3]));
		NO_KEYS.with(|k| k.borrow_mut().insert(1));
		assert_eq!(Staking::elect_validators(5, &[2, 1, 3]), Some(vec![2, 3, 4]));
		NO_KEYS.with(|k| k.borrow_mut().clear());
		// A full candidate list takes nobody more.
		register(W2 + 10, 9_000, 200, &[2], 0);
		assert_noop!(Staking::validate(RuntimeOrigin::signed(W2 + 10)), Error::<Test>::TooManyCandidates);
		// Chilling, leaving or a slash below the minimum bond takes a candidate out.
		assert_ok!(Staking::chill(RuntimeOrigin::signed(3)));
		assert_eq!(last_event(), RuntimeEvent::Staking(Event::Chilled { worker: 3 }));
		assert_noop!(Staking::chill(RuntimeOrigin::signed(3)), Error::<Test>::NotCandidate);
		assert_ok!(Staking::leave(RuntimeOrigin::signed(4)));
		assert!(!ValidatorCandidates::<Test>::get().contains(&4));
		assert_eq!(Staking::elect_validators(6, &[2, 3, 4]), Some(vec![2, 1]));
		Staking::slash(&1, Perbill::from_percent(90), Misconduct::WrongOutput);
		assert_eq!(Staking::elect_validators(7, &[]), None, "one candidate in good standing is too few");
		// Below the minimum, current validators with keys fill the set, the slashed one included.
		assert_eq!(Staking::elect_validators(7, &[1, 2]), Some(vec![2, 1]));
		NO_KEYS.with(|k| k.borrow_mut().insert(1));
		assert_eq!(Staking::elect_validators(7, &[1, 2]), None, "without its keys it cannot fill a seat");
		NO_KEYS.with(|k| k.borrow_mut().clear());
		assert_ok!(Staking::validate(RuntimeOrigin::signed(W2 + 10)));
		assert_eq!(Staking::elect_validators(8, &[2, 1]), Some(vec![W2 + 10, 2]));
	});
}

#[test]
fn a_validator_offence_slashes_to_its_fraction_once_per_session_and_chills() {
	run(|| {
		register(1, 10_000, 101, &[1], 0);
		assert_ok!(Staking::validate(RuntimeOrigin::signed(1)));
		let own = || Workers::<Test>::get(1).expect("registered").own.active;
		assert_eq!(Staking::slash_validator(&1, Perbill::from_percent(10), 3), 1_000);
		assert!(!ValidatorCandidates::<Test>::get().contains(&1), "an offender stops being a candidate");
		assert_eq!(own(), 9_000);
		// A later report of the same slot repeats the offender with a larger fraction: only the
		// difference to 30 % of the stake is taken, and a smaller or equal one takes nothing.
		let more = Staking::slash_validator(&1, Perbill::from_percent(30), 3);
		assert!(more.abs_diff(2_000) <= 1, "{more}");
		assert_eq!(Staking::slash_validator(&1, Perbill::from_percent(30), 3), 0);
		assert_eq!(Staking::slash_validator(&1, Perbill::from_percent(20), 3), 0);
		assert!(own().abs_diff(7_000) <= 1, "{}", own());
		// Another session's offence is slashed on its own.
		assert!(Staking::slash_validator(&1, Perbill::from_percent(10), 4) > 0);
		Staking::forget_offences(3);
		assert_eq!(OffenceSlashes::<Test>::get(3, 1), Perbill::zero());
		assert_eq!(OffenceSlashes::<Test>::get(4, 1), Perbill::from_percent(10));
		// Not a worker (a genesis validator of a public chain): nothing to slash.
		assert_eq!(Staking::slash_validator(&99, Perbill::from_percent(10), 4), 0);
		Staking::do_try_state().expect("invariants");
	});
}
