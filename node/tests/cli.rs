//! The node's command line: bad command lines end quickly with a clear message and a non-zero
//! exit; chain specs are built from the built-in presets or from a public network's keys.

mod common;

use common::{free_port, run_to_exit, Node};
use std::{net::TcpListener, time::Duration};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn unknown_chain_is_rejected_with_the_choices() {
	let (status, _, stderr) = run_to_exit(&["--chain", "no-such-chain", "--tmp"], LIMIT);
	assert!(!status.success());
	assert!(stderr.contains("unknown chain `no-such-chain`"), "stderr: {stderr}");
	assert!(stderr.contains("dev, local"), "stderr: {stderr}");
}

#[test]
fn rpc_port_in_use_fails_instead_of_hanging() {
	let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
	let port = taken.local_addr().expect("addr").port().to_string();
	let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
	let (status, _, stderr) =
		run_to_exit(&["--dev", "--tmp", "--rpc-port", &port, "--listen-addr", &p2p, "--no-prometheus"], LIMIT);
	assert!(!status.success(), "node started although its RPC port was taken");
	assert!(stderr.contains(&format!("RPC port {port}")), "stderr: {stderr}");
	assert!(stderr.contains("already in use") && stderr.contains("--rpc-port"), "stderr: {stderr}");
}

#[test]
fn p2p_port_in_use_fails_instead_of_hanging() {
	let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
	let port = taken.local_addr().expect("addr").port();
	let p2p = format!("/ip4/127.0.0.1/tcp/{port}");
	let rpc = free_port().to_string();
	let (status, _, stderr) =
		run_to_exit(&["--dev", "--tmp", "--rpc-port", &rpc, "--listen-addr", &p2p, "--no-prometheus"], LIMIT);
	assert!(!status.success(), "node started although its p2p port was taken");
	assert!(stderr.contains(&format!("p2p port {port}")), "stderr: {stderr}");
	assert!(stderr.contains("already in use"), "stderr: {stderr}");
}

#[test]
fn prometheus_port_in_use_fails_instead_of_hanging() {
	let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
	let port = taken.local_addr().expect("addr").port();
	let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
	let rpc = free_port().to_string();
	let (status, _, stderr) = run_to_exit(
		&["--dev", "--tmp", "--rpc-port", &rpc, "--listen-addr", &p2p, "--prometheus-port", &port.to_string()],
		LIMIT,
	);
	assert!(!status.success(), "node started although its Prometheus port was taken");
	assert!(stderr.contains(&format!("Prometheus port {port}")), "stderr: {stderr}");
}

#[test]
fn build_spec_carries_token_properties_and_four_local_authorities() {
	let (status, stdout, stderr) = run_to_exit(&["build-spec", "--chain", "local"], LIMIT);
	assert!(status.success(), "build-spec failed: {stderr}");
	let spec: serde_json::Value = serde_json::from_str(&stdout).expect("chain spec JSON");
	assert_eq!(spec["id"], "opg_local_testnet");
	assert_eq!(spec["properties"]["tokenSymbol"], "OPG");
	assert_eq!(spec["properties"]["tokenDecimals"], 18);
	let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
	assert_eq!(patch["session"]["keys"].as_array().map(Vec::len), Some(4), "{patch}");
	// BABE's and GRANDPA's first authorities come from the session keys.
	assert!(patch["babe"]["epochConfig"].is_object(), "{patch}");
	assert_eq!(patch["workerStaking"]["validators"].as_array().map(Vec::len), Some(4), "{patch}");
}

/// `opg-node key <args>` → its JSON output.
fn key(args: &[&str]) -> serde_json::Value {
	let mut all = vec!["key"];
	all.extend_from_slice(args);
	let (status, stdout, stderr) = run_to_exit(&all, LIMIT);
	assert!(status.success(), "opg-node key {args:?}: {stderr}");
	serde_json::from_str(&stdout).expect("key JSON")
}

#[test]
fn a_testnet_from_fresh_keys_runs_with_no_development_account() {
	use sp_core::crypto::Ss58Codec;
	let dir = tempfile::tempdir().expect("temp dir");
	// A validator's keys from a fresh phrase, and a funded account of its own.
	let generated = key(&["generate", "--scheme", "sr25519", "--output-type", "json"]);
	let phrase = generated["secretPhrase"].as_str().expect("phrase").to_string();
	let babe = generated["ss58Address"].as_str().expect("address").to_string();
	let grandpa = key(&["inspect", "--scheme", "ed25519", "--output-type", "json", &phrase])["ss58Address"]
		.as_str()
		.expect("address")
		.to_string();
	let funded = key(&["generate", "--scheme", "sr25519", "--output-type", "json"])["ss58Address"]
		.as_str()
		.expect("address")
		.to_string();
	let keys = dir.path().join("keys.json");
	std::fs::write(
		&keys,
		serde_json::json!({
			"name": "OPG Check Net",
			"id": "opg_check",
			"validators": [{ "babe": babe, "grandpa": grandpa }],
			"balances": [[funded, 5000]],
		})
		.to_string(),
	)
	.expect("keys file");
	let chain = format!("testnet:{}", keys.display());
	let (status, raw_spec, stderr) = run_to_exit(&["build-spec", "--chain", &chain, "--raw"], LIMIT);
	assert!(status.success(), "build-spec failed: {stderr}");
	let spec = dir.path().join("spec.json");
	std::fs::write(&spec, &raw_spec).expect("spec file");
	let spec_json: serde_json::Value = serde_json::from_str(&raw_spec).expect("spec JSON");
	assert_eq!((spec_json["id"].as_str(), spec_json["chainType"].as_str()), (Some("opg_check"), Some("Live")));

	let base = dir.path().join("validator");
	let spec_arg = spec.display().to_string();
	for (scheme, key_type) in [("sr25519", "babe"), ("ed25519", "gran"), ("sr25519", "imon")] {
		let (status, _, stderr) = run_to_exit(
			&[
				"key",
				"insert",
				"--base-path",
				base.to_str().expect("utf-8"),
				"--chain",
				&spec_arg,
				"--scheme",
				scheme,
				"--key-type",
				key_type,
				"--suri",
				&phrase,
			],
			LIMIT,
		);
		assert!(status.success(), "key insert {key_type}: {stderr}");
	}
	// A validator of a live chain needs a network identity of its own (no random one each start).
	let (status, _, stderr) = run_to_exit(
		&["key", "generate-node-key", "--chain", &spec_arg, "--base-path", base.to_str().expect("utf-8")],
		LIMIT,
	);
	assert!(status.success(), "generate-node-key: {stderr}");
	let mut node = Node::start("validator", &base, &["--chain".into(), spec_arg, "--validator".into()]);
	node.wait_finalized(2, Duration::from_secs(180));
	let rpc = node.rpc();
	let head = rpc.call("chain_getFinalizedHead", serde_json::json!([])).expect("head");
	let head = head.as_str().expect("hash");
	let funded = opg_runtime::AccountId::from_ss58check(&funded).expect("address");
	assert_eq!(common::chain::free_balance(&rpc, &funded, head), 5000 * opg_runtime::OPG);
	for dev in [sp_keyring::Sr25519Keyring::Alice, sp_keyring::Sr25519Keyring::Bob] {
		let key = frame_system::Account::<opg_runtime::Runtime>::hashed_key_for(dev.to_account_id());
		assert_eq!(common::chain::storage_at(&rpc, &key, head), None, "{dev:?} has an account");
	}
	let sudo_key = frame_support::storage::storage_prefix(b"Sudo", b"Key");
	assert_eq!(common::chain::storage_at(&rpc, &sudo_key, head), None, "no root key was given");
}
