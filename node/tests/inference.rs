//! Verified inference end to end on a real `--dev` node: its keystore holds the three genesis
//! workers' keys, its worker fetches each model over HTTP from 127.0.0.1 by the registry's URI,
//! verifies it against its id, runs it with `opg-engine`, and commits and reveals for each key.
//! Every request settles with exactly the answer the engine computes on its own, inputs the
//! model refuses end rejected with the same reason from every member, a model whose URI serves a
//! corrupted bundle is run by nobody and refunded in full, and every balance moves by what the
//! pricing says.

mod common;

use codec::{Decode, Encode};
use common::{
	chain::{free_balance, sign, submit},
	inference::{ended, End, EventLog},
	models::{corrupted_tarball, engine_answer, minilm, onnx_mlp, tiny_llama, tiny_llama_gguf, Bundle, FileServer},
	rpc::{from_hex, to_hex},
	wait_for, Node,
};
use opg_engine::{testmodels, Answer, ExecutionProfile, Rejection, Value};
use opg_primitives::inference::{ComparisonRule, ModelFormat, RequestStatus};
use opg_runtime::{AccountId, Balance, BlockNumber, RuntimeCall, RuntimeEvent, MILLI_OPG, OPG};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use sp_runtime::Perbill;
use std::{collections::BTreeMap, time::Duration};

const TIMEOUT: Duration = common::inference::TIMEOUT;
const PRICE: Balance = OPG;
const MAX_FEE: Balance = 2 * OPG;
const SEATS: u32 = 3;
const OWNER: Sr25519Keyring = Sr25519Keyring::Eve;
const REQUESTER: Sr25519Keyring = Sr25519Keyring::Ferdie;

fn register(node: &Node, bundle: &Bundle, format: ModelFormat, arch: &str, server: &FileServer, file: &str) {
	register_as(node, OWNER, bundle, format, arch, server, file)
}

fn register_as(
	node: &Node,
	owner: Sr25519Keyring,
	bundle: &Bundle,
	format: ModelFormat,
	arch: &str,
	server: &FileServer,
	file: &str,
) {
	let call = RuntimeCall::Inference(pallet_inference::Call::register_model {
		model: bundle.id,
		format,
		architecture: arch.as_bytes().to_vec(),
		price: PRICE,
		rule: ComparisonRule::Exact,
		profile: ExecutionProfile::Portable,
		uris: vec![server.url(file).into_bytes()],
	});
	submit(&node.rpc(), &sign(&node.rpc(), owner, call));
}

/// Price, 3 member fees and the treasury's 5 %, or for a refusal the member fees and their 5 %.
fn expected_paid(answer: &Answer) -> (Balance, Balance, Balance) {
	let members = 3 * MILLI_OPG;
	let price = if matches!(answer, Answer::Output(_)) { PRICE } else { 0 };
	let treasury = Perbill::from_percent(5).mul_ceil(price + members);
	(price, treasury, price + members + treasury)
}

#[test]
fn workers_run_the_models_and_requests_settle_with_the_engines_answer() {
	let dir = tempfile::tempdir().expect("temp dir");
	let published = dir.path().join("published");
	std::fs::create_dir_all(&published).expect("dir");
	let (mlp, llama, minilm) = (onnx_mlp(&published), tiny_llama(&published), minilm(&published));
	// A fourth model whose only URI serves a corrupted copy of its bundle.
	let scratch = dir.path().join("scratch");
	std::fs::create_dir_all(&scratch).expect("dir");
	let gguf = tiny_llama_gguf(&scratch);
	corrupted_tarball(&gguf, &published.join("tiny-llama-gguf.tar"));
	// The dev chain's genesis workers serve exactly these bundles.
	assert_eq!(
		[mlp.id, minilm.id, llama.id],
		opg_primitives::demo::MODELS,
		"the demo model ids in opg_primitives::demo are the ids of these bundles"
	);
	let server = FileServer::start(&published);

	let mut node = Node::start("dev", &dir.path().join("dev"), &["--dev".to_string()]);
	node.wait_finalized(1, TIMEOUT);
	let rpc = node.rpc();
	let mut log = EventLog::new(&node, 0);

	register(&node, &mlp, ModelFormat::Onnx, "onnx", &server, "onnx-mlp.tar");
	register(&node, &minilm, ModelFormat::BertEmbedding, "bert", &server, "all-minilm-l6-v2.tar");
	register(&node, &llama, ModelFormat::LlamaCausalLm, "llama", &server, "tiny-llama.tar");
	// Its owner is Dave; the genesis workers add it to the models they serve.
	register_as(
		&node,
		Sr25519Keyring::Dave,
		&gguf,
		ModelFormat::LlamaCausalLm,
		"llama",
		&server,
		"tiny-llama-gguf.tar",
	);
	for bundle in [&mlp, &minilm, &llama, &gguf] {
		log.wait("model registration", |e| match e {
			RuntimeEvent::Inference(pallet_inference::Event::ModelRegistered { model, .. }) if *model == bundle.id => {
				Some(())
			},
			_ => None,
		});
	}
	let mut served = opg_primitives::demo::MODELS.to_vec();
	served.push(gguf.id);
	for who in opg_runtime::genesis_config_presets::DEVELOPMENT_WORKERS {
		let call = RuntimeCall::WorkerStaking(pallet_worker_staking::Call::update_worker {
			models: served.clone().try_into().expect("fits"),
			commission: Perbill::from_percent(10),
		});
		submit(&rpc, &sign(&rpc, who, call));
	}
	for who in opg_runtime::genesis_config_presets::DEVELOPMENT_WORKERS {
		let worker = who.to_account_id();
		log.wait("the workers to serve the fourth model", |e| match e {
			RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::WorkerUpdated { worker: w, .. })
				if *w == worker =>
			{
				Some(())
			},
			_ => None,
		});
	}

	// The requests: one per model, and inputs each model refuses.
	let n = testmodels::MLP_INPUT as u32;
	let mut nan = vec![0.25f32.to_bits(); n as usize];
	nan[3] = f32::NAN.to_bits();
	let cases: Vec<(&str, &Bundle, Vec<u8>)> = vec![
		("mlp", &mlp, testmodels::golden_mlp_input().encode()),
		("minilm", &minilm, Value::Text(testmodels::golden_texts()[0].as_bytes().to_vec()).encode()),
		("llama", &llama, testmodels::golden_llama_prompt().encode()),
		("mlp wrong shape", &mlp, Value::F32 { shape: vec![n], bits: vec![0; n as usize] }.encode()),
		("mlp nan", &mlp, Value::F32 { shape: vec![1, n], bits: nan }.encode()),
		("minilm too long", &minilm, Value::Text("verify ".repeat(400).into_bytes()).encode()),
		("corrupted bundle", &gguf, testmodels::golden_llama_prompt().encode()),
	];
	let expected: Vec<Option<Answer>> = cases
		.iter()
		.map(|(_, bundle, input)| {
			(bundle.id != gguf.id).then(|| engine_answer(bundle, ExecutionProfile::Portable, input))
		})
		.collect();
	let expected: Vec<Answer> = expected.into_iter().flatten().collect();
	assert!(matches!(expected[3], Answer::Rejected(Rejection::WrongShape)));
	assert!(matches!(expected[4], Answer::Rejected(Rejection::NotFinite)));
	assert!(matches!(expected[5], Answer::Rejected(Rejection::TextTooLong)));

	let start = node.best_number().expect("best");
	let at = node.block_hash(start).expect("hash");
	let owner_before = free_balance(&rpc, &OWNER.to_account_id(), &at);
	let treasury_before = free_balance(&rpc, &opg_runtime::treasury_account(), &at);
	let requester_before = common::chain::account(&rpc, &REQUESTER.to_account_id(), &at);
	for (_, bundle, input) in &cases {
		let call = RuntimeCall::Inference(pallet_inference::Call::request_inference {
			model: bundle.id,
			input: Value::decode(&mut &input[..]).expect("an encoded value"),
			max_fee: MAX_FEE,
			seats: Some(SEATS),
		});
		submit(&rpc, &sign(&rpc, REQUESTER, call));
	}
	// Request ids follow the requester's nonces, so sorted ids are in submission order.
	let requester = REQUESTER.to_account_id();
	let ids: Vec<(u64, u32)> = wait_for("every request to be included", TIMEOUT, || {
		log.poll();
		let mut ids =
			log.all(|e| match e {
				RuntimeEvent::Inference(pallet_inference::Event::InferenceRequested {
					request, requester: r, ..
				}) if *r == requester => Some(*request),
				_ => None,
			});
		ids.sort();
		(ids.len() == cases.len()).then_some(ids)
	});

	let mut settled_at = 0;
	let mut totals = (0, 0, 0);
	// Nobody can run the corrupted model: nobody commits, nobody is slashed, all is refunded.
	let (corrupted, corrupted_included) = ids[cases.len() - 1];
	let (end, block) = log.wait("the corrupted model's request to end", ended(corrupted));
	assert_eq!(end, End::Failed(pallet_inference::FailureReason::Unanswered));
	assert!(log
		.all(|e| match e {
			RuntimeEvent::Inference(pallet_inference::Event::Committed { request, .. }) => Some(*request),
			_ => None,
		})
		.iter()
		.all(|(r, _)| *r != corrupted));
	eprintln!("corrupted bundle: request {corrupted} included in #{corrupted_included}, refunded in #{block}");
	settled_at = settled_at.max(block);
	for ((label, _, _), ((id, included), answer)) in cases.iter().zip(ids.iter().zip(&expected)) {
		let (end, block) = log.wait(&format!("request {id} ({label}) to end"), ended(*id));
		let (price, treasury, paid) = expected_paid(answer);
		match (answer, &end) {
			(Answer::Output(output), End::Settled { output: got, agreeing, paid: p }) => {
				assert_eq!(got, output, "{label}: the chain's answer is the engine's answer");
				assert_eq!((*agreeing, *p), (3, paid), "{label}");
			},
			(Answer::Rejected(reason), End::Rejected { reason: got, agreeing, paid: p }) => {
				assert_eq!(got, reason, "{label}: every member gives the same reason");
				assert_eq!((*agreeing, *p), (3, paid), "{label}");
			},
			(answer, end) => panic!("{label}: expected {answer:?}, the chain ended with {end:?}"),
		}
		eprintln!("{label}: request {id} included in #{included}, ended in #{block} ({} blocks)", block - included);
		settled_at = settled_at.max(block);
		totals = (totals.0 + price, totals.1 + treasury, totals.2 + paid);
	}

	// Balances at the last settlement: the owner got the prices of answered requests, the
	// treasury its shares (and its share of every transaction fee paid meanwhile), each member
	// one fee per request (to claim), nobody was slashed, and the requester paid exactly what
	// the requests cost plus its transaction fees.
	let at = node.block_hash(settled_at).expect("hash");
	assert_eq!(free_balance(&rpc, &OWNER.to_account_id(), &at), owner_before + totals.0, "owner");
	let fee_shares: Balance = log
		.all(|e| match e {
			RuntimeEvent::TransactionPayment(pallet_transaction_payment::Event::TransactionFeePaid {
				actual_fee,
				tip,
				..
			}) => Some(opg_runtime::fees::FEE_TO_TREASURY.mul_ceil(actual_fee - tip)),
			_ => None,
		})
		.into_iter()
		.filter(|(_, block)| *block > start && *block <= settled_at)
		.map(|(share, _)| share)
		.sum();
	assert_eq!(
		free_balance(&rpc, &opg_runtime::treasury_account(), &at),
		treasury_before + totals.1 + fee_shares,
		"treasury"
	);
	let fees: Balance = log
		.all(|e| match e {
			RuntimeEvent::TransactionPayment(pallet_transaction_payment::Event::TransactionFeePaid {
				who,
				actual_fee,
				..
			}) if *who == requester => Some(*actual_fee),
			_ => None,
		})
		.into_iter()
		.filter(|(_, block)| *block > start && *block <= settled_at)
		.map(|(fee, _)| fee)
		.sum();
	let requester_after = common::chain::account(&rpc, &requester, &at);
	// Only the storage deposits of the answers kept for the retention day stay held (the
	// corrupted model's request failed and returned its own).
	let deposit =
		<<opg_runtime::Runtime as pallet_inference::Config>::RequestDeposit as frame_support::traits::Get<u128>>::get();
	let kept = (cases.len() - 1) as Balance;
	assert_eq!(requester_after.data.reserved - requester_before.data.reserved, kept * deposit, "deposits held");
	assert_eq!(
		requester_before.data.free + requester_before.data.reserved
			- requester_after.data.free
			- requester_after.data.reserved,
		totals.2 + fees,
		"requester"
	);
	let mut rewards: BTreeMap<AccountId, Balance> = BTreeMap::new();
	for ((worker, amount), _) in log.all(|e| match e {
		RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::Rewarded { worker, amount, .. }) => {
			Some((worker.clone(), *amount))
		},
		_ => None,
	}) {
		*rewards.entry(worker).or_default() += amount;
	}
	assert_eq!(rewards.len(), 3, "three members rewarded: {rewards:?}");
	assert!(rewards.values().all(|r| *r == expected.len() as Balance * MILLI_OPG), "{rewards:?}");
	assert!(
		log.all(|e| matches!(e, RuntimeEvent::Inference(pallet_inference::Event::MemberSlashed { .. })).then_some(()))
			.is_empty(),
		"no honest member is slashed"
	);

	// Anyone can read the verified answers back through the runtime API.
	let status = |id: u64| {
		let raw = rpc.call("state_call", json!(["InferenceApi_request_status", to_hex(&id.encode())])).expect("call");
		RequestStatus::<BlockNumber>::decode(&mut &from_hex(raw.as_str().expect("hex"))[..]).expect("decodes")
	};
	assert!(
		matches!(status(ids[0].0), RequestStatus::Settled { ref output, .. } if Answer::Output(output.encode()) == expected[0])
	);
	assert!(matches!(status(ids[3].0), RequestStatus::Rejected { reason: Rejection::WrongShape, .. }));

	// The worker's metrics: three keys each committed, revealed and published every answered
	// request (`max_fee` pays for an escalation, so each first round is sealed: a digest first,
	// then the answer), the models were fetched, the corrupted one failed, and latencies were
	// observed per model.
	let metric = |name: &str, labels: &[&str]| node.metric(name, labels).unwrap_or(0.0);
	for line in node.metrics().unwrap_or_default().lines().filter(|l| l.starts_with("opg_worker_duties")) {
		eprintln!("{line}");
	}
	let answered = expected.len() as f64 * 3.0;
	assert!(metric("opg_worker_duties_total", &["phase=\"commit\"", "outcome=\"submitted\""]) >= answered);
	// (A pool may refuse a reveal once, e.g. validated against a view still in the commit phase;
	// the worker tries again on the next block.)
	let sent = |phase: &str| {
		let phase = format!("phase=\"{phase}\"");
		metric("opg_worker_duties_total", &[&phase, "outcome=\"submitted\""])
			+ metric("opg_worker_duties_total", &[&phase, "outcome=\"refused_by_pool\""])
	};
	assert!(sent("reveal_digest") >= answered, "{} digest reveals", sent("reveal_digest"));
	assert!(sent("publish") >= answered, "{} publications", sent("publish"));
	assert!(metric("opg_worker_duties_total", &["phase=\"commit\"", "outcome=\"rejected_input\""]) >= 9.0);
	assert!(metric("opg_worker_model_bytes_fetched_total", &[]) > 90e6, "MiniLM alone is about 90 MB");
	assert!(metric("opg_worker_fetch_failures_total", &[]) >= 1.0, "the corrupted bundle");
	assert!(metric("opg_worker_inference_seconds_count", &[]) >= answered);
	node.assert_running();
}
