//! Validator candidates and the choice of each session's validators.
//!
//! The session pallet asks for a new set at every session; the runtime hands it
//! [`Pallet::elect_validators`]. Stake elects: a candidate's own active bond plus what is
//! delegated to it, the same stake that weighs its committee draws and that a validator
//! offence slashes.

use super::*;
use alloc::vec::Vec;
use frame_support::{ensure, pallet_prelude::DispatchResult, traits::Get};
use sp_runtime::{traits::Zero, Perbill};

/// The validators among `candidates` (account, stake): the `max` with the most stake, ties to
/// the lower account, in that order; `None` when fewer than `min` have any stake.
pub fn rank_validators<AccountId: Ord + Clone, Stake: Ord + Zero + Copy>(
	candidates: &[(AccountId, Stake)],
	max: u32,
	min: u32,
) -> Option<Vec<AccountId>> {
	let ranked = by_stake(candidates.iter().filter(|(_, stake)| !stake.is_zero()), max);
	(ranked.len() >= min.max(1) as usize).then_some(ranked)
}

/// `people` with the most stake first, ties to the lower account, each once, at most `max`.
fn by_stake<'a, AccountId: Ord + Clone + 'a, Stake: Ord + Copy + 'a>(
	people: impl Iterator<Item = &'a (AccountId, Stake)>,
	max: u32,
) -> Vec<AccountId> {
	let mut ranked: Vec<&(AccountId, Stake)> = people.collect();
	ranked.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
	ranked.dedup_by(|x, y| x.0 == y.0);
	ranked.truncate(max as usize);
	ranked.into_iter().map(|(who, _)| who.clone()).collect()
}

/// The next validators: [`rank_validators`] when at least `min` candidates qualify. Otherwise the
/// qualified candidates topped up to `min` with `current` validators (account, stake), the most
/// stake first, whether or not they still qualify: fewer authors would put the chain's liveness
/// in fewer hands, and a validator that left or was slashed stays only until enough candidates
/// replace it. `None` (keep the set as it is) when even that is fewer than `min`.
pub fn choose_validators<AccountId: Ord + Clone, Stake: Ord + Zero + Copy>(
	candidates: &[(AccountId, Stake)],
	current: &[(AccountId, Stake)],
	max: u32,
	min: u32,
) -> Option<Vec<AccountId>> {
	let min = min.max(1).min(max);
	if let Some(chosen) = rank_validators(candidates, max, min) {
		return Some(chosen);
	}
	let mut chosen = by_stake(candidates.iter().filter(|(_, stake)| !stake.is_zero()), max);
	for who in by_stake(current.iter(), max) {
		if chosen.len() >= min as usize {
			break;
		}
		if !chosen.contains(&who) {
			chosen.push(who);
		}
	}
	(chosen.len() >= min as usize).then_some(chosen)
}

impl<T: Config> Pallet<T> {
	pub(crate) fn do_validate(who: T::AccountId) -> DispatchResult {
		let worker = Workers::<T>::get(&who).ok_or(Error::<T>::UnknownWorker)?;
		ensure!(worker.is_active(), Error::<T>::WorkerLeaving);
		ensure!(T::SessionKeys::has_keys(&who), Error::<T>::NoSessionKeys);
		ValidatorCandidates::<T>::try_mutate(|list| {
			ensure!(!list.contains(&who), Error::<T>::AlreadyCandidate);
			list.try_push(who.clone()).map_err(|_| Error::<T>::TooManyCandidates)?;
			Ok::<_, Error<T>>(())
		})?;
		Self::deposit_event(Event::ValidatorCandidate { worker: who });
		Ok(())
	}

	pub(crate) fn do_chill(who: T::AccountId) -> DispatchResult {
		ensure!(Self::remove_candidate(&who), Error::<T>::NotCandidate);
		Self::deposit_event(Event::Chilled { worker: who });
		Ok(())
	}

	/// Take `who` off the candidate list; whether it was on it.
	pub(crate) fn remove_candidate(who: &T::AccountId) -> bool {
		ValidatorCandidates::<T>::mutate(|list| {
			let before = list.len();
			list.retain(|c| c != who);
			list.len() != before
		})
	}

	/// The validators of session `session`: candidates that are active workers in good standing
	/// (own bond at least `MinWorkerBond`) with session keys, the `MaxValidators` with the most
	/// stake. Below `MinValidators` such candidates, the `current` validators that still have
	/// keys fill the set up to the minimum ([`choose_validators`]); `None`, keeping the set as it
	/// is, when even they are too few.
	pub fn elect_validators(session: u32, current: &[T::AccountId]) -> Option<Vec<T::AccountId>> {
		let with_stake = |who: T::AccountId| {
			let stake = Workers::<T>::get(&who).map(|w| Self::standing(&w)).unwrap_or_else(Zero::zero);
			(who, stake)
		};
		let candidates: Vec<(T::AccountId, BalanceOf<T>)> = ValidatorCandidates::<T>::get()
			.into_iter()
			.filter(|who| T::SessionKeys::has_keys(who))
			.map(with_stake)
			.collect();
		let current: Vec<(T::AccountId, BalanceOf<T>)> =
			current.iter().filter(|who| T::SessionKeys::has_keys(who)).cloned().map(with_stake).collect();
		let chosen = choose_validators(&candidates, &current, T::MaxValidators::get(), T::MinValidators::get())?;
		Self::deposit_event(Event::ValidatorsChosen { session, validators: chosen.clone() });
		Some(chosen)
	}

	/// Slash validator `who` for an offence in `session` (an equivocation, or a session offline),
	/// to `fraction` of its stake in all for that session: what it was already slashed for the
	/// session's offences is not taken twice. It stops being a candidate, so the next session
	/// boundary that can replace it chooses a set without it. Returns the amount slashed now.
	pub fn slash_validator(who: &T::AccountId, fraction: Perbill, session: u32) -> BalanceOf<T> {
		if Self::remove_candidate(who) {
			Self::deposit_event(Event::Chilled { worker: who.clone() });
		}
		let before = OffenceSlashes::<T>::get(session, who);
		if fraction <= before {
			return Zero::zero();
		}
		OffenceSlashes::<T>::insert(session, who, fraction);
		// `before` of the stake is gone; reach `fraction` of it with a share of what is left.
		let more = Perbill::from_rational(
			fraction.deconstruct().saturating_sub(before.deconstruct()),
			Perbill::one().deconstruct().saturating_sub(before.deconstruct()),
		);
		Self::slash(who, more, opg_primitives::Misconduct::ValidatorOffence)
	}

	/// Forget the offence slashes of `session`, whose history is no longer kept (no offence in it
	/// can be proven any more). At most one entry per validator of that session.
	pub fn forget_offences(session: u32) {
		let _ = OffenceSlashes::<T>::clear_prefix(session, u32::MAX, None);
	}
}
