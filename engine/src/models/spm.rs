//! The SentencePiece tokenizer a Llama GGUF file carries in its metadata
//! (`tokenizer.ggml.model = "llama"`): pieces, their scores and types, with byte fallback, as
//! llama.cpp tokenizes them.
//!
//! Encoding: spaces become `▁` (with one prepended when `add_space_prefix`), the text is split
//! into characters, and the adjacent pair whose concatenation is a piece with the highest score
//! is merged (the leftmost on a tie) until no pair is a piece. A character that is no piece is
//! spelled by its UTF-8 bytes (`<0xE2>`…), or is the unknown token. Decoding is the reverse;
//! control tokens (BOS, EOS) write nothing. Everything is integer and string work plus score
//! comparisons, so every worker gets the same ids.

use candle_core::quantized::gguf_file;
use std::collections::{BinaryHeap, HashMap};

use super::gguf::TokenizerMetadata;
use crate::error::Result;

const SPACE: char = '\u{2581}';
/// llama.cpp's token types.
const TYPE_CONTROL: i32 = 3;
const TYPE_BYTE: i32 = 6;

#[derive(Debug)]
pub struct SpmTokenizer {
	pieces: Vec<String>,
	scores: Vec<f32>,
	types: Vec<i32>,
	ids: HashMap<String, u32>,
	/// The token of each byte value, where the vocabulary has `<0xXX>`.
	bytes: [Option<u32>; 256],
	unknown: u32,
	pub bos: Option<u32>,
	pub eos: Option<u32>,
	add_space_prefix: bool,
}

/// The pair of adjacent symbols starting at `left`, ranked by its piece's score, then leftmost.
#[derive(PartialEq)]
struct Candidate {
	score: f32,
	left: usize,
	len: usize,
}

impl Eq for Candidate {}
impl PartialOrd for Candidate {
	fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
		Some(self.cmp(other))
	}
}
impl Ord for Candidate {
	fn cmp(&self, other: &Self) -> std::cmp::Ordering {
		self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
	}
}

impl SpmTokenizer {
	/// The tokenizer in a GGUF file's metadata, or `None` when it has none or another tokenizer
	/// model (e.g. `gpt2` BPE): such a model still runs on token ids.
	pub fn from_gguf(metadata: &HashMap<String, gguf_file::Value>, vocab: usize) -> Result<Option<Self>> {
		let Some(model) = metadata.get("tokenizer.ggml.model") else { return Ok(None) };
		let bad = TokenizerMetadata::bad;
		let model = model.to_string().map_err(|_| bad("tokenizer.ggml.model is not a string"))?;
		if model != "llama" {
			return Ok(None);
		}
		let fields = TokenizerMetadata { metadata, vocab };
		let pieces = fields.tokens()?;
		let scores: Vec<f32> = match fields.array("tokenizer.ggml.scores") {
			Some(v) => v.iter().map(|s| s.to_f32().map_err(|_| bad("a score is not an f32"))).collect::<Result<_>>()?,
			None => vec![0.0; vocab],
		};
		let types = fields.token_types()?;
		if scores.len() != vocab {
			return Err(bad("scores do not match the tokens"));
		}
		let id = |key: &str| fields.token_id(key);
		let flag = |key: &str, default: bool| metadata.get(key).and_then(|v| v.to_bool().ok()).unwrap_or(default);
		let mut bytes = [None; 256];
		for (i, piece) in pieces.iter().enumerate() {
			if types[i] == TYPE_BYTE {
				if let Some(b) = piece
					.strip_prefix("<0x")
					.and_then(|p| p.strip_suffix('>'))
					.and_then(|h| u8::from_str_radix(h, 16).ok())
				{
					bytes[b as usize] = Some(i as u32);
				}
			}
		}
		let ids = pieces.iter().enumerate().rev().map(|(i, p)| (p.clone(), i as u32)).collect();
		Ok(Some(Self {
			unknown: id("tokenizer.ggml.unknown_token_id")?.unwrap_or(0),
			bos: if flag("tokenizer.ggml.add_bos_token", true) { id("tokenizer.ggml.bos_token_id")? } else { None },
			eos: id("tokenizer.ggml.eos_token_id")?,
			add_space_prefix: flag("tokenizer.ggml.add_space_prefix", true),
			pieces,
			scores,
			types,
			ids,
			bytes,
		}))
	}

	/// A normal piece's id (control and byte tokens never come out of merging text).
	fn piece(&self, text: &str) -> Option<u32> {
		self.ids.get(text).copied().filter(|&id| !matches!(self.types[id as usize], TYPE_CONTROL | TYPE_BYTE))
	}

	/// The token ids of `text`, BOS first when the model adds it.
	pub fn encode(&self, text: &str) -> Vec<u32> {
		let mut normalized = String::with_capacity(text.len() + 3);
		if self.add_space_prefix {
			normalized.push(SPACE);
		}
		normalized.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
		// Symbols as byte ranges of `normalized`, linked left and right.
		let mut symbols: Vec<(usize, usize)> = normalized.char_indices().map(|(i, c)| (i, c.len_utf8())).collect();
		let count = symbols.len();
		let mut prev: Vec<Option<usize>> = (0..count).map(|i| i.checked_sub(1)).collect();
		let mut next: Vec<Option<usize>> = (0..count).map(|i| (i + 1 < count).then_some(i + 1)).collect();
		let mut alive = vec![true; count];
		let mut queue = BinaryHeap::new();
		let candidate = |symbols: &[(usize, usize)], left: usize, right: usize| {
			let (start, len) = (symbols[left].0, symbols[left].1 + symbols[right].1);
			self.piece(&normalized[start..start + len]).map(|id| Candidate {
				score: self.scores[id as usize],
				left,
				len,
			})
		};
		for i in 1..count {
			queue.extend(candidate(&symbols, i - 1, i));
		}
		while let Some(Candidate { left, len, .. }) = queue.pop() {
			// Skip pairs that changed since they were queued.
			let Some(right) = next[left] else { continue };
			if !alive[left] || symbols[left].1 + symbols[right].1 != len {
				continue;
			}
			symbols[left].1 = len;
			alive[right] = false;
			next[left] = next[right];
			if let Some(after) = next[right] {
				prev[after] = Some(left);
				queue.extend(candidate(&symbols, left, after));
			}
			if let Some(before) = prev[left] {
				queue.extend(candidate(&symbols, before, left));
			}
		}
		let mut ids: Vec<u32> = self.bos.into_iter().collect();
		let mut at = (count > 0).then_some(0);
		while let Some(i) = at {
			let (start, len) = symbols[i];
			let text = &normalized[start..start + len];
			match self.piece(text) {
				Some(id) => ids.push(id),
				None => {
					for b in text.bytes() {
						ids.push(self.bytes[b as usize].unwrap_or(self.unknown));
					}
				},
			}
			at = next[i];
		}
		ids
	}

	/// The text of `ids`: pieces with `▁` as spaces, byte tokens as their bytes (invalid UTF-8
	/// replaced), control tokens omitted, the prefix space dropped.
	pub fn decode(&self, ids: &[u32]) -> String {
		let mut bytes = Vec::new();
		for &id in ids {
			let Some(piece) = self.pieces.get(id as usize) else { continue };
			match self.types[id as usize] {
				TYPE_CONTROL => {},
				TYPE_BYTE => bytes.extend(self.bytes.iter().position(|b| *b == Some(id)).map(|b| b as u8)),
				_ => bytes.extend(piece.replace(SPACE, " ").into_bytes()),
			}
		}
		let text = String::from_utf8_lossy(&bytes).into_owned();
		match text.strip_prefix(' ') {
			Some(rest) if self.add_space_prefix => rest.to_string(),
			_ => text,
		}
	}

	/// Whether `id` ends generation.
	pub fn is_end(&self, id: u32) -> bool {
		self.eos == Some(id)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use gguf_file::Value as V;

	fn tokenizer(pieces: &[(&str, f32, i32)]) -> SpmTokenizer {
		let metadata = HashMap::from([
			("tokenizer.ggml.model".to_string(), V::String("llama".into())),
			("tokenizer.ggml.tokens".into(), V::Array(pieces.iter().map(|p| V::String(p.0.into())).collect())),
			("tokenizer.ggml.scores".into(), V::Array(pieces.iter().map(|p| V::F32(p.1)).collect())),
			("tokenizer.ggml.token_type".into(), V::Array(pieces.iter().map(|p| V::I32(p.2)).collect())),
			("tokenizer.ggml.bos_token_id".into(), V::U32(1)),
			("tokenizer.ggml.eos_token_id".into(), V::U32(2)),
		]);
		SpmTokenizer::from_gguf(&metadata, pieces.len()).unwrap().unwrap()
	}

	#[test]
	fn merges_by_score_falls_back_to_bytes_and_round_trips() {
		let t = tokenizer(&[
			("<unk>", 0.0, 2),
			("<s>", 0.0, 3),
			("</s>", 0.0, 3),
			("<0x21>", 0.0, 6),
			("<0xC3>", 0.0, 6),
			("<0xA9>", 0.0, 6),
			("▁", -1.0, 1),
			("a", -2.0, 1),
			("b", -2.0, 1),
			("c", -2.0, 1),
			("ab", -3.0, 1),
			("bc", -0.5, 1),
			("▁a", -0.1, 1),
			("▁abc", -5.0, 1),
		]);
		// "▁a" (-0.1) merges first, then "bc" (-0.5); "ab" is gone with its "a"; then "▁a"+"bc"
		// is the piece "▁abc", whatever its score.
		assert_eq!(t.encode("abc"), [1, 13]);
		assert_eq!(t.encode("bca"), [1, 6, 11, 7]);
		// Unknown characters are spelled in bytes, or unknown without a byte token.
		assert_eq!(t.encode("a!é"), [1, 12, 3, 4, 5]);
		assert_eq!(t.encode("a?"), [1, 12, 0]);
		assert_eq!(t.decode(&t.encode("a!é")), "a!é");
		assert_eq!(t.decode(&[1, 12, 6, 7, 2]), "a a");
		// A tie goes to the leftmost pair.
		let tie = tokenizer(&[
			("<unk>", 0.0, 2),
			("<s>", 0.0, 3),
			("</s>", 0.0, 3),
			("▁", 0.0, 1),
			("x", 0.0, 1),
			("xx", -1.0, 1),
		]);
		assert_eq!(tie.encode("xxx"), [1, 3, 5, 4]);
	}

	#[test]
	fn other_tokenizer_models_are_left_out_and_bad_metadata_refused() {
		let metadata = HashMap::from([("tokenizer.ggml.model".to_string(), V::String("gpt2".into()))]);
		assert!(SpmTokenizer::from_gguf(&metadata, 4).unwrap().is_none());
		assert!(SpmTokenizer::from_gguf(&HashMap::new(), 4).unwrap().is_none());
		let metadata = HashMap::from([
			("tokenizer.ggml.model".to_string(), V::String("llama".into())),
			("tokenizer.ggml.tokens".into(), V::Array(vec![V::String("a".into())])),
		]);
		assert!(SpmTokenizer::from_gguf(&metadata, 4)
			.unwrap_err()
			.to_string()
			.contains("1 tokens for a vocabulary of 4"));
	}
}
