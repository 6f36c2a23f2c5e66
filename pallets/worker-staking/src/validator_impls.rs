//! Validator candidates and the choice of each session's validators.
//!
//! The session pallet asks for a new set at every session; the runtime hands it
//! [`Pallet::elect_validators`]. Stake elects: a candidate's own active bond plus what is
//! delegated to it, the same stake that weighs its committee draws and that a validator
//! offence slashes.

use super::*;
use alloc::vec::Vec;
use frame_support::{ensure, pallet_prelude::DispatchResult, traits::Get};
use sp_runtime::traits::Zero;

/// The validators among `candidates` (account, stake): the `max` with the most stake, ties to
/// the lower account, in that order; `None` when fewer than `min` have any stake.
pub fn rank_validators<AccountId: Ord + Clone, Stake: Ord + Zero + Copy>(
	candidates: &[(AccountId, Stake)],
	max: u32,
	min: u32,
) -> Option<Vec<AccountId>> {
	let mut ranked: Vec<&(AccountId, Stake)> = candidates.iter().filter(|(_, stake)| !stake.is_zero()).collect();
	ranked.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
	ranked.dedup_by(|x, y| x.0 == y.0);
	ranked.truncate(max as usize);
	(ranked.len() >= min.max(1) as usize).then(|| ranked.into_iter().map(|(who, _)| who.clone()).collect())
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
	/// stake. `None`, keeping the current set, when fewer than `MinValidators` qualify.
	pub fn elect_validators(session: u32) -> Option<Vec<T::AccountId>> {
		let candidates: Vec<(T::AccountId, BalanceOf<T>)> = ValidatorCandidates::<T>::get()
			.into_iter()
			.filter(|who| T::SessionKeys::has_keys(who))
			.map(|who| {
				let stake = Workers::<T>::get(&who).map(|w| Self::standing(&w)).unwrap_or_else(Zero::zero);
				(who, stake)
			})
			.collect();
		let chosen = rank_validators(&candidates, T::MaxValidators::get(), T::MinValidators::get())?;
		Self::deposit_event(Event::ValidatorsChosen { session, validators: chosen.clone() });
		Some(chosen)
	}
}
