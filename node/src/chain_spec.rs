//! The built-in chain specifications and the token properties wallets read from them.

use opg_primitives::token::{SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL};
use opg_runtime::WASM_BINARY;
use sc_service::{ChainType, Properties};

/// A chain spec for this runtime: genesis comes from the runtime's own presets.
pub type ChainSpec = sc_service::GenericChainSpec;

/// The ids `--chain` accepts besides a path to a chain spec file.
pub const BUILT_IN: &[&str] = &["dev", "local", "testnet:<keys.json>"];

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

/// The most validators the runtime's BABE and GRANDPA take (`MaxAuthorities`).
const MAX_VALIDATORS: usize = opg_runtime::configs::MAX_AUTHORITIES as usize;

/// A public network's genesis as its operators describe it (`--chain testnet:<file>`):
///
/// ```json
/// {
///   "name": "OPG Testnet", "id": "opg_testnet",
///   "validators": [{ "babe": "<sr25519 SS58>", "grandpa": "<ed25519 SS58>" }],
///   "balances": [["<account SS58>", 1000000]],
///   "sudo": "<account SS58>"
/// }
/// ```
///
/// Balances are whole OPG. `name`, `id` and `sudo` are optional: without `sudo` the chain has no
/// root key. No development account, key or worker is added. A validator's `babe` key is also
/// its im-online key (key type `imon`) until it sets new session keys.
#[derive(Debug, PartialEq)]
pub struct TestnetKeys {
	pub name: String,
	pub id: String,
	pub validators: Vec<(sp_core::sr25519::Public, sp_core::ed25519::Public)>,
	pub balances: Vec<(opg_runtime::AccountId, opg_runtime::Balance)>,
	pub sudo: Option<opg_runtime::AccountId>,
}

impl TestnetKeys {
	/// Read and check a keys file; the error says which entry is wrong.
	pub fn parse(text: &str) -> Result<Self, String> {
		use sp_core::crypto::Ss58Codec;
		let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
		let text_field = |key: &str, default: &str| -> Result<String, String> {
			match &json[key] {
				serde_json::Value::Null => Ok(default.to_string()),
				serde_json::Value::String(s) if !s.is_empty() => Ok(s.clone()),
				other => Err(format!("`{key}` must be a non-empty string, not {other}")),
			}
		};
		let account = |what: &str, value: &serde_json::Value| -> Result<opg_runtime::AccountId, String> {
			let text = value.as_str().ok_or_else(|| format!("{what} must be an SS58 address, not {value}"))?;
			opg_runtime::AccountId::from_ss58check(text).map_err(|e| format!("{what} `{text}`: {e:?}"))
		};
		let validators = json["validators"]
			.as_array()
			.filter(|v| !v.is_empty())
			.ok_or("`validators` must list at least one validator")?
			.iter()
			.enumerate()
			.map(|(i, v)| {
				let key = |field: &str| {
					v[field].as_str().ok_or_else(|| format!("validators[{i}].{field} must be an SS58 public key"))
				};
				if !v["aura"].is_null() {
					return Err(format!("validators[{i}].aura: blocks are authored by BABE; name the key `babe`"));
				}
				let babe = sp_core::sr25519::Public::from_ss58check(key("babe")?)
					.map_err(|e| format!("validators[{i}].babe: {e:?}"))?;
				let grandpa = sp_core::ed25519::Public::from_ss58check(key("grandpa")?)
					.map_err(|e| format!("validators[{i}].grandpa: {e:?}"))?;
				Ok((babe, grandpa))
			})
			.collect::<Result<Vec<_>, String>>()?;
		let balances = match &json["balances"] {
			serde_json::Value::Null => Vec::new(),
			serde_json::Value::Array(entries) => entries
				.iter()
				.enumerate()
				.map(|(i, entry)| {
					let who = account(&format!("balances[{i}][0]"), &entry[0])?;
					let opg = entry[1]
						.as_u64()
						.filter(|n| *n > 0)
						.ok_or_else(|| format!("balances[{i}][1] must be a positive whole number of OPG"))?;
					let amount = opg_runtime::Balance::from(opg)
						.checked_mul(opg_runtime::OPG)
						.ok_or_else(|| format!("balances[{i}][1] is too large"))?;
					Ok((who, amount))
				})
				.collect::<Result<Vec<_>, String>>()?,
			other => return Err(format!("`balances` must be a list of [address, OPG] pairs, not {other}")),
		};
		if validators.len() > MAX_VALIDATORS {
			return Err(format!("{} validators; the runtime takes at most {MAX_VALIDATORS}", validators.len()));
		}
		let mut babe_keys = std::collections::BTreeSet::new();
		let mut grandpa_keys = std::collections::BTreeSet::new();
		if let Some(i) = validators.iter().position(|(b, g)| !babe_keys.insert(*b) || !grandpa_keys.insert(*g)) {
			return Err(format!("validators[{i}] repeats another validator's key"));
		}
		let mut seen = std::collections::BTreeSet::new();
		if let Some((who, _)) = balances.iter().find(|(who, _)| !seen.insert(who.clone())) {
			return Err(format!("balances lists {who} twice"));
		}
		if seen.contains(&opg_runtime::treasury_account()) {
			return Err("balances lists the treasury account, which genesis creates itself".into());
		}
		let sudo = match &json["sudo"] {
			serde_json::Value::Null => None,
			value => Some(account("`sudo`", value)?),
		};
		Ok(TestnetKeys {
			name: text_field("name", "OPG Testnet")?,
			id: text_field("id", "opg_testnet")?,
			validators,
			balances,
			sudo,
		})
	}
}

/// A public network from its operators' keys file: a live chain with only what the file gives.
pub fn testnet(file: &str) -> Result<ChainSpec, String> {
	let text = std::fs::read_to_string(file).map_err(|e| format!("testnet keys file `{file}`: {e}"))?;
	let keys = TestnetKeys::parse(&text).map_err(|e| format!("testnet keys file `{file}`: {e}"))?;
	let genesis = opg_runtime::genesis_config_presets::testnet_genesis(keys.validators, keys.balances, keys.sudo);
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name(&keys.name)
		.with_id(&keys.id)
		.with_chain_type(ChainType::Live)
		.with_protocol_id("opg")
		.with_genesis_config_patch(genesis)
		.with_properties(properties())
		.build())
}

/// Resolve a `--chain` value: a built-in id or a chain spec JSON file.
pub fn load(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	if let Some(file) = id.strip_prefix("testnet:") {
		return Ok(Box::new(testnet(file)?));
	}
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

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::crypto::Ss58Codec;
	use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

	fn keys_file(sudo: Option<&str>) -> String {
		let sudo = sudo.map(|s| format!(r#", "sudo": "{s}""#)).unwrap_or_default();
		format!(
			r#"{{"validators": [{{"babe": "{}", "grandpa": "{}"}}], "balances": [["{}", 1000]]{sudo}}}"#,
			Sr25519Keyring::One.public().to_ss58check(),
			Ed25519Keyring::One.public().to_ss58check(),
			Sr25519Keyring::Two.to_account_id().to_ss58check(),
		)
	}

	#[test]
	fn a_keys_file_gives_validators_balances_and_an_optional_root() {
		let keys = TestnetKeys::parse(&keys_file(None)).expect("valid");
		assert_eq!(keys.validators, vec![(Sr25519Keyring::One.public(), Ed25519Keyring::One.public())]);
		assert_eq!(keys.balances, vec![(Sr25519Keyring::Two.to_account_id(), 1000 * opg_runtime::OPG)]);
		assert_eq!((keys.name.as_str(), keys.id.as_str(), keys.sudo), ("OPG Testnet", "opg_testnet", None));
		let root = Sr25519Keyring::Two.to_account_id();
		let keys = TestnetKeys::parse(&keys_file(Some(&root.to_ss58check()))).expect("valid");
		assert_eq!(keys.sudo, Some(root));
	}

	#[test]
	fn a_bad_keys_file_says_which_entry_is_wrong() {
		let err = |text: &str| TestnetKeys::parse(text).expect_err("refused");
		assert!(err("{").contains("not JSON"));
		assert!(err(r#"{"validators": []}"#).contains("at least one validator"));
		let babe = Sr25519Keyring::One.public().to_ss58check();
		assert!(err(&format!(r#"{{"validators": [{{"babe": "{babe}"}}]}}"#)).contains("validators[0].grandpa"));
		assert!(err(&format!(r#"{{"validators": [{{"babe": "nope", "grandpa": "{babe}"}}]}}"#))
			.contains("validators[0].babe"));
		assert!(err(&format!(r#"{{"validators": [{{"aura": "{babe}", "grandpa": "{babe}"}}]}}"#))
			.contains("name the key `babe`"));
		let good = keys_file(None);
		assert!(err(&good.replace("1000]", "0]")).contains("balances[0][1]"));
		assert!(err(&good.replace("1000]", "1.5]")).contains("balances[0][1]"));
		let twice = good.replace("1000]]", &format!(r#"1000], ["{}", 1]]"#, Sr25519Keyring::Two.to_account_id()));
		assert!(err(&twice).contains("twice"), "{}", err(&twice));
		assert!(err(&keys_file(Some("nobody"))).contains("`sudo`"));
		let one = format!(
			r#"{{"babe": "{}", "grandpa": "{}"}}"#,
			Sr25519Keyring::One.public().to_ss58check(),
			Ed25519Keyring::One.public().to_ss58check()
		);
		assert!(err(&format!(r#"{{"validators": [{one}, {one}]}}"#)).contains("validators[1] repeats"));
		let treasury = opg_runtime::treasury_account().to_ss58check();
		assert!(err(&good.replace("1000]]", &format!(r#"1000], ["{treasury}", 1]]"#))).contains("treasury"));
	}

	#[test]
	fn a_testnet_spec_has_no_development_account() {
		let dir = tempfile::tempdir().expect("temp dir");
		let file = dir.path().join("keys.json");
		std::fs::write(&file, keys_file(None)).expect("written");
		let spec = testnet(file.to_str().expect("utf-8")).expect("spec");
		assert_eq!(sc_service::ChainSpec::chain_type(&spec), ChainType::Live);
		let json = spec.as_json(false).expect("JSON");
		let alice = Sr25519Keyring::Alice.to_account_id().to_ss58check();
		assert!(!json.contains(&alice), "Alice is in the testnet spec");
		assert!(json.contains(&Sr25519Keyring::Two.to_account_id().to_ss58check()));
	}
}
