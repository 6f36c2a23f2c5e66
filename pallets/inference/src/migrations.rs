//! Storage migrations.

use super::*;
use alloc::vec::Vec;
use frame_support::{defensive, migrations::VersionedMigration, pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade};
use opg_primitives::inference::{BoundedValue, ExecutionProfile, Value};
use sp_runtime::Saturating;

/// Storage version 0, before the draw queue.
mod v0 {
	use super::*;
	use frame_support::{storage_alias, traits::ConstU32, BoundedVec};

	/// Requests waiting for the next block's draw (at most 16 in every runtime that had it).
	#[storage_alias]
	pub type Drawing<T: Config> = StorageValue<Pallet<T>, BoundedVec<RequestId, ConstU32<1024>>, ValueQuery>;
}

/// 0 → 1: the requests of the old per-block list are the head of the new queue. They were all
/// made in the block before the upgrade, so they are the last ids handed out.
pub struct DrawQueue<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for DrawQueue<T> {
	fn on_runtime_upgrade() -> Weight {
		let waiting = v0::Drawing::<T>::take();
		let next = NextRequestId::<T>::get();
		let first = waiting.iter().copied().min().unwrap_or(next);
		NextToDraw::<T>::put(first);
		T::DbWeight::get().reads_writes(2, 2)
	}
}

/// The versioned migration to add to the runtime's `Migrations`.
pub type MigrateV0ToV1<T> = VersionedMigration<0, 1, DrawQueue<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// Storage version 1, when inputs and outputs were bytes.
pub(crate) mod v1 {
	use super::*;
	use frame_support::{storage_alias, BoundedVec};
	use frame_system::pallet_prelude::BlockNumberFor;

	#[derive(Encode, Decode)]
	pub enum StoredAnswer<T: Config> {
		Output(BoundedVec<u8, T::MaxOutputLen>),
		Rejected(opg_primitives::inference::Rejection),
	}

	#[derive(Encode, Decode)]
	pub struct Request<T: Config> {
		pub requester: T::AccountId,
		pub model: T::ModelId,
		pub input: BoundedVec<u8, T::MaxInputLen>,
		pub owner: T::AccountId,
		pub price: BalanceOf<T>,
		pub rule: opg_primitives::inference::ComparisonRule,
		pub seats: u32,
		pub max_fee: BalanceOf<T>,
		pub round: u8,
		pub phase: Phase<BlockNumberFor<T>>,
		pub committee: BoundedVec<Seat<T::AccountId, T::WorkerKey>, T::MaxSeats>,
		pub created: BlockNumberFor<T>,
	}

	#[derive(Encode, Decode)]
	pub struct InferenceResult<T: Config> {
		pub model: T::ModelId,
		pub answer: StoredAnswer<T>,
		pub settled: BlockNumberFor<T>,
	}

	#[storage_alias]
	pub type Requests<T: Config> = StorageMap<Pallet<T>, Twox64Concat, RequestId, Request<T>>;

	#[cfg(test)]
	#[storage_alias]
	pub type Outputs<T: Config> =
		StorageDoubleMap<Pallet<T>, Twox64Concat, RequestId, Twox64Concat, u32, StoredAnswer<T>>;

	#[cfg(test)]
	#[storage_alias]
	pub type Results<T: Config> = StorageMap<Pallet<T>, Twox64Concat, RequestId, InferenceResult<T>>;

	#[cfg(test)]
	impl<T: Config> Request<T> {
		/// `request` as version 1 stored it, with `input` as its bytes.
		pub fn old(request: RequestOf<T>, input: &[u8]) -> Self {
			Self {
				requester: request.requester,
				model: request.model,
				input: input.to_vec().try_into().expect("fits"),
				owner: request.owner,
				price: request.price,
				rule: request.rule,
				seats: request.seats,
				max_fee: request.max_fee,
				round: request.round,
				phase: request.phase,
				committee: request.committee,
				created: request.created,
			}
		}
	}
}

impl<T: Config> v1::Request<T> {
	fn with_input(self, input: BoundedValue<T::MaxInputLen>) -> RequestOf<T> {
		// Workers run a retired model's open requests in the profile they fetched it for: the
		// portable one unless the registry says otherwise.
		let profile = Models::<T>::get(self.model).map_or(ExecutionProfile::Portable, |m| m.profile);
		Request {
			requester: self.requester,
			model: self.model,
			input,
			owner: self.owner,
			price: self.price,
			rule: self.rule,
			profile,
			seats: self.seats,
			max_fee: self.max_fee,
			round: self.round,
			phase: self.phase,
			committee: self.committee,
			created: self.created,
			extrinsic: None,
		}
	}
}

impl<T: Config> v1::StoredAnswer<T> {
	fn typed(self) -> Option<AnswerOf<T>> {
		Some(match self {
			v1::StoredAnswer::Output(bytes) => {
				StoredAnswer::Output(BoundedValue::from_encoded(bytes.into_inner()).ok()?)
			},
			v1::StoredAnswer::Rejected(reason) => StoredAnswer::Rejected(reason),
		})
	}
}

/// 1 → 2: inputs and outputs become typed values, stored as the value's own encoding (the
/// bytes without their length prefix); requests record their profile and their transaction's
/// index, and results how they were judged (rule, profile) and where their input is.
///
/// Every honest input and output already was one encoded value. What was not cannot be typed:
/// an open request whose input is not a value ends `Failed { InputNotAValue }` with its hold
/// released in full and nobody slashed (its committee would have refused it); a revealed output
/// that is not a value is dropped, so it counts for nobody; a retained result that is not one
/// is dropped, and so is a retained result whose model is retired (its rule and profile are
/// gone with it). Results kept record no transaction (`requested: None`). Work is linear in open requests, revealed outputs and retained results, all
/// bounded by the pallet's limits and the retention window, and done in one block: right for
/// the chains this runtime ships, whose retained results are few; a network holding a day of
/// results at full load would run it as a multi-block migration instead.
pub struct TypedValues<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for TypedValues<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut reads = 0u64;
		let mut writes = 0u64;
		// Open requests are few (bounded by the draw queue and the deadlines): read them all
		// before rewriting any.
		let open: Vec<(RequestId, v1::Request<T>)> = v1::Requests::<T>::iter().collect();
		let mut not_values = Vec::new();
		for (id, old) in open {
			// The request, and its model for the profile.
			reads.saturating_accrue(2);
			writes.saturating_inc();
			match BoundedValue::from_encoded(old.input.to_vec()) {
				Ok(input) => Requests::<T>::insert(id, old.with_input(input)),
				Err(_) => not_values.push((id, old)),
			}
		}
		Outputs::<T>::translate::<v1::StoredAnswer<T>, _>(|_, _, old| {
			reads.saturating_inc();
			writes.saturating_inc();
			old.typed()
		});
		Results::<T>::translate::<v1::InferenceResult<T>, _>(|_, old| {
			reads.saturating_accrue(2);
			writes.saturating_inc();
			let model = Models::<T>::get(old.model)?;
			Some(InferenceResult {
				model: old.model,
				answer: old.answer.typed()?,
				settled: old.settled,
				rule: model.rule,
				profile: model.profile,
				requested: None,
			})
		});
		for (id, old) in not_values {
			// The input is never read again: the request ends here. `integrity_test` makes sure
			// an empty text fits every input bound.
			let Ok(nothing) = BoundedValue::new(&Value::Text(Vec::new())) else {
				defensive!("MaxInputLen holds no value");
				continue;
			};
			let request = old.with_input(nothing);
			let seats = request.committee.len() as u64;
			Pallet::<T>::fail(id, request, FailureReason::InputNotAValue);
			// The hold and the account, the event, and the round's outputs and assignments.
			reads.saturating_accrue(3);
			writes.saturating_accrue(4u64.saturating_add(seats.saturating_mul(2)));
		}
		T::DbWeight::get().reads_writes(reads, writes)
	}
}

/// The versioned migration to add to the runtime's `Migrations` after [`MigrateV0ToV1`].
pub type MigrateV1ToV2<T> = VersionedMigration<1, 2, TypedValues<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// 2 → 3: a phase's `ends` becomes the last block that takes a submission. Before, `ends` was
/// the block whose hook closed the phase (so the last block taking a submission was `ends − 1`)
/// and the deadline was filed under `ends`; now the hook of `ends + 1` closes it. Lowering every
/// open phase's `ends` by one keeps each request's deadline where it is filed and each member's
/// last block where it was, so nothing open at the upgrade is left without a deadline.
pub struct InclusiveEnds<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for InclusiveEnds<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut count = 0u64;
		Requests::<T>::translate::<RequestOf<T>, _>(|_, mut req| {
			count.saturating_inc();
			let one = frame_system::pallet_prelude::BlockNumberFor::<T>::from(1u32);
			req.phase = match req.phase {
				Phase::Commit { ends } => Phase::Commit { ends: ends.saturating_sub(one) },
				Phase::Reveal { ends } => Phase::Reveal { ends: ends.saturating_sub(one) },
				// Not in storage before version 4.
				other => other,
			};
			Some(req)
		});
		T::DbWeight::get().reads_writes(count, count)
	}
}

/// The versioned migration to add to the runtime's `Migrations` after [`MigrateV1ToV2`].
pub type MigrateV2ToV3<T> =
	VersionedMigration<2, 3, InclusiveEnds<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// 3 → 4: commitments bind the answer by its digest and a first round that may escalate is
/// sealed. Requests made before the upgrade were (or will be) committed to by workers that may
/// still commit the old way, which a digest cannot open: they keep revealing whole answers
/// (`SealedSince` is the upgrade's block), and an unsealed reveal takes either commitment.
pub struct SealFromNow<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for SealFromNow<T> {
	fn on_runtime_upgrade() -> Weight {
		// Requests of this block are made after the upgrade: they are sealed.
		SealedSince::<T>::put(frame_system::Pallet::<T>::block_number());
		T::DbWeight::get().writes(1)
	}
}

/// The versioned migration to add to the runtime's `Migrations` after [`MigrateV2ToV3`].
pub type MigrateV3ToV4<T> = VersionedMigration<3, 4, SealFromNow<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;
