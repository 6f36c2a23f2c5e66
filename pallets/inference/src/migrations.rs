//! Storage migrations.

use super::*;
use frame_support::{migrations::VersionedMigration, pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade};

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
