//! GGUF tokenizers: any file either fails to parse with an error, or yields a tokenizer (or
//! none) from its metadata with an error for bad metadata; a tokenizer encodes any text and
//! decodes any ids without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opg_engine::models::gguf::{read_content, GgufTokenizer};

fuzz_target!(|data: &[u8]| {
	// The first byte splits the input into a file and a text.
	let Some((&split, rest)) = data.split_first() else { return };
	let (file, text) = rest.split_at((split as usize * rest.len()) / 255);
	let Ok(content) = read_content(&mut std::io::Cursor::new(file)) else { return };
	let vocab = content.metadata.get("tokenizer.ggml.tokens").and_then(|t| t.to_vec().ok()).map_or(0, |t| t.len());
	let Ok(Some(tokenizer)) = GgufTokenizer::from_gguf(&content.metadata, vocab) else { return };
	let text = String::from_utf8_lossy(text);
	if let Ok(ids) = tokenizer.encode(&text) {
		let _ = tokenizer.decode(&ids);
	}
	let ids: Vec<u32> = file.chunks(4).map(|c| c.iter().fold(0u32, |a, &b| a << 8 | u32::from(b))).collect();
	let _ = tokenizer.decode(&ids);
});
