//! A runtime with System, Balances and this pallet, for tests and benchmarks.

use crate as pallet_worker_staking;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, ConstU64},
	PalletId,
};
use sp_runtime::testing::UintAuthorityId;
use sp_runtime::BuildStorage;

pub type AccountId = u64;
pub type Balance = u128;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Staking: pallet_worker_staking,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = frame_system::mocking::MockBlock<Test>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const ED: Balance = 5;
pub const MIN_WORKER_BOND: Balance = 1_000;
pub const MIN_DELEGATION: Balance = 100;
pub const UNBONDING: u64 = 10;
pub const TREASURY: AccountId = 999;
pub const INITIAL: Balance = 1_000_000;
/// Accounts endowed with `INITIAL` at genesis.
pub const ENDOWED: core::ops::RangeInclusive<AccountId> = 1..=12;

parameter_types! {
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub const Treasury: AccountId = TREASURY;
}

impl pallet_worker_staking::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type WorkerKey = UintAuthorityId;
	type ModelId = u32;
	type MinWorkerBond = ConstU128<MIN_WORKER_BOND>;
	type MinDelegation = ConstU128<MIN_DELEGATION>;
	type UnbondingPeriod = ConstU64<UNBONDING>;
	type CommissionRiseDelay = ConstU64<5>;
	type MaxModelsPerWorker = ConstU32<4>;
	type MaxWorkersPerModel = ConstU32<3>;
	type MaxDelegatorsPerWorker = ConstU32<3>;
	type MaxUnbondingChunks = ConstU32<3>;
	type PalletId = StakingPalletId;
	type Treasury = Treasury;
	type Models = RegisteredModels;
	type SessionKeys = KeysSet;
	type MaxValidators = ConstU32<3>;
	type MinValidators = ConstU32<2>;
	type DefaultSessionLength = ConstU64<100>;
	type MaxValidatorCandidates = ConstU32<4>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchHelper;
}

thread_local! {
	/// Accounts without session keys (everyone else has them).
	pub static NO_KEYS: core::cell::RefCell<std::collections::BTreeSet<AccountId>> = Default::default();
}

pub struct KeysSet;
impl crate::SessionKeysRegistry<AccountId> for KeysSet {
	fn has_keys(who: &AccountId) -> bool {
		!NO_KEYS.with(|k| k.borrow().contains(who))
	}
}

/// Model ids below this are registered; at or above it, not.
pub const UNREGISTERED_MODEL: u32 = 1_000;

pub struct RegisteredModels;
impl crate::ModelCatalog<u32> for RegisteredModels {
	fn is_registered(model: &u32) -> bool {
		*model < UNREGISTERED_MODEL
	}
}

#[cfg(feature = "runtime-benchmarks")]
pub struct BenchHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<UintAuthorityId, u32> for BenchHelper {
	fn worker_key(i: u32) -> UintAuthorityId {
		UintAuthorityId(1_000 + i as u64)
	}
	fn model_id(i: u32) -> u32 {
		i
	}
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut balances: Vec<(AccountId, Balance)> = ENDOWED.map(|a| (a, INITIAL)).collect();
	balances.push((TREASURY, ED));
	pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }.assimilate_storage(&mut storage).unwrap();
	pallet_worker_staking::GenesisConfig::<Test>::default().assimilate_storage(&mut storage).unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Run `test`, then check every invariant of the pallet.
pub fn run(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Staking::do_try_state().expect("invariants hold");
	});
}

/// Worker key `key` and its proof that `who` holds it.
pub fn key_and_proof(who: AccountId, key: u64) -> (UintAuthorityId, sp_runtime::testing::TestSignature) {
	use sp_runtime::RuntimeAppPublic;
	let key = UintAuthorityId(key);
	let proof = key.sign(&opg_primitives::worker::key_possession_payload(&who)).expect("test keys sign");
	(key, proof)
}
