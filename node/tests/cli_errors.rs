//! Bad command lines end quickly with a clear message and a non-zero exit.

mod common;

use common::{free_port, run_to_exit};
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
	assert_eq!(patch["aura"]["authorities"].as_array().map(Vec::len), Some(4), "{patch}");
	assert_eq!(patch["grandpa"]["authorities"].as_array().map(Vec::len), Some(4), "{patch}");
}
