//! Four validators (`--chain local`) on 127.0.0.1: blocks are authored and finalized; with one
//! validator killed the other three keep finalizing (3 of 4 > 2/3); the killed one restarts from
//! its database and catches up to the finalized head.

mod common;

use common::{node_key, wait_for, Node};
use std::time::Duration;

const VALIDATORS: [&str; 4] = ["alice", "bob", "charlie", "dave"];
const STARTUP: Duration = Duration::from_secs(180);
const PROGRESS: Duration = Duration::from_secs(120);

#[test]
fn four_validators_finalize_survive_one_down_and_resync() {
	let dir = tempfile::tempdir().expect("temp dir");

	// Persistent node keys, so every node's peer id is known before it starts.
	let peer_ids: Vec<String> =
		VALIDATORS.iter().map(|name| node_key(&dir.path().join(format!("{name}.node-key")))).collect();

	let mut nodes: Vec<Node> = Vec::new();
	for name in VALIDATORS.iter() {
		let mut args = vec![
			"--chain".to_string(),
			"local".to_string(),
			format!("--{name}"),
			"--node-key-file".to_string(),
			dir.path().join(format!("{name}.node-key")).display().to_string(),
		];
		// Everyone dials the nodes started before it; the first is dialed by all.
		for (earlier, node) in nodes.iter().enumerate() {
			args.push("--bootnodes".to_string());
			args.push(node.multiaddr(&peer_ids[earlier]));
		}
		nodes.push(Node::start(name, &dir.path().join(name), &args));
	}

	// All four produce and finalize.
	for node in nodes.iter_mut() {
		node.wait_finalized(3, STARTUP);
	}
	let authors = authors_of_recent_blocks(&nodes[0], 8);
	assert!(authors >= 3, "only {authors} distinct Aura slots authored blocks among the last 8");

	// Kill dave; the other three must keep finalizing.
	nodes[3].kill();
	let before = nodes[0].finalized_number().expect("alice RPC");
	for node in nodes[..3].iter_mut() {
		node.wait_finalized(before + 3, PROGRESS);
	}

	// Dave restarts from his database and catches up to the head finalized by the others.
	nodes[3].restart();
	let target = nodes[0].finalized_number().expect("alice RPC");
	let dave_final = nodes[3].wait_finalized(target, PROGRESS);
	assert!(dave_final >= target);
	let ours = nodes[0].block_hash(target);
	let theirs = wait_for("dave to serve the finalized block", PROGRESS, || {
		nodes[3].block_hash(target).filter(|h| Some(h) == ours.as_ref())
	});
	assert_eq!(Some(theirs), ours, "dave finalized a different block at #{target}");

	// And the four of them go on finalizing together.
	let next = nodes[0].finalized_number().expect("alice RPC") + 2;
	for node in nodes.iter_mut() {
		node.wait_finalized(next, PROGRESS);
	}
}

/// How many different Aura slots-owners (by `slot % 4`) authored the last `count` blocks.
fn authors_of_recent_blocks(node: &Node, count: u32) -> usize {
	let rpc = node.rpc();
	let best = node.best_number().expect("best block");
	let mut owners = std::collections::BTreeSet::new();
	for number in best.saturating_sub(count)..=best {
		let Some(hash) = node.block_hash(number) else { continue };
		let header = rpc.call("chain_getHeader", serde_json::json!([hash])).expect("header");
		for log in header["digest"]["logs"].as_array().into_iter().flatten() {
			// A PreRuntime digest: 0x06 ++ "aura" ++ SCALE vec of the 8-byte LE slot.
			let bytes = common::rpc::from_hex(log.as_str().unwrap_or_default());
			if bytes.len() == 1 + 4 + 1 + 8 && bytes[0] == 6 && &bytes[1..5] == b"aura" {
				let slot = u64::from_le_bytes(bytes[6..14].try_into().expect("8 bytes"));
				owners.insert(slot % 4);
			}
		}
	}
	owners.len()
}
