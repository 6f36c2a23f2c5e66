//! Reading chain state and building extrinsics with the runtime's own types, over RPC.

use super::rpc::{from_hex, to_hex, Client};
use codec::{Decode, Encode};
use frame_support::storage::storage_prefix;
use opg_runtime::{AccountId, Balance, Runtime, RuntimeCall, RuntimeEvent, SignedPayload, UncheckedExtrinsic};
use serde_json::json;
use sp_core::{crypto::Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{MultiAddress, MultiSignature};

pub type AccountInfo = frame_system::AccountInfo<u32, pallet_balances::AccountData<Balance>>;
pub type EventRecord = frame_system::EventRecord<RuntimeEvent, H256>;

pub fn storage_at(rpc: &Client, key: &[u8], at: &str) -> Option<Vec<u8>> {
	let value = rpc.call("state_getStorage", json!([to_hex(key), at])).expect("state_getStorage");
	value.as_str().map(from_hex)
}

pub fn account(rpc: &Client, who: &AccountId, at: &str) -> AccountInfo {
	let key = frame_system::Account::<Runtime>::hashed_key_for(who);
	let raw = storage_at(rpc, &key, at).expect("account exists");
	AccountInfo::decode(&mut &raw[..]).expect("AccountInfo")
}

pub fn free_balance(rpc: &Client, who: &AccountId, at: &str) -> Balance {
	account(rpc, who, at).data.free
}

pub fn total_issuance(rpc: &Client, at: &str) -> Balance {
	let raw = storage_at(rpc, &storage_prefix(b"Balances", b"TotalIssuance"), at).expect("set");
	Balance::decode(&mut &raw[..]).expect("Balance")
}

pub fn events(rpc: &Client, at: &str) -> Vec<EventRecord> {
	// No events at all (genesis) is no storage entry.
	let Some(raw) = storage_at(rpc, &storage_prefix(b"System", b"Events"), at) else { return Vec::new() };
	Vec::<EventRecord>::decode(&mut &raw[..]).expect("events decode with this runtime's types")
}

/// What signing needs from the chain: genesis hash, spec and transaction versions.
pub struct SigningContext {
	genesis: H256,
	spec_version: u32,
	tx_version: u32,
}

impl SigningContext {
	pub fn fetch(rpc: &Client) -> Self {
		let hash = rpc.call("chain_getBlockHash", json!([0])).expect("genesis hash");
		let genesis = H256::from_slice(&from_hex(hash.as_str().expect("hash")));
		let version = rpc.call("state_getRuntimeVersion", json!([])).expect("runtime version");
		let spec_version = version["specVersion"].as_u64().expect("specVersion") as u32;
		let tx_version = version["transactionVersion"].as_u64().expect("transactionVersion") as u32;
		Self { genesis, spec_version, tx_version }
	}

	/// Sign `call` as `signer` with an explicit nonce (for many transactions in a row).
	pub fn sign(&self, signer: Sr25519Keyring, nonce: u32, call: RuntimeCall) -> UncheckedExtrinsic {
		let tx_ext = opg_runtime::transaction_extensions(nonce);
		let implicit = ((), (), self.spec_version, self.tx_version, self.genesis, self.genesis, (), (), (), None, ());
		let payload = SignedPayload::from_raw(call.clone(), tx_ext.clone(), implicit);
		let signature = payload.using_encoded(|bytes| signer.pair().sign(bytes));
		UncheckedExtrinsic::new_signed(
			call,
			MultiAddress::Id(signer.to_account_id()),
			MultiSignature::Sr25519(signature),
			tx_ext,
		)
	}
}

/// The next nonce of `who`, counting transactions in the pool.
pub fn next_nonce(rpc: &Client, who: &AccountId) -> u32 {
	let nonce = rpc.call("system_accountNextIndex", json!([who.to_string()])).expect("nonce");
	nonce.as_u64().expect("nonce number") as u32
}

/// Sign `call` as `signer` the way any wallet does, against the node's genesis and version.
pub fn sign(rpc: &Client, signer: Sr25519Keyring, call: RuntimeCall) -> UncheckedExtrinsic {
	SigningContext::fetch(rpc).sign(signer, next_nonce(rpc, &signer.to_account_id()), call)
}

/// A general (unsigned-origin) transaction: its call authorizes itself.
pub fn general(call: RuntimeCall) -> UncheckedExtrinsic {
	opg_runtime::general_transaction(call)
}

/// Submit an extrinsic; returns its hex, which identifies it in blocks.
pub fn submit(rpc: &Client, xt: &UncheckedExtrinsic) -> String {
	let hex = to_hex(&xt.encode());
	rpc.call("author_submitExtrinsic", json!([hex.clone()])).expect("extrinsic accepted by the pool");
	hex
}
