//! Weights of the pallet's calls, of authorizing member submissions, and of the hook's units of work.
//!
//! PROVISIONAL: counted storage accesses plus a generous execution-time allowance (at least
//! 50 µs per call, 10–25 µs per item), until `scripts/bench-weights.sh` replaces this file with
//! the output of the benchmarks in `benchmarking.rs` (see `docs/BENCHMARKS.md`).

#![allow(unused_parens, unused_imports, missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::ParityDbWeight, Weight},
};

pub trait WeightInfo {
	fn register_model() -> Weight;
	fn update_model() -> Weight;
	fn retire_model() -> Weight;
	fn request_inference(l: u32) -> Weight;
	fn authorize_commit() -> Weight;
	fn commit() -> Weight;
	fn authorize_reveal() -> Weight;
	fn reveal(k: u32) -> Weight;
	fn on_initialize_idle() -> Weight;
	fn draw(k: u32) -> Weight;
	fn deadline(k: u32) -> Weight;
	fn prune_result() -> Weight;
}

/// Weights for the runtime, with its database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_model() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn update_model() -> Weight {
		Weight::from_parts(40_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn retire_model() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn request_inference(l: u32) -> Weight {
		Weight::from_parts(400_000_000, 0)
			.saturating_add(Weight::from_parts(2_000, 0).saturating_mul(l.into()))
			.saturating_add(T::DbWeight::get().reads(70))
			.saturating_add(T::DbWeight::get().writes(5))
	}
	fn authorize_commit() -> Weight {
		Weight::from_parts(80_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(0))
	}
	fn commit() -> Weight {
		Weight::from_parts(90_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(2))
	}
	fn authorize_reveal() -> Weight {
		Weight::from_parts(120_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(0))
	}
	fn reveal(k: u32) -> Weight {
		Weight::from_parts(200_000_000, 0)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(k.into()))
			.saturating_add(T::DbWeight::get().reads(8))
			.saturating_add(T::DbWeight::get().writes(10))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(k.into())))
			.saturating_add(T::DbWeight::get().writes((3_u64).saturating_mul(k.into())))
	}
	fn on_initialize_idle() -> Weight {
		Weight::from_parts(10_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn draw(k: u32) -> Weight {
		Weight::from_parts(400_000_000, 0)
			.saturating_add(Weight::from_parts(20_000_000, 0).saturating_mul(k.into()))
			.saturating_add(T::DbWeight::get().reads(66))
			.saturating_add(T::DbWeight::get().writes(2))
			.saturating_add(T::DbWeight::get().reads((1_u64).saturating_mul(k.into())))
			.saturating_add(T::DbWeight::get().writes((1_u64).saturating_mul(k.into())))
	}
	fn deadline(k: u32) -> Weight {
		Weight::from_parts(200_000_000, 0)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(k.into()))
			.saturating_add(T::DbWeight::get().reads(8))
			.saturating_add(T::DbWeight::get().writes(10))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(k.into())))
			.saturating_add(T::DbWeight::get().writes((3_u64).saturating_mul(k.into())))
	}
	fn prune_result() -> Weight {
		Weight::from_parts(20_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(2))
	}
}

/// The same weights with ParityDB's database weights, for tests and mock runtimes.
impl WeightInfo for () {
	fn register_model() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn update_model() -> Weight {
		Weight::from_parts(40_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn retire_model() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn request_inference(l: u32) -> Weight {
		Weight::from_parts(400_000_000, 0)
			.saturating_add(Weight::from_parts(2_000, 0).saturating_mul(l.into()))
			.saturating_add(ParityDbWeight::get().reads(70))
			.saturating_add(ParityDbWeight::get().writes(5))
	}
	fn authorize_commit() -> Weight {
		Weight::from_parts(80_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(0))
	}
	fn commit() -> Weight {
		Weight::from_parts(90_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(2))
			.saturating_add(ParityDbWeight::get().writes(2))
	}
	fn authorize_reveal() -> Weight {
		Weight::from_parts(120_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(0))
	}
	fn reveal(k: u32) -> Weight {
		Weight::from_parts(200_000_000, 0)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(k.into()))
			.saturating_add(ParityDbWeight::get().reads(8))
			.saturating_add(ParityDbWeight::get().writes(10))
			.saturating_add(ParityDbWeight::get().reads((3_u64).saturating_mul(k.into())))
			.saturating_add(ParityDbWeight::get().writes((3_u64).saturating_mul(k.into())))
	}
	fn on_initialize_idle() -> Weight {
		Weight::from_parts(10_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn draw(k: u32) -> Weight {
		Weight::from_parts(400_000_000, 0)
			.saturating_add(Weight::from_parts(20_000_000, 0).saturating_mul(k.into()))
			.saturating_add(ParityDbWeight::get().reads(66))
			.saturating_add(ParityDbWeight::get().writes(2))
			.saturating_add(ParityDbWeight::get().reads((1_u64).saturating_mul(k.into())))
			.saturating_add(ParityDbWeight::get().writes((1_u64).saturating_mul(k.into())))
	}
	fn deadline(k: u32) -> Weight {
		Weight::from_parts(200_000_000, 0)
			.saturating_add(Weight::from_parts(40_000_000, 0).saturating_mul(k.into()))
			.saturating_add(ParityDbWeight::get().reads(8))
			.saturating_add(ParityDbWeight::get().writes(10))
			.saturating_add(ParityDbWeight::get().reads((3_u64).saturating_mul(k.into())))
			.saturating_add(ParityDbWeight::get().writes((3_u64).saturating_mul(k.into())))
	}
	fn prune_result() -> Weight {
		Weight::from_parts(20_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(2))
	}
}
