//! The engine computes what the reference runtime computes: all-MiniLM-L6-v2 and the ONNX MLP
//! run by onnxruntime (engine/reference/onnx_reference.py, MiniLM exported op by op from the same
//! checkpoint) agree with both profiles.

mod common;

use common::{cosine, f32s, load, minilm_bundle, minilm_source, models_dir};
use opg_engine::{testmodels, ExecutionProfile, Value};
use std::{path::Path, process::Command};

/// Every profile the engine runs: portable v1 and v2, and fast.
const PROFILES: [ExecutionProfile; 3] =
	[ExecutionProfile::Portable, ExecutionProfile::portable(2), ExecutionProfile::Fast];

fn reference(args: &[&str]) -> Vec<Vec<f32>> {
	let script = std::path::PathBuf::from(
		std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
	)
	.join("reference/onnx_reference.py");
	let out = Command::new("python3").arg(script).args(args).output().expect("python3 runs");
	assert!(out.status.success(), "reference run failed: {}", String::from_utf8_lossy(&out.stderr));
	String::from_utf8(out.stdout)
		.expect("utf-8")
		.lines()
		.map(|l| {
			let v: serde_json::Value = serde_json::from_str(l).expect("json");
			let flat: Vec<f32> = match v {
				serde_json::Value::Array(items) => items
					.iter()
					.flat_map(|x| match x {
						serde_json::Value::Array(row) => {
							row.iter().map(|y| y.as_f64().unwrap() as f32).collect::<Vec<_>>()
						},
						other => vec![other.as_f64().unwrap() as f32],
					})
					.collect(),
				_ => panic!("expected an array"),
			};
			flat
		})
		.collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
	assert_eq!(a.len(), b.len());
	a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// `output` has `expected`'s tensors, in order and by name (a lone f32 output stands for the
/// one expected tensor): f32 within 1e-4 of onnxruntime's, every other type exactly.
fn assert_matches_onnxruntime(label: &str, output: &Value, expected: &[opg_engine::NamedTensor]) {
	use opg_engine::TensorValue;
	let got: Vec<(Option<Vec<u8>>, TensorValue)> = match output.clone() {
		Value::Tensors(tensors) => tensors.into_iter().map(|t| (Some(t.name), t.tensor)).collect(),
		Value::F32 { shape, bits } => vec![(None, TensorValue::F32 { shape, bits })],
		other => panic!("{label}: unexpected output {other:?}"),
	};
	assert_eq!(got.len(), expected.len(), "{label}: output count");
	for ((name, g), e) in got.into_iter().zip(expected) {
		let what = String::from_utf8_lossy(&e.name);
		if let Some(name) = name {
			assert_eq!(name, e.name, "{label}: output order");
		}
		match (&g, &e.tensor) {
			(TensorValue::F32 { shape: gs, bits: gb }, TensorValue::F32 { shape: es, bits: eb }) => {
				assert_eq!(gs, es, "{label} {what}: shape");
				let f = |b: &[u32]| b.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>();
				let diff = max_abs_diff(&f(gb), &f(eb));
				eprintln!("{label} {what}: max |diff| {diff:e}");
				assert!(diff <= 1e-4, "{label} {what}: max |diff| {diff}");
			},
			(g, e) => assert_eq!(g, e, "{label} {what}"),
		}
	}
}

/// A committed model run by tests/scripts/ort_reference.py: its bundle, input and onnxruntime's
/// outputs.
fn onnxruntime_reference(work: &Path, onnx: &Path) -> (std::path::PathBuf, Value, Vec<opg_engine::NamedTensor>) {
	use opg_engine::value_json;
	let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/ort_reference.py");
	let io = work.join("io.json");
	let out = Command::new("python3").arg(&script).args([onnx.as_os_str(), io.as_os_str()]).output().unwrap();
	assert!(out.status.success(), "ort_reference.py failed: {}", String::from_utf8_lossy(&out.stderr));
	let io: serde_json::Value = serde_json::from_slice(&std::fs::read(&io).unwrap()).unwrap();
	let mut input = value_json::value_from_json(&io["inputs"]).unwrap();
	// A graph with one f32 input takes a lone tensor.
	if let Value::Tensors(tensors) = &input {
		if let [opg_engine::NamedTensor { tensor: opg_engine::TensorValue::F32 { shape, bits }, .. }] = &tensors[..] {
			input = Value::F32 { shape: shape.clone(), bits: bits.clone() };
		}
	}
	let Value::Tensors(expected) = value_json::value_from_json(&io["outputs"]).unwrap() else { panic!("outputs") };
	let bundle = work.join("bundle");
	testmodels::write_onnx_graph(&bundle, &std::fs::read(onnx).unwrap()).unwrap();
	(bundle, input, expected)
}

/// Models exported by the real tools and committed under engine/testdata (written by
/// tests/scripts/torch_exports.py; versions in engine/testdata/README.md): Hugging Face's
/// `BertModel` through `torch.onnx` at opsets 14 and 17, torchvision's ResNet-18 (quarter width)
/// and MobileNetV2 (width 0.25). Each agrees with onnxruntime in both profiles on a batch of two,
/// and the portable answer is the same on a second load.
#[test]
fn models_exported_by_torch_match_onnxruntime() {
	for (name, graph) in testmodels::TORCH_EXPORTS {
		let work = tempfile::tempdir().unwrap();
		let onnx = work.path().join(format!("{name}.onnx"));
		std::fs::write(&onnx, graph).unwrap();
		let (bundle, input, expected) = onnxruntime_reference(work.path(), &onnx);
		for profile in PROFILES {
			let output = load(&bundle, profile).run(&input).unwrap();
			assert_matches_onnxruntime(&format!("{name} {profile}"), &output, &expected);
			if profile == ExecutionProfile::Portable {
				assert_eq!(load(&bundle, profile).run(&input).unwrap(), output);
			}
		}
	}
}

#[test]
fn minilm_matches_onnxruntime() {
	let onnx = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("minilm-{}.onnx", std::process::id()));
	let source = minilm_source();
	reference(&["minilm-onnx", source.to_str().unwrap(), onnx.to_str().unwrap()]);
	let texts = testmodels::golden_texts();
	let mut args = vec!["embed", source.to_str().unwrap(), onnx.to_str().unwrap()];
	args.extend(texts);
	let expected = reference(&args);
	for profile in PROFILES {
		let model = load(minilm_bundle(), profile);
		for (text, want) in texts.iter().zip(&expected) {
			let got = f32s(&model.run(&Value::Text(text.as_bytes().to_vec())).unwrap());
			let (cos, diff) = (cosine(&got, want), max_abs_diff(&got, want));
			eprintln!("minilm {profile:?}: cosine {cos}, max |diff| {diff:e}");
			assert!(cos > 0.99999 && diff < 1e-5, "{profile:?} {text:?}: cosine {cos}, max |diff| {diff}");
		}
	}
	let _ = std::fs::remove_file(onnx);
}

#[test]
fn onnx_mlp_matches_onnxruntime() {
	let graph = models_dir().join(testmodels::ONNX_MLP).join("model.onnx");
	let expected = reference(&["mlp", graph.to_str().unwrap()]).remove(0);
	// The reference feeds x[i] = (i mod 97)/97 − 0.5 for 4 rows.
	let n = 4 * testmodels::MLP_INPUT;
	let input = Value::F32 {
		shape: vec![4, testmodels::MLP_INPUT as u32],
		bits: (0..n).map(|i| ((i % 97) as f32 / 97.0 - 0.5).to_bits()).collect(),
	};
	for profile in PROFILES {
		let got = f32s(&load(&models_dir().join(testmodels::ONNX_MLP), profile).run(&input).unwrap());
		let diff = max_abs_diff(&got, &expected);
		eprintln!("onnx-mlp {profile:?}: max |diff| {diff:e}");
		assert!(diff < 1e-6, "{profile:?}: max |diff| {diff}");
	}
}

/// A BERT encoder laid out as `torch.onnx` exports Hugging Face's `BertModel`
/// (tests/scripts/bert_graph.py: three named inputs, shapes computed in the graph, Erf GELU,
/// LayerNorm decomposed below opset 17 and one LayerNormalization at 17, axes as attributes at
/// 11 and 12, three outputs) agrees with
/// onnxruntime in both profiles: f32 outputs within 1e-4, the integer output exactly.
#[test]
fn an_exported_bert_graph_matches_onnxruntime_at_opsets_11_to_17() {
	use opg_engine::value_json;
	let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/bert_graph.py");
	for opset in ["11", "12", "14", "17"] {
		let work = tempfile::tempdir().unwrap();
		let (onnx, io) = (work.path().join("bert.onnx"), work.path().join("io.json"));
		let out = Command::new("python3")
			.arg(&script)
			.args([opset, onnx.to_str().unwrap(), io.to_str().unwrap()])
			.output()
			.unwrap();
		assert!(out.status.success(), "bert_graph.py failed: {}", String::from_utf8_lossy(&out.stderr));
		let io: serde_json::Value = serde_json::from_slice(&std::fs::read(&io).unwrap()).unwrap();
		let input = value_json::value_from_json(&io["inputs"]).unwrap();
		let Value::Tensors(expected) = value_json::value_from_json(&io["outputs"]).unwrap() else {
			panic!("named outputs")
		};
		let bundle = work.path().join("bundle");
		testmodels::write_onnx_graph(&bundle, &std::fs::read(&onnx).unwrap()).unwrap();
		let mut portable = None;
		for profile in PROFILES {
			let output = load(&bundle, profile).run(&input).unwrap();
			assert_matches_onnxruntime(&format!("opset {opset} {profile}"), &output, &expected);
			if profile == ExecutionProfile::Portable {
				portable = Some(output);
			}
		}
		// The portable answer is the same on a second load.
		assert_eq!(load(&bundle, ExecutionProfile::Portable).run(&input).unwrap(), portable.unwrap());
	}
}

/// A ResNet and a MobileNet laid out as torchvision's exports are (tests/scripts/cnn_graphs.py:
/// padded, strided, grouped, dilated and SAME-padded convolutions, batch norms, max and average
/// pools in both padding modes and ceil mode, ReLU6, HardSigmoid, HardSwish) agree with
/// onnxruntime in both profiles within 1e-4, and the portable answer is the same on a second load.
#[test]
fn convolutional_networks_match_onnxruntime() {
	use opg_engine::value_json;
	let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/cnn_graphs.py");
	for kind in ["resnet", "mobilenet"] {
		let work = tempfile::tempdir().unwrap();
		let (onnx, io) = (work.path().join("cnn.onnx"), work.path().join("io.json"));
		let out = Command::new("python3")
			.arg(&script)
			.args([kind, onnx.to_str().unwrap(), io.to_str().unwrap()])
			.output()
			.unwrap();
		assert!(out.status.success(), "cnn_graphs.py failed: {}", String::from_utf8_lossy(&out.stderr));
		let io: serde_json::Value = serde_json::from_slice(&std::fs::read(&io).unwrap()).unwrap();
		let Value::Tensors(input) = value_json::value_from_json(&io["inputs"]).unwrap() else { panic!("named inputs") };
		let opg_engine::TensorValue::F32 { shape, bits } = input[0].tensor.clone() else { panic!("an f32 image") };
		let image = Value::F32 { shape, bits };
		let Value::Tensors(expected) = value_json::value_from_json(&io["outputs"]).unwrap() else { panic!("outputs") };
		let opg_engine::TensorValue::F32 { bits: want, .. } = &expected[0].tensor else { panic!("f32 logits") };
		let want: Vec<f32> = want.iter().map(|b| f32::from_bits(*b)).collect();
		let bundle = work.path().join("bundle");
		testmodels::write_onnx_graph(&bundle, &std::fs::read(&onnx).unwrap()).unwrap();
		for profile in PROFILES {
			let output = load(&bundle, profile).run(&image).unwrap();
			let diff = max_abs_diff(&common::f32s(&output), &want);
			eprintln!("{kind} {profile:?}: max |diff| {diff:e}");
			assert!(diff <= 1e-4, "{kind} {profile:?}: max |diff| {diff}");
			if profile == ExecutionProfile::Portable {
				assert_eq!(load(&bundle, profile).run(&image).unwrap(), output);
			}
		}
	}
}

/// scikit-learn models converted by skl2onnx (tests/scripts/sklearn_models.py: a scaled
/// logistic regression, a random forest and gradient boosting over three classes, binary
/// gradient boosting, a forest regressor and a linear regression; two classifiers in skl2onnx's
/// default form, probabilities through ZipMap; two with string class labels) agree with
/// onnxruntime in both profiles: identical labels, scores and probabilities within 1e-4.
#[test]
fn scikit_learn_models_match_onnxruntime() {
	use opg_engine::{value_json, TensorValue};
	let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/sklearn_models.py");
	for kind in [
		"logreg",
		"forest",
		"boosted",
		"boosted-binary",
		"forest-regressor",
		"linear",
		"logreg-zipmap",
		"boosted-zipmap",
		"logreg-strings",
		"forest-strings-zipmap",
	] {
		let work = tempfile::tempdir().unwrap();
		let (onnx, io) = (work.path().join("model.onnx"), work.path().join("io.json"));
		let out = Command::new("python3")
			.arg(&script)
			.args([kind, onnx.to_str().unwrap(), io.to_str().unwrap()])
			.output()
			.unwrap();
		assert!(out.status.success(), "sklearn_models.py failed: {}", String::from_utf8_lossy(&out.stderr));
		let io: serde_json::Value = serde_json::from_slice(&std::fs::read(&io).unwrap()).unwrap();
		let Value::Tensors(input) = value_json::value_from_json(&io["inputs"]).unwrap() else { panic!("named inputs") };
		let TensorValue::F32 { shape, bits } = input[0].tensor.clone() else { panic!("f32 rows") };
		let rows = Value::F32 { shape, bits };
		let Value::Tensors(expected) = value_json::value_from_json(&io["outputs"]).unwrap() else { panic!("outputs") };
		let bundle = work.path().join("bundle");
		testmodels::write_onnx_graph(&bundle, &std::fs::read(&onnx).unwrap()).unwrap();
		for profile in PROFILES {
			let output = load(&bundle, profile).run(&rows).unwrap();
			assert_matches_onnxruntime(&format!("{kind} {profile}"), &output, &expected);
		}
	}
}
