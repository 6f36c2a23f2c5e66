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
				Phase::Drawing => RequestStatus::Drawing,
				Phase::Commit { ends } => RequestStatus::Commit { round: req.round, ends },
				Phase::Reveal { ends } => RequestStatus::Reveal { round: req.round, ends },
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

	/// The duties of the worker holding `key`: requests where it must commit or reveal now.
	pub fn assignments(key: &T::WorkerKey) -> Vec<Assignment<T::ModelId, BlockNumberFor<T>>> {
		let Some(worker) = T::Workers::worker_of_key(key) else { return Vec::new() };
		Assignments::<T>::iter_key_prefix(&worker)
			.filter_map(|id| {
				let req = Requests::<T>::get(id)?;
				let seat = req.committee.iter().find(|m| m.worker == worker && &m.key == key)?;
				let (duty, ends) = match req.phase {
					Phase::Commit { ends } if seat.commitment.is_none() => (Duty::Commit, ends),
					Phase::Reveal { ends } if seat.commitment.is_some() && !seat.revealed => (Duty::Reveal, ends),
					_ => return None,
				};
				Some(Assignment {
					request: id,
					round: req.round,
					model: req.model,
					input: req.input.into_bytes(),
					duty,
					ends,
				})
			})
			.collect()
	}
}
