//! Checks of the runtime as configured: genesis presets build, and the pallets' invariants hold
//! on them.

use crate::*;
use frame_support::traits::{fungible::Inspect, Hooks};
use sp_runtime::BuildStorage;

fn genesis(preset: &str) -> sp_io::TestExternalities {
	let patch = genesis_config_presets::get_preset(&preset.into()).expect("preset exists");
	let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("default");
	json_merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("valid config");
	config.build_storage().expect("genesis builds").into()
}

fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
	match (a, b) {
		(serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
			for (k, v) in b {
				json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
			}
		},
		(a, b) => *a = b,
	}
}

#[test]
fn local_testnet_has_four_validators_and_a_funded_treasury() {
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 4);
		assert_eq!(pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(), 4);
		assert_eq!(Balances::balance(&treasury_account()), EXISTENTIAL_DEPOSIT);
		let pot = pallet_worker_staking::Pallet::<Runtime>::reward_account();
		assert_eq!(Balances::balance(&pot), EXISTENTIAL_DEPOSIT);
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

#[test]
fn development_has_one_validator_and_a_committee_of_staked_workers() {
	use genesis_config_presets::{dev_worker_key, DEVELOPMENT_WORKERS, GENESIS_WORKER_BOND};
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 1);
		System::on_initialize(1);
		for who in DEVELOPMENT_WORKERS {
			let key = dev_worker_key(who);
			assert_eq!(WorkerStaking::worker_of_key(&key), Some(who.to_account_id()));
			assert_eq!(
				WorkerStaking::held(pallet_worker_staking::HoldReason::WorkerBond, &who.to_account_id()),
				GENESIS_WORKER_BOND
			);
		}
		for model in opg_primitives::demo::MODELS {
			assert_eq!(WorkerStaking::eligible_workers(&model).len(), DEVELOPMENT_WORKERS.len());
		}
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

#[test]
fn local_testnet_validators_are_workers_serving_the_demo_models() {
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		for model in opg_primitives::demo::MODELS {
			assert_eq!(WorkerStaking::eligible_workers(&model).len(), 4);
		}
	});
}

#[test]
fn unknown_preset_is_none() {
	assert!(genesis_config_presets::get_preset(&"mainnet".into()).is_none());
}

#[test]
fn inference_hook_never_takes_room_from_ordinary_transactions() {
	use frame_support::dispatch::DispatchClass;
	use pallet_inference::WeightInfo as _;
	type W = pallet_inference::weights::SubstrateWeight<Runtime>;
	let limits = configs::RuntimeBlockWeights::get();
	let normal = limits.get(DispatchClass::Normal).max_total.expect("normal class is limited");
	let expiries = W::prune_result().saturating_mul(
		<<Runtime as pallet_inference::Config>::MaxDeadlinesPerBlock as frame_support::traits::Get<u32>>::get().into(),
	);
	let hook = W::on_initialize_idle()
		.saturating_add(expiries)
		.saturating_add(<Runtime as pallet_inference::Config>::MaxHookWeight::get());
	assert!(
		normal.saturating_add(hook).ref_time() <= limits.max_block.ref_time(),
		"hook {hook:?} + ordinary {normal:?} > block {:?}",
		limits.max_block
	);
}

#[test]
fn draw_queue_migration_starts_at_the_old_list() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(Inference::on_chain_storage_version(), StorageVersion::new(1), "genesis is current");
		StorageVersion::new(0).put::<Inference>();
		pallet_inference::NextRequestId::<Runtime>::put(12);
		let old: frame_support::BoundedVec<u64, frame_support::traits::ConstU32<1024>> =
			vec![10, 11].try_into().expect("fits");
		frame_support::storage::unhashed::put(&frame_support::storage::storage_prefix(b"Inference", b"Drawing"), &old);
		Migrations::on_runtime_upgrade();
		assert_eq!(pallet_inference::NextToDraw::<Runtime>::get(), 10);
		assert_eq!(Inference::on_chain_storage_version(), StorageVersion::new(1));
		assert!(!frame_support::storage::unhashed::exists(&frame_support::storage::storage_prefix(
			b"Inference",
			b"Drawing"
		)));
	});
}
