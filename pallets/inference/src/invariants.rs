//! `try_state` invariants: the escrow held on each requester equals the fee ceilings of its open
//! requests, its deposit hold the deposits of its requests and answers still in state, model deposits equal their records and every model's profile is one the workers implement, every open request can still end, the draw
//! queue holds exactly the requests waiting for a committee, and first-round answers and sealed
//! digests are kept only while their request is open.

use super::*;
use alloc::collections::btree_map::BTreeMap;
use frame_support::{ensure, traits::Get};
use sp_runtime::{traits::Saturating, TryRuntimeError};

impl<T: Config> Pallet<T> {
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let mut escrow: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let (first_undrawn, next) = (NextToDraw::<T>::get(), NextRequestId::<T>::get());
		ensure!(first_undrawn <= next, "draw queue runs past the last request");
		for (id, req) in Requests::<T>::iter() {
			let e = escrow.entry(req.requester.clone()).or_default();
			*e = e.saturating_add(req.max_fee);
			if id >= first_undrawn {
				ensure!(matches!(req.phase, Phase::Drawing), "queued request already drawn");
			}
			match req.phase {
				Phase::Drawing => ensure!(first_undrawn <= id && id < next, "request waits for no draw"),
				Phase::Commit { ends }
				| Phase::Reveal { ends }
				| Phase::SealedReveal { ends }
				| Phase::Publish { ends } => {
					// Closed by the hook of `ends + 1`, or of a later block when that list was full.
					let scheduled = (1..=crate::tick_impls::SPILL_BLOCKS)
						.any(|i| Deadlines::<T>::get(ends.saturating_add(i.into())).contains(&id));
					ensure!(scheduled, "open request without a scheduled deadline");
					for m in req.committee.iter() {
						ensure!(Assignments::<T>::contains_key(&m.worker, id), "member not assigned");
					}
				},
				Phase::Escalating { draws_at } => {
					ensure!(req.round > 0 && req.committee.is_empty(), "escalation drawn twice");
					let scheduled = (0..crate::tick_impls::SPILL_BLOCKS)
						.any(|i| Deadlines::<T>::get(draws_at.saturating_add(i.into())).contains(&id));
					ensure!(scheduled, "escalation without a scheduled draw");
				},
			}
		}
		for (who, amount) in escrow.iter() {
			ensure!(Self::held(HoldReason::Escrow, who) == *amount, "escrow hold != open requests");
		}
		let mut deposits: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (_, model) in Models::<T>::iter() {
			ensure!(
				model.profile.is_served_up_to(T::LatestPortableVersion::get()),
				"model registered under a profile the workers do not implement"
			);
			let d = deposits.entry(model.owner.clone()).or_default();
			*d = d.saturating_add(model.deposit);
		}
		for (who, amount) in deposits.iter() {
			ensure!(Self::held(HoldReason::ModelDeposit, who) == *amount, "deposit hold != models");
		}
		let mut deposits_held: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (id, (who, amount)) in Deposits::<T>::iter() {
			ensure!(
				Requests::<T>::contains_key(id) || Results::<T>::contains_key(id),
				"storage deposit of a request and answer both gone"
			);
			let d = deposits_held.entry(who).or_default();
			*d = d.saturating_add(amount);
		}
		for (who, amount) in deposits_held.iter() {
			ensure!(Self::held(HoldReason::RequestDeposit, who) == *amount, "request deposit hold != records");
		}
		for (_, id, ()) in Assignments::<T>::iter() {
			ensure!(Requests::<T>::contains_key(id), "assignment to a closed request");
		}
		for (id, seat, sealed) in Digests::<T>::iter() {
			let req = Requests::<T>::get(id).ok_or("sealed digest of a closed request")?;
			ensure!(seat < req.seats, "sealed digest beyond the first round's seats");
			ensure!(
				req.round > 0 || matches!(req.phase, Phase::SealedReveal { .. } | Phase::Publish { .. }),
				"sealed digest of an unsealed first round"
			);
			ensure!(Assignments::<T>::contains_key(&sealed.worker, id), "sealed member not assigned");
		}
		for (id, seat, _) in FirstRoundAnswers::<T>::iter() {
			let req = Requests::<T>::get(id).ok_or("first-round answer of a closed request")?;
			ensure!(req.round > 0, "first-round answer kept before an escalation");
			ensure!(seat < req.seats, "first-round answer beyond the first round's seats");
		}
		Ok(())
	}
}
