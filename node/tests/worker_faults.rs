//! Four validators on 127.0.0.1 (`--chain local`), each running the worker of its genesis worker
//! key, answer requests on the seeded ONNX MLP fetched over HTTP, while one worker at a time
//! misbehaves on purpose (`--unsafe-worker-fault`). Every request still settles with the
//! engine's own answer; the misbehaving worker is slashed for exactly what it did and the others
//! are paid. A worker restarted between its commit and its reveal reveals from its journal, and a
//! validator killed mid-request does not stop the request from settling.

mod common;

use codec::Encode;
use common::{
	chain::{sign, submit},
	inference::{ended, End, EventLog},
	models::{engine_answer, onnx_mlp, FileServer},
	start_local_validators, Node,
};
use opg_engine::{testmodels, Answer, ExecutionProfile};
use opg_primitives::{
	inference::{ComparisonRule, ModelFormat},
	Misconduct,
};
use opg_runtime::{AccountId, RuntimeCall, RuntimeEvent, OPG};
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

const VALIDATORS: [Sr25519Keyring; 4] =
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave];
const STARTUP: Duration = Duration::from_secs(180);

fn name(who: Sr25519Keyring) -> String {
	format!("{who:?}").to_lowercase()
}

struct Network {
	nodes: Vec<Node>,
	base_args: Vec<Vec<String>>,
}

impl Network {
	fn start(dir: &std::path::Path) -> Network {
		let names: Vec<String> = VALIDATORS.iter().map(|who| name(*who)).collect();
		let names: Vec<&str> = names.iter().map(String::as_str).collect();
		let (mut nodes, _) = start_local_validators(dir, &names, &[]);
		let base_args = nodes.iter().map(|node| node.args().to_vec()).collect();
		for node in nodes.iter_mut() {
			node.wait_finalized(1, STARTUP);
		}
		Network { nodes, base_args }
	}

	/// Restart validator `i` with `fault` (or none), keeping its database and journal.
	fn set_fault(&mut self, i: usize, fault: Option<&str>) {
		let mut args = self.base_args[i].clone();
		if let Some(fault) = fault {
			args.extend(["--unsafe-worker-fault".to_string(), fault.to_string()]);
		}
		if self.nodes[i].args() != args.as_slice() {
			self.nodes[i].restart_with(args);
			// Caught up with a validator that kept running.
			let other = &self.nodes[(i + 1) % self.nodes.len()];
			let best = other.best_number().expect("RPC of a running validator");
			self.nodes[i].wait_finalized(best.saturating_sub(2), STARTUP);
		}
	}
}

fn slashes(log: &EventLog, request: u64) -> Vec<(AccountId, Misconduct)> {
	log.all(|e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::MemberSlashed { request: r, worker, reason, .. })
			if *r == request =>
		{
			Some((worker.clone(), *reason))
		},
		_ => None,
	})
	.into_iter()
	.map(|(s, _)| s)
	.collect()
}

/// The request's own events and every validator offence and slash, one a line with its block:
/// what a failed expectation is read against.
fn story(log: &EventLog, request: u64) -> String {
	log.all(|e| match e {
		RuntimeEvent::Inference(inner)
			if [",", " }"].iter().any(|end| format!("{inner:?}").contains(&format!("request: {request}{end}"))) =>
		{
			Some(format!("{e:?}"))
		},
		RuntimeEvent::Offences(_) | RuntimeEvent::ImOnline(_) => Some(format!("{e:?}")),
		RuntimeEvent::WorkerStaking(
			pallet_worker_staking::Event::Slashed { .. } | pallet_worker_staking::Event::Chilled { .. },
		) => Some(format!("{e:?}")),
		_ => None,
	})
	.into_iter()
	.map(|(line, block)| format!("#{block} {line}"))
	.collect::<Vec<_>>()
	.join("\n")
}

#[test]
fn misbehaving_workers_are_slashed_and_requests_still_settle() {
	let dir = tempfile::tempdir().expect("temp dir");
	let published = dir.path().join("published");
	std::fs::create_dir_all(&published).expect("dir");
	let mlp = onnx_mlp(&published);
	let server = FileServer::start(&published);
	let input = testmodels::golden_mlp_input().encode();
	let Answer::Output(expected) = engine_answer(&mlp, ExecutionProfile::Portable, &input) else {
		panic!("the MLP answers its golden input")
	};

	let mut net = Network::start(dir.path());
	let mut log = EventLog::new(&net.nodes[0], 0);
	let register = RuntimeCall::Inference(pallet_inference::Call::register_model {
		model: mlp.id,
		format: ModelFormat::Onnx,
		architecture: b"onnx".to_vec(),
		price: OPG,
		rule: ComparisonRule::Exact,
		profile: ExecutionProfile::Portable,
		uris: vec![server.url("onnx-mlp.tar").into_bytes()],
	});
	submit(&net.nodes[0].rpc(), &sign(&net.nodes[0].rpc(), Sr25519Keyring::Eve, register));
	log.wait("model registration", |e| {
		matches!(e, RuntimeEvent::Inference(pallet_inference::Event::ModelRegistered { .. })).then_some(())
	});

	// Each request draws all four workers (quorum 3), so the one misbehaving is always seated.
	let request = |net: &Network, log: &mut EventLog| -> u64 {
		let rpc = net.nodes[0].rpc();
		let call = RuntimeCall::Inference(pallet_inference::Call::request_inference {
			model: mlp.id,
			input: testmodels::golden_mlp_input(),
			max_fee: 2 * OPG,
			seats: Some(4),
		});
		let before = log.all(|e| match e {
			RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { request, .. }) => Some(*request),
			_ => None,
		});
		submit(&rpc, &sign(&rpc, Sr25519Keyring::Ferdie, call));
		let (id, _) = log.wait("the request to be included", |e| match e {
			RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { request, .. })
				if !before.iter().any(|(b, _)| b == request) =>
			{
				Some(*request)
			},
			_ => None,
		});
		id
	};
	let settles_right = |log: &mut EventLog, id: u64, label: &str| -> usize {
		let (end, block) = log.wait(&format!("request {id} ({label}) to end"), ended(id));
		let End::Settled { output, agreeing, .. } = end else {
			panic!("{label}: ended {end:?} in #{block}; what happened:\n{}", story(log, id))
		};
		assert_eq!(output, expected, "{label}: the chain's answer is the engine's");
		eprintln!("{label}: request {id} settled in #{block} with {agreeing} agreeing");
		agreeing
	};

	let cases = [
		(1, "wrong-output", Some(Misconduct::WrongOutput)),
		(2, "copy-commitment", Some(Misconduct::BadOrMissingReveal)),
		(3, "no-show", Some(Misconduct::NoShow)),
		(0, "no-reveal", Some(Misconduct::BadOrMissingReveal)),
	];
	let mut faulty: Option<usize> = None;
	for (i, fault, misconduct) in cases {
		if let Some(previous) = faulty.take() {
			net.set_fault(previous, None);
		}
		net.set_fault(i, Some(fault));
		faulty = Some(i);
		let id = request(&net, &mut log);
		let agreeing = settles_right(&mut log, id, fault);
		assert_eq!(agreeing, 3, "{fault}: the three honest workers agree");
		let culprit = VALIDATORS[i].to_account_id();
		assert_eq!(slashes(&log, id), vec![(culprit, misconduct.expect("a fault is punished"))], "{fault}");
	}
	if let Some(previous) = faulty.take() {
		net.set_fault(previous, None);
	}

	// Restarted between commit and reveal: dave commits, holds back his reveal, and is
	// restarted as an honest worker; he reveals from his journal and is paid, not slashed.
	net.set_fault(3, Some("no-reveal"));
	let id = request(&net, &mut log);
	let dave = VALIDATORS[3].to_account_id();
	log.wait("dave's commit", |e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::Committed { request, worker })
			if *request == id && *worker == dave =>
		{
			Some(())
		},
		_ => None,
	});
	net.set_fault(3, None);
	assert_eq!(settles_right(&mut log, id, "restart between commit and reveal"), 4);
	assert!(slashes(&log, id).is_empty(), "nobody is slashed for a restart");

	// A validator killed mid-request: the other three still settle it.
	let id = request(&net, &mut log);
	net.nodes[2].kill();
	assert!(settles_right(&mut log, id, "validator killed") >= 3);
	assert!(slashes(&log, id).iter().all(|(w, _)| *w == VALIDATORS[2].to_account_id()));
	for node in net.nodes.iter_mut().take(2) {
		node.assert_running();
	}
}
