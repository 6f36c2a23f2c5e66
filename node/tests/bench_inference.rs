//! Measurements of verified inference on a real `--dev` node (three worker keys, one process),
//! printed as a table; run by `scripts/bench-inference.sh`, not by the test suite
//! (`cargo test --release --test bench_inference -- --ignored --nocapture`).
//!
//! - Blocks and seconds from the block that includes a request to the block that settles it,
//!   per phase (drawn, reveal opened, settled), for each demo model, committee of 3, with the
//!   models already fetched and loaded.
//! - The node's CPU time per request beyond its idle load (three workers answer each request).
//! - Inference requests against balance transfers the chain takes in one block.

mod common;

use codec::{Decode, Encode};
use common::{
	chain::{next_nonce, storage_at, submit, SigningContext},
	inference::{ended, End, EventLog},
	models::{minilm, onnx_mlp, tiny_llama, Bundle, FileServer},
	Node,
};
use frame_support::storage::storage_prefix;
use opg_engine::{testmodels, ExecutionProfile, Value};
use opg_primitives::inference::{ComparisonRule, ModelFormat};
use opg_runtime::{RuntimeCall, RuntimeEvent, OPG};
use sp_keyring::Sr25519Keyring;
use std::time::{Duration, Instant};

fn cpu_ticks(pid: u32) -> u64 {
	let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
	// Fields after the command name in parentheses; utime and stime are the 14th and 15th.
	let rest = stat.rsplit_once(')').expect("stat format").1;
	let fields: Vec<&str> = rest.split_whitespace().collect();
	fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

const TICKS_PER_SECOND: f64 = 100.0;

fn timestamp(node: &Node, number: u32) -> u64 {
	let hash = node.block_hash(number).expect("hash");
	let raw = storage_at(&node.rpc(), &storage_prefix(b"Timestamp", b"Now"), &hash).expect("timestamp");
	u64::decode(&mut &raw[..]).expect("u64")
}

struct Submitter {
	ctx: SigningContext,
	who: Sr25519Keyring,
	nonce: u32,
}

impl Submitter {
	fn new(node: &Node, who: Sr25519Keyring) -> Self {
		let rpc = node.rpc();
		Self { ctx: SigningContext::fetch(&rpc), who, nonce: next_nonce(&rpc, &who.to_account_id()) }
	}

	fn submit(&mut self, node: &Node, call: RuntimeCall) {
		let xt = self.ctx.sign(self.who, self.nonce, call);
		self.nonce += 1;
		submit(&node.rpc(), &xt);
	}
}

fn request(model: &Bundle, input: Vec<u8>) -> RuntimeCall {
	RuntimeCall::Inference(pallet_inference::Call::request_inference {
		model: model.id,
		input,
		max_fee: 2 * OPG,
		seats: Some(3),
	})
}

/// Most extrinsics of one kind (by `pick` on their events) in any block of `log`.
fn per_block_peak(log: &EventLog, pick: impl Fn(&RuntimeEvent) -> bool) -> usize {
	let mut counts = std::collections::BTreeMap::<u32, usize>::new();
	for (_, block) in log.all(|e| pick(e).then_some(())) {
		*counts.entry(block).or_default() += 1;
	}
	counts.values().copied().max().unwrap_or(0)
}

#[test]
#[ignore = "a benchmark: scripts/bench-inference.sh"]
fn bench_verified_inference() {
	let dir = tempfile::tempdir().expect("temp dir");
	let published = dir.path().join("published");
	std::fs::create_dir_all(&published).expect("dir");
	let models = [
		("onnx-mlp", onnx_mlp(&published), ModelFormat::Onnx, testmodels::golden_mlp_input().encode()),
		(
			"all-minilm-l6-v2",
			minilm(&published),
			ModelFormat::BertEmbedding,
			Value::Text(testmodels::golden_texts()[0].as_bytes().to_vec()).encode(),
		),
		("tiny-llama", tiny_llama(&published), ModelFormat::LlamaCausalLm, testmodels::golden_llama_prompt().encode()),
	];
	let server = FileServer::start(&published);
	let mut node = Node::start("bench", &dir.path().join("bench"), &["--dev".to_string()]);
	node.wait_finalized(1, Duration::from_secs(120));
	let mut log = EventLog::new(&node, 0);
	let mut eve = Submitter::new(&node, Sr25519Keyring::Eve);
	for (name, bundle, format, _) in &models {
		eve.submit(
			&node,
			RuntimeCall::Inference(pallet_inference::Call::register_model {
				model: bundle.id,
				format: *format,
				architecture: name.as_bytes().to_vec(),
				price: OPG,
				rule: ComparisonRule::Exact,
				profile: ExecutionProfile::Portable,
				uris: vec![server.url(&format!("{name}.tar")).into_bytes()],
			}),
		);
	}
	let mut ferdie = Submitter::new(&node, Sr25519Keyring::Ferdie);
	let mut next_id = 0u64;
	let mut run = |node: &Node, log: &mut EventLog, ferdie: &mut Submitter, bundle: &Bundle, input: &[u8]| {
		ferdie.submit(node, request(bundle, input.to_vec()));
		let id = next_id;
		next_id += 1;
		let (end, settled) = log.wait(&format!("request {id}"), ended(id));
		assert!(matches!(end, End::Settled { agreeing: 3, .. }), "{end:?}");
		let block_of =
			|pick: &dyn Fn(&RuntimeEvent) -> bool| log.all(|e| pick(e).then_some(())).first().map(|(_, b)| *b);
		let included = block_of(
			&|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { request, .. }) if *request == id),
		);
		let drawn = block_of(
			&|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::CommitteeDrawn { request, .. }) if *request == id),
		);
		let reveal = block_of(
			&|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::RevealStarted { request, .. }) if *request == id),
		);
		(included.expect("included"), drawn.expect("drawn"), reveal.expect("reveal"), settled)
	};

	// Warm up: each model fetched, verified and loaded once.
	for (_, bundle, _, input) in &models {
		run(&node, &mut log, &mut ferdie, bundle, input);
	}

	println!("\n| model | drawn | reveal opens | settled | seconds to settle | node CPU s / request |");
	println!("| --- | --- | --- | --- | --- | --- |");
	let pid = node.pid().expect("running");
	// The node's CPU use with nothing to answer, over one block, as the baseline.
	let idle_start = cpu_ticks(pid);
	std::thread::sleep(Duration::from_secs(6));
	let idle_per_second = (cpu_ticks(pid) - idle_start) as f64 / TICKS_PER_SECOND / 6.0;
	for (name, bundle, _, input) in &models {
		let (cpu0, t0) = (cpu_ticks(pid), Instant::now());
		let (included, drawn, reveal, settled) = run(&node, &mut log, &mut ferdie, bundle, input);
		let cpu = (cpu_ticks(pid) - cpu0) as f64 / TICKS_PER_SECOND - idle_per_second * t0.elapsed().as_secs_f64();
		let seconds = (timestamp(&node, settled) - timestamp(&node, included)) as f64 / 1000.0;
		println!(
			"| {name} | +{} | +{} | +{} | {seconds:.0} | {:.3} |",
			drawn - included,
			reveal - included,
			settled - included,
			cpu.max(0.0)
		);
	}

	// Throughput: as many transfers as the pool takes, then as many requests, each burst
	// submitted at once; the most that one block took.
	let mut alice = Submitter::new(&node, Sr25519Keyring::Alice);
	for _ in 0..3_000 {
		alice.submit(
			&node,
			RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
				dest: sp_runtime::MultiAddress::Id(Sr25519Keyring::Dave.to_account_id()),
				value: OPG / 1000,
			}),
		);
	}
	let small =
		Value::F32 { shape: vec![1, testmodels::MLP_INPUT as u32], bits: vec![0; testmodels::MLP_INPUT] }.encode();
	for _ in 0..200 {
		ferdie.submit(&node, request(&models[0].1, small.clone()));
	}
	// Until the pool has put every one of them in a block (requests over a block's limit fail
	// in their block with `TooManyRequests`).
	let deadline = Instant::now() + Duration::from_secs(300);
	while Instant::now() < deadline {
		std::thread::sleep(Duration::from_secs(6));
		let pending = node.rpc().call("author_pendingExtrinsics", serde_json::json!([])).expect("pending");
		if pending.as_array().is_some_and(|p| p.is_empty()) {
			break;
		}
	}
	std::thread::sleep(Duration::from_secs(6));
	log.poll();
	let transfers =
		per_block_peak(&log, |e| matches!(e, RuntimeEvent::Balances(pallet_balances::Event::Transfer { .. })));
	let requests = per_block_peak(&log, |e| {
		matches!(e, RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { .. }))
	});
	println!("\n| per block (peak) | transfers | inference requests | ratio |");
	println!("| --- | --- | --- | --- |");
	println!("| dev node, 2 cores | {transfers} | {requests} | {:.3} |", requests as f64 / transfers.max(1) as f64);
	println!("\nidle node CPU: {idle_per_second:.3} s/s");
}
