//! Validators: a node's session keys, offering a worker as a validator, and who validates.

use crate::{
	account::Signer,
	chain::Chain,
	error::{Error, Result},
	runtime::{self, runtime_types::opg_runtime::opaque::SessionKeys},
};
use codec::{Decode, Encode};
use subxt::utils::AccountId32;

/// Session keys a node generated, and its proof that it holds them for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKeys {
	/// The SCALE-encoded session keys (BABE, GRANDPA, im-online), as `author_rotateKeys` returns them.
	pub keys: Vec<u8>,
	/// Each key's signature of the owner account: what `Session::set_keys` checks.
	pub proof: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct RotatedKeys {
	keys: String,
	proof: Option<String>,
}

fn from_hex(what: &str, text: &str) -> Result<Vec<u8>> {
	hex::decode(text.trim_start_matches("0x")).map_err(|e| Error::Input(format!("{what} is not hex: {e}")))
}

impl GeneratedKeys {
	/// Keys and proof written down as hex (`0x…`), e.g. from an offline node's RPC answer.
	pub fn from_hex(keys: &str, proof: &str) -> Result<Self> {
		Ok(Self { keys: from_hex("the session keys", keys)?, proof: from_hex("the proof", proof)? })
	}
}

/// Ask the connected node to generate new session keys into its keystore, with a proof that
/// they belong to `owner` (`author_rotateKeysWithOwner`, an unsafe RPC method: the node must
/// be the validator's own, reached on a local or otherwise trusted port).
pub async fn rotate_keys(chain: &Chain, owner: &AccountId32) -> Result<GeneratedKeys> {
	let mut params = subxt::rpcs::client::RpcParams::new();
	params.push(format!("0x{}", hex::encode(owner.encode()))).map_err(|e| Error::Input(format!("owner: {e}")))?;
	let rotated: RotatedKeys = chain.raw.request("author_rotateKeysWithOwner", params).await.map_err(|e| {
		Error::Refused(format!(
			"the node at {} did not generate session keys ({e}); it must allow unsafe RPC methods",
			chain.url
		))
	})?;
	let proof = rotated.proof.ok_or_else(|| Error::Chain("the node's runtime gave no ownership proof".into()))?;
	Ok(GeneratedKeys { keys: from_hex("the session keys", &rotated.keys)?, proof: from_hex("the proof", &proof)? })
}

/// Register `keys` as the signer's session keys (`Session::set_keys`): queued at the next
/// session boundary, in force from the one after.
pub async fn set_keys(chain: &Chain, signer: &Signer, keys: &GeneratedKeys) -> Result<u64> {
	let session_keys = SessionKeys::decode(&mut &keys.keys[..])
		.map_err(|e| Error::Input(format!("not this chain's session keys (BABE, GRANDPA, im-online): {e}")))?;
	let call = runtime::transactions().session().set_keys(session_keys, keys.proof.clone());
	Ok(chain.submit(&call, signer).await?.block_number)
}

/// Offer the signer's worker as a validator: a session boundary that ranks its stake among the
/// largest chooses it for the session after.
pub async fn validate(chain: &Chain, signer: &Signer) -> Result<u64> {
	Ok(chain.submit(&runtime::transactions().worker_staking().validate(), signer).await?.block_number)
}

/// Stop offering the signer's worker as a validator.
pub async fn chill(chain: &Chain, signer: &Signer) -> Result<u64> {
	Ok(chain.submit(&runtime::transactions().worker_staking().chill(), signer).await?.block_number)
}

/// Who validates now, who offers to, and the session index, at the best block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
	pub session: u32,
	pub validators: Vec<AccountId32>,
	pub candidates: Vec<AccountId32>,
}

pub async fn validator_set(chain: &Chain) -> Result<ValidatorSet> {
	let at = chain.at_best().await?;
	let storage = at.storage();
	let session = storage.try_fetch(runtime::storage().session().current_index(), ()).await?;
	let validators = storage.try_fetch(runtime::storage().session().validators(), ()).await?;
	let candidates = storage.try_fetch(runtime::storage().worker_staking().validator_candidates(), ()).await?;
	Ok(ValidatorSet {
		session: session.map(|v| v.decode()).transpose()?.unwrap_or_default(),
		validators: validators.map(|v| v.decode()).transpose()?.unwrap_or_default(),
		candidates: candidates.map(|v| v.decode()).transpose()?.map(|b| b.0).unwrap_or_default(),
	})
}
