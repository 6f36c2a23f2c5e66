//! Read-only views behind the `InferenceApi` runtime API.

use super::*;
use alloc::vec::Vec;
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::inference::{Assignment, Duty, ModelInfo, RequestStatus};

impl<T: Config> Pallet<T> {
	pub fn model_info(id: &T::ModelId) -> Option<ModelInfo<T::AccountId, BalanceOf<T>>> {
		Models::<T>::get(id).map(|m| ModelInfo {
			owner: m.owner,
			format: m.format,
			architecture: m.architecture.into_inner(),
			price: m.price,
			rule: m.rule,
			profile: m.profile,
			uris: m.uris.into_iter().map(|u| u.into_inner()).collect(),
		})
	}

	pub fn request_status(id: RequestId) -> RequestStatus<BlockNumberFor<T>> {
		if let Some(req) = Requests::<T>::get(id) {
			return match req.phase {
				Phase::Drawing | Phase::Escalating { .. } => RequestStatus::Drawing,
				Phase::Commit { ends } => RequestStatus::Commit { round: req.round, ends },
				Phase::Reveal { ends } | Phase::SealedReveal { ends } | Phase::Publish { ends } => {
					RequestStatus::Reveal { round: req.round, ends }
				},
			};
		}
		match Results::<T>::get(id) {
			Some(InferenceResult { answer: StoredAnswer::Output(output), settled, .. }) => {
				RequestStatus::Settled { output: output.value(), at: settled }
			},
			Some(InferenceResult { answer: StoredAnswer::Rejected(reason), settled, .. }) => {
				RequestStatus::Rejected { reason, at: settled }
			},
			None => RequestStatus::Unknown,
		}
	}

	/// The duties of the worker holding `key`: requests where it must commit, reveal or
	/// publish now (a worker on both rounds of an escalated request can have two).
	pub fn assignments(key: &T::WorkerKey) -> Vec<Assignment<T::ModelId, BlockNumberFor<T>>> {
		let Some(worker) = T::Workers::worker_of_key(key) else { return Vec::new() };
		let mut duties = Vec::new();
		for id in Assignments::<T>::iter_key_prefix(&worker) {
			let Some(req) = Requests::<T>::get(id) else { continue };
			let mut add = |round: u8, duty: Duty, ends: BlockNumberFor<T>| {
				duties.push(Assignment {
					request: id,
					round,
					model: req.model.clone(),
					input: req.input.clone().into_bytes(),
					duty,
					ends,
				})
			};
			if let Some((seat, m)) = req.committee.iter().enumerate().find(|(_, m)| m.worker == worker && &m.key == key)
			{
				let seat = seat as u32;
				match req.phase {
					Phase::Commit { ends } if m.commitment.is_none() => add(req.round, Duty::Commit, ends),
					Phase::Reveal { ends } if m.commitment.is_some() && !m.revealed => {
						add(req.round, Duty::Reveal, ends)
					},
					Phase::SealedReveal { ends } if m.commitment.is_some() && !m.revealed => {
						add(req.round, Duty::RevealDigest, ends)
					},
					Phase::Publish { ends } if m.revealed && !Self::published(id, 0, seat) => {
						add(0, Duty::Publish, ends)
					},
					_ => {},
				}
			}
			// A sealed first round publishes during the escalated round's reveal phase.
			if let Phase::Reveal { ends } = req.phase {
				if req.round > 0 {
					let unpublished = Digests::<T>::iter_prefix(id)
						.any(|(seat, s)| &s.key == key && !Self::published(id, req.round, seat));
					if unpublished {
						add(0, Duty::Publish, ends);
					}
				}
			}
		}
		duties
	}
}
