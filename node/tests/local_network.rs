//! Four validators (`--chain local`) on 127.0.0.1: blocks are authored and finalized; with one
//! validator killed the other three keep finalizing (3 of 4 > 2/3); the killed one restarts from
//! its database and catches up to the finalized head.

mod common;

use common::{start_local_validators, wait_for, Node};
use std::time::Duration;

const VALIDATORS: [&str; 4] = ["alice", "bob", "charlie", "dave"];
const STARTUP: Duration = Duration::from_secs(180);
const PROGRESS: Duration = Duration::from_secs(120);

#[test]
fn four_validators_finalize_survive_one_down_and_resync() {
	let dir = tempfile::tempdir().expect("temp dir");

	let (mut nodes, _) = start_local_validators(dir.path(), &VALIDATORS, &[]);

	// All four produce and finalize, and over 16 blocks each is the author of some: two
	// authorities alone author 16 blocks about once in 10,000 runs (a few blocks, often).
	for node in nodes.iter_mut() {
		node.wait_finalized(3, STARTUP);
	}
	nodes[0].wait_finalized(17, STARTUP);
	let authors = authors_of_recent_blocks(&nodes[0], 16);
	assert!(authors >= 3, "only {authors} distinct BABE authorities authored blocks among the last 16");

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

/// How many different BABE authorities authored the last `count` blocks. Every block must
/// carry a VRF output (a primary or a secondary VRF slot claim): committee draws rely on it.
fn authors_of_recent_blocks(node: &Node, count: u32) -> usize {
	use codec::Decode;
	use sp_consensus_babe::digests::PreDigest;
	let rpc = node.rpc();
	let best = node.best_number().expect("best block");
	let mut authors = std::collections::BTreeSet::new();
	for number in best.saturating_sub(count).max(1)..=best {
		let Some(hash) = node.block_hash(number) else { continue };
		let header = rpc.call("chain_getHeader", serde_json::json!([hash])).expect("header");
		let claims: Vec<PreDigest> = header["digest"]["logs"]
			.as_array()
			.into_iter()
			.flatten()
			.filter_map(|log| {
				let bytes = common::rpc::from_hex(log.as_str().unwrap_or_default());
				let item = sp_runtime::DigestItem::decode(&mut &bytes[..]).ok()?;
				let (engine, mut data) = item.as_pre_runtime()?;
				(engine == sp_consensus_babe::BABE_ENGINE_ID)
					.then(|| PreDigest::decode(&mut data).expect("a BABE claim"))
			})
			.collect();
		assert_eq!(claims.len(), 1, "block #{number} has {} BABE slot claims", claims.len());
		assert!(claims[0].vrf_signature().is_some(), "block #{number} carries no VRF output: {:?}", claims[0]);
		authors.insert(claims[0].authority_index());
	}
	authors.len()
}
