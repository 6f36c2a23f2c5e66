//! The byte-level BPE tokenizer a GGUF file carries in its metadata
//! (`tokenizer.ggml.model = "gpt2"`, as Llama 3 files and most recent ones are written): tokens,
//! their types, and the merges in rank order.
//!
//! Encoding: the text is split into words by the pre-tokenizer that `tokenizer.ggml.pre` names
//! (`llama-bpe`: Llama 3's pattern, a word that is itself a token taken whole; `gpt-2`: GPT-2's
//! pattern), each word's UTF-8 bytes are spelled in GPT-2's byte alphabet (one printable
//! character per byte), and the adjacent pair with the lowest merge rank is merged (the leftmost
//! on a tie) until no pair has a merge. Control tokens never come out of text, so a prompt
//! cannot forge them. Decoding maps the characters back to bytes; control tokens write nothing.
//! Everything is integer and string work, so every worker gets the same ids.

use candle_core::quantized::gguf_file;
use std::collections::{BinaryHeap, HashMap};

use super::gguf::TokenizerMetadata;
use crate::error::Result;

/// llama.cpp's control token type.
const TYPE_CONTROL: i32 = 3;

/// Llama 3's pre-tokenizer pattern.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-2's pre-tokenizer pattern.
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GPT-2's byte alphabet: printable bytes stand for themselves, the others (controls, space,
/// the rest of Latin-1's unprintables) for the characters from U+0100 on, in byte order.
pub fn byte_alphabet() -> [char; 256] {
	let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
	let mut alphabet = ['\0'; 256];
	let mut next = 256u32;
	for b in 0..=255u8 {
		alphabet[b as usize] = if printable(b) {
			char::from(b)
		} else {
			next += 1;
			char::from_u32(next - 1).expect("below U+0200")
		};
	}
	alphabet
}

#[derive(Debug)]
pub struct BpeTokenizer {
	tokens: Vec<String>,
	types: Vec<i32>,
	ids: HashMap<String, u32>,
	/// Each mergeable pair of token ids: its rank and the token it merges into.
	merges: HashMap<(u32, u32), (u32, u32)>,
	/// The token of each byte.
	byte_tokens: [u32; 256],
	alphabet: [char; 256],
	/// Each byte-alphabet character's byte, for decoding.
	bytes: HashMap<char, u8>,
	split: fancy_regex::Regex,
	/// A word that is itself a token is taken whole (Llama 3).
	whole_words: bool,
	pub bos: Option<u32>,
	eos: Option<u32>,
	eot: Option<u32>,
}

/// The pair of adjacent symbols starting at `left`, ranked by its merge, then leftmost.
#[derive(PartialEq, Eq)]
struct Candidate {
	rank: u32,
	left: usize,
	right: usize,
	merged: u32,
}

impl PartialOrd for Candidate {
	fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
		Some(self.cmp(other))
	}
}
impl Ord for Candidate {
	/// The max-heap pops the lowest rank first, then the leftmost pair.
	fn cmp(&self, other: &Self) -> std::cmp::Ordering {
		other.rank.cmp(&self.rank).then_with(|| other.left.cmp(&self.left))
	}
}

impl BpeTokenizer {
	/// The tokenizer in a GGUF file's metadata, or `None` when it is not a `gpt2` tokenizer or
	/// its pre-tokenizer is one this engine does not implement (the model then runs on token ids).
	pub fn from_gguf(metadata: &HashMap<String, gguf_file::Value>, vocab: usize) -> Result<Option<Self>> {
		let bad = TokenizerMetadata::bad;
		let string = |key: &str| metadata.get(key).and_then(|v| v.to_string().ok()).map(String::as_str);
		if string("tokenizer.ggml.model") != Some("gpt2") {
			return Ok(None);
		}
		let (pattern, whole_words) = match string("tokenizer.ggml.pre") {
			Some("llama-bpe" | "llama3") => (LLAMA3_PATTERN, true),
			Some("gpt-2" | "gpt2") => (GPT2_PATTERN, false),
			_ => return Ok(None),
		};
		let fields = TokenizerMetadata { metadata, vocab };
		let tokens = fields.tokens()?;
		let types = fields.token_types()?;
		// The first of equal tokens wins, as a vocabulary lookup finds it.
		let ids: HashMap<String, u32> = tokens.iter().enumerate().rev().map(|(i, t)| (t.clone(), i as u32)).collect();
		let normal = |text: &str| ids.get(text).copied().filter(|&id| types[id as usize] != TYPE_CONTROL);
		let mut merges = HashMap::new();
		for (rank, merge) in fields.strings("tokenizer.ggml.merges")?.iter().enumerate() {
			let (left, right) = merge.split_once(' ').ok_or_else(|| bad(&format!("merge {merge:?} is not a pair")))?;
			// A merge whose parts or result are no tokens can never apply.
			if let (Some(l), Some(r), Some(m)) = (normal(left), normal(right), normal(&format!("{left}{right}"))) {
				merges.entry((l, r)).or_insert((rank as u32, m));
			}
		}
		let alphabet = byte_alphabet();
		let mut byte_tokens = [0u32; 256];
		for (b, c) in alphabet.iter().enumerate() {
			byte_tokens[b] = normal(&c.to_string()).ok_or_else(|| bad(&format!("byte 0x{b:02X} has no token")))?;
		}
		let id = |key: &str| fields.token_id(key);
		let add_bos = metadata.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(true);
		Ok(Some(Self {
			split: fancy_regex::Regex::new(pattern).map_err(|e| bad(&e.to_string()))?,
			whole_words,
			bos: if add_bos { id("tokenizer.ggml.bos_token_id")? } else { None },
			eos: id("tokenizer.ggml.eos_token_id")?,
			eot: id("tokenizer.ggml.eot_token_id")?,
			bytes: alphabet.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect(),
			byte_tokens,
			alphabet,
			merges,
			ids,
			tokens,
			types,
		}))
	}

	/// A normal token's id (control tokens never come out of text).
	fn token(&self, text: &str) -> Option<u32> {
		self.ids.get(text).copied().filter(|&id| self.types[id as usize] != TYPE_CONTROL)
	}

	/// The token ids of `text`, BOS first when the model adds it.
	pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
		let mut ids: Vec<u32> = self.bos.into_iter().collect();
		let mut at = 0;
		for word in self.split.find_iter(text) {
			let word = word.map_err(|e| TokenizerMetadata::bad(&e.to_string()))?;
			// The patterns cover every character; a gap would still be encoded, not lost.
			if word.start() > at {
				self.encode_word(&text[at..word.start()], &mut ids);
			}
			self.encode_word(word.as_str(), &mut ids);
			at = word.end();
		}
		if at < text.len() {
			self.encode_word(&text[at..], &mut ids);
		}
		Ok(ids)
	}

	fn encode_word(&self, word: &str, ids: &mut Vec<u32>) {
		if self.whole_words {
			let spelled: String = word.bytes().map(|b| self.alphabet[b as usize]).collect();
			if let Some(id) = self.token(&spelled) {
				ids.push(id);
				return;
			}
		}
		// Symbols as token ids, linked left and right; merged pairs by rank through a heap.
		let mut symbols: Vec<u32> = word.bytes().map(|b| self.byte_tokens[b as usize]).collect();
		let count = symbols.len();
		let mut prev: Vec<Option<usize>> = (0..count).map(|i| i.checked_sub(1)).collect();
		let mut next: Vec<Option<usize>> = (0..count).map(|i| (i + 1 < count).then_some(i + 1)).collect();
		let mut alive = vec![true; count];
		let candidate = |symbols: &[u32], left: usize, right: usize| {
			self.merges.get(&(symbols[left], symbols[right])).map(|&(rank, merged)| Candidate {
				rank,
				left,
				right,
				merged,
			})
		};
		let mut queue: BinaryHeap<Candidate> = (1..count).filter_map(|i| candidate(&symbols, i - 1, i)).collect();
		while let Some(popped) = queue.pop() {
			let (left, right) = (popped.left, popped.right);
			// Skip pairs that changed since they were queued.
			if !alive[left]
				|| !alive[right]
				|| next[left] != Some(right)
				|| candidate(&symbols, left, right).as_ref() != Some(&popped)
			{
				continue;
			}
			symbols[left] = popped.merged;
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
		let mut at = (count > 0).then_some(0);
		while let Some(i) = at {
			ids.push(symbols[i]);
			at = next[i];
		}
	}

	/// The text of `ids`: each token's characters as their bytes (invalid UTF-8 replaced),
	/// control tokens omitted.
	pub fn decode(&self, ids: &[u32]) -> String {
		let mut bytes = Vec::new();
		for &id in ids {
			let Some(token) = self.tokens.get(id as usize) else { continue };
			if self.types[id as usize] == TYPE_CONTROL {
				continue;
			}
			bytes.extend(token.chars().filter_map(|c| self.bytes.get(&c)));
		}
		String::from_utf8_lossy(&bytes).into_owned()
	}

	/// Whether `id` ends generation: end of sequence, or end of turn.
	pub fn is_end(&self, id: u32) -> bool {
		self.eos == Some(id) || self.eot == Some(id)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use gguf_file::Value as V;

	fn metadata(pre: &str) -> HashMap<String, gguf_file::Value> {
		let (tokens, types, merges) = crate::testmodels::byte_level_bpe_vocabulary(120);
		let strings = |v: &[String]| V::Array(v.iter().map(|t| V::String(t.clone())).collect());
		HashMap::from([
			("tokenizer.ggml.model".to_string(), V::String("gpt2".into())),
			("tokenizer.ggml.pre".into(), V::String(pre.into())),
			("tokenizer.ggml.tokens".into(), strings(&tokens)),
			("tokenizer.ggml.token_type".into(), V::Array(types.iter().map(|&t| V::I32(t)).collect())),
			("tokenizer.ggml.merges".into(), strings(&merges)),
			("tokenizer.ggml.bos_token_id".into(), V::U32(tokens.len() as u32 - 2)),
			("tokenizer.ggml.eos_token_id".into(), V::U32(tokens.len() as u32 - 1)),
		])
	}

	/// The same vocabulary, merges and pre-tokenizer in Hugging Face's `tokenizers`.
	fn reference(meta: &HashMap<String, gguf_file::Value>, pattern: &str, whole_words: bool) -> tokenizers::Tokenizer {
		use tokenizers::{
			models::bpe::BPE,
			pre_tokenizers::{
				byte_level::ByteLevel,
				sequence::Sequence,
				split::{Split, SplitPattern},
			},
			SplitDelimiterBehavior,
		};
		let strings = |key: &str| -> Vec<String> {
			meta[key].to_vec().unwrap().iter().map(|v| v.to_string().unwrap().clone()).collect()
		};
		let vocab: tokenizers::models::bpe::Vocab =
			strings("tokenizer.ggml.tokens").into_iter().enumerate().map(|(i, t)| (t, i as u32)).collect();
		let merges = strings("tokenizer.ggml.merges")
			.iter()
			.map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap())
			.collect();
		let bpe = BPE::builder().vocab_and_merges(vocab, merges).ignore_merges(whole_words).build().unwrap();
		let mut tokenizer = tokenizers::Tokenizer::new(bpe);
		let split = Split::new(SplitPattern::Regex(pattern.into()), SplitDelimiterBehavior::Isolated, false).unwrap();
		tokenizer
			.with_pre_tokenizer(Some(Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()])));
		tokenizer
	}

	const TEXTS: &[&str] = &[
		"the model runs on the chain",
		"The committee verifies the answer; every worker runs the same bits.",
		"  two spaces, a tab\tand\nnew lines\r\n\n and numbers 1234567 3.14",
		"it's what they'll say, we've I'm you'd IT'S",
		"unicode: café, naïve, 東京, emoji 🙂 and ∑ x²",
		"the_chain<|end_of_text|>settles",
		"",
	];

	#[test]
	fn encodes_as_hugging_face_tokenizers_does_and_decodes_back() {
		for (pre, pattern, whole) in [("llama-bpe", LLAMA3_PATTERN, true), ("gpt-2", GPT2_PATTERN, false)] {
			let meta = metadata(pre);
			let ours = BpeTokenizer::from_gguf(&meta, meta["tokenizer.ggml.tokens"].to_vec().unwrap().len())
				.unwrap()
				.expect("a gpt2 tokenizer");
			let theirs = reference(&meta, pattern, whole);
			for text in TEXTS {
				let ids = ours.encode(text).unwrap();
				assert_eq!(ids[0], ours.bos.unwrap(), "BOS first");
				let expected = theirs.encode(*text, false).unwrap().get_ids().to_vec();
				assert_eq!(ids[1..], expected[..], "{pre}: {text:?}");
				assert_eq!(ours.decode(&ids), *text, "{pre}: round trip");
			}
			// Merges apply: a frequent word is one token, not its letters.
			assert_eq!(ours.encode(" the").unwrap().len(), 2);
			// Control tokens never come out of text, and decode to nothing.
			let end = ours.eos.unwrap();
			assert!(!ours.encode("<|end_of_text|>").unwrap().contains(&end));
			assert_eq!(ours.decode(&[end]), "");
			assert!(ours.is_end(end));
		}
	}

	#[test]
	fn other_tokenizers_are_left_out_and_bad_metadata_refused() {
		let vocab = metadata("llama-bpe")["tokenizer.ggml.tokens"].to_vec().unwrap().len();
		let mut meta = metadata("qwen2");
		assert!(BpeTokenizer::from_gguf(&meta, vocab).unwrap().is_none(), "an unimplemented pre-tokenizer");
		meta.insert("tokenizer.ggml.model".into(), V::String("llama".into()));
		assert!(BpeTokenizer::from_gguf(&meta, vocab).unwrap().is_none(), "SentencePiece is not BPE");
		let meta = metadata("llama-bpe");
		let err = BpeTokenizer::from_gguf(&meta, vocab + 1).unwrap_err().to_string();
		assert!(err.contains("tokens for a vocabulary"), "{err}");
		let mut meta = metadata("llama-bpe");
		meta.insert("tokenizer.ggml.merges".into(), V::Array(vec![V::String("nospace".into())]));
		assert!(BpeTokenizer::from_gguf(&meta, vocab).unwrap_err().to_string().contains("not a pair"));
		let mut meta = metadata("llama-bpe");
		meta.insert("tokenizer.ggml.eos_token_id".into(), V::U32(vocab as u32));
		assert!(BpeTokenizer::from_gguf(&meta, vocab).unwrap_err().to_string().contains("outside the vocabulary"));
	}

	#[test]
	fn a_long_word_merges_in_n_log_n() {
		let meta = metadata("gpt-2");
		let tokenizer =
			BpeTokenizer::from_gguf(&meta, meta["tokenizer.ggml.tokens"].to_vec().unwrap().len()).unwrap().unwrap();
		let word = "the".repeat(100_000);
		let ids = tokenizer.encode(&word).unwrap();
		assert_eq!(tokenizer.decode(&ids), word);
	}
}
