//! A runtime with System, Balances, the real worker staking pallet as the worker registry, and
//! this pallet: tests exercise the two pallets together, funds and all.

use crate as pallet_inference;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU16, ConstU32, ConstU64},
	PalletId,
};
use opg_primitives::{
	inference::{ComparisonRule, ExecutionProfile, ModelFormat},
	Misconduct,
};
use sp_runtime::{testing::UintAuthorityId, BuildStorage, Perbill};

pub type AccountId = u64;
pub type Balance = u128;
pub type ModelId = u32;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Staking: pallet_worker_staking,
		Inference: pallet_inference,
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

pub const ED: Balance = 1;
pub const INITIAL: Balance = 1_000_000;
pub const TREASURY: AccountId = 999;
pub const OWNER: AccountId = 100;
pub const REQUESTER: AccountId = 200;
pub const MODEL: ModelId = 7;
pub const PRICE: Balance = 1_000;
pub const FEE: Balance = 100;
pub const DEPOSIT: Balance = 500;
pub const COMMIT_WINDOW: u64 = 5;
pub const REVEAL_WINDOW: u64 = 5;
pub const RETENTION: u64 = 20;
/// Held per request until it fails or its answer is pruned.
pub const REQUEST_DEPOSIT: Balance = 50;
pub const MAX_DRAW_WAIT: u64 = 6;
pub const BOND: Balance = 10_000;

parameter_types! {
	/// The queue fee's base: none unless a test sets it, so other tests' balances stay exact.
	pub static QueueFeeBase: Balance = 0;
	/// Large unless a test sets it to see the hook defer work.
	pub static HookWeight: frame_support::weights::Weight = frame_support::weights::Weight::from_parts(2_000_000_000_000, u64::MAX);
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub const Treasury: AccountId = TREASURY;
	pub const TreasuryShare: Perbill = Perbill::from_percent(10);
	pub const WrongOutputSlash: Perbill = Perbill::from_percent(10);
	pub const NoShowSlash: Perbill = Perbill::from_percent(1);
}

impl pallet_worker_staking::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type WorkerKey = UintAuthorityId;
	type ModelId = ModelId;
	type MinWorkerBond = ConstU128<1_000>;
	type MinDelegation = ConstU128<100>;
	type UnbondingPeriod = ConstU64<100>;
	type CommissionRiseDelay = ConstU64<100>;
	type MaxModelsPerWorker = ConstU32<4>;
	type MaxWorkersPerModel = ConstU32<16>;
	type MaxDelegatorsPerWorker = ConstU32<8>;
	type MaxUnbondingChunks = ConstU32<4>;
	type PalletId = StakingPalletId;
	type Treasury = Treasury;
	type Models = RegisteredModels;
	type SessionKeys = ();
	type MaxValidators = ConstU32<4>;
	type MinValidators = ConstU32<1>;
	type DefaultSessionLength = ConstU64<100>;
	type MaxValidatorCandidates = ConstU32<4>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = StakingBenchHelper;
}

#[cfg(feature = "runtime-benchmarks")]
pub struct StakingBenchHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_worker_staking::BenchmarkHelper<UintAuthorityId, ModelId> for StakingBenchHelper {
	fn worker_key(i: u32) -> UintAuthorityId {
		UintAuthorityId(10_000 + i as u64)
	}
	fn model_id(i: u32) -> ModelId {
		i
	}
}

/// The models workers may serve, as the runtime wires them: this pallet's registry.
pub struct RegisteredModels;
impl pallet_worker_staking::ModelCatalog<ModelId> for RegisteredModels {
	fn is_registered(model: &ModelId) -> bool {
		crate::Models::<Test>::contains_key(model)
	}
}

/// The worker registry as the runtime wires it: the worker staking pallet.
pub struct StakedWorkers;
impl crate::WorkerRegistry<AccountId, UintAuthorityId, ModelId, Balance> for StakedWorkers {
	fn eligible_workers(model: &ModelId) -> Vec<(AccountId, Balance)> {
		Staking::eligible_workers(model)
	}
	fn worker_of_key(key: &UintAuthorityId) -> Option<AccountId> {
		Staking::worker_of_key(key)
	}
	fn key_of_worker(worker: &AccountId) -> Option<UintAuthorityId> {
		Staking::key_of_worker(worker)
	}
	fn reward_account() -> AccountId {
		Staking::reward_account()
	}
	fn credit_reward(worker: &AccountId, amount: Balance) {
		Staking::credit_reward(worker, amount)
	}
	fn slash(worker: &AccountId, fraction: Perbill, reason: Misconduct) -> Balance {
		Staking::slash(worker, fraction, reason)
	}
	fn slash_weight() -> frame_support::weights::Weight {
		use pallet_worker_staking::WeightInfo;
		<() as WeightInfo>::slash(8)
	}
}

thread_local! {
	/// Blocks without randomness (as if their author's slot carried no VRF output).
	pub static NO_RANDOMNESS: core::cell::RefCell<alloc::collections::BTreeSet<u64>> = Default::default();
	/// What the block's "VRF output" is mixed with: a test changes it to play another author.
	pub static VRF_KEY: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// A stand-in for BABE's VRF outputs: a hash of the block number and the author's key.
pub struct BlockVrf;
impl crate::DrawRandomness for BlockVrf {
	const DELAY: u32 = 2;
	fn block_randomness() -> Option<[u8; 32]> {
		let n = System::block_number();
		if NO_RANDOMNESS.with(|b| b.borrow().contains(&n)) {
			return None;
		}
		Some(sp_io::hashing::blake2_256(&codec::Encode::encode(&(b"vrf", n, VRF_KEY.with(|k| k.get())))))
	}
}

impl pallet_inference::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ModelId = ModelId;
	type WorkerKey = UintAuthorityId;
	type Workers = StakedWorkers;
	type OnResult = ();
	type Treasury = Treasury;
	type ModelDeposit = ConstU128<DEPOSIT>;
	type LatestPortableVersion = ConstU16<2>;
	type VerificationFee = ConstU128<FEE>;
	type TreasuryShare = TreasuryShare;
	type DefaultSeats = ConstU32<3>;
	type MaxSeats = ConstU32<10>;
	type CommitWindow = ConstU64<COMMIT_WINDOW>;
	type RevealWindow = ConstU64<REVEAL_WINDOW>;
	type WrongOutputSlash = WrongOutputSlash;
	type NoShowSlash = NoShowSlash;
	type MaxInputLen = ConstU32<64>;
	type MaxOutputLen = ConstU32<64>;
	type MaxArchitectureLen = ConstU32<16>;
	type MaxUris = ConstU32<2>;
	type MaxUriLen = ConstU32<32>;
	type MaxPendingDraws = ConstU32<12>;
	type MaxDrawWait = ConstU64<MAX_DRAW_WAIT>;
	type MaxDeadlinesPerBlock = ConstU32<24>;
	type MaxHookWeight = HookWeight;
	type ResultRetention = ConstU64<RETENTION>;
	type RequestDeposit = ConstU128<REQUEST_DEPOSIT>;
	type QueueFee = QueueFeeBase;
	type Randomness = BlockVrf;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = InferenceBenchHelper;
}

#[cfg(feature = "runtime-benchmarks")]
pub struct InferenceBenchHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::benchmarking::BenchmarkHelper<Test> for InferenceBenchHelper {
	fn model_id(i: u32) -> ModelId {
		i
	}
	fn worker(model: ModelId, i: u32) -> (AccountId, UintAuthorityId) {
		let who = 50_000 + i as u64;
		let key = UintAuthorityId(60_000 + i as u64);
		let _ = pallet_balances::Pallet::<Test>::force_set_balance(RuntimeOrigin::root(), who, INITIAL);
		let models: frame_support::BoundedVec<_, _> = vec![model].try_into().unwrap();
		pallet_worker_staking::Pallet::<Test>::register_worker(
			RuntimeOrigin::signed(who),
			BOND,
			key.clone(),
			models,
			Perbill::zero(),
			key_proof(who, &key),
		)
		.unwrap();
		(who, key)
	}
	fn max_candidates() -> u32 {
		<<Test as pallet_worker_staking::Config>::MaxWorkersPerModel as frame_support::traits::Get<u32>>::get()
	}
	fn sign(key: &UintAuthorityId, msg: &[u8]) -> sp_runtime::testing::TestSignature {
		use sp_runtime::RuntimeAppPublic;
		key.sign(&msg).unwrap()
	}
}

/// Workers 1..=7 with keys 11..=17, each bonded `BOND` and serving `MODEL`.
pub const WORKERS: [AccountId; 7] = [1, 2, 3, 4, 5, 6, 7];

pub fn key_of(worker: AccountId) -> UintAuthorityId {
	UintAuthorityId(10 + worker)
}

/// `key`'s proof that `who` holds it, for registration.
pub fn key_proof(who: AccountId, key: &UintAuthorityId) -> sp_runtime::testing::TestSignature {
	use sp_runtime::RuntimeAppPublic;
	key.sign(&opg_primitives::worker::key_possession_payload(&who)).unwrap()
}

pub fn new_test_ext(workers: usize) -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut balances: Vec<(AccountId, Balance)> = WORKERS.iter().map(|w| (*w, INITIAL)).collect();
	balances.extend([(OWNER, INITIAL), (REQUESTER, INITIAL), (201, INITIAL), (TREASURY, ED)]);
	pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }.assimilate_storage(&mut storage).unwrap();
	pallet_worker_staking::GenesisConfig::<Test>::default().assimilate_storage(&mut storage).unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| {
		System::set_block_number(1);
		Inference::register_model(
			RuntimeOrigin::signed(OWNER),
			MODEL,
			ModelFormat::BertEmbedding,
			b"bert".to_vec(),
			PRICE,
			ComparisonRule::Exact,
			ExecutionProfile::Portable,
			vec![b"https://models.example/7".to_vec()],
		)
		.unwrap();
		for w in WORKERS.iter().take(workers) {
			Staking::register_worker(
				RuntimeOrigin::signed(*w),
				BOND,
				key_of(*w),
				vec![MODEL].try_into().unwrap(),
				Perbill::zero(),
				key_proof(*w, &key_of(*w)),
			)
			.unwrap();
		}
	});
	ext
}

/// Run `test` with `workers` registered workers, then check both pallets' invariants.
pub fn run(workers: usize, test: impl FnOnce()) {
	new_test_ext(workers).execute_with(|| {
		test();
		Inference::do_try_state().expect("inference invariants");
		Staking::do_try_state().expect("staking invariants");
	});
}
