//! Shared support for tests that start the real `opg-node` binary on 127.0.0.1.
//!
//! Each node gets its own free ports and a base path under a temporary directory; its output
//! goes to a log file there, and a node that panics or is dropped is killed.

#![allow(dead_code)]

pub mod chain;
pub mod inference;
pub mod models;
pub mod opg;
pub mod rpc;

use std::{
	fs::File,
	net::TcpListener,
	path::{Path, PathBuf},
	process::{Child, Command, ExitStatus, Stdio},
	time::{Duration, Instant},
};

/// The node binary cargo built for these tests.
pub const NODE_BIN: &str = env!("CARGO_BIN_EXE_opg-node");

/// A port nothing on 127.0.0.1 listens on right now.
pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0")
		.and_then(|l| l.local_addr())
		.map(|a| a.port())
		.expect("the OS hands out a free loopback port")
}

/// Poll `check` every half second until it returns `Some`, or fail after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
	wait_for_or_show(what, timeout, check, String::new)
}

/// [`wait_for`], failing with `state()` (what the nodes were doing) in the message.
pub fn wait_for_or_show<T>(
	what: &str,
	timeout: Duration,
	mut check: impl FnMut() -> Option<T>,
	state: impl FnOnce() -> String,
) -> T {
	let start = Instant::now();
	loop {
		if let Some(v) = check() {
			return v;
		}
		if start.elapsed() > timeout {
			panic!("timed out after {timeout:?} waiting for {what}\n{}", state());
		}
		std::thread::sleep(Duration::from_millis(500));
	}
}

/// Run the node binary to completion (for subcommands), with a time limit.
pub fn run_to_exit(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
	let dir = tempfile::tempdir().expect("temp dir");
	let out_path = dir.path().join("stdout");
	let err_path = dir.path().join("stderr");
	let mut child = Command::new(NODE_BIN)
		.args(args)
		.stdin(Stdio::null())
		.stdout(File::create(&out_path).expect("stdout file"))
		.stderr(File::create(&err_path).expect("stderr file"))
		.spawn()
		.expect("start opg-node");
	let start = Instant::now();
	let status = loop {
		if let Some(status) = child.try_wait().expect("wait on opg-node") {
			break status;
		}
		if start.elapsed() > timeout {
			let _ = child.kill();
			let _ = child.wait();
			panic!(
				"`opg-node {}` still running after {timeout:?}; stderr:\n{}",
				args.join(" "),
				std::fs::read_to_string(&err_path).unwrap_or_default()
			);
		}
		std::thread::sleep(Duration::from_millis(100));
	};
	let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
	let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
	(status, stdout, stderr)
}

/// A running `opg-node` process.
pub struct Node {
	pub name: String,
	pub base_path: PathBuf,
	pub p2p_port: u16,
	pub rpc_port: u16,
	pub prometheus_port: u16,
	args: Vec<String>,
	log: PathBuf,
	child: Option<Child>,
}

impl Node {
	/// Start a node with its own ports and base path; `extra` are further CLI arguments.
	pub fn start(name: &str, base_path: &Path, extra: &[String]) -> Node {
		let mut node = Node {
			name: name.to_string(),
			base_path: base_path.to_path_buf(),
			p2p_port: free_port(),
			rpc_port: free_port(),
			prometheus_port: free_port(),
			args: extra.to_vec(),
			log: base_path.join(format!("{name}.log")),
			child: None,
		};
		node.spawn();
		node
	}

	fn spawn(&mut self) {
		std::fs::create_dir_all(&self.base_path).expect("base path");
		let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("node log file");
		let child = Command::new(NODE_BIN)
			.arg("--base-path")
			.arg(&self.base_path)
			.args(["--name", &self.name])
			.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", self.p2p_port)])
			.args(["--rpc-port", &self.rpc_port.to_string()])
			.args(["--prometheus-port", &self.prometheus_port.to_string()])
			.args(["--no-mdns", "--no-telemetry"])
			.args(&self.args)
			.stdin(Stdio::null())
			.stdout(log.try_clone().expect("log handle"))
			.stderr(log)
			.spawn()
			.expect("start opg-node");
		self.child = Some(child);
	}

	/// The multiaddress other nodes use to reach this one.
	pub fn multiaddr(&self, peer_id: &str) -> String {
		format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.p2p_port, peer_id)
	}

	pub fn rpc(&self) -> rpc::Client {
		rpc::Client::new(self.rpc_port)
	}

	/// The process id, while it runs.
	pub fn pid(&self) -> Option<u32> {
		self.child.as_ref().map(|c| c.id())
	}

	/// Kill the process (SIGKILL: no clean shutdown), keeping its database.
	pub fn kill(&mut self) {
		if let Some(mut child) = self.child.take() {
			let _ = child.kill();
			let _ = child.wait();
		}
	}

	/// Start the process again with the same ports, keys and database.
	pub fn restart(&mut self) {
		self.kill();
		self.spawn();
	}

	/// Start the process again with the same ports, keys and database, and these arguments.
	pub fn restart_with(&mut self, args: Vec<String>) {
		self.kill();
		self.args = args;
		self.spawn();
	}

	/// The arguments this node was started with (beyond ports and base path).
	pub fn args(&self) -> &[String] {
		&self.args
	}

	/// Fail if the process has exited on its own.
	pub fn assert_running(&mut self) {
		if let Some(child) = self.child.as_mut() {
			if let Ok(Some(status)) = child.try_wait() {
				panic!("{} exited with {status}; log:\n{}", self.name, self.log_tail());
			}
		}
	}

	/// The last lines of the node's log, for failure messages.
	pub fn log_tail(&self) -> String {
		let log = std::fs::read_to_string(&self.log).unwrap_or_default();
		let lines: Vec<&str> = log.lines().collect();
		lines[lines.len().saturating_sub(40)..].join("\n")
	}

	/// The Prometheus exposition text, or `None` while the endpoint is not up.
	pub fn metrics(&self) -> Option<String> {
		use std::io::{Read, Write};
		let mut s = std::net::TcpStream::connect(("127.0.0.1", self.prometheus_port)).ok()?;
		s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
		let mut text = String::new();
		s.read_to_string(&mut text).ok()?;
		Some(text)
	}

	/// The sum of a Prometheus metric's samples whose labels include every one of `labels`.
	pub fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
		let text = self.metrics()?;
		let mut found = None;
		for line in text.lines().filter(|l| !l.starts_with('#')) {
			let Some((series, value)) = line.rsplit_once(' ') else { continue };
			let series_name = series.split('{').next().unwrap_or_default();
			if series_name == name && labels.iter().all(|l| series.contains(l)) {
				*found.get_or_insert(0.0) += value.parse::<f64>().ok()?;
			}
		}
		found
	}

	/// Highest finalized block number, or `None` while RPC is not up.
	pub fn finalized_number(&self) -> Option<u32> {
		let rpc = self.rpc();
		let hash = rpc.call("chain_getFinalizedHead", serde_json::json!([])).ok()?;
		let header = rpc.call("chain_getHeader", serde_json::json!([hash])).ok()?;
		rpc::parse_number(&header["number"])
	}

	/// The GRANDPA set id and round this node's voter is in (`grandpa_roundState`), or `None`
	/// while it has none (RPC not up, voter not started).
	pub fn grandpa_round(&self) -> Option<(u64, u64)> {
		let state = self.rpc().call("grandpa_roundState", serde_json::json!([])).ok()?;
		Some((state["setId"].as_u64()?, state["best"]["round"].as_u64()?))
	}

	/// Highest block number this node has imported.
	pub fn best_number(&self) -> Option<u32> {
		let header = self.rpc().call("chain_getHeader", serde_json::json!([])).ok()?;
		rpc::parse_number(&header["number"])
	}

	/// The hash of the block at `number` on this node's best chain.
	pub fn block_hash(&self, number: u32) -> Option<String> {
		let hash = self.rpc().call("chain_getBlockHash", serde_json::json!([number])).ok()?;
		hash.as_str().map(str::to_string)
	}

	/// Wait until this node has finalized block `number`; return the finalized height.
	pub fn wait_finalized(&mut self, number: u32, timeout: Duration) -> u32 {
		let start = Instant::now();
		loop {
			self.assert_running();
			if let Some(n) = self.finalized_number().filter(|n| *n >= number) {
				return n;
			}
			if start.elapsed() > timeout {
				panic!("{} did not finalize #{number} within {timeout:?}; log:\n{}", self.name, self.log_tail());
			}
			std::thread::sleep(Duration::from_millis(500));
		}
	}
}

impl Drop for Node {
	fn drop(&mut self) {
		self.kill();
	}
}

/// Wait until a block at or after `from` includes the extrinsic `xt_hex`; its number and hash.
pub fn wait_included(node: &Node, xt_hex: &str, from: u32, timeout: Duration) -> (u32, String) {
	let rpc = node.rpc();
	let mut scanned = from.saturating_sub(1);
	wait_for("the extrinsic to be included", timeout, || {
		let best = node.best_number()?;
		while scanned <= best {
			let hash = node.block_hash(scanned)?;
			let block = rpc.call("chain_getBlock", serde_json::json!([hash])).ok()?;
			let found = block["block"]["extrinsics"]
				.as_array()
				.is_some_and(|xts| xts.iter().any(|x| x.as_str() == Some(xt_hex)));
			if found {
				return Some((scanned, hash));
			}
			scanned += 1;
		}
		None
	})
}

/// Create a node key file with the binary's own `key generate-node-key`, and return the peer id
/// that `key inspect-node-key` reports for it.
pub fn node_key(path: &Path) -> String {
	let file = path.to_str().expect("utf-8 path");
	let (status, _, stderr) = run_to_exit(&["key", "generate-node-key", "--file", file], Duration::from_secs(30));
	assert!(status.success(), "generate-node-key failed: {stderr}");
	let (status, stdout, stderr) = run_to_exit(&["key", "inspect-node-key", "--file", file], Duration::from_secs(30));
	assert!(status.success(), "inspect-node-key failed: {stderr}");
	let peer_id = stdout.trim().to_string();
	assert!(peer_id.starts_with("12D3"), "unexpected peer id `{peer_id}`");
	peer_id
}

/// Validators `names` of the `local` chain (`alice`, `bob`, … : the dev seeds) on 127.0.0.1, with
/// `extra` arguments: each has a node key kept in `dir`, so its peer id is known before it starts,
/// and dials those started before it. Their peer ids come alongside.
pub fn start_local_validators(dir: &Path, names: &[&str], extra: &[&str]) -> (Vec<Node>, Vec<String>) {
	let peer_ids: Vec<String> = names.iter().map(|name| node_key(&dir.join(format!("{name}.node-key")))).collect();
	let mut nodes: Vec<Node> = Vec::new();
	for name in names {
		let mut args = vec![
			"--chain".to_string(),
			"local".to_string(),
			format!("--{name}"),
			"--node-key-file".to_string(),
			dir.join(format!("{name}.node-key")).display().to_string(),
		];
		args.extend(extra.iter().map(|arg| arg.to_string()));
		for (earlier, node) in nodes.iter().enumerate() {
			args.push("--bootnodes".to_string());
			args.push(node.multiaddr(&peer_ids[earlier]));
		}
		nodes.push(Node::start(name, &dir.join(name), &args));
	}
	(nodes, peer_ids)
}
