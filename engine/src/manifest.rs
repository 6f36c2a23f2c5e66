//! The model manifest: what a bundle contains and how to run it, and the content id derived from
//! it.
//!
//! A bundle is a directory with `manifest.json` and the files it lists. The id of a model is
//! `blake2_256` of the manifest's canonical SCALE encoding (version, architecture, files sorted
//! by path with their sizes and hashes), so the id pins every byte of every file: two bundles
//! with the same id hold the same bytes, whatever the JSON's formatting or file order.

use codec::{Decode, Encode};
use opg_primitives::inference::ModelFormat;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path};

use crate::error::{io_at, EngineError, Result};
use crate::hash::{blake2_file, to_hex, Digest};

/// The file name of the manifest inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Encoding version, first byte of the canonical encoding.
pub const MANIFEST_VERSION: u8 = 1;
/// Bundles hold at most this many files.
pub const MAX_FILES: usize = 64;
/// A path inside a bundle is at most this many bytes.
pub const MAX_PATH_LEN: usize = 255;
/// The manifest file itself is at most this large.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Longest accepted generation limit or context length.
pub const MAX_TOKENS_LIMIT: u32 = 8192;

/// How the files of a bundle make a model. Each variant names its files by bundle path.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Architecture {
	/// An ONNX graph; operators outside the engine's allowlist are refused at import.
	Onnx { graph: String },
	/// A BERT-family encoder producing a sentence embedding (mean pooling over tokens).
	BertEmbedding {
		/// safetensors weights.
		weights: String,
		/// Hugging Face `config.json`.
		config: String,
		/// Hugging Face `tokenizer.json`.
		tokenizer: String,
		/// Longest accepted input, in tokens including special tokens.
		max_tokens: u32,
		/// L2-normalise the pooled embedding (sentence-transformers `Normalize`).
		normalize: bool,
	},
	/// A Llama-family causal LM, greedy decoding.
	LlamaCausalLm {
		/// safetensors (with `config`) or GGUF (configuration in its metadata).
		weights: String,
		/// Hugging Face `config.json`; required for safetensors, absent for GGUF.
		config: Option<String>,
		/// Tokens generated per request.
		max_new_tokens: u32,
	},
	/// An ONNX graph that takes text: the bundle's Hugging Face `tokenizer.json` turns a
	/// request's text into the graph's `input_ids` (and `attention_mask`, `token_type_ids` when
	/// the graph has them), e.g. a BERT exported by `torch.onnx` or Optimum.
	OnnxText {
		graph: String,
		tokenizer: String,
		/// Longest accepted input, in tokens including special tokens.
		max_tokens: u32,
		pooling: Pooling,
		/// L2-normalise the pooled embedding (with pooling only).
		normalize: bool,
	},
}

/// How a text model's per-token states become one sentence embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
	/// No pooling: the graph's outputs as they are.
	None,
	/// The mean over the tokens of the first output (`[1, tokens, width]`).
	Mean,
	/// The first token's state (BERT's `[CLS]`).
	Cls,
}

impl Architecture {
	pub fn format(&self) -> ModelFormat {
		match self {
			Architecture::Onnx { .. } | Architecture::OnnxText { .. } => ModelFormat::Onnx,
			Architecture::BertEmbedding { .. } => ModelFormat::BertEmbedding,
			Architecture::LlamaCausalLm { .. } => ModelFormat::LlamaCausalLm,
		}
	}

	fn referenced_files(&self) -> Vec<&str> {
		match self {
			Architecture::Onnx { graph } => vec![graph],
			Architecture::OnnxText { graph, tokenizer, .. } => vec![graph, tokenizer],
			Architecture::BertEmbedding { weights, config, tokenizer, .. } => vec![weights, config, tokenizer],
			Architecture::LlamaCausalLm { weights, config, .. } => {
				let mut files = vec![weights.as_str()];
				files.extend(config.as_deref());
				files
			},
		}
	}
}

/// One file of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
	pub path: String,
	pub size: u64,
	#[serde(with = "hex32")]
	pub blake2_256: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
	#[serde(rename = "model")]
	pub architecture: Architecture,
	pub files: Vec<FileEntry>,
}

impl Manifest {
	/// Parse and validate a manifest from its JSON text.
	pub fn from_json(bytes: &[u8]) -> Result<Self> {
		if bytes.len() as u64 > MAX_MANIFEST_BYTES {
			return Err(EngineError::Manifest(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
		}
		let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| EngineError::Manifest(e.to_string()))?;
		manifest.validated()
	}

	/// Decode and validate the canonical encoding.
	pub fn from_canonical(original: &[u8]) -> Result<Self> {
		let mut bytes = original;
		let version = u8::decode(&mut bytes).map_err(|e| EngineError::Manifest(e.to_string()))?;
		if version != MANIFEST_VERSION {
			return Err(EngineError::Manifest(format!("unknown manifest version {version}")));
		}
		let manifest = Manifest::decode(&mut bytes).map_err(|e| EngineError::Manifest(e.to_string()))?;
		if !bytes.is_empty() {
			return Err(EngineError::Manifest("trailing bytes after the manifest".into()));
		}
		let manifest = manifest.validated()?;
		// One encoding per manifest: anything else (e.g. files out of order) is refused.
		if manifest.canonical_encoding() != original {
			return Err(EngineError::Manifest("not the canonical encoding".into()));
		}
		Ok(manifest)
	}

	pub fn to_json(&self) -> String {
		serde_json::to_string_pretty(self).expect("a manifest always serialises")
	}

	/// The one encoding the id is computed over (files sorted by path).
	pub fn canonical_encoding(&self) -> Vec<u8> {
		let mut files = self.files.clone();
		files.sort_by(|a, b| a.path.cmp(&b.path));
		let mut out = vec![MANIFEST_VERSION];
		Manifest { architecture: self.architecture.clone(), files }.encode_to(&mut out);
		out
	}

	/// The model id: `blake2_256` of the canonical encoding.
	pub fn id(&self) -> Digest {
		crate::hash::blake2_256(&self.canonical_encoding())
	}

	pub fn file(&self, path: &str) -> Option<&FileEntry> {
		self.files.iter().find(|f| f.path == path)
	}

	/// Write a manifest for the files of `dir` named by `architecture` plus `extra` files,
	/// hashing each; the manifest is saved as `dir/manifest.json`.
	pub fn create_for_directory(dir: &Path, architecture: Architecture, extra: &[&str]) -> Result<Self> {
		let mut paths: Vec<String> = architecture.referenced_files().into_iter().map(String::from).collect();
		paths.extend(extra.iter().map(|p| p.to_string()));
		paths.sort();
		paths.dedup();
		let mut files = Vec::with_capacity(paths.len());
		for path in paths {
			check_path(&path)?;
			let full = dir.join(&path);
			let (size, hash) = blake2_file(&full)?;
			files.push(FileEntry { path, size, blake2_256: hash });
		}
		let manifest = Manifest { architecture, files }.validated()?;
		std::fs::write(dir.join(MANIFEST_FILE), manifest.to_json()).map_err(io_at(dir.join(MANIFEST_FILE)))?;
		Ok(manifest)
	}

	fn validated(mut self) -> Result<Self> {
		if self.files.is_empty() {
			return Err(EngineError::Manifest("no files listed".into()));
		}
		if self.files.len() > MAX_FILES {
			return Err(EngineError::Manifest(format!("{} files listed, at most {MAX_FILES}", self.files.len())));
		}
		for file in &self.files {
			check_path(&file.path)?;
		}
		self.files.sort_by(|a, b| a.path.cmp(&b.path));
		if let Some(w) = self.files.windows(2).find(|w| w[0].path == w[1].path) {
			return Err(EngineError::Manifest(format!("file {:?} listed twice", w[0].path)));
		}
		for path in self.architecture.referenced_files() {
			if self.file(path).is_none() {
				return Err(EngineError::Manifest(format!("{path:?} is used by the model but not listed")));
			}
		}
		match &self.architecture {
			Architecture::BertEmbedding { max_tokens, .. } | Architecture::OnnxText { max_tokens, .. }
				if *max_tokens == 0 || *max_tokens > MAX_TOKENS_LIMIT =>
			{
				return Err(EngineError::Manifest(format!("max_tokens must be 1..={MAX_TOKENS_LIMIT}")))
			},
			Architecture::OnnxText { pooling: Pooling::None, normalize: true, .. } => {
				return Err(EngineError::Manifest("normalize needs a pooling".into()))
			},
			Architecture::LlamaCausalLm { max_new_tokens, .. }
				if *max_new_tokens == 0 || *max_new_tokens > MAX_TOKENS_LIMIT =>
			{
				return Err(EngineError::Manifest(format!("max_new_tokens must be 1..={MAX_TOKENS_LIMIT}")))
			},
			Architecture::LlamaCausalLm { weights, config, .. } => {
				let gguf = weights.ends_with(".gguf");
				if gguf == config.is_some() {
					return Err(EngineError::Manifest(
						"a Llama model needs `config` with safetensors weights and none with GGUF".into(),
					));
				}
			},
			_ => {},
		}
		Ok(self)
	}
}

/// A bundle path must be relative, plain (no `.`/`..`), and short.
pub fn check_path(path: &str) -> Result<()> {
	let unsafe_path = || Err(EngineError::UnsafePath(path.to_string()));
	if path.is_empty() || path.len() > MAX_PATH_LEN || path.contains('\\') || path.contains('\0') {
		return unsafe_path();
	}
	if path == MANIFEST_FILE {
		return Err(EngineError::Manifest(format!("{MANIFEST_FILE} cannot list itself")));
	}
	let p = Path::new(path);
	if p.components().any(|c| !matches!(c, Component::Normal(_))) {
		return unsafe_path();
	}
	Ok(())
}

mod hex32 {
	use serde::{Deserialize, Deserializer, Serializer};

	pub fn serialize<S: Serializer>(value: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
		s.serialize_str(&super::to_hex(value))
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
		let text = String::deserialize(d)?;
		crate::hash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
	}
}
