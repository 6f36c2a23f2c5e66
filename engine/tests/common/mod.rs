//! Shared by the engine's integration tests: the generated test models, the real
//! all-MiniLM-L6-v2 bundle, and helpers to load and compare.
#![allow(dead_code)]

use opg_engine::{testmodels, ExecutionProfile, Model, ModelStore, Value};
use std::{
	path::{Path, PathBuf},
	sync::OnceLock,
};

/// The seeded test models, generated once per test binary.
pub fn models_dir() -> &'static Path {
	static DIR: OnceLock<PathBuf> = OnceLock::new();
	DIR.get_or_init(|| {
		let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("opg-engine-models-{}", std::process::id()));
		testmodels::write_all(&dir).expect("test models are written");
		dir
	})
}

/// The published all-MiniLM-L6-v2 files (see `testmodels::minilm_source`).
pub fn minilm_source() -> PathBuf {
	testmodels::minilm_source().unwrap_or_else(|e| panic!("{e}"))
}

/// The MiniLM bundle, made once per test binary.
pub fn minilm_bundle() -> &'static Path {
	static DIR: OnceLock<PathBuf> = OnceLock::new();
	DIR.get_or_init(|| {
		let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("opg-engine-minilm-{}", std::process::id()));
		testmodels::write_sentence_bert_bundle(&minilm_source(), &dir).expect("MiniLM bundle is written");
		dir
	})
}

/// Import a bundle into a fresh store and load it.
pub fn load(dir: &Path, profile: ExecutionProfile) -> Model {
	let store_dir = tempfile::tempdir().expect("temp dir");
	let store = ModelStore::open(store_dir.path()).expect("store opens");
	let id = store.import_dir(dir, u64::MAX).expect("bundle imports");
	Model::load(&store.open_model(&id).expect("verified"), profile).expect("model loads")
}

pub fn f32s(v: &Value) -> Vec<f32> {
	match v {
		Value::F32 { bits, .. } => bits.iter().map(|b| f32::from_bits(*b)).collect(),
		other => panic!("expected an f32 tensor, got {other:?}"),
	}
}

/// Largest distance in units in the last place between two f32 tensors.
pub fn max_ulps(a: &Value, b: &Value) -> u64 {
	let ord = |x: f32| -> i64 {
		let bits = x.to_bits();
		let mag = (bits & 0x7fff_ffff) as i64;
		if bits >> 31 == 1 {
			-mag
		} else {
			mag
		}
	};
	f32s(a).iter().zip(f32s(b)).map(|(x, y)| ord(*x).abs_diff(ord(y))).max().unwrap_or(0)
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
	let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
	let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
	let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
	dot / (na * nb)
}
