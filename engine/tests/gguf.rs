//! GGUF files as llama.cpp's own `gguf` Python package writes them: every tensor type the engine
//! loads reads back, bit for bit, as the package's reference dequantization; any other type is
//! refused by name.

use opg_engine::models::gguf::dequantized;
use std::process::Command;

#[test]
fn every_supported_gguf_type_reads_back_as_the_reference_dequantization() {
	let dir = tempfile::tempdir().expect("temp dir");
	let path = dir.path().join("types.gguf");
	let script = std::path::PathBuf::from(
		std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
	)
	.join("tests/scripts/gguf_types.py");
	let run = Command::new("python3").arg(script).arg(&path).output().expect("python3 runs");
	assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
	eprintln!("{}", String::from_utf8_lossy(&run.stdout).trim());
	for name in ["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"] {
		let bytes = std::fs::read(dir.path().join(format!("types.gguf.{name}.f32"))).expect("reference");
		let reference: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
		let (shape, values) = dequantized(&path, name).unwrap_or_else(|e| panic!("{name}: {e}"));
		assert_eq!(shape, vec![4, 512], "{name}");
		assert!(values.iter().all(|v| v.is_finite()), "{name}: finite");
		let differ = values.iter().zip(&reference).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
		assert_eq!((values.len(), differ), (reference.len(), 0), "{name}: elements that differ from the reference");
	}
	let refused = dequantized(&path, "q2_k").expect_err("Q2_K is not loaded").to_string();
	assert!(refused.contains("Q2_K") && refused.contains("does not load") && refused.contains("Q6_K"), "{refused}");
}
