//! Hostile bytes and values never panic the engine: the manifest and input decoders, and every
//! model's input checks, answer with a typed error.

mod common;

use codec::Encode;
use common::{load, models_dir};
use opg_engine::{
	decode_input, testmodels, EngineError, ExecutionProfile, InputError, Manifest, Model, NamedTensor, TensorValue,
	Value,
};
use proptest::prelude::*;
use std::sync::OnceLock;

fn mlp() -> &'static Model {
	static M: OnceLock<Model> = OnceLock::new();
	M.get_or_init(|| load(&models_dir().join(testmodels::ONNX_MLP), ExecutionProfile::Portable))
}

fn llama() -> &'static Model {
	static M: OnceLock<Model> = OnceLock::new();
	M.get_or_init(|| load(&models_dir().join(testmodels::TINY_LLAMA), ExecutionProfile::Portable))
}

/// The integer graphs a request input can push to their edges (÷0, overflow, an input-sized
/// broadcast), in both profiles.
fn integer_graphs() -> &'static [Model] {
	static M: OnceLock<Vec<Model>> = OnceLock::new();
	M.get_or_init(|| {
		let graphs = [
			testmodels::onnx_int_divider_bytes(),
			testmodels::onnx_int_affine_bytes(),
			testmodels::onnx_outer_sum_bytes(),
		];
		let mut models = Vec::new();
		for bytes in graphs {
			let dir = tempfile::tempdir().expect("temp dir");
			testmodels::write_onnx_graph(dir.path(), &bytes).expect("bundle");
			for profile in [ExecutionProfile::Portable, ExecutionProfile::Fast] {
				models.push(load(dir.path(), profile));
			}
		}
		models
	})
}

/// Graphs with named inputs of every type, and inputs that pick indices and sizes.
fn named_graphs() -> &'static [Model] {
	static M: OnceLock<Vec<Model>> = OnceLock::new();
	M.get_or_init(|| {
		let mut models = Vec::new();
		for bytes in [testmodels::onnx_multi_io_bytes(), testmodels::onnx_index_and_size_bytes()] {
			let dir = tempfile::tempdir().expect("temp dir");
			testmodels::write_onnx_graph(dir.path(), &bytes).expect("bundle");
			for profile in [ExecutionProfile::Portable, ExecutionProfile::Fast] {
				models.push(load(dir.path(), profile));
			}
		}
		models
	})
}

fn tensor() -> impl Strategy<Value = TensorValue> {
	let shape = || prop::collection::vec(0u32..8, 0..4);
	prop_oneof![
		(shape(), prop::collection::vec(any::<u32>(), 0..64))
			.prop_map(|(shape, bits)| TensorValue::F32 { shape, bits }),
		(shape(), prop::collection::vec(-8i64..8, 0..64)).prop_map(|(shape, data)| TensorValue::I64 { shape, data }),
		(shape(), prop::collection::vec(any::<i64>(), 0..4)).prop_map(|(shape, data)| TensorValue::I64 { shape, data }),
		(shape(), prop::collection::vec(any::<i32>(), 0..64))
			.prop_map(|(shape, data)| TensorValue::I32 { shape, data }),
		(shape(), prop::collection::vec(any::<bool>(), 0..64))
			.prop_map(|(shape, data)| TensorValue::Bool { shape, data }),
		(shape(), prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..8))
			.prop_map(|(shape, data)| TensorValue::Str { shape, data }),
	]
}

fn value() -> impl Strategy<Value = Value> {
	let names = prop::sample::select(vec!["a", "b", "count", "ids", "mask", "shape", "x"]);
	prop_oneof![
		prop::collection::vec((names, tensor()), 0..5).prop_map(|tensors| Value::Tensors(
			tensors.into_iter().map(|(n, tensor)| NamedTensor { name: n.as_bytes().to_vec(), tensor }).collect()
		)),
		(prop::collection::vec(0u32..600, 0..4), prop::collection::vec(any::<u32>(), 0..1100))
			.prop_map(|(shape, bits)| Value::F32 { shape, bits }),
		(prop::collection::vec(0u32..600, 0..4), prop::collection::vec(any::<i64>(), 0..64))
			.prop_map(|(shape, data)| Value::I64 { shape, data }),
		prop::collection::vec(any::<u8>(), 0..64).prop_map(Value::Text),
		prop::collection::vec(0u32..300, 0..40).prop_map(Value::Tokens),
	]
}

proptest! {
	#![proptest_config(ProptestConfig::with_cases(300))]

	#[test]
	fn input_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
		match decode_input(&bytes) {
			Ok(v) => prop_assert_eq!(v.encode(), bytes),
			Err(e) => prop_assert!(matches!(e, EngineError::Input(InputError::Undecodable(_))), "{}", e),
		}
	}

	#[test]
	fn manifest_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), text in ".{0,200}") {
		let _ = Manifest::from_canonical(&bytes);
		let _ = Manifest::from_json(&bytes);
		let _ = Manifest::from_json(text.as_bytes());
		let json = format!("{{\"model\":{{\"format\":\"onnx\",\"graph\":{text:?}}},\"files\":[{{\"path\":{text:?},\"size\":1,\"blake2_256\":\"{}\"}}]}}", "0".repeat(64));
		if let Ok(m) = Manifest::from_json(json.as_bytes()) {
			prop_assert_eq!(Manifest::from_canonical(&m.canonical_encoding()).unwrap(), m);
		}
	}

	/// Hostile graphs: the committed exporter-layout graphs and a tree ensemble with bytes
	/// changed at random either fail to import with an error or load and answer their inputs
	/// with an output or a refusal. Nothing panics, loops or allocates without bound.
	#[test]
	fn mutated_graphs_are_refused_or_run(
		which in 0usize..4,
		edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
	) {
		use opg_engine::models::onnx::{parse_checked, OnnxModel};
		let (mut bytes, input) = match which {
			3 => (testmodels::onnx_looping_tree_bytes(), Value::F32 { shape: vec![1, 2], bits: vec![0, 0] }),
			i => {
				let input = if i == 0 { testmodels::golden_bert_input() } else { testmodels::golden_image() };
				(testmodels::EXPORTED_LAYOUT_GRAPHS[i].1.to_vec(), input)
			},
		};
		for (at, byte) in edits {
			let i = at.index(bytes.len());
			bytes[i] = byte;
		}
		let Ok(proto) = parse_checked(&bytes) else { return Ok(()) };
		for profile in [ExecutionProfile::Portable, ExecutionProfile::Fast] {
			if let Ok(model) = OnnxModel::from_proto(profile, proto.clone()) {
				match model.run(&input) {
					Ok(_) | Err(EngineError::Input(_)) | Err(EngineError::Model(_)) | Err(EngineError::UnsupportedOperators(_)) => {},
					Err(other) => prop_assert!(false, "unexpected error {}", other),
				}
			}
		}
	}

	#[test]
	fn models_answer_any_value_with_an_output_or_a_typed_error(v in value()) {
		for model in [mlp(), llama()].into_iter().chain(integer_graphs()) {
			match model.run(&v) {
				Ok(_) | Err(EngineError::Input(_)) => {},
				Err(other) => prop_assert!(false, "unexpected error {}", other),
			}
		}
		// Graphs whose computation an input can break answer with an output or a refusal.
		for model in named_graphs() {
			prop_assert!(model.answer(&v.encode()).is_ok());
		}
	}
}
