//! A balance transfer signed here, submitted over RPC to a real `--dev` node, is included and
//! finalized; the sender pays exactly the amount plus the fee the chain reports, the receiver
//! gets exactly the amount, and the fee leaves total issuance (it is burned).

mod common;

use codec::{Decode, Encode};
use common::{
	rpc::{from_hex, to_hex, Client},
	wait_for, Node,
};
use frame_support::storage::storage_prefix;
use opg_runtime::{
	AccountId, Balance, BalancesCall, Runtime, RuntimeCall, RuntimeEvent, SignedPayload,
	TxExtension, UncheckedExtrinsic, OPG,
};
use serde_json::json;
use sp_core::{crypto::Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{generic::Era, MultiAddress, MultiSignature};
use std::time::Duration;

type AccountInfo = frame_system::AccountInfo<u32, pallet_balances::AccountData<Balance>>;
type EventRecord = frame_system::EventRecord<RuntimeEvent, H256>;

const TIMEOUT: Duration = Duration::from_secs(120);

fn storage_at(rpc: &Client, key: &[u8], at: &str) -> Option<Vec<u8>> {
	let value = rpc.call("state_getStorage", json!([to_hex(key), at])).expect("state_getStorage");
	value.as_str().map(from_hex)
}

fn free_balance(rpc: &Client, who: &AccountId, at: &str) -> Balance {
	let key = frame_system::Account::<Runtime>::hashed_key_for(who);
	let raw = storage_at(rpc, &key, at).expect("endowed account exists");
	AccountInfo::decode(&mut &raw[..]).expect("AccountInfo").data.free
}

fn total_issuance(rpc: &Client, at: &str) -> Balance {
	let raw = storage_at(rpc, &storage_prefix(b"Balances", b"TotalIssuance"), at).expect("set");
	Balance::decode(&mut &raw[..]).expect("Balance")
}

fn events(rpc: &Client, at: &str) -> Vec<EventRecord> {
	let raw = storage_at(rpc, &storage_prefix(b"System", b"Events"), at).unwrap_or_default();
	Vec::<EventRecord>::decode(&mut &raw[..]).expect("events decode with this runtime's types")
}

/// Sign `call` as `signer` the way any wallet does, against the node's genesis and version.
fn sign(rpc: &Client, signer: Sr25519Keyring, call: RuntimeCall) -> UncheckedExtrinsic {
	let genesis: H256 = {
		let hash = rpc.call("chain_getBlockHash", json!([0])).expect("genesis hash");
		H256::from_slice(&from_hex(hash.as_str().expect("hash")))
	};
	let version = rpc.call("state_getRuntimeVersion", json!([])).expect("runtime version");
	let spec_version = version["specVersion"].as_u64().expect("specVersion") as u32;
	let tx_version = version["transactionVersion"].as_u64().expect("transactionVersion") as u32;
	let account = signer.to_account_id().to_string();
	let nonce = rpc.call("system_accountNextIndex", json!([account])).expect("nonce");
	let nonce = nonce.as_u64().expect("nonce number") as u32;

	let tx_ext: TxExtension = (
		frame_system::AuthorizeCall::new(),
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(0),
		frame_metadata_hash_extension::CheckMetadataHash::new(false),
		frame_system::WeightReclaim::new(),
	);
	let implicit =
		((), (), spec_version, tx_version, genesis, genesis, (), (), (), None, ());
	let payload = SignedPayload::from_raw(call.clone(), tx_ext.clone(), implicit);
	let signature = payload.using_encoded(|bytes| signer.pair().sign(bytes));
	UncheckedExtrinsic::new_signed(
		call,
		MultiAddress::Id(signer.to_account_id()),
		MultiSignature::Sr25519(signature),
		tx_ext,
	)
}

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
	let alice_before = free_balance(&rpc, &alice, &before);
	let bob_before = free_balance(&rpc, &bob, &before);
	let issuance_before = total_issuance(&rpc, &before);

	let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
		dest: MultiAddress::Id(bob.clone()),
		value: amount,
	});
	let xt = to_hex(&sign(&rpc, Sr25519Keyring::Alice, call).encode());

	// What the fee RPC predicts; the fee actually charged may only be lower (weight refunds).
	let info = rpc.call("payment_queryInfo", json!([xt.clone()])).expect("payment_queryInfo");
	let predicted: Balance = info["partialFee"]
		.as_str()
		.map(|s| s.parse().expect("decimal fee"))
		.or_else(|| info["partialFee"].as_u64().map(Balance::from))
		.expect("partialFee");

	rpc.call("author_submitExtrinsic", json!([xt.clone()])).expect("submitted");

	// Find the block that includes it.
	let first = node.best_number().expect("best");
	let mut scanned = first.saturating_sub(1);
	let (number, hash) = wait_for("the transfer to be included", TIMEOUT, || {
		let best = node.best_number()?;
		while scanned <= best {
			let hash = node.block_hash(scanned)?;
			let block = rpc.call("chain_getBlock", json!([hash])).ok()?;
			let found = block["block"]["extrinsics"]
				.as_array()
				.is_some_and(|xts| xts.iter().any(|x| x.as_str() == Some(xt.as_str())));
			if found {
				return Some((scanned, hash));
			}
			scanned += 1;
		}
		None
	});

	// It is finalized, on the chain every later query reads.
	node.wait_finalized(number, TIMEOUT);
	assert_eq!(node.block_hash(number).as_deref(), Some(hash.as_str()));

	let records = events(&rpc, &hash);
	let fee = records
		.iter()
		.find_map(|r| match &r.event {
			RuntimeEvent::TransactionPayment(
				pallet_transaction_payment::Event::TransactionFeePaid { who, actual_fee, tip },
			) if *who == alice => {
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
	assert_eq!(alice_before - alice_after, amount + fee);
	assert_eq!(bob_after - bob_before, amount);
	assert_eq!(issuance_before - total_issuance(&rpc, &hash), fee, "the fee is burned");
}

#[test]
fn prometheus_exports_block_height() {
	let dir = tempfile::tempdir().expect("temp dir");
	let mut node = Node::start("metrics", &dir.path().join("m"), &["--dev".to_string()]);
	node.wait_finalized(1, TIMEOUT);
	let metrics = wait_for("metrics", TIMEOUT, || {
		use std::io::{Read, Write};
		let mut s = std::net::TcpStream::connect(("127.0.0.1", node.prometheus_port)).ok()?;
		s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
			.ok()?;
		let mut text = String::new();
		s.read_to_string(&mut text).ok()?;
		text.contains("substrate_block_height").then_some(text)
	});
	assert!(metrics.contains("status=\"finalized\""), "no finalized height metric");
}
