//! Measurements of verified inference on a real `--dev` node (three worker keys, one process),
//! printed as a table; run by `scripts/bench-inference.sh`, not by the test suite
//! (`cargo test --release --test bench_inference -- --ignored --nocapture`).
//!
//! - Blocks and seconds from the block that includes a request to the block that settles it,
//!   per phase (drawn, reveal opened, settled), for each demo model, committee of 3, with the
//!   models already fetched and loaded.
//! - The node's CPU time per request beyond its idle load (three workers answer each request).
//! - Inference requests against balance transfers the chain takes in one block, and how fast it
//!   draws and ends a burst of requests.

mod common;

use codec::{Decode, Encode};
use common::{
	chain::{next_nonce, storage_at, submit, SigningContext},
	inference::{ended, End, EventLog},
	models::{minilm, onnx_mlp, tiny_llama, Bundle, FileServer},
	rpc::to_hex,
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

	/// The next transaction, signed but not submitted.
	fn sign(&self, call: RuntimeCall) -> opg_runtime::UncheckedExtrinsic {
		self.ctx.sign(self.who, self.nonce, call)
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
		input: Value::decode(&mut &input[..]).expect("an encoded value"),
		max_fee: 2 * OPG,
		seats: Some(3),
	})
}

/// Transfers, and requests, submitted at once to see what one block takes.
const BURST: usize = 3_000;

/// How many extrinsics like `xt` fit in one block's ordinary share, by weight and by length.
fn block_capacity(node: &Node, xt: &opg_runtime::UncheckedExtrinsic) -> u64 {
	use frame_support::dispatch::DispatchClass;
	let info = node.rpc().call("payment_queryInfo", serde_json::json!([to_hex(&xt.encode())])).expect("queryInfo");
	let weight = &info["weight"];
	let ref_time = weight["refTime"].as_u64().or_else(|| weight["ref_time"].as_u64()).expect("ref time");
	let limits = opg_runtime::configs::RuntimeBlockWeights::get();
	let normal = limits.get(DispatchClass::Normal);
	let per_tx = ref_time + normal.base_extrinsic.ref_time();
	let by_weight = normal.max_total.expect("limited").ref_time() / per_tx;
	let length = *opg_runtime::configs::RuntimeBlockLength::get().max.get(DispatchClass::Normal) as u64;
	let by_length = length / xt.encode().len() as u64;
	by_weight.min(by_length)
}

/// Wait until the pool has put everything submitted into blocks.
fn wait_pool_empty(node: &Node) {
	let deadline = Instant::now() + Duration::from_secs(300);
	while Instant::now() < deadline {
		std::thread::sleep(Duration::from_secs(3));
		let pending = node.rpc().call("author_pendingExtrinsics", serde_json::json!([])).expect("pending");
		if pending.as_array().is_some_and(|p| p.is_empty()) {
			return;
		}
	}
}

/// The id of the request an event ends, if it ends one.
fn ended_request(e: &RuntimeEvent) -> Option<u64> {
	match e {
		RuntimeEvent::Inference(
			pallet_inference::Event::Settled { request, .. }
			| pallet_inference::Event::Rejected { request, .. }
			| pallet_inference::Event::Failed { request, .. },
		) => Some(*request),
		_ => None,
	}
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
	// A pool that holds both bursts even while it re-checks them on every new block (its
	// default keeps a tenth of its size for transactions waiting on a nonce).
	let mut node = Node::start(
		"bench",
		&dir.path().join("bench"),
		&["--dev".to_string(), "--pool-limit".to_string(), "65536".to_string()],
	);
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

	// Throughput. What one block can take of each kind by the runtime's limits (weight and
	// length of the ordinary share), then what it did take: a burst of transfers, and once
	// those are in, a burst of requests, each submitted at once; the most one block took.
	// Then how the chain works the request burst off: draws per block, and requests ended per
	// block until the last one ended.
	let transfer = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: sp_runtime::MultiAddress::Id(Sr25519Keyring::Dave.to_account_id()),
		value: OPG / 1000,
	});
	let small =
		Value::F32 { shape: vec![1, testmodels::MLP_INPUT as u32], bits: vec![0; testmodels::MLP_INPUT] }.encode();
	let mut alice = Submitter::new(&node, Sr25519Keyring::Alice);
	let transfer_capacity = block_capacity(&node, &alice.sign(transfer.clone()));
	let request_capacity = block_capacity(&node, &ferdie.sign(request(&models[0].1, small.clone())));
	for _ in 0..BURST {
		alice.submit(&node, transfer.clone());
	}
	wait_pool_empty(&node);
	let first_request = next_id;
	for _ in 0..BURST {
		ferdie.submit(&node, request(&models[0].1, small.clone()));
	}
	wait_pool_empty(&node);
	let last_request = first_request + BURST as u64 - 1;
	let deadline = Instant::now() + Duration::from_secs(1_800);
	let mut ended_requests = 0usize;
	while Instant::now() < deadline {
		log.poll();
		ended_requests = log.all(|e| ended_request(e).filter(|id| (first_request..=last_request).contains(id))).len();
		if ended_requests == BURST {
			break;
		}
		std::thread::sleep(Duration::from_secs(6));
	}
	let transfers =
		per_block_peak(&log, |e| matches!(e, RuntimeEvent::Balances(pallet_balances::Event::Transfer { .. })));
	let requests = per_block_peak(&log, |e| {
		matches!(e, RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { .. }))
	});
	println!("\n| per block | transfers | inference requests | ratio |");
	println!("| --- | --- | --- | --- |");
	println!(
		"| the runtime's limit (weight, length) | {transfer_capacity} | {request_capacity} | {:.3} |",
		request_capacity as f64 / transfer_capacity.max(1) as f64
	);
	println!(
		"| most one block took ({BURST} of each submitted at once) | {transfers} | {requests} | {:.3} |",
		requests as f64 / transfers.max(1) as f64
	);

	let blocks = |pick: &dyn Fn(&RuntimeEvent) -> bool| -> Vec<u32> {
		log.all(|e| pick(e).then_some(())).into_iter().map(|(_, b)| b).collect()
	};
	let in_burst = |id: &u64| (first_request..=last_request).contains(id);
	let included = blocks(
		&|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested { request, .. }) if in_burst(request)),
	);
	let drawn = blocks(
		&|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::CommitteeDrawn { request, .. }) if in_burst(request)),
	);
	let ends: Vec<(End, u32)> =
		(first_request..=last_request).filter_map(|id| log.all(ended(id)).into_iter().next()).collect();
	let settled = ends.iter().filter(|(e, _)| matches!(e, End::Settled { .. })).count();
	let failed = ends.len() - settled;
	let span = |b: &[u32]| b.iter().max().zip(b.iter().min()).map_or(0, |(hi, lo)| hi - lo + 1);
	let end_blocks: Vec<u32> = ends.iter().map(|(_, b)| *b).collect();
	let first_in = included.iter().min().copied().unwrap_or(0);
	let last_end = end_blocks.iter().max().copied().unwrap_or(first_in);
	let worked_off = last_end.saturating_sub(first_in) + 1;
	println!("\n| burst of {BURST} requests | blocks | per block |");
	println!("| --- | --- | --- |");
	println!("| included | {} | {:.0} |", span(&included), included.len() as f64 / span(&included).max(1) as f64);
	println!("| drawn | {} | {:.0} |", span(&drawn), drawn.len() as f64 / span(&drawn).max(1) as f64);
	println!(
		"| ended ({settled} settled, {failed} failed, {} still open) | {worked_off} from first inclusion | {:.1} |",
		BURST - ends.len(),
		ends.len() as f64 / worked_off as f64
	);
	if ended_requests < BURST {
		println!("\n(stopped waiting after 30 min)");
	}
	println!("\nidle node CPU: {idle_per_second:.3} s/s");
}
