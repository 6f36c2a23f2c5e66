//! GGUF tensors: the types the engine loads, reading one by name, and reading one as `f32` the
//! way the portable profile sees it.
//!
//! The portable profile dequantizes every matrix once at load. The block decoders are candle's
//! scalar ones (an `f16` or `f32` scale times a small integer, minus an offset, in a fixed order
//! per element): plain IEEE-754 multiplies and subtractions that give the same bits on every CPU.
//! The fast profile keeps the blocks and multiplies them with candle's quantized kernels.

use crate::{
	error::{io_at, EngineError},
	Result,
};
use candle_core::{
	quantized::{gguf_file, GgmlDType, QTensor},
	Device,
};
use std::{
	fs::File,
	io::{Read, Seek},
	path::Path,
};

/// The tensor types the engine loads; any other is refused by name.
pub const SUPPORTED_TYPES: [GgmlDType; 10] = [
	GgmlDType::F32,
	GgmlDType::F16,
	GgmlDType::Q4_0,
	GgmlDType::Q4_1,
	GgmlDType::Q5_0,
	GgmlDType::Q5_1,
	GgmlDType::Q8_0,
	GgmlDType::Q4K,
	GgmlDType::Q5K,
	GgmlDType::Q6K,
];

/// A GGUF tensor type as llama.cpp names it.
pub fn type_name(dtype: GgmlDType) -> &'static str {
	match dtype {
		GgmlDType::F32 => "F32",
		GgmlDType::F16 => "F16",
		GgmlDType::BF16 => "BF16",
		GgmlDType::Q4_0 => "Q4_0",
		GgmlDType::Q4_1 => "Q4_1",
		GgmlDType::Q5_0 => "Q5_0",
		GgmlDType::Q5_1 => "Q5_1",
		GgmlDType::Q8_0 => "Q8_0",
		GgmlDType::Q8_1 => "Q8_1",
		GgmlDType::Q2K => "Q2_K",
		GgmlDType::Q3K => "Q3_K",
		GgmlDType::Q4K => "Q4_K",
		GgmlDType::Q5K => "Q5_K",
		GgmlDType::Q6K => "Q6_K",
		GgmlDType::Q8K => "Q8_K",
	}
}

/// Read the header of a GGUF file.
pub fn read_content<R: Read + Seek>(reader: &mut R) -> Result<gguf_file::Content> {
	gguf_file::Content::read(reader).map_err(|e| EngineError::Model(format!("GGUF: {e}")))
}

/// Read tensor `name`, refusing a type outside [`SUPPORTED_TYPES`] by name.
pub fn read_tensor<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R, name: &str) -> Result<QTensor> {
	let info =
		content.tensor_infos.get(name).ok_or_else(|| EngineError::Model(format!("GGUF has no tensor {name}")))?;
	if !SUPPORTED_TYPES.contains(&info.ggml_dtype) {
		let supported: Vec<&str> = SUPPORTED_TYPES.iter().map(|t| type_name(*t)).collect();
		return Err(EngineError::Model(format!(
			"GGUF tensor {name} is {}, a type the engine does not load (it loads {})",
			type_name(info.ggml_dtype),
			supported.join(", ")
		)));
	}
	content.tensor(reader, name, &Device::Cpu).map_err(|e| EngineError::Model(format!("GGUF tensor {name}: {e}")))
}

/// Tensor `name` of the GGUF file at `path`: its shape and every value as `f32`, dequantized as
/// the portable profile does at load.
pub fn dequantized(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
	let mut file = File::open(path).map_err(io_at(path))?;
	let content = read_content(&mut file)?;
	let tensor = read_tensor(&content, &mut file, name)?.dequantize(&Device::Cpu)?;
	Ok((tensor.dims().to_vec(), tensor.flatten_all()?.to_vec1::<f32>()?))
}

/// The tokenizer fields of a GGUF file's metadata that every tokenizer model reads, checked
/// against the model's vocabulary; errors say which field is wrong.
pub struct TokenizerMetadata<'a> {
	pub metadata: &'a std::collections::HashMap<String, gguf_file::Value>,
	pub vocab: usize,
}

impl TokenizerMetadata<'_> {
	pub fn bad(what: &str) -> EngineError {
		EngineError::Model(format!("GGUF tokenizer: {what}"))
	}

	pub fn array(&self, key: &str) -> Option<&Vec<gguf_file::Value>> {
		self.metadata.get(key).and_then(|v| v.to_vec().ok())
	}

	/// The array `key` as strings.
	pub fn strings(&self, key: &str) -> Result<Vec<String>> {
		self.array(key)
			.ok_or_else(|| Self::bad(&format!("no {key}")))?
			.iter()
			.map(|v| v.to_string().cloned().map_err(|_| Self::bad(&format!("an entry of {key} is not a string"))))
			.collect()
	}

	/// `tokenizer.ggml.tokens`, one per vocabulary entry.
	pub fn tokens(&self) -> Result<Vec<String>> {
		let tokens = self.strings("tokenizer.ggml.tokens")?;
		if tokens.len() != self.vocab {
			return Err(Self::bad(&format!("{} tokens for a vocabulary of {}", tokens.len(), self.vocab)));
		}
		Ok(tokens)
	}

	/// `tokenizer.ggml.token_type`, one per vocabulary entry (all normal, 1, when absent).
	pub fn token_types(&self) -> Result<Vec<i32>> {
		let types: Vec<i32> = match self.array("tokenizer.ggml.token_type") {
			Some(v) => v
				.iter()
				.map(|t| t.to_i32().map_err(|_| Self::bad("a token type is not an i32")))
				.collect::<Result<_>>()?,
			None => vec![1; self.vocab],
		};
		if types.len() != self.vocab {
			return Err(Self::bad("token types do not match the tokens"));
		}
		Ok(types)
	}

	/// The token id `key` names, if present, inside the vocabulary.
	pub fn token_id(&self, key: &str) -> Result<Option<u32>> {
		match self.metadata.get(key) {
			None => Ok(None),
			Some(v) => {
				let id = v.to_u32().map_err(|_| Self::bad(&format!("{key} is not a u32")))?;
				if id as usize >= self.vocab {
					return Err(Self::bad(&format!("{key} {id} is outside the vocabulary")));
				}
				Ok(Some(id))
			},
		}
	}
}

/// The tokenizer a GGUF file carries in its metadata, by `tokenizer.ggml.model`.
#[derive(Debug)]
pub enum GgufTokenizer {
	/// `llama`: SentencePiece (Llama 1 and 2, TinyLlama, Mistral).
	SentencePiece(super::spm::SpmTokenizer),
	/// `gpt2`: byte-level BPE (Llama 3 and most recent files).
	BytePairs(super::bpe::BpeTokenizer),
}

impl GgufTokenizer {
	/// The file's tokenizer, or `None` when it has none this engine implements (the model then
	/// runs on token ids only).
	pub fn from_gguf(
		metadata: &std::collections::HashMap<String, gguf_file::Value>,
		vocab: usize,
	) -> Result<Option<Self>> {
		if let Some(t) = super::spm::SpmTokenizer::from_gguf(metadata, vocab)? {
			return Ok(Some(Self::SentencePiece(t)));
		}
		Ok(super::bpe::BpeTokenizer::from_gguf(metadata, vocab)?.map(Self::BytePairs))
	}

	/// The token ids of `text`, BOS first when the model adds it.
	pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
		match self {
			Self::SentencePiece(t) => Ok(t.encode(text)),
			Self::BytePairs(t) => t.encode(text),
		}
	}

	/// The text of generated `ids`, control tokens omitted.
	pub fn decode(&self, ids: &[u32]) -> String {
		match self {
			Self::SentencePiece(t) => t.decode(ids),
			Self::BytePairs(t) => t.decode(ids),
		}
	}

	/// Whether `id` ends generation.
	pub fn is_end(&self, id: u32) -> bool {
		match self {
			Self::SentencePiece(t) => t.is_end(id),
			Self::BytePairs(t) => t.is_end(id),
		}
	}
}
