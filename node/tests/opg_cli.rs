//! The `opg` client against a real `--dev` node with its workers: models registered with
//! `opg model register`, requests sent and followed with `opg infer --wait`, answers read back
//! with `opg request show` and checked with `opg verify` — which says *verified* for the settled
//! request and *mismatch* for a bundle with one weight changed. Every failure a user can cause
//! (unknown model, max fee under the quote, a malformed input file, no funds, no node) is one
//! clear sentence and a non-zero exit, and leaves nothing held.

mod common;

use codec::Encode;
use common::{
	chain::account,
	free_port,
	models::{engine_answer, onnx_mlp, tiny_llama, Bundle, FileServer},
	opg::Opg,
	rpc::to_hex,
	Node,
};
use opg_engine::{testmodels, Answer, ExecutionProfile, Value};
use serde_json::{json, Value as Json};
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

fn hex_id(bundle: &Bundle) -> String {
	to_hex(&bundle.id.0)
}

fn answer_hex(answer: &Answer) -> String {
	match answer {
		Answer::Output(bytes) => to_hex(bytes).trim_start_matches("0x").to_string(),
		other => panic!("the model refuses the test input: {other:?}"),
	}
}

#[test]
fn opg_requests_follows_shows_and_verifies_inference_and_explains_every_refusal() {
	let dir = tempfile::tempdir().expect("temp dir");
	let published = dir.path().join("published");
	std::fs::create_dir_all(&published).expect("dir");
	let (mlp, llama) = (onnx_mlp(&published), tiny_llama(&published));
	let perturbed = dir.path().join("perturbed-mlp");
	testmodels::write_onnx_mlp_perturbed(&perturbed).expect("perturbed MLP written");
	let server = FileServer::start(&published);

	let mut node = Node::start("dev", &dir.path().join("dev"), &["--dev".to_string()]);
	node.wait_finalized(1, Duration::from_secs(60));
	let opg = Opg { url: format!("ws://127.0.0.1:{}", node.rpc_port) };

	// The owner registers both demo models from their bundles; the dev chain's workers serve them.
	for (bundle, file) in [(&mlp, "onnx-mlp.tar"), (&llama, "tiny-llama.tar")] {
		let url = server.url(file);
		let bundle_dir = bundle.dir.to_str().expect("utf-8 path");
		let registered = opg.json(&["model", "register", bundle_dir, "--uri", &url, "--price", "1", "--suri", "//Eve"]);
		assert_eq!(registered["model"], hex_id(bundle));
		assert_eq!(registered["rule"], "Exact");
	}
	// Bundling an exported file gives the registered id; importing fetches and checks a bundle.
	let rebundled = dir.path().join("rebundled-mlp");
	let made =
		opg.json(&["model", "bundle", mlp.dir.join("model.onnx").to_str().unwrap(), rebundled.to_str().unwrap()]);
	assert_eq!(made["model"], hex_id(&mlp));
	let local_store = dir.path().join("local-store");
	let imported =
		opg.json(&["model", "import", &server.url("tiny-llama.tar"), "--store", local_store.to_str().unwrap()]);
	assert_eq!(imported["model"], hex_id(&llama));
	opg.fails(&["model", "bundle", "/nonexistent/model.onnx", rebundled.to_str().unwrap()], 1, "does not exist");
	opg.fails(&["model", "import", &server.url("missing.tar"), "--store", local_store.to_str().unwrap()], 1, "404");
	let listed = opg.json(&["model", "list"]);
	let ids: Vec<&str> =
		listed["models"].as_array().expect("models").iter().map(|m| m["model"].as_str().unwrap()).collect();
	assert!(ids.contains(&hex_id(&mlp).as_str()) && ids.contains(&hex_id(&llama).as_str()), "{listed}");
	let shown = opg.json(&["model", "show", &hex_id(&mlp)]);
	assert_eq!((shown["format"].as_str(), shown["profile"].as_str()), (Some("Onnx"), Some("Portable")));
	assert_eq!(shown["uris"], json!([server.url("onnx-mlp.tar")]));

	// A tensor request, followed to its end: the output is the engine's own, bit for bit.
	let input = testmodels::golden_mlp_input();
	let Value::F32 { shape, bits } = &input else { unreachable!("the MLP input is a tensor") };
	let input_file = dir.path().join("mlp-input.json");
	let data: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
	std::fs::write(&input_file, json!({ "F32": { "shape": shape, "data": data } }).to_string()).expect("input file");
	let expected = answer_hex(&engine_answer(&mlp, ExecutionProfile::Portable, &input.encode()));
	let infer = opg.json(&[
		"infer",
		"--model",
		&hex_id(&mlp),
		"--input-json",
		input_file.to_str().unwrap(),
		"--wait",
		"--suri",
		"//Ferdie",
	]);
	assert_eq!(infer["status"], "settled", "{infer}");
	let deposit =
		<<opg_runtime::Runtime as pallet_inference::Config>::RequestDeposit as frame_support::traits::Get<u128>>::get();
	assert_eq!(
		(infer["deposit"].as_str(), infer["queue_fee"].as_str()),
		(Some(deposit.to_string().as_str()), Some("0"))
	);
	assert_eq!(infer["output_hex"], expected);
	assert_eq!(infer["output"]["F32"]["shape"], json!([4, 10]));
	assert_eq!(infer["agreeing"].as_array().map(Vec::len), Some(3));
	let request = infer["request"].as_u64().expect("request id");
	let request_arg = request.to_string();

	let shown = opg.json(&["request", "show", &request_arg]);
	assert_eq!((shown["status"].as_str(), shown["output_hex"].as_str()), (Some("settled"), Some(expected.as_str())));

	// A stranger checks it: fetches the model by its id from its URI and re-runs it.
	let store = dir.path().join("verifier-store");
	let verified = opg.json(&["verify", &request_arg, "--store", store.to_str().unwrap()]);
	assert_eq!(verified["verified"], true, "{verified}");
	assert_eq!(verified["local"]["output_hex"], expected);
	// A bundle one weight away from the model computes another answer: mismatch, exit 3.
	let run = opg.run(&["verify", &request_arg, "--bundle", perturbed.to_str().unwrap(), "--json"]);
	assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
	let mismatch: Json = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
	assert_eq!((mismatch["verified"].as_bool(), mismatch["answers_agree"].as_bool()), (Some(false), Some(false)));
	let text = opg.run(&["verify", &request_arg, "--bundle", perturbed.to_str().unwrap()]);
	assert!(text.code == 3 && text.stdout.contains("mismatch:"), "{}", text.stdout);

	// The text interface: a language model's generated tokens, phase by phase.
	let prompt = "1,2,3,4";
	let run = opg.run(&["infer", "--model", &hex_id(&llama), "--tokens", prompt, "--wait", "--suri", "//Ferdie"]);
	assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
	for step in [
		"quote:",
		"included in block",
		"committee drawn",
		"commits 3/3",
		"reveals 3/3",
		"settled in block",
		"token ids",
	] {
		assert!(run.stdout.contains(step), "`opg infer` printed no {step:?}:\n{}", run.stdout);
	}
	let llama_request = run
		.stdout
		.lines()
		.find_map(|l| l.strip_prefix("request ").and_then(|r| r.split_whitespace().next()))
		.expect("request line")
		.to_string();
	assert_eq!(opg.json(&["verify", &llama_request, "--store", store.to_str().unwrap()])["verified"], true);

	// Refusals: one sentence each, exit 1, nothing sent.
	let mlp_id = hex_id(&mlp);
	let file = input_file.to_str().unwrap();
	let unknown = "0x".to_string() + &"11".repeat(32);
	opg.fails(&["infer", "--model", &unknown, "--text", "hi", "--suri", "//Ferdie"], 1, "no model is registered under");
	opg.fails(
		&["infer", "--model", &mlp_id, "--input-json", file, "--max-fee", "0.5", "--suri", "//Ferdie"],
		1,
		"max fee 0.5 OPG is below the quote",
	);
	let malformed = dir.path().join("malformed.json");
	std::fs::write(&malformed, "{\"F32\": {\"shape\": [4, 256], \"data\": [0.5]}}").expect("file");
	opg.fails(
		&["infer", "--model", &mlp_id, "--input-json", malformed.to_str().unwrap(), "--suri", "//Ferdie"],
		1,
		"does not hold its 1 values",
	);
	std::fs::write(&malformed, "not json").expect("file");
	opg.fails(
		&["infer", "--model", &mlp_id, "--input-json", malformed.to_str().unwrap(), "--suri", "//Ferdie"],
		1,
		"is not an input",
	);
	opg.fails(&["infer", "--model", &mlp_id, "--input-json", file, "--suri", "//Nobody"], 1, "plus the max fee");
	opg.fails(&["infer", "--model", &mlp_id], 1, "required arguments were not provided");
	opg.fails(&["infer", "--model", &mlp_id, "--input-json", file], 1, "no account given");
	opg.fails(&["request", "show", "9999"], 1, "no request 9999");
	opg.fails(&["verify", "9999"], 1, "keeps no settled answer for request 9999");
	let down = format!("ws://127.0.0.1:{}", free_port());
	opg.fails(
		&["infer", "--model", &mlp_id, "--input-json", file, "--suri", "//Ferdie", "--url", &down],
		1,
		"cannot reach the node",
	);
	opg.fails(&["model", "list", "--url", &down], 1, "cannot reach the node");

	// Once the model is retired the chain lists no URIs for it, but the result keeps the input's
	// place, the profile and the rule: anyone holding the bundle still checks the answer.
	opg.json(&["model", "retire", &mlp_id, "--suri", "//Eve"]);
	let fresh_store = dir.path().join("fresh-store");
	opg.fails(&["verify", &request_arg, "--store", fresh_store.to_str().unwrap()], 1, "is retired");
	let verified = opg.json(&["verify", &request_arg, "--bundle", mlp.dir.to_str().unwrap()]);
	assert_eq!(verified["verified"], true, "{verified}");

	// Nothing is held afterwards but the storage deposits of the two answers still kept, and no
	// request is left open.
	let rpc = node.rpc();
	let best = node.block_hash(node.best_number().expect("best")).expect("hash");
	let deposit =
		<<opg_runtime::Runtime as pallet_inference::Config>::RequestDeposit as frame_support::traits::Get<u128>>::get();
	assert_eq!(account(&rpc, &Sr25519Keyring::Ferdie.to_account_id(), &best).data.reserved, 2 * deposit);
	assert_eq!(opg.json(&["request", "list"])["requests"], json!([]));
}

/// `opg worker …`, `opg stake …`, `opg model update | retire` and `opg balance`: each success
/// path moves exactly what it says, and each refusal is the chain's own reason in one sentence.
#[test]
fn opg_runs_workers_backs_them_and_manages_models() {
	let dir = tempfile::tempdir().expect("temp dir");
	let published = dir.path().join("published");
	std::fs::create_dir_all(&published).expect("dir");
	let mlp = onnx_mlp(&published);
	let mut node = Node::start("dev", &dir.path().join("dev"), &["--dev".to_string()]);
	node.wait_finalized(1, Duration::from_secs(60));
	let opg = Opg { url: format!("ws://127.0.0.1:{}", node.rpc_port) };
	const OPG: u128 = 1_000_000_000_000_000_000;
	let amount = |v: &Json| v.as_str().and_then(|s| s.parse::<u128>().ok()).expect("an amount as a decimal string");

	// A genesis worker, as anyone reads it.
	let alice = Sr25519Keyring::Alice.to_account_id().to_string();
	let worker = opg.json(&["worker", "show", &alice]);
	assert_eq!((worker["status"].as_str(), worker["models"].as_array().map(Vec::len)), (Some("active"), Some(3)));

	// Ferdie backs Alice, takes part of it back, and has nothing to withdraw yet; Alice authors
	// every block of the dev chain, so her backers share her author rewards from the next one.
	let before = amount(&opg.json(&["balance", "--suri", "//Ferdie"])["held"]);
	opg.json(&["stake", "delegate", &alice, "100", "--suri", "//Ferdie"]);
	assert_eq!(amount(&opg.json(&["balance", "--suri", "//Ferdie"])["held"]), before + 100 * OPG);
	opg.json(&["stake", "unbond", "40", "--worker", &alice, "--suri", "//Ferdie"]);
	let position = &opg.json(&["stake", "show", "--suri", "//Ferdie"])["delegations"][0];
	assert_eq!(position["worker"], alice);
	assert_eq!((amount(&position["active"]), amount(&position["unbonding"][0]["amount"])), (60 * OPG, 40 * OPG));
	assert_eq!(amount(&opg.json(&["worker", "show", &alice])["delegated"]), 60 * OPG);
	opg.fails(&["stake", "withdraw", "--worker", &alice, "--suri", "//Ferdie"], 1, "WorkerStaking.NothingToWithdraw");
	let claimable = amount(&opg.json(&["stake", "show", "--suri", "//Ferdie"])["delegations"][0]["claimable"]);
	assert!(claimable > 0, "Ferdie's share of Alice's author rewards");
	opg.json(&["stake", "claim", "--worker", &alice, "--suri", "//Ferdie"]);
	// Bob authors no block and has served no request: his backer has nothing to claim.
	let bob = Sr25519Keyring::Bob.to_account_id().to_string();
	opg.json(&["stake", "delegate", &bob, "10", "--suri", "//Eve"]);
	opg.fails(&["stake", "claim", "--worker", &bob, "--suri", "//Eve"], 1, "WorkerStaking.NothingToClaim");
	opg.fails(&["stake", "delegate", &alice, "0.5", "--suri", "//Eve"], 1, "WorkerStaking.DelegationTooLow");
	opg.fails(&["stake", "delegate", &alice, "5000000", "--suri", "//Ferdie"], 1, "WorkerStaking.InsufficientBalance");
	opg.fails(&["stake", "delegate", "not-an-address", "1", "--suri", "//Ferdie"], 1, "is not an SS58 address");

	// Dave becomes a worker, serves the MLP, bonds more, unbonds some, and leaves.
	let key_suri = "//Dave//opg-worker";
	let key = {
		use sp_core::Pair;
		let public = sp_core::sr25519::Pair::from_string(key_suri, None).expect("a key URI").public();
		format!("0x{}", public.0.iter().map(|b| format!("{b:02x}")).collect::<String>())
	};
	let mlp_id = hex_id(&mlp);
	// Nobody can hold a place among a model's workers before the model exists.
	opg.fails(
		&["worker", "register", "--bond", "100", "--key-suri", key_suri, "--model", &mlp_id, "--suri", "//Dave"],
		1,
		"WorkerStaking.UnknownModel",
	);
	let url = "http://127.0.0.1:9/onnx-mlp.tar";
	opg.json(&["model", "register", mlp.dir.to_str().unwrap(), "--uri", url, "--price", "1", "--suri", "//Eve"]);
	// Alice's worker key is taken; a key Dave does not hold cannot be registered with a made-up
	// proof (nobody can front-run a registration with a key it saw).
	opg.fails(
		&[
			"worker",
			"register",
			"--bond",
			"100",
			"--key-suri",
			"//Alice//opg-worker",
			"--model",
			&mlp_id,
			"--suri",
			"//Dave",
		],
		1,
		"WorkerStaking.KeyInUse",
	);
	assert_eq!(worker["key"].as_str().map(str::len), Some(66));
	let made_up = format!("0x{}", "07".repeat(64));
	opg.fails(
		&[
			"worker", "register", "--bond", "100", "--key", &key, "--proof", &made_up, "--model", &mlp_id, "--suri",
			"//Eve",
		],
		1,
		"WorkerStaking.BadKeyProof",
	);
	opg.fails(&["worker", "register", "--bond", "100", "--key", &key, "--suri", "//Dave"], 1, "required arguments");
	opg.fails(
		&["worker", "register", "--bond", "1", "--key-suri", key_suri, "--model", &mlp_id, "--suri", "//Dave"],
		1,
		"WorkerStaking.BondTooLow",
	);
	opg.json(&[
		"worker",
		"register",
		"--bond",
		"100",
		"--key-suri",
		key_suri,
		"--model",
		&mlp_id,
		"--commission",
		"5",
		"--suri",
		"//Dave",
	]);
	let dave = opg.json(&["worker", "show", "--suri", "//Dave"]);
	assert_eq!((dave["key"].as_str(), dave["commission_percent"].as_f64()), (Some(key.as_str()), Some(5.0)));
	assert_eq!(dave["models"], json!([mlp_id]));
	// Closed, it takes no new backers; a commission rise waits a day; a backer can be sent away
	// and released by anyone once its unbonding ends.
	let dave_account = Sr25519Keyring::Dave.to_account_id().to_string();
	opg.json(&["worker", "close", "--suri", "//Dave"]);
	opg.fails(&["stake", "delegate", &dave_account, "1", "--suri", "//Ferdie"], 1, "WorkerStaking.ClosedToDelegations");
	opg.json(&["worker", "open", "--suri", "//Dave"]);
	opg.json(&["stake", "delegate", &dave_account, "1", "--suri", "//Ferdie"]);
	opg.json(&["worker", "serve", "--model", &mlp_id, "--commission", "20", "--suri", "//Dave"]);
	let dave = opg.json(&["worker", "show", "--suri", "//Dave"]);
	assert_eq!(
		(
			dave["commission_percent"].as_f64(),
			dave["pending_commission"]["percent"].as_f64(),
			dave["open_to_delegations"].as_bool()
		),
		(Some(5.0), Some(20.0), Some(true)),
		"{dave}"
	);
	let ferdie = Sr25519Keyring::Ferdie.to_account_id().to_string();
	opg.json(&["worker", "kick", &ferdie, "--suri", "//Dave"]);
	opg.fails(
		&["stake", "release", &dave_account, "--staker", &ferdie, "--suri", "//Eve"],
		1,
		"WorkerStaking.NothingToRelease",
	);
	opg.json(&["stake", "bond", "20", "--suri", "//Dave"]);
	opg.json(&["stake", "unbond", "10", "--suri", "//Dave"]);
	opg.fails(&["stake", "unbond", "100", "--suri", "//Dave"], 1, "WorkerStaking.");
	opg.json(&["worker", "serve", "--suri", "//Dave"]);
	let dave = opg.json(&["worker", "show", "--suri", "//Dave"]);
	assert_eq!((dave["models"].clone(), dave["commission_percent"].as_f64()), (json!([]), Some(5.0)));
	let own = &opg.json(&["stake", "show", "--suri", "//Dave"])["worker"]["own"];
	assert_eq!((amount(&own["active"]), amount(&own["unbonding"][0]["amount"])), (110 * OPG, 10 * OPG));
	opg.json(&["worker", "leave", "--suri", "//Dave"]);
	assert_eq!(opg.json(&["worker", "show", "--suri", "//Dave"])["status"], "leaving");
	opg.fails(&["worker", "leave", "--suri", "//Dave"], 1, "WorkerStaking.AlreadyLeaving");
	opg.fails(&["worker", "show", "--suri", "//Ferdie"], 1, "is not a worker");

	// Bob, a genesis worker, has the node generate session keys for him and offers to validate;
	// the dev chain keeps its one validator (fewer candidates than the minimum of four).
	let shown = opg.json(&["validator", "show"]);
	assert_eq!(shown["validators"], json!([alice]), "{shown}");
	assert_eq!(shown["candidates"], json!([alice]), "{shown}");
	opg.fails(&["validator", "validate", "--suri", "//Bob"], 1, "WorkerStaking.NoSessionKeys");
	let keys = opg.json(&["validator", "set-keys", "--rotate", "--suri", "//Bob"]);
	assert_eq!(keys["keys"].as_str().map(str::len), Some(2 + 192), "BABE, GRANDPA and im-online keys: {keys}");
	opg.json(&["validator", "validate", "--suri", "//Bob"]);
	opg.fails(&["validator", "validate", "--suri", "//Bob"], 1, "WorkerStaking.AlreadyCandidate");
	let bob = Sr25519Keyring::Bob.to_account_id().to_string();
	assert_eq!(opg.json(&["validator", "show"])["candidates"], json!([alice, bob]));
	// Only a worker may set session keys, and only with a proof made for its own account.
	opg.fails(&["validator", "set-keys", "--rotate", "--suri", "//Ferdie"], 1, "Session.");
	let bobs = keys["keys"].as_str().expect("keys");
	opg.fails(
		&["validator", "set-keys", "--keys", bobs, "--proof", "0x00", "--suri", "//Charlie"],
		1,
		"Session.InvalidProof",
	);
	opg.json(&["validator", "chill", "--suri", "//Bob"]);
	opg.fails(&["validator", "chill", "--suri", "//Bob"], 1, "WorkerStaking.NotCandidate");

	// A model's owner reprices and retires it; nobody else may.
	let held = amount(&opg.json(&["balance", "--suri", "//Eve"])["held"]);
	opg.fails(&["model", "update", &mlp_id, "--price", "2", "--suri", "//Ferdie"], 1, "Inference.NotOwner");
	opg.json(&["model", "update", &mlp_id, "--price", "2.5", "--suri", "//Eve"]);
	let shown = opg.json(&["model", "show", &mlp_id]);
	assert_eq!((amount(&shown["price"]), shown["uris"].clone()), (5 * OPG / 2, json!([url])));
	opg.fails(&["model", "retire", &mlp_id, "--suri", "//Ferdie"], 1, "Inference.NotOwner");
	opg.json(&["model", "retire", &mlp_id, "--suri", "//Eve"]);
	assert!(amount(&opg.json(&["balance", "--suri", "//Eve"])["held"]) < held, "the deposit is released");
	opg.fails(&["model", "show", &mlp_id], 1, "no model is registered under");
	assert_eq!(opg.json(&["model", "id", mlp.dir.to_str().unwrap()])["model"], mlp_id);
}
