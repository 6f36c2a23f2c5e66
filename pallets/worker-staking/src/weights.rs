//! Weights of the pallet's calls and of the functions other pallets call on it.
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
	fn register_worker(m: u32) -> Weight;
	fn update_worker(m: u32) -> Weight;
	fn bond_extra() -> Weight;
	fn unbond() -> Weight;
	fn leave(m: u32) -> Weight;
	fn delegate() -> Weight;
	fn undelegate() -> Weight;
	fn withdraw_unbonded() -> Weight;
	fn claim_rewards() -> Weight;
	fn credit_reward() -> Weight;
	fn slash(d: u32) -> Weight;
}

/// Weights for the runtime, with its database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_worker(m: u32) -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(Weight::from_parts(10_000_000, 0).saturating_mul(m.into()))
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(4))
			.saturating_add(T::DbWeight::get().reads((1_u64).saturating_mul(m.into())))
			.saturating_add(T::DbWeight::get().writes((1_u64).saturating_mul(m.into())))
	}
	fn update_worker(m: u32) -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(Weight::from_parts(15_000_000, 0).saturating_mul(m.into()))
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
			.saturating_add(T::DbWeight::get().reads((2_u64).saturating_mul(m.into())))
			.saturating_add(T::DbWeight::get().writes((2_u64).saturating_mul(m.into())))
	}
	fn bond_extra() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn unbond() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn leave(m: u32) -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(Weight::from_parts(10_000_000, 0).saturating_mul(m.into()))
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
			.saturating_add(T::DbWeight::get().reads((1_u64).saturating_mul(m.into())))
			.saturating_add(T::DbWeight::get().writes((1_u64).saturating_mul(m.into())))
	}
	fn delegate() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(4))
	}
	fn undelegate() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(2))
	}
	fn withdraw_unbonded() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(5))
	}
	fn claim_rewards() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(4))
	}
	fn credit_reward() -> Weight {
		Weight::from_parts(30_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn slash(d: u32) -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(Weight::from_parts(25_000_000, 0).saturating_mul(d.into()))
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(3))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(d.into())))
			.saturating_add(T::DbWeight::get().writes((3_u64).saturating_mul(d.into())))
	}
}

/// The same weights with ParityDB's database weights, for tests and mock runtimes.
impl WeightInfo for () {
	fn register_worker(m: u32) -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(Weight::from_parts(10_000_000, 0).saturating_mul(m.into()))
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(4))
			.saturating_add(ParityDbWeight::get().reads((1_u64).saturating_mul(m.into())))
			.saturating_add(ParityDbWeight::get().writes((1_u64).saturating_mul(m.into())))
	}
	fn update_worker(m: u32) -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(Weight::from_parts(15_000_000, 0).saturating_mul(m.into()))
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
			.saturating_add(ParityDbWeight::get().reads((2_u64).saturating_mul(m.into())))
			.saturating_add(ParityDbWeight::get().writes((2_u64).saturating_mul(m.into())))
	}
	fn bond_extra() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn unbond() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn leave(m: u32) -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(Weight::from_parts(10_000_000, 0).saturating_mul(m.into()))
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
			.saturating_add(ParityDbWeight::get().reads((1_u64).saturating_mul(m.into())))
			.saturating_add(ParityDbWeight::get().writes((1_u64).saturating_mul(m.into())))
	}
	fn delegate() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(4))
	}
	fn undelegate() -> Weight {
		Weight::from_parts(50_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(2))
			.saturating_add(ParityDbWeight::get().writes(2))
	}
	fn withdraw_unbonded() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(5))
	}
	fn claim_rewards() -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(4))
	}
	fn credit_reward() -> Weight {
		Weight::from_parts(30_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn slash(d: u32) -> Weight {
		Weight::from_parts(60_000_000, 0)
			.saturating_add(Weight::from_parts(25_000_000, 0).saturating_mul(d.into()))
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(3))
			.saturating_add(ParityDbWeight::get().reads((3_u64).saturating_mul(d.into())))
			.saturating_add(ParityDbWeight::get().writes((3_u64).saturating_mul(d.into())))
	}
}
