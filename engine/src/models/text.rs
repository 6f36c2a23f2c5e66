//! Text to token ids with a Hugging Face `tokenizer.json` (the `tokenizers` crate, pure Rust),
//! the same for every model that takes text.

use std::path::Path;

use crate::error::{EngineError, InputError, Result};

/// A tokenizer that never pads or truncates: text longer than `max_tokens` is refused.
pub struct TextTokenizer {
	inner: tokenizers::Tokenizer,
	max_tokens: usize,
}

/// One text's tokens, special tokens included.
pub struct Tokens {
	pub ids: Vec<u32>,
	/// Segment ids (all 0 for one text).
	pub type_ids: Vec<u32>,
}

impl TextTokenizer {
	pub fn load(path: &Path, max_tokens: usize) -> Result<Self> {
		let mut inner =
			tokenizers::Tokenizer::from_file(path).map_err(|e| EngineError::Model(format!("tokenizer: {e}")))?;
		inner.with_padding(None);
		inner.with_truncation(None).map_err(|e| EngineError::Model(format!("tokenizer: {e}")))?;
		Ok(Self { inner, max_tokens })
	}

	pub fn max_tokens(&self) -> usize {
		self.max_tokens
	}

	/// The tokens of `text`, refusing empty and over-long text.
	pub fn encode(&self, text: &str) -> Result<Tokens> {
		if text.trim().is_empty() {
			return Err(InputError::Empty.into());
		}
		let encoding = self.inner.encode(text, true).map_err(|e| EngineError::Model(format!("tokenizer: {e}")))?;
		let ids = encoding.get_ids().to_vec();
		if ids.len() > self.max_tokens {
			return Err(InputError::TextTooLong { tokens: ids.len(), limit: self.max_tokens }.into());
		}
		Ok(Tokens { type_ids: encoding.get_type_ids().to_vec(), ids })
	}
}
