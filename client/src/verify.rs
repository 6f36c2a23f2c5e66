//! `opg verify`: re-run a settled request's model on its input and check the chain's answer.
//!
//! Everything comes from the chain — the settled answer, the profile it was computed in and the
//! rule it was judged by (`Inference::Results`), the input (the `request_inference` transaction
//! the result points at, read from that block's body, so no old state is needed) — except the
//! model itself, which is fetched by its id from the URIs it is registered with (every file
//! checked against the id) or taken from a local bundle.

use crate::{
	chain::Chain,
	convert,
	error::{Error, Result},
	inference::hex_id,
	runtime::{self, inference::events as ev},
};
use opg_engine::{Model, ModelStore};
use opg_primitives::inference::{answers_agree, Answer, ComparisonRule, ExecutionProfile, ModelInfo};
use std::path::Path;
use subxt::{events::Phase, utils::H256};

/// How far before its settlement `verify` looks for a request's inclusion: the draw wait plus
/// two rounds of commit and reveal windows are far shorter.
const SEARCH_BLOCKS: u64 = 2_000;

/// Largest bundle `verify` downloads.
pub const MAX_BUNDLE_BYTES: u64 = 16 << 30;

/// A settled request as the chain records it.
#[derive(Debug, Clone)]
pub struct Settled {
	pub request: u64,
	pub model: H256,
	pub answer: Answer,
	pub settled_block: u64,
	pub requested_block: u64,
	pub input: Vec<u8>,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	pub uris: Vec<String>,
}

/// The outcome of re-running a request.
#[derive(Debug, Clone)]
pub struct Verification {
	pub settled: Settled,
	/// The id of the bundle that was run.
	pub bundle: [u8; 32],
	pub local: Answer,
	pub answers_agree: bool,
}

impl Verification {
	/// The bundle run is the registered model, and its answer is the chain's under the model's rule.
	pub fn verified(&self) -> bool {
		self.model_matches() && self.answers_agree
	}

	pub fn model_matches(&self) -> bool {
		self.bundle == self.settled.model.0
	}
}

/// Read what the chain settled for request `id`, and the input it was asked.
pub async fn settled(chain: &Chain, id: u64) -> Result<Settled> {
	let at = chain.at_best().await?;
	let Some(result) = at.storage().try_fetch(runtime::storage().inference().results(), (id,)).await? else {
		if at.storage().try_fetch(runtime::storage().inference().requests(), (id,)).await?.is_some() {
			return Err(Error::NotFound(format!("request {id} is still open: verify it once it has settled")));
		}
		return Err(Error::NotFound(format!(
			"the chain keeps no settled answer for request {id} (no such request, it ended without one, or it was pruned after the retention window)"
		)));
	};
	let result = result.decode()?;
	let answer = crate::models::stored_answer(result.answer)?;
	let settled_block = u64::from(result.settled);
	// Where to fetch the model from, while it is registered (a retired one needs `--bundle`).
	let uris = match at.runtime_apis().call(runtime::runtime_apis().inference_api().model(result.model)).await? {
		Some(info) => {
			let info: ModelInfo<opg_primitives::AccountId, u128> = convert(&info)?;
			info.uris.iter().map(|u| String::from_utf8_lossy(u).into_owned()).collect()
		},
		None => Vec::new(),
	};
	let (requested_block, input) = match result.requested {
		Some(inclusion) => read_input(chain, &at, id, inclusion.block.into(), inclusion.index).await?,
		None => find_input(chain, id, settled_block).await?,
	};
	Ok(Settled {
		request: id,
		model: result.model,
		answer,
		settled_block,
		requested_block,
		input,
		rule: convert(&result.rule)?,
		profile: convert(&result.profile)?,
		uris,
	})
}

/// The input of the request transaction at `index` in block `number`, read from the block's
/// body (kept by every node, unlike old state) and decoded with the current metadata.
async fn read_input(
	chain: &Chain,
	at: &crate::chain::AtBlock,
	id: u64,
	number: u64,
	index: u32,
) -> Result<(u64, Vec<u8>)> {
	let missing = || Error::NotFound(format!("the node does not hold block #{number}, which holds request {id}"));
	let hash = chain.rpc.chain_get_block_hash(Some(number.into())).await?.ok_or_else(missing)?;
	let block = chain.rpc.chain_get_block(Some(hash)).await?.ok_or_else(missing)?;
	let raw = block.block.extrinsics.into_iter().nth(index as usize).ok_or_else(|| {
		Error::Chain(format!("block #{number} has no transaction {index}, where request {id} was recorded"))
	})?;
	let extrinsics = at.extrinsics().from_bytes(vec![raw.0]).await;
	let not_a_request =
		|| Error::Chain(format!("transaction {index} of block #{number} is not request {id}'s request_inference"));
	let extrinsic = extrinsics.iter().next().ok_or_else(not_a_request)??;
	if (extrinsic.pallet_name(), extrinsic.call_name()) != ("Inference", "request_inference") {
		// The chain records the outer transaction: a request made through another call (e.g.
		// `sudo_as`) cannot be read back from it.
		return Err(not_a_request());
	}
	let input = match extrinsic.decode_call_data_fields_as::<runtime::inference::calls::RequestInference>() {
		Some(Ok(call)) => codec::Encode::encode(&call.input),
		// The metadata may describe a later version of the call: its fields are the model's id
		// and the value.
		_ => {
			let (_, value): (H256, opg_primitives::inference::Value) =
				codec::Decode::decode(&mut extrinsic.call_data_field_bytes()).map_err(|_| not_a_request())?;
			codec::Encode::encode(&value)
		},
	};
	Ok((number, input))
}

/// The block that included request `id` and the input it carried, searching back from the
/// block it settled in: for results settled before the chain recorded where the request is,
/// made when the call's input was still bytes (storage version 1), which the current metadata
/// no longer describes.
async fn find_input(chain: &Chain, id: u64, settled: u64) -> Result<(u64, Vec<u8>)> {
	let pruned = |number: u64, e: Error| {
		Error::NotFound(format!(
			"the node no longer holds the state of block #{number} ({e}); ask a node started with --state-pruning archive"
		))
	};
	for number in (settled.saturating_sub(SEARCH_BLOCKS)..=settled).rev() {
		let at = chain.at_number(number).await.map_err(|e| pruned(number, e))?;
		let events = at.events().fetch().await.map_err(|e| pruned(number, e.into()))?;
		for event in events.iter() {
			let event = event?;
			let Some(requested) = event.decode_fields_as::<ev::InferenceRequested>() else { continue };
			if requested?.request != id {
				continue;
			}
			let Phase::ApplyExtrinsic(index) = event.phase() else { continue };
			let extrinsics = at.extrinsics().fetch().await?;
			for extrinsic in extrinsics.iter() {
				let extrinsic = extrinsic?;
				if extrinsic.index() != index as usize {
					continue;
				}
				if (extrinsic.pallet_name(), extrinsic.call_name()) == ("Inference", "request_inference") {
					// Fields then: the model's id and the input's bytes.
					let (_, input): (H256, Vec<u8>) = codec::Decode::decode(&mut extrinsic.call_data_field_bytes())
						.map_err(|e| Error::Chain(format!("request {id}'s transaction does not decode: {e}")))?;
					return Ok((number, input));
				}
			}
			return Err(Error::Chain(format!(
				"block {number} emitted request {id} from a transaction that is not a request"
			)));
		}
	}
	Err(Error::NotFound(format!(
		"request {id}'s transaction is not in the {SEARCH_BLOCKS} blocks before it settled (is this node pruning block bodies?)"
	)))
}

/// Where `opg` keeps the models it fetches: `$XDG_DATA_HOME/opg/models`, else
/// `~/.local/share/opg/models`.
pub fn default_store() -> std::path::PathBuf {
	let base = std::env::var_os("XDG_DATA_HOME")
		.map(std::path::PathBuf::from)
		.or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share")))
		.unwrap_or_else(std::env::temp_dir);
	base.join("opg/models")
}

/// Where the model comes from.
pub enum BundleSource<'a> {
	/// Fetched by id from the model's URIs into this store (kept there for next time).
	Store(&'a Path),
	/// A bundle directory on disk, run as it is (its own id is reported).
	Local(&'a Path),
}

/// Re-run `settled`'s model on its input in the model's profile and compare with the chain.
pub fn rerun(
	settled: Settled,
	source: BundleSource<'_>,
	progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Verification> {
	let scratch;
	let (store, bundle) = match source {
		BundleSource::Local(dir) => {
			scratch = tempfile::tempdir().map_err(|e| Error::Engine(format!("no temporary directory: {e}")))?;
			let store = ModelStore::open(scratch.path())?;
			let id = store.import_dir(dir, MAX_BUNDLE_BYTES)?;
			(store, id)
		},
		BundleSource::Store(root) => {
			let store = ModelStore::open(root)?;
			let id = settled.model.0;
			if !store.contains(&id) {
				fetch(&store, &settled, progress)?;
			}
			(store, id)
		},
	};
	let model = Model::load(&store.open_model(&bundle)?, settled.profile)?;
	let local = model.answer(&settled.input)?;
	let answers_agree = answers_agree(settled.rule, &settled.answer, &local);
	Ok(Verification { settled, bundle, local, answers_agree })
}

/// Download the model from the first of its URIs that serves exactly the bundle with its id.
fn fetch(store: &ModelStore, settled: &Settled, progress: &mut dyn FnMut(u64, Option<u64>)) -> Result<()> {
	let mut failures = Vec::new();
	for uri in &settled.uris {
		if !(uri.starts_with("http://") || uri.starts_with("https://")) {
			failures.push(format!("{uri}: not an http(s) URI"));
			continue;
		}
		match store.import_url(uri, MAX_BUNDLE_BYTES, progress) {
			Ok(id) if id == settled.model.0 => return Ok(()),
			Ok(other) => failures.push(format!("{uri}: serves another bundle (0x{})", hex::encode(other))),
			Err(e) => failures.push(format!("{uri}: {e}")),
		}
	}
	if settled.uris.is_empty() {
		return Err(Error::NotFound(format!(
			"model {} is retired, so the chain lists no URIs for it; give a copy with --bundle",
			hex_id(&settled.model)
		)));
	}
	Err(Error::Engine(format!(
		"cannot fetch model {} from its URIs ({}); give a local copy with --bundle",
		hex_id(&settled.model),
		failures.join("; ")
	)))
}
