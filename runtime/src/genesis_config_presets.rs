//! Genesis presets: `development` (one validator) and `local_testnet` (four validators), and
//! the genesis of a public network ([`testnet_genesis`]), whose keys its operators give.
//!
//! Four is the smallest validator set that survives one node down: GRANDPA needs more than two
//! thirds of the voters, and 3 of 4 is enough while 2 of 3 is not.

use crate::{
	AccountId, BalancesConfig, RuntimeGenesisConfig, SessionConfig, SudoConfig, WorkerStakingConfig,
	EXISTENTIAL_DEPOSIT, OPG,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_im_online::sr25519::AuthorityId as ImOnlineId;
use serde_json::Value;
use sp_consensus_babe::AuthorityId as BabeId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

/// What each endowed development account starts with.
pub const ENDOWMENT: crate::Balance = 1_000_000 * OPG;

/// What each genesis worker bonds.
pub const GENESIS_WORKER_BOND: crate::Balance = 10_000 * OPG;

/// The commission genesis workers take of their rewards.
pub const GENESIS_WORKER_COMMISSION: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(10);

/// The dev keyring names that validate the local testnet (BABE and GRANDPA take them in the
/// order of their accounts).
pub const LOCAL_TESTNET_VALIDATORS: [Sr25519Keyring; 4] =
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave];

/// The worker key of a dev keyring name: the sr25519 key of `//<Name>//opg-worker`, which the
/// node puts in its keystore on development chains.
pub fn dev_worker_key(who: Sr25519Keyring) -> opg_primitives::worker::WorkerId {
	sp_core::crypto::get_public_from_string_or_panic::<sp_core::sr25519::Public>(&alloc::format!("{who:?}//opg-worker"))
		.into()
}

/// A genesis worker for each name: its account as stash, bonded, serving the demo models.
fn dev_workers(
	names: &[Sr25519Keyring],
) -> Vec<(AccountId, u128, opg_primitives::worker::WorkerId, Vec<opg_primitives::ModelId>, sp_runtime::Perbill)> {
	names
		.iter()
		.map(|who| {
			(
				who.to_account_id(),
				GENESIS_WORKER_BOND,
				dev_worker_key(*who),
				opg_primitives::demo::MODELS.to_vec(),
				GENESIS_WORKER_COMMISSION,
			)
		})
		.collect()
}

/// Slots in a session on the `dev` and `local` chains: one minute, so that joining and leaving
/// the validator set can be watched (and tested) in minutes. Public chains keep the default.
pub const DEV_SESSION_LENGTH: u64 = 10;

fn genesis(
	validators: &[Sr25519Keyring],
	endowed_accounts: Vec<AccountId>,
	root: AccountId,
	workers: &[Sr25519Keyring],
) -> Value {
	let balances = endowed_accounts.into_iter().map(|k| (k, ENDOWMENT)).collect();
	let keys = validators.iter().map(|who| (who.to_account_id(), authority_keys(*who))).collect();
	let candidates: Vec<AccountId> = validators.iter().map(|who| who.to_account_id()).collect();
	let workers = dev_workers(workers);
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances: with_treasury(balances) },
		babe: pallet_babe::GenesisConfig { epoch_config: crate::BABE_GENESIS_EPOCH_CONFIG },
		session: SessionConfig { keys: session_keys(keys) },
		sudo: SudoConfig { key: Some(root) },
		worker_staking: WorkerStakingConfig {
			workers,
			validators: candidates,
			session_length: Some(DEV_SESSION_LENGTH)
		},
	})
}

/// The session pallet's genesis keys: each validator's account (also its validator id) and its
/// BABE and GRANDPA keys. BABE's and GRANDPA's first authorities come from these. A genesis
/// validator's im-online key is its BABE key (the same sr25519 key, inserted under `imon` too).
fn session_keys(validators: Vec<(AccountId, (BabeId, GrandpaId))>) -> Vec<(AccountId, AccountId, crate::SessionKeys)> {
	validators
		.into_iter()
		.map(|(account, (babe, grandpa))| {
			let im_online = ImOnlineId::from(sp_core::sr25519::Public::from(babe.clone()));
			(account.clone(), account, crate::SessionKeys { babe, grandpa, im_online })
		})
		.collect()
}

/// `balances` and the treasury's existential deposit: the treasury exists from genesis, so the
/// first fee share or slash of any size can land.
fn with_treasury(mut balances: Vec<(AccountId, crate::Balance)>) -> Vec<(AccountId, crate::Balance)> {
	balances.push((crate::treasury_account(), EXISTENTIAL_DEPOSIT));
	balances
}

/// The genesis of a public network: the validators, balances and root key its operators give,
/// and nothing else — no development account, no genesis worker (workers register with a bond
/// once the chain runs). Without `root` the chain has no sudo key at all.
pub fn testnet_genesis(
	validators: Vec<(sp_core::sr25519::Public, sp_core::ed25519::Public)>,
	balances: Vec<(AccountId, crate::Balance)>,
	root: Option<AccountId>,
) -> Value {
	// A validator's account is its BABE key's: it earns its author share of fees there. It
	// validates at genesis; later sessions choose from workers that offer to validate.
	let keys = validators
		.into_iter()
		.map(|(babe, grandpa)| (AccountId::from(babe), (BabeId::from(babe), GrandpaId::from(grandpa))))
		.collect();
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances: with_treasury(balances) },
		babe: pallet_babe::GenesisConfig { epoch_config: crate::BABE_GENESIS_EPOCH_CONFIG },
		session: SessionConfig { keys: session_keys(keys) },
		sudo: SudoConfig { key: root },
	})
}

/// The BABE (sr25519) and GRANDPA (ed25519) keys a dev keyring name derives from `//Name`.
fn authority_keys(who: Sr25519Keyring) -> (BabeId, GrandpaId) {
	(who.public().into(), ed25519_named(who).public().into())
}

/// The ed25519 keyring entry with the same name as an sr25519 one.
fn ed25519_named(who: Sr25519Keyring) -> Ed25519Keyring {
	match who {
		Sr25519Keyring::Alice => Ed25519Keyring::Alice,
		Sr25519Keyring::Bob => Ed25519Keyring::Bob,
		Sr25519Keyring::Charlie => Ed25519Keyring::Charlie,
		Sr25519Keyring::Dave => Ed25519Keyring::Dave,
		Sr25519Keyring::Eve => Ed25519Keyring::Eve,
		Sr25519Keyring::Ferdie => Ed25519Keyring::Ferdie,
		Sr25519Keyring::AliceStash => Ed25519Keyring::AliceStash,
		Sr25519Keyring::BobStash => Ed25519Keyring::BobStash,
		Sr25519Keyring::CharlieStash => Ed25519Keyring::CharlieStash,
		Sr25519Keyring::DaveStash => Ed25519Keyring::DaveStash,
		Sr25519Keyring::EveStash => Ed25519Keyring::EveStash,
		Sr25519Keyring::FerdieStash => Ed25519Keyring::FerdieStash,
		Sr25519Keyring::One => Ed25519Keyring::One,
		Sr25519Keyring::Two => Ed25519Keyring::Two,
	}
}

/// The well-known dev accounts (Alice..Ferdie and their stashes), all endowed.
fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::iter()
		.filter(|k| *k != Sr25519Keyring::One && *k != Sr25519Keyring::Two)
		.map(|k| k.to_account_id())
		.collect()
}

/// The workers of the `dev` chain: its one node holds all three keys, a full committee.
pub const DEVELOPMENT_WORKERS: [Sr25519Keyring; 3] =
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie];

/// One validator (Alice), who is also root; Alice, Bob and Charlie are workers.
pub fn development_genesis() -> Value {
	genesis(&[Sr25519Keyring::Alice], dev_accounts(), Sr25519Keyring::Alice.to_account_id(), &DEVELOPMENT_WORKERS)
}

/// Four validators (Alice, Bob, Charlie, Dave), each also a worker; Alice is root.
pub fn local_testnet_genesis() -> Value {
	genesis(&LOCAL_TESTNET_VALIDATORS, dev_accounts(), Sr25519Keyring::Alice.to_account_id(), &LOCAL_TESTNET_VALIDATORS)
}

/// The JSON patch for a preset, or `None` for an unknown name.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_testnet_genesis(),
		_ => return None,
	};
	serde_json::to_string(&patch).ok().map(|s| s.into_bytes())
}

/// The presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
	]
}
