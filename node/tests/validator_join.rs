//! A validator joins and leaves the local network as README's "Becoming a validator" says.
//!
//! Four genesis validators run `--chain local` (one-minute sessions) on 127.0.0.1. A fifth
//! machine starts `opg-node --validator` with an empty keystore, and its operator, with the `opg`
//! client against that node: registers a worker, has the node generate session keys and
//! registers them (`opg validator set-keys --rotate`), and offers to validate. Chosen at the next
//! session boundary, it is a validator from the one after: it authors blocks (its author rewards
//! are on chain) and votes in GRANDPA (with a genesis validator down, five validators finalize
//! only if the newcomer votes: 4 of 5 > 2/3, 3 of 5 is not). Then the new machine stops: it is
//! reported offline at the end of the session it missed, slashed and taken off the candidate
//! list, and is out of the set two boundaries later, while finality never stops; its operator
//! leaves as a worker through another node, the bond unbonding.

mod common;

use common::{inference::EventLog, node_key, opg::Opg, start_local_validators, wait_for, wait_for_or_show, Node};
use opg_runtime::RuntimeEvent;
use serde_json::{json, Value as Json};
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

const GENESIS: [&str; 4] = ["alice", "bob", "charlie", "dave"];
const STARTUP: Duration = Duration::from_secs(180);
/// Two one-minute sessions and some slack: how long a change of the set takes to be in office.
const TWO_SESSIONS: Duration = Duration::from_secs(240);
const PROGRESS: Duration = Duration::from_secs(120);

fn validators(opg: &Opg) -> Vec<String> {
	validators_shown(&opg.json(&["validator", "show"]))
}

/// The validators in `opg validator show`'s output.
fn validators_shown(shown: &Json) -> Vec<String> {
	shown["validators"]
		.as_array()
		.expect("a list")
		.iter()
		.map(|v| v.as_str().expect("an account").to_string())
		.collect()
}

/// Waits for the validator set to become what `done` accepts, printing each session and block
/// seen on the way (shown if the test fails), and on timeout the tail of each node's log: a set
/// that does not change is either a chain that stopped or an election that kept it.
fn wait_for_set(what: &str, opg: &Opg, nodes: &[&Node], done: impl Fn(&[String]) -> bool) -> Vec<String> {
	let started = std::time::Instant::now();
	let mut last = None;
	wait_for_or_show(
		what,
		TWO_SESSIONS,
		|| {
			let shown: Json = opg.json(&["validator", "show"]);
			let set = validators_shown(&shown);
			let now = (shown["session"].clone(), nodes[0].best_number(), nodes[0].finalized_number(), set.clone());
			if last.as_ref() != Some(&now) {
				let (session, best, finalized, _) = &now;
				eprintln!(
					"{:>6.1?}: session {session}, best {best:?}, finalized {finalized:?}, set {set:?}",
					started.elapsed()
				);
				last = Some(now);
			}
			done(&set).then_some(set)
		},
		|| nodes.iter().map(|node| format!("{} log:\n{}\n", node.name, node.log_tail())).collect(),
	)
}

#[test]
fn a_new_machine_joins_the_validator_set_authors_votes_and_is_removed_when_it_stops() {
	let dir = tempfile::tempdir().expect("temp dir");
	let (mut nodes, peer_ids) = start_local_validators(dir.path(), &GENESIS, &["--no-worker"]);
	for node in nodes.iter_mut() {
		node.wait_finalized(1, STARTUP);
	}

	// The new machine: a validator node with a network identity of its own and nothing in its
	// keystore.
	node_key(&dir.path().join("eve.node-key"));
	let mut newcomer = Node::start(
		"eve",
		&dir.path().join("eve"),
		&[
			"--chain".to_string(),
			"local".to_string(),
			"--validator".to_string(),
			"--no-worker".to_string(),
			"--node-key-file".to_string(),
			dir.path().join("eve.node-key").display().to_string(),
			"--bootnodes".to_string(),
			nodes[0].multiaddr(&peer_ids[0]),
		],
	);
	let best = nodes[0].best_number().expect("alice RPC");
	newcomer.wait_finalized(best.saturating_sub(2), STARTUP);

	// Its operator, with the client against the new node.
	let opg = Opg { url: format!("ws://127.0.0.1:{}", newcomer.rpc_port) };
	let eve = Sr25519Keyring::Eve.to_account_id();
	let eve_ss58 = eve.to_string();
	assert_eq!(validators(&opg).len(), 4);
	opg.json(&["worker", "register", "--bond", "1000", "--key-suri", "//Eve//opg-worker", "--suri", "//Eve"]);
	let keys = opg.json(&["validator", "set-keys", "--rotate", "--suri", "//Eve"]);
	assert!(keys["keys"].as_str().is_some_and(|k| k.len() == 2 + 192), "BABE, GRANDPA and im-online keys: {keys}");
	opg.json(&["validator", "validate", "--suri", "//Eve"]);
	let mut log = EventLog::new(&nodes[0], nodes[0].best_number().expect("alice RPC"));

	// Chosen at the next boundary, in office from the one after.
	let set = wait_for_set("eve to be a validator", &opg, &[&nodes[0], &newcomer], |set| set.contains(&eve_ss58));
	assert_eq!(set.len(), 5, "{set:?}");
	let (authored, block) = log.wait("a block authored by eve", |e| match e {
		RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::AuthorRewarded { worker, amount, .. })
			if *worker == eve =>
		{
			Some(*amount)
		},
		_ => None,
	});
	assert!(authored >= opg_runtime::fees::AUTHOR_REWARD_PER_BLOCK);
	eprintln!("eve authored block #{block}");

	// Five validators finalize with one down only if the other four vote: eve among them. A block
	// built after dave stopped can only be finalized by votes cast after it.
	nodes[3].kill();
	let after = nodes[0].best_number().expect("alice RPC") + 1;
	newcomer.wait_finalized(after, PROGRESS);
	for node in nodes[..3].iter_mut() {
		node.wait_finalized(after, PROGRESS);
	}
	nodes[3].restart();
	let target = nodes[0].finalized_number().expect("alice RPC");
	nodes[3].wait_finalized(target, PROGRESS);
	// Finalizing blocks is not voting: before eve stops, dave's voter must be back in the round
	// the others vote in, or four of five would not be voting.
	wait_for("dave's GRANDPA voter to reach the others' round", PROGRESS, || {
		let others = nodes[0].grandpa_round()?;
		let dave = nodes[3].grandpa_round()?;
		eprintln!("GRANDPA (set, round): alice {others:?}, dave {dave:?}");
		(dave >= others).then_some(())
	});

	// The new machine stops. It authors no block and sends no heartbeat for a session: reported
	// offline at the session's end, slashed and no longer a candidate, and out of the set two
	// boundaries later. Finality never stops: the four genesis validators are 4 of 5.
	newcomer.kill();
	let opg = Opg { url: format!("ws://127.0.0.1:{}", nodes[0].rpc_port) };
	let (fraction, block) = log.wait("eve to be slashed for being offline", |e| match e {
		RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::Slashed { worker, fraction, reason, .. })
			if *worker == eve && *reason == opg_primitives::Misconduct::ValidatorOffence =>
		{
			Some(*fraction)
		},
		_ => None,
	});
	assert_eq!(fraction, opg_runtime::configs::OFFLINE_SLASH);
	eprintln!("eve reported offline in block #{block}");
	let shown = opg.json(&["validator", "show"]);
	assert!(!shown["candidates"].as_array().expect("a list").contains(&json!(eve_ss58)), "{shown}");
	let finalized_then = nodes[0].finalized_number().expect("alice RPC");
	let set =
		wait_for_set("eve to leave the set", &opg, &nodes.iter().collect::<Vec<_>>(), |set| !set.contains(&eve_ss58));
	assert_eq!(set.len(), 4, "{set:?}");
	assert!(nodes[0].finalized_number().expect("alice RPC") > finalized_then, "finality went on meanwhile");
	let from = nodes[0].finalized_number().expect("alice RPC");
	for node in nodes.iter_mut() {
		node.wait_finalized(from + 2, PROGRESS);
	}

	// Its operator unbonds and leaves, through any node.
	opg.json(&["worker", "leave", "--suri", "//Eve"]);
	assert_eq!(opg.json(&["worker", "show", "--suri", "//Eve"])["status"], json!("leaving"));
}
