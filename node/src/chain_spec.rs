//! The built-in chain specifications and the token properties wallets read from them.

use opg_primitives::token::{SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL};
use opg_runtime::WASM_BINARY;
use sc_service::{ChainType, Properties};

/// A chain spec for this runtime: genesis comes from the runtime's own presets.
pub type ChainSpec = sc_service::GenericChainSpec;

/// The ids `--chain` accepts besides a path to a chain spec file.
pub const BUILT_IN: &[&str] = &["dev", "local"];

/// `tokenSymbol`, `tokenDecimals` and `ss58Format`: what polkadot.js shows balances with.
pub fn properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_PREFIX.into());
	properties
}

fn wasm() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"the runtime wasm was not built into this binary (was it built with SKIP_WASM_BUILD?)".to_string()
	})
}

/// One validator (Alice); for trying things out.
pub fn development() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("OPG Development")
		.with_id("opg_dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(sp_genesis_builder::DEV_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}

/// Four validators (Alice, Bob, Charlie, Dave) on one machine or a LAN.
pub fn local_testnet() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("OPG Local Testnet")
		.with_id("opg_local_testnet")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}

/// Resolve a `--chain` value: a built-in id or a chain spec JSON file.
pub fn load(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	Ok(match id {
		"dev" => Box::new(development()?),
		"" | "local" => Box::new(local_testnet()?),
		path => {
			let file = std::path::PathBuf::from(path);
			if !file.is_file() {
				return Err(format!(
					"unknown chain `{path}`: use one of {} or the path of a chain spec JSON file",
					BUILT_IN.join(", ")
				));
			}
			Box::new(ChainSpec::from_json_file(file)?)
		},
	})
}
