//! A balance transfer signed here, submitted over RPC to a real `--dev` node, is included and
//! finalized; the sender pays exactly the amount plus the fee the chain reports, the receiver
//! gets exactly the amount, and the fee goes 80 % to the treasury and the rest to the block's
//! author (Alice, who seals every `--dev` block), credited to her stake as a reward like the one
//! minted for each block she authors: no fee is burned, and issuance grows only by those.

mod common;

use common::{
	chain::{events, free_balance, sign, submit, total_issuance},
	wait_for, Node,
};
use opg_runtime::{Balance, BalancesCall, RuntimeCall, RuntimeEvent, OPG};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use sp_runtime::MultiAddress;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn transfer_is_finalized_and_costs_exactly_amount_plus_fee() {
	let dir = tempfile::tempdir().expect("temp dir");
	let mut node = Node::start("dev", &dir.path().join("dev"), &["--dev".to_string()]);
	node.wait_finalized(1, TIMEOUT);
	let rpc = node.rpc();

	let alice = Sr25519Keyring::Alice.to_account_id();
	let bob = Sr25519Keyring::Bob.to_account_id();
	let amount: Balance = 12_345 * OPG / 1_000;

	let before = rpc.call("chain_getFinalizedHead", json!([])).expect("head");
	let before = before.as_str().expect("hash").to_string();
	let header = rpc.call("chain_getHeader", json!([before])).expect("header");
	let before_number = common::rpc::parse_number(&header["number"]).expect("number");
	let alice_before = free_balance(&rpc, &alice, &before);
	let bob_before = free_balance(&rpc, &bob, &before);
	let issuance_before = total_issuance(&rpc, &before);
	let treasury = opg_runtime::treasury_account();
	let treasury_before = free_balance(&rpc, &treasury, &before);

	let call =
		RuntimeCall::Balances(BalancesCall::transfer_keep_alive { dest: MultiAddress::Id(bob.clone()), value: amount });
	let xt = sign(&rpc, Sr25519Keyring::Alice, call);

	// What the fee RPC predicts; the fee actually charged may only be lower (weight refunds).
	let info = rpc
		.call("payment_queryInfo", json!([common::rpc::to_hex(&codec::Encode::encode(&xt))]))
		.expect("payment_queryInfo");
	let predicted: Balance = info["partialFee"]
		.as_str()
		.map(|s| s.parse().expect("decimal fee"))
		.or_else(|| info["partialFee"].as_u64().map(Balance::from))
		.expect("partialFee");

	let first = node.best_number().expect("best");
	let xt = submit(&rpc, &xt);
	let (number, hash) = common::wait_included(&node, &xt, first, TIMEOUT);

	// It is finalized, on the chain every later query reads.
	node.wait_finalized(number, TIMEOUT);
	assert_eq!(node.block_hash(number).as_deref(), Some(hash.as_str()));

	let records = events(&rpc, &hash);
	let fee = records
		.iter()
		.find_map(|r| match &r.event {
			RuntimeEvent::TransactionPayment(pallet_transaction_payment::Event::TransactionFeePaid {
				who,
				actual_fee,
				tip,
			}) if *who == alice => {
				assert_eq!(*tip, 0);
				Some(*actual_fee)
			},
			_ => None,
		})
		.expect("a TransactionFeePaid event for alice");
	assert!(records.iter().any(|r| matches!(&r.event,
		RuntimeEvent::Balances(pallet_balances::Event::Transfer { from, to, amount: a })
			if *from == alice && *to == bob && *a == amount)));
	assert!(fee > 0, "transfers are not free");
	assert!(fee <= predicted, "charged {fee}, more than the predicted {predicted}");

	let alice_after = free_balance(&rpc, &alice, &hash);
	let bob_after = free_balance(&rpc, &bob, &hash);
	let to_treasury = opg_runtime::fees::FEE_TO_TREASURY.mul_ceil(fee);
	assert_eq!(free_balance(&rpc, &treasury, &hash) - treasury_before, to_treasury, "the treasury's share");
	// Alice sent the transfer and authored its block: she paid the fee, and the author's share
	// of it, like the block's reward, is credited to her stake, not her free balance.
	assert_eq!(alice_before - alice_after, amount + fee);
	let rewards: Vec<Balance> =
		records
			.iter()
			.filter_map(|r| match &r.event {
				RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::AuthorRewarded {
					worker, amount, ..
				}) if *worker == alice => Some(*amount),
				_ => None,
			})
			.collect();
	assert_eq!(rewards, vec![opg_runtime::fees::AUTHOR_REWARD_PER_BLOCK, fee - to_treasury], "block reward, fee share");
	assert_eq!(bob_after - bob_before, amount);
	let blocks = Balance::from(number - before_number);
	assert_eq!(
		total_issuance(&rpc, &hash) - issuance_before,
		blocks * opg_runtime::fees::AUTHOR_REWARD_PER_BLOCK,
		"no fee is burned; each block mints its author's reward"
	);
}

#[test]
fn prometheus_exports_block_height() {
	let dir = tempfile::tempdir().expect("temp dir");
	let mut node = Node::start("metrics", &dir.path().join("m"), &["--dev".to_string()]);
	node.wait_finalized(1, TIMEOUT);
	let metrics = wait_for("metrics", TIMEOUT, || {
		use std::io::{Read, Write};
		let mut s = std::net::TcpStream::connect(("127.0.0.1", node.prometheus_port)).ok()?;
		s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
		let mut text = String::new();
		s.read_to_string(&mut text).ok()?;
		text.contains("substrate_block_height").then_some(text)
	});
	assert!(metrics.contains("status=\"finalized\""), "no finalized height metric");
}
