//! The model registry as the chain holds it.

use crate::{
	chain::Chain,
	convert,
	error::Result,
	runtime::{self, runtime_types::pallet_inference::types::StoredAnswer},
};
use opg_primitives::inference::{ComparisonRule, ExecutionProfile, ModelFormat};
use subxt::utils::{AccountId32, H256};

/// A registered model.
#[derive(Debug, Clone)]
pub struct RegisteredModel {
	pub id: H256,
	pub owner: AccountId32,
	pub format: ModelFormat,
	pub architecture: String,
	pub price: u128,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	pub uris: Vec<String>,
	pub deposit: u128,
}

type StoredModel = runtime::runtime_types::pallet_inference::types::Model<AccountId32, u128>;

fn registered(id: H256, m: StoredModel) -> Result<RegisteredModel> {
	Ok(RegisteredModel {
		id,
		owner: m.owner,
		format: convert(&m.format)?,
		architecture: String::from_utf8_lossy(&m.architecture.0).into_owned(),
		price: m.price,
		rule: convert(&m.rule)?,
		profile: convert(&m.profile)?,
		uris: m.uris.0.iter().map(|u| String::from_utf8_lossy(&u.0).into_owned()).collect(),
		deposit: m.deposit,
	})
}

/// The model registered under `id`, if any.
pub async fn model(chain: &Chain, id: H256) -> Result<Option<RegisteredModel>> {
	let at = chain.at_best().await?;
	match at.storage().try_fetch(runtime::storage().inference().models(), (id,)).await? {
		Some(value) => Ok(Some(registered(id, value.decode()?)?)),
		None => Ok(None),
	}
}

/// Every registered model.
pub async fn models(chain: &Chain) -> Result<Vec<RegisteredModel>> {
	let at = chain.at_best().await?;
	let mut entries = at.storage().iter(runtime::storage().inference().models(), ()).await?;
	let mut out = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry?;
		let (id,) = entry.key()?.decode()?;
		out.push(registered(id, entry.value().decode()?)?);
	}
	out.sort_by_key(|m| m.id);
	Ok(out)
}

/// A stored answer as the project's type.
pub fn stored_answer(answer: StoredAnswer) -> Result<opg_primitives::inference::Answer> {
	use opg_primitives::inference::Answer;
	Ok(match answer {
		StoredAnswer::Output(value) => Answer::Output(codec::Encode::encode(&value)),
		StoredAnswer::Rejected(reason) => Answer::Rejected(convert(&reason)?),
	})
}

/// What registering a bundle puts on chain, read from the bundle itself.
#[derive(Debug, Clone)]
pub struct Registration {
	pub id: H256,
	pub format: ModelFormat,
	pub architecture: &'static str,
	pub price: u128,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	pub uris: Vec<String>,
}

impl Registration {
	/// Check the bundle in `dir` as a worker would (every file against the manifest, the format
	/// loadable) and describe it. The rule follows the profile: exact for portable models, the
	/// engine's tolerance for fast ones.
	pub fn from_bundle(
		dir: &std::path::Path,
		price: u128,
		profile: ExecutionProfile,
		uris: Vec<String>,
	) -> Result<Self> {
		let (id, manifest) = check_bundle(dir)?;
		let format = manifest.architecture.format();
		let architecture = match format {
			ModelFormat::Onnx => "onnx",
			ModelFormat::BertEmbedding => "bert",
			ModelFormat::LlamaCausalLm => "llama",
		};
		let rule = match profile {
			ExecutionProfile::Portable | ExecutionProfile::PortableVersion(_) => ComparisonRule::Exact,
			ExecutionProfile::Fast => opg_engine::FAST_PROFILE_RULE,
		};
		if uris.is_empty() {
			return Err(crate::Error::Input("give at least one --uri workers can fetch the bundle from".into()));
		}
		Ok(Self { id, format, architecture, price, rule, profile, uris })
	}
}

/// Check a bundle directory as a worker would (every file against the manifest, the format
/// loadable) and give its model id.
pub fn check_bundle(dir: &std::path::Path) -> Result<(H256, opg_engine::Manifest)> {
	let scratch = tempfile::tempdir().map_err(|e| crate::Error::Engine(format!("no temporary directory: {e}")))?;
	let store = opg_engine::ModelStore::open(scratch.path())?;
	let id = store.import_dir(dir, crate::verify::MAX_BUNDLE_BYTES)?;
	let manifest = store.verify(&id)?;
	Ok((H256(id), manifest))
}

/// Register a model; the signer becomes its owner and deposits the registry's deposit.
pub async fn register(chain: &crate::Chain, signer: &crate::account::Signer, r: &Registration) -> Result<u64> {
	let call = runtime::transactions().inference().register_model(
		r.id,
		convert(&r.format)?,
		r.architecture.as_bytes().to_vec(),
		r.price,
		convert(&r.rule)?,
		convert(&r.profile)?,
		r.uris.iter().map(|u| u.as_bytes().to_vec()).collect(),
	);
	Ok(chain.submit(&call, signer).await?.block_number)
}

/// Change a model's price and URIs (owner only; open requests keep their terms).
pub async fn update(
	chain: &crate::Chain,
	signer: &crate::account::Signer,
	id: H256,
	price: u128,
	uris: &[String],
) -> Result<u64> {
	let call = runtime::transactions().inference().update_model(
		id,
		price,
		uris.iter().map(|u| u.as_bytes().to_vec()).collect(),
	);
	Ok(chain.submit(&call, signer).await?.block_number)
}

/// Retire a model: no new requests; the owner's deposit is released.
pub async fn retire(chain: &crate::Chain, signer: &crate::account::Signer, id: H256) -> Result<u64> {
	Ok(chain.submit(&runtime::transactions().inference().retire_model(id), signer).await?.block_number)
}
