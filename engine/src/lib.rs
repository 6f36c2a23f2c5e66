//! The OPG chain inference engine: a content-addressed model store and candle execution in two
//! profiles — `portable` (bit-identical on every CPU, compared exactly on chain) and `fast`
//! (native speed, compared with an integer tolerance rule on chain).
//!
//! ```text
//! bundle dir / tarball / URL ──import──▶ ModelStore ──open_model (verify)──▶ Model::load(profile)
//!                                                                              │
//!                                   SCALE Value ──run_encoded──▶ SCALE Value ◀─┘
//! ```

pub mod bundle;
pub mod error;
pub mod gemm;
pub mod hash;
pub mod kernels;
pub mod manifest;
pub mod models;
pub mod ops;
pub mod store;
pub mod team;
pub mod testmodels;
pub mod vmath;

use codec::{Decode, Encode};
use std::path::Path;

pub use error::{EngineError, InputError, Result};
pub use manifest::{Architecture, Manifest, Pooling};
pub use opg_primitives::inference::{Answer, ExecutionProfile, NamedTensor, Rejection, TensorValue, Value};
pub use opg_primitives::value_json;
pub use ops::PORTABLE_VERSIONS;
pub use store::{ModelStore, VerifiedBundle};

use models::{bert::BertEmbedder, llama::LlamaModel, onnx::OnnxModel, onnx_text::OnnxTextModel};

/// The comparison rule for models registered in the fast profile: within 256 ulps, or at most
/// 1e-5 apart. Chosen from the drift measured between the two profiles (docs/BENCHMARKS.md).
pub const FAST_PROFILE_RULE: opg_primitives::inference::ComparisonRule =
	opg_primitives::inference::ComparisonRule::F32Ulps { max_ulps: 256, abs_tol_bits: 0x3727_c5ac /* 1e-5 */ };

/// Largest encoded input accepted.
pub const MAX_INPUT_BYTES: usize = 16 << 20;

/// Size the thread pools once, at process start, before any other thread exists: `threads`, or
/// `RAYON_NUM_THREADS`, or every available core.
///
/// candle sizes its own parallel loops from `RAYON_NUM_THREADS` and, when it is unset, counts
/// physical cores by reading `/proc/cpuinfo` on every matmul; exporting the number here avoids
/// that cost and keeps both pools the same size.
pub fn configure_threads(threads: Option<usize>) -> std::result::Result<usize, String> {
	let n = threads.unwrap_or_else(default_threads).max(1);
	std::env::set_var("RAYON_NUM_THREADS", n.to_string());
	team::set_size(n);
	rayon::ThreadPoolBuilder::new().num_threads(n).build_global().map_err(|e| e.to_string())?;
	Ok(n)
}

/// Worker threads when none is asked for: `RAYON_NUM_THREADS`, or every available core.
pub(crate) fn default_threads() -> usize {
	let from_env = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0);
	from_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Format checks run on a bundle before the store accepts it.
pub fn check_bundle(dir: &Path, manifest: &Manifest) -> Result<()> {
	match &manifest.architecture {
		Architecture::Onnx { graph } => models::onnx::read_checked(&dir.join(graph)).map(|_| ()),
		Architecture::OnnxText { graph, tokenizer, max_tokens, .. } => {
			models::onnx::read_checked(&dir.join(graph))?;
			models::text::TextTokenizer::load(&dir.join(tokenizer), *max_tokens as usize).map(|_| ())
		},
		Architecture::BertEmbedding { config, .. } => {
			models::read_json::<models::bert::BertConfig>(&dir.join(config)).map(|_| ())
		},
		Architecture::LlamaCausalLm { config: Some(config), .. } => {
			models::read_json::<models::llama::LlamaConfig>(&dir.join(config)).map(|_| ())
		},
		Architecture::LlamaCausalLm { config: None, .. } => Ok(()),
	}
}

enum Kind {
	Onnx(Box<OnnxModel>),
	OnnxText(Box<OnnxTextModel>),
	Bert(Box<BertEmbedder>),
	Llama(Box<LlamaModel>),
}

/// A verified model loaded for one execution profile.
pub struct Model {
	pub id: [u8; 32],
	pub profile: ExecutionProfile,
	kind: Kind,
}

impl Model {
	/// Load `bundle` for `profile`. A portable version this engine does not implement is refused
	/// before any file is read.
	pub fn load(bundle: &VerifiedBundle, profile: ExecutionProfile) -> Result<Self> {
		ops::Kernels::for_profile(profile)?;
		let kind = match &bundle.manifest.architecture {
			Architecture::Onnx { graph } => Kind::Onnx(Box::new(OnnxModel::load(profile, &bundle.path(graph))?)),
			Architecture::OnnxText { graph, tokenizer, max_tokens, pooling, normalize } => {
				Kind::OnnxText(Box::new(OnnxTextModel::load(
					profile,
					&bundle.path(graph),
					&bundle.path(tokenizer),
					*max_tokens,
					*pooling,
					*normalize,
				)?))
			},
			Architecture::BertEmbedding { weights, config, tokenizer, max_tokens, normalize } => {
				Kind::Bert(Box::new(BertEmbedder::load(
					profile,
					&bundle.path(weights),
					&bundle.path(config),
					&bundle.path(tokenizer),
					*max_tokens,
					*normalize,
				)?))
			},
			Architecture::LlamaCausalLm { weights, config: Some(config), max_new_tokens } => Kind::Llama(Box::new(
				LlamaModel::from_safetensors(profile, &bundle.path(weights), &bundle.path(config), *max_new_tokens)?,
			)),
			Architecture::LlamaCausalLm { weights, config: None, max_new_tokens } => {
				Kind::Llama(Box::new(LlamaModel::from_gguf(profile, &bundle.path(weights), *max_new_tokens)?))
			},
		};
		Ok(Self { id: bundle.id, profile, kind })
	}

	/// Run one request: ONNX takes a tensor or named tensors (an ONNX text model, text), BERT
	/// takes text (→ f32 embedding), Llama takes prompt token ids (→ generated token ids) and,
	/// when its GGUF file carries a tokenizer, text (→ generated text).
	pub fn run(&self, input: &Value) -> Result<Value> {
		match (&self.kind, input) {
			(Kind::Onnx(m), v) => m.run(v),
			(Kind::OnnxText(m), Value::Text(bytes)) => {
				m.run(std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?)
			},
			(Kind::Bert(m), Value::Text(bytes)) => {
				let text = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
				models::onnx::value_from_tensor(&m.embed(text)?)
			},
			(Kind::Llama(m), Value::Tokens(prompt)) => Ok(Value::Tokens(m.generate(prompt, m.max_new_tokens())?)),
			// A GGUF Llama with its tokenizer: text in, text out.
			(Kind::Llama(m), Value::Text(bytes)) if m.tokenizer().is_some() => {
				let prompt = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
				Ok(Value::Text(m.complete(prompt)?.into_bytes()))
			},
			(Kind::Bert(_) | Kind::OnnxText(_), other) => {
				Err(InputError::WrongType { expected: "text", got: value_kind(other) }.into())
			},
			(Kind::Llama(_), other) => {
				Err(InputError::WrongType { expected: "token ids", got: value_kind(other) }.into())
			},
		}
	}

	/// [`Model::run`] on SCALE-encoded values, as they travel on chain.
	pub fn run_encoded(&self, input: &[u8]) -> Result<Vec<u8>> {
		Ok(self.run(&decode_input(input)?)?.encode())
	}

	/// What a committee member commits to for an encoded request input: the encoded output, or
	/// the typed refusal every honest worker reaches for an input the model does not take. A
	/// loaded model whose computation fails on the input (`EngineError::Model`) fails the same
	/// way on every worker: that is `Rejection::ModelFailed`. `Err` only for faults of this
	/// machine (I/O), which say nothing about the input.
	pub fn answer(&self, input: &[u8]) -> Result<Answer> {
		match self.run_encoded(input) {
			Ok(output) => Ok(Answer::Output(output)),
			Err(EngineError::Input(e)) => Ok(Answer::Rejected(e.rejection())),
			Err(EngineError::Model(_)) => Ok(Answer::Rejected(Rejection::ModelFailed)),
			Err(e) => Err(e),
		}
	}

	/// An ONNX model's output names, in the graph's order (what `--json` names a lone output).
	pub fn output_names(&self) -> Vec<String> {
		match &self.kind {
			Kind::Onnx(m) => m.output_names(),
			_ => Vec::new(),
		}
	}

	pub fn as_llama(&self) -> Option<&LlamaModel> {
		match &self.kind {
			Kind::Llama(m) => Some(m),
			_ => None,
		}
	}

	pub fn as_bert(&self) -> Option<&BertEmbedder> {
		match &self.kind {
			Kind::Bert(m) => Some(m),
			_ => None,
		}
	}
}

fn value_kind(v: &Value) -> &'static str {
	match v {
		Value::F32 { .. } => "f32 tensor",
		Value::I64 { .. } => "i64 tensor",
		Value::Text(_) => "text",
		Value::Tokens(_) => "token ids",
		Value::Tensors(_) => "named tensors",
	}
}

/// Decode a request input: the whole buffer must be exactly one canonical value.
pub fn decode_input(bytes: &[u8]) -> Result<Value> {
	if bytes.len() > MAX_INPUT_BYTES {
		return Err(InputError::TooLarge { size: bytes.len(), limit: MAX_INPUT_BYTES }.into());
	}
	let mut cursor = bytes;
	let value = Value::decode(&mut cursor).map_err(|e| InputError::Undecodable(e.to_string()))?;
	if !cursor.is_empty() {
		return Err(InputError::Undecodable(format!("{} trailing bytes", cursor.len())).into());
	}
	if !value.is_canonical() {
		return Err(InputError::Undecodable("named tensors must have UTF-8 names in ascending order".into()).into());
	}
	Ok(value)
}

/// The hash honest workers must agree on in the portable profile: `blake2_256(SCALE(output))`.
pub fn output_hash(output: &Value) -> [u8; 32] {
	hash::blake2_256(&output.encode())
}
