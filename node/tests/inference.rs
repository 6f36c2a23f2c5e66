//! Verifiable inference on a real `--dev` node, end to end through the transaction pool:
//! three workers bond and serve a model, a dApp requests inference with escrow, the drawn
//! committee commits and reveals with fee-free transactions authorized by their worker keys, and
//! the request settles with the agreed output — which anyone can then read through the
//! `InferenceApi` runtime API.

mod common;

use codec::{Decode, Encode};
use common::{
	chain::{events, free_balance, general, sign, submit},
	rpc::{from_hex, to_hex},
	wait_for, Node,
};
use opg_primitives::{
	inference::{commitment, ComparisonRule, ExecutionProfile, ModelFormat, RequestStatus, Value},
	worker::WorkerPair,
	ModelId,
};
use opg_runtime::{AccountId, Balance, BlockNumber, RuntimeCall, RuntimeEvent, MILLI_OPG, OPG};
use serde_json::json;
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::Perbill;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);
const WORKERS: [Sr25519Keyring; 3] = [Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave];

fn worker_pair(who: Sr25519Keyring) -> WorkerPair {
	WorkerPair::from_string(&format!("//{who:?}//opg-worker"), None).expect("valid seed")
}

/// The first event at or after block `from` that `pick` accepts, and the block it is in.
fn wait_event<R>(
	node: &Node,
	from: u32,
	what: &str,
	pick: impl Fn(&RuntimeEvent) -> Option<R>,
) -> (R, u32) {
	let rpc = node.rpc();
	let mut next = from;
	wait_for(what, TIMEOUT, || {
		let best = node.best_number()?;
		while next <= best {
			let hash = node.block_hash(next)?;
			if let Some(found) = events(&rpc, &hash).iter().find_map(|r| pick(&r.event)) {
				return Some((found, next));
			}
			next += 1;
		}
		None
	})
}

#[test]
fn committee_verifies_and_settles_a_request_on_a_real_node() {
	let dir = tempfile::tempdir().expect("temp dir");
	let mut node = Node::start("dev", &dir.path().join("dev"), &["--dev".to_string()]);
	node.wait_finalized(1, TIMEOUT);
	let rpc = node.rpc();
	let start = node.best_number().expect("best");

	// Three workers bond 1,000 OPG each and serve the model.
	let model: ModelId = sp_core::H256(sp_io::hashing::blake2_256(b"demo model manifest"));
	for who in WORKERS {
		let call = RuntimeCall::WorkerStaking(pallet_worker_staking::Call::register_worker {
			bond: 1_000 * OPG,
			key: worker_pair(who).public(),
			models: vec![model].try_into().expect("one model"),
			commission: Perbill::from_percent(10),
		});
		submit(&rpc, &sign(&rpc, who, call));
	}
	// Eve registers the model.
	let eve = Sr25519Keyring::Eve;
	let register = RuntimeCall::Inference(pallet_inference::Call::register_model {
		model,
		format: ModelFormat::BertEmbedding,
		architecture: b"bert".to_vec(),
		price: OPG,
		rule: ComparisonRule::Exact,
		profile: ExecutionProfile::Portable,
		uris: vec![b"https://models.invalid/demo".to_vec()],
	});
	submit(&rpc, &sign(&rpc, eve, register));
	let (_, registered_at) = wait_event(&node, start, "model registration", |e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::ModelRegistered { .. }) => Some(()),
		_ => None,
	});
	for who in WORKERS {
		let worker = who.to_account_id();
		wait_event(&node, start, "worker registration", |e| match e {
			RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::WorkerRegistered {
				worker: w,
				..
			}) if *w == worker => Some(()),
			_ => None,
		});
	}
	let settled_base = node.best_number().expect("best");
	let at = node.block_hash(settled_base).expect("hash");
	let eve_before = free_balance(&rpc, &eve.to_account_id(), &at);
	let workers_before: Vec<Balance> =
		WORKERS.iter().map(|w| free_balance(&rpc, &w.to_account_id(), &at)).collect();

	// Ferdie asks for inference with a 2 OPG ceiling.
	let input = Value::Text(b"what is 2 + 2?".to_vec()).encode();
	let request = RuntimeCall::Inference(pallet_inference::Call::request_inference {
		model,
		input: input.clone(),
		max_fee: 2 * OPG,
		seats: None,
	});
	submit(&rpc, &sign(&rpc, Sr25519Keyring::Ferdie, request));
	let (members, drawn_at) = wait_event(&node, registered_at, "the committee draw", |e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::CommitteeDrawn { request: 0, members, .. }) =>
			Some(members.clone()),
		_ => None,
	});
	assert_eq!(members.len(), 3);

	// The runtime API tells each worker what to do.
	let bob_key = worker_pair(Sr25519Keyring::Bob).public();
	let duties = rpc
		.call("state_call", json!(["InferenceApi_assignments", to_hex(&bob_key.encode())]))
		.expect("state_call");
	let duties = Vec::<opg_primitives::inference::Assignment<ModelId, BlockNumber>>::decode(
		&mut &from_hex(duties.as_str().expect("hex"))[..],
	)
	.expect("assignments decode");
	assert_eq!(duties.len(), 1);
	assert_eq!((duties[0].request, duties[0].input.clone()), (0, input.clone()));

	// Every member "runs the model" and commits, then reveals: fee-free general transactions.
	let output = Value::Text(b"4".to_vec()).encode();
	let keyring_of = |a: &AccountId| *WORKERS.iter().find(|w| &w.to_account_id() == a).expect("ours");
	for member in &members {
		let pair = worker_pair(keyring_of(member));
		let c = commitment(&output, member);
		let signature = pair.sign(&pallet_inference::commit_payload(0, 0, &c));
		let call = RuntimeCall::Inference(pallet_inference::Call::commit {
			request: 0,
			round: 0,
			key: pair.public(),
			commitment: c,
			signature,
		});
		submit(&rpc, &general(call));
	}
	wait_event(&node, drawn_at, "the reveal phase", |e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::RevealStarted { request: 0, .. }) => Some(()),
		_ => None,
	});
	for member in &members {
		let pair = worker_pair(keyring_of(member));
		let signature = pair.sign(&pallet_inference::reveal_payload(0, 0, &output));
		let call = RuntimeCall::Inference(pallet_inference::Call::reveal {
			request: 0,
			round: 0,
			key: pair.public(),
			output: output.clone(),
			signature,
		});
		submit(&rpc, &general(call));
	}
	let ((answer, agreeing, paid), settled_at) =
		wait_event(&node, drawn_at, "settlement", |e| match e {
			RuntimeEvent::Inference(pallet_inference::Event::Settled {
				request: 0,
				output,
				agreeing,
				paid,
			}) => Some((output.clone(), agreeing.clone(), *paid)),
			_ => None,
		});
	assert_eq!(answer, output);
	assert_eq!(agreeing.len(), 3);
	// Price 1 OPG + 3 × 0.001 OPG to the members + 5 % to the treasury.
	let work = OPG + 3 * MILLI_OPG;
	assert_eq!(paid, work + Perbill::from_percent(5).mul_ceil(work));

	let at = node.block_hash(settled_at).expect("hash");
	assert_eq!(free_balance(&rpc, &eve.to_account_id(), &at), eve_before + OPG, "owner paid");
	for (who, before) in WORKERS.iter().zip(workers_before) {
		// Commits and reveals cost the members nothing; their rewards wait to be claimed.
		assert_eq!(free_balance(&rpc, &who.to_account_id(), &at), before, "{who:?} paid a fee");
	}

	// Anyone can read the verified answer back.
	let status = rpc
		.call("state_call", json!(["InferenceApi_request_status", to_hex(&0u64.encode())]))
		.expect("state_call");
	let status = RequestStatus::<BlockNumber>::decode(&mut &from_hex(status.as_str().expect("hex"))[..])
		.expect("status decodes");
	assert!(matches!(status, RequestStatus::Settled { output: ref o, .. } if *o == output), "{status:?}");
}
