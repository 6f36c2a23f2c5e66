//! Bundles from what people export: an `.onnx` file (with the `tokenizer.json` beside it, a
//! text model), a Hugging Face model directory (`config.json` + `model.safetensors`, and
//! `tokenizer.json` for a sentence encoder; or an Optimum/`torch.onnx` export with
//! `model.onnx`), or a `.gguf` file. One implementation for `opg-engine bundle` and `opg model bundle`.

use crate::{
	check_bundle,
	error::{io_at, EngineError, Result},
	manifest::{Architecture, Manifest, Pooling},
	models::read_json,
};
use std::{fs, path::Path};

/// Choices a bundle fixes that the exported files do not say.
#[derive(Clone, Debug)]
pub struct BundleOptions {
	/// Longest input of a sentence encoder, in tokens (sentence-transformers' usual 256).
	pub max_tokens: u32,
	/// L2-normalise a sentence encoder's pooled embedding.
	pub normalize: bool,
	/// Tokens a language model generates per request.
	pub max_new_tokens: u32,
	/// How an ONNX text model's token states become one embedding.
	pub pooling: Pooling,
}

impl Default for BundleOptions {
	fn default() -> Self {
		Self { max_tokens: 256, normalize: true, max_new_tokens: 32, pooling: Pooling::None }
	}
}

#[derive(serde::Deserialize)]
struct HfConfig {
	model_type: Option<String>,
}

fn copy(from: &Path, to_dir: &Path, name: &str) -> Result<()> {
	if !from.is_file() {
		return Err(EngineError::Bundle(format!("{} is missing", from.display())));
	}
	fs::copy(from, to_dir.join(name)).map_err(io_at(from))?;
	Ok(())
}

/// Write a bundle of `source` into `out` (created if missing; a bundle already there is
/// replaced), checked as the store checks an import.
pub fn bundle(source: &Path, out: &Path, options: &BundleOptions) -> Result<Manifest> {
	if out.exists() && fs::canonicalize(out).ok() == fs::canonicalize(source).ok() {
		return Err(EngineError::Bundle(format!("write the bundle of {} somewhere else", source.display())));
	}
	fs::create_dir_all(out).map_err(io_at(out))?;
	let extension = source.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
	let architecture = if source.is_file() {
		match extension.as_deref() {
			Some("onnx") => onnx(source, source.with_file_name("tokenizer.json").as_path(), out, options)?,
			Some("gguf") => {
				copy(source, out, "model.gguf")?;
				Architecture::LlamaCausalLm {
					weights: "model.gguf".into(),
					config: None,
					max_new_tokens: options.max_new_tokens,
				}
			},
			_ => {
				return Err(EngineError::Bundle(format!(
					"{} is not an .onnx or .gguf file (or a Hugging Face model directory)",
					source.display()
				)))
			},
		}
	} else if source.is_dir() {
		hugging_face(source, out, options)?
	} else {
		return Err(EngineError::Bundle(format!("{} does not exist", source.display())));
	};
	let manifest = Manifest::create_for_directory(out, architecture, &[])?;
	check_bundle(out, &manifest)?;
	Ok(manifest)
}

/// An ONNX graph; with a tokenizer, a model that takes text.
fn onnx(graph: &Path, tokenizer: &Path, out: &Path, options: &BundleOptions) -> Result<Architecture> {
	copy(graph, out, "model.onnx")?;
	if !tokenizer.is_file() {
		return Ok(Architecture::Onnx { graph: "model.onnx".into() });
	}
	copy(tokenizer, out, "tokenizer.json")?;
	Ok(Architecture::OnnxText {
		graph: "model.onnx".into(),
		tokenizer: "tokenizer.json".into(),
		max_tokens: options.max_tokens,
		pooling: options.pooling,
		normalize: options.normalize && options.pooling != Pooling::None,
	})
}

/// A Hugging Face directory: `model_type` in `config.json` says which architecture it is, unless
/// it holds an ONNX export (`model.onnx`).
fn hugging_face(source: &Path, out: &Path, options: &BundleOptions) -> Result<Architecture> {
	if source.join("model.onnx").is_file() {
		return onnx(&source.join("model.onnx"), &source.join("tokenizer.json"), out, options);
	}
	let config: HfConfig = read_json(&source.join("config.json"))?;
	if !source.join("model.safetensors").is_file() {
		let sharded = fs::read_dir(source)
			.map_err(io_at(source))?
			.flatten()
			.any(|e| e.file_name().to_string_lossy().ends_with(".safetensors"));
		return Err(EngineError::Bundle(if sharded {
			format!("{} holds sharded safetensors: merge them into one model.safetensors", source.display())
		} else {
			format!("{} has no model.safetensors", source.display())
		}));
	}
	match config.model_type.as_deref() {
		Some("bert") => {
			for file in ["model.safetensors", "config.json", "tokenizer.json"] {
				copy(&source.join(file), out, file)?;
			}
			Ok(Architecture::BertEmbedding {
				weights: "model.safetensors".into(),
				config: "config.json".into(),
				tokenizer: "tokenizer.json".into(),
				max_tokens: options.max_tokens,
				normalize: options.normalize,
			})
		},
		Some("llama") => {
			for file in ["model.safetensors", "config.json"] {
				copy(&source.join(file), out, file)?;
			}
			Ok(Architecture::LlamaCausalLm {
				weights: "model.safetensors".into(),
				config: Some("config.json".into()),
				max_new_tokens: options.max_new_tokens,
			})
		},
		other => Err(EngineError::Bundle(format!(
			"{}: model_type {:?} is not one the engine runs (bert, llama; or export the model to ONNX)",
			source.join("config.json").display(),
			other.unwrap_or("missing")
		))),
	}
}
