//! ONNX graphs through candle-onnx, restricted to an allowlist of operators, opsets and data
//! types that is checked when a model is imported.
//!
//! candle-onnx parses the model; the allowlisted graph is interpreted here with every
//! order-sensitive operator routed through [`Ops`], so one interpreter serves both profiles
//! (bit-identical on every CPU in the portable one). Weights of `MatMul`/`Gemm` nodes are
//! prepared once at load, in the layout each profile's matmul wants.
//! `candle_onnx::simple_eval` stays available as a reference ([`OnnxModel::run_reference`]).

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::{self, tensor_shape_proto::dimension, type_proto, ModelProto, NodeProto, TensorProto};
use std::{
	collections::{HashMap, HashSet},
	path::Path,
};

use super::{
	onnx_cnn::{self as cnn, Pool},
	onnx_ml as ml,
	onnx_ops::{self as op, Compare, Logic, Reduce},
};
use crate::{
	error::{EngineError, InputError, Result},
	kernels::Activation,
	ops::{Kernels, Linear, Ops},
};
use opg_primitives::inference::{ExecutionProfile, NamedTensor, TensorValue, Value};

/// Operators both profiles implement.
pub const ALLOWED_OPERATORS: &[&str] = &[
	"Add",
	"And",
	"ArgMax",
	"AveragePool",
	"BatchNormalization",
	"Cast",
	"Clip",
	"Concat",
	"Constant",
	"ConstantOfShape",
	"Conv",
	"Div",
	"Equal",
	"Erf",
	"Expand",
	"Flatten",
	"Gather",
	"Gemm",
	"GlobalAveragePool",
	"Greater",
	"GreaterOrEqual",
	"HardSigmoid",
	"HardSwish",
	"Identity",
	"IsInf",
	"IsNaN",
	"LayerNormalization",
	"Less",
	"LessOrEqual",
	"MatMul",
	"MaxPool",
	"Mul",
	"Neg",
	"Not",
	"Or",
	"Pow",
	"Range",
	"ReduceMean",
	"ReduceSum",
	"Relu",
	"Reshape",
	"Shape",
	"Sigmoid",
	"Slice",
	"Softmax",
	"Sqrt",
	"Squeeze",
	"Sub",
	"Tanh",
	"Transpose",
	"Unsqueeze",
	"Where",
	"Xor",
];
/// Operators of the `ai.onnx.ml` domain both profiles implement.
pub const ALLOWED_ML_OPERATORS: &[&str] = &[
	"LinearClassifier",
	"LinearRegressor",
	"Normalizer",
	"Scaler",
	"TreeEnsembleClassifier",
	"TreeEnsembleRegressor",
	"ZipMap",
];
/// `ai.onnx.ml` opset versions accepted.
pub const ML_OPSETS: std::ops::RangeInclusive<i64> = 1..=5;
const ML_DOMAIN: &str = "ai.onnx.ml";

/// Default-domain opset versions accepted.
pub const MIN_OPSET: i64 = 11;
pub const MAX_OPSET: i64 = 21;
const FLOAT: i32 = onnx::tensor_proto::DataType::Float as i32;
pub(crate) const INT64: i32 = onnx::tensor_proto::DataType::Int64 as i32;
pub(crate) const INT32: i32 = onnx::tensor_proto::DataType::Int32 as i32;
const BOOL: i32 = onnx::tensor_proto::DataType::Bool as i32;
const STRING: i32 = onnx::tensor_proto::DataType::String as i32;
/// The element types a graph may hold: `f32`, `i64`, `i32` and `bool` (a `u8` tensor of 0/1 here).
const SUPPORTED_DTYPES: [i32; 4] = [FLOAT, INT64, INT32, BOOL];
/// Largest input tensor accepted, in elements.
pub const MAX_INPUT_ELEMENTS: usize = 1 << 24;
/// The most elements any tensor computed while running a graph may have (256 MiB of `f32`):
/// a broadcast or product whose shape follows the input is refused before it is allocated,
/// rather than aborting the process when the allocation fails.
pub const MAX_INTERMEDIATE_ELEMENTS: usize = 1 << 26;

/// A graph input a request feeds.
#[derive(Clone, Debug)]
struct InputSpec {
	name: String,
	dtype: i32,
	/// `None` for a symbolic dimension.
	dims: Vec<Option<usize>>,
}

impl InputSpec {
	/// A request's tensor for this input, checked: its type, its shape against the declared
	/// one (symbolic dimensions take any size), its element count, and finite `f32`s.
	fn tensor(&self, value: &TensorValue) -> Result<Tensor> {
		let (shape, tensor, got) = match value {
			TensorValue::F32 { shape, bits } => {
				let data: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
				// The model takes numbers: a NaN or infinity is refused, not propagated.
				if let Some(index) = data.iter().position(|v| !v.is_finite()) {
					return Err(InputError::NotFinite { index }.into());
				}
				(shape, checked_tensor(shape, data)?, FLOAT)
			},
			TensorValue::I64 { shape, data } => (shape, checked_tensor(shape, data.clone())?, INT64),
			TensorValue::I32 { shape, data } => (shape, checked_tensor(shape, data.clone())?, INT32),
			TensorValue::Bool { shape, data } => {
				(shape, checked_tensor(shape, data.iter().map(|&b| u8::from(b)).collect())?, BOOL)
			},
			TensorValue::Str { .. } => return Err(wrong_type(self.dtype, "string")),
		};
		if got != self.dtype {
			return Err(wrong_type(self.dtype, dtype_name(got)));
		}
		let fits = shape.len() == self.dims.len()
			&& shape.iter().zip(&self.dims).all(|(g, e)| e.is_none_or(|e| e == *g as usize));
		if !fits {
			let expected: Vec<String> =
				self.dims.iter().map(|d| d.map_or("?".to_string(), |d| d.to_string())).collect();
			return Err(
				InputError::WrongShape { expected: format!("[{}]", expected.join(", ")), got: shape.clone() }.into()
			);
		}
		Ok(tensor)
	}
}

/// A computed output must have the type the graph declares for it.
fn check_dtype(spec: &OutputSpec, t: &Tensor) -> Result<()> {
	let actual = match t.dtype() {
		DType::F32 => FLOAT,
		DType::I64 => INT64,
		DType::I32 => INT32,
		DType::U8 => BOOL,
		_ => -1,
	};
	if actual != spec.dtype {
		return Err(EngineError::Model(format!(
			"output {} is {} but the graph declares {}",
			spec.name,
			dtype_name(actual),
			dtype_name(spec.dtype)
		)));
	}
	Ok(())
}

/// A graph output, with the element type the graph declares for it.
#[derive(Clone, Debug)]
struct OutputSpec {
	name: String,
	dtype: i32,
	/// For a string output: the class labels its computed indices stand for.
	labels: Option<Vec<String>>,
}

pub struct OnnxModel {
	ops: Ops,
	/// The default domain's opset version, where an operator's meaning changed between them.
	opset: i64,
	proto: ModelProto,
	/// In the graph's order.
	inputs: Vec<InputSpec>,
	outputs: Vec<OutputSpec>,
	initializers: HashMap<String, Tensor>,
	/// Prepared weights of `MatMul`/`Gemm` nodes with constant operands, by node output.
	linears: HashMap<String, Linear>,
	/// Linear nodes (by index) that also compute the nodes after them, in the matmul's epilogue.
	fusions: HashMap<usize, Fusion>,
	/// The nodes a fusion computes, skipped where they stand.
	absorbed: HashSet<usize>,
	/// Tree ensembles read at load, by node output.
	forests: HashMap<String, ml::Forest>,
	/// Constant convolution weights packed at load, by node output.
	convs: HashMap<String, cnn::ConvWeights>,
}

/// A linear node fused with the bias `Add` and elementwise activation that follow it, or a
/// `Conv` with the `BatchNormalization`, shortcut `Add` and `Relu` that follow it.
struct Fusion {
	/// A convolution's batch normalisation (never set for a linear node).
	norm: Option<cnn::BatchNormParams>,
	/// A convolution's shortcut (never set for a linear node).
	shortcut: Option<Shortcut>,
	activation: Option<Activation>,
	/// The value the last absorbed node defines.
	output: String,
}

/// The `Add` of an earlier value (a residual connection) that a convolution's epilogue applies
/// before its activation.
struct Shortcut {
	/// The other operand, defined before the convolution runs.
	value: String,
	/// The `Add` node, evaluated on its own when the shapes call for broadcasting.
	add: usize,
}

/// Whether `value` is defined before node `index` runs: a graph input, a constant or an
/// earlier node's output.
fn defined_before(graph: &onnx::GraphProto, index: usize, value: &str, constants: &HashMap<String, Tensor>) -> bool {
	constants.contains_key(value)
		|| graph.input.iter().any(|i| i.name == value)
		|| graph.node[..index].iter().any(|n| n.output.iter().any(|o| o == value))
}

/// Whether `value` is read by exactly one node and is not a graph output.
fn single_use(graph: &onnx::GraphProto, value: &str) -> bool {
	!graph.output.iter().any(|o| o.name == value)
		&& graph.node.iter().flat_map(|n| n.input.iter()).filter(|i| *i == value).count() == 1
}

/// The first node after `from` that reads `value`.
fn next_reader<'g>(graph: &'g onnx::GraphProto, from: usize, value: &str) -> Option<(usize, &'g NodeProto)> {
	graph.node.iter().enumerate().skip(from + 1).find(|(_, n)| n.input.iter().any(|i| i == value))
}

/// Fuse the `BatchNormalization` (constant parameters), then the `Add` of a value defined before
/// it, then `Relu` that follow `Conv` node `index` into its matmul's epilogue, each value
/// single-use.
fn fuse_conv_epilogue(
	graph: &onnx::GraphProto,
	index: usize,
	channels: usize,
	constants: &HashMap<String, Tensor>,
	absorbed: &mut HashSet<usize>,
) -> Option<Fusion> {
	let mut value = graph.node[index].output.first()?.clone();
	let (mut at, mut nodes, mut norm, mut shortcut, mut activation) = (index, Vec::new(), None, None, None);
	if single_use(graph, &value) {
		if let Some((i, bn)) = next_reader(graph, at, &value).filter(|(_, n)| n.op_type == "BatchNormalization") {
			let reads_conv = bn.input.first() == Some(&value);
			if let (true, Some(params), Some(out)) =
				(reads_conv, cnn::BatchNormParams::from_node(bn, constants, channels), bn.output.first())
			{
				norm = Some(params);
				(at, value) = (i, out.clone());
				nodes.push(i);
			}
		}
	}
	if single_use(graph, &value) {
		if let Some((i, add)) = next_reader(graph, at, &value).filter(|(_, n)| n.op_type == "Add" && n.input.len() == 2)
		{
			let other = add.input.iter().find(|v| **v != value);
			let reads_once = add.input.iter().filter(|v| **v == value).count() == 1;
			if let (Some(other), true, Some(out)) = (other, reads_once, add.output.first()) {
				if defined_before(graph, index, other, constants) {
					shortcut = Some(Shortcut { value: other.clone(), add: i });
					(at, value) = (i, out.clone());
					nodes.push(i);
				}
			}
		}
	}
	if single_use(graph, &value) {
		if let Some((i, relu)) =
			next_reader(graph, at, &value).filter(|(_, n)| n.op_type == "Relu" && n.input.len() == 1)
		{
			if let Some(out) = relu.output.first() {
				activation = Some(Activation::Relu);
				value = out.clone();
				nodes.push(i);
			}
		}
	}
	if nodes.is_empty() || nodes.iter().any(|&i| !is_default_domain(&graph.node[i].domain)) {
		return None;
	}
	absorbed.extend(nodes);
	Some(Fusion { norm, shortcut, activation, output: value })
}

/// Parse an ONNX file and check it against the allowlist; the error names every offending
/// operator.
pub fn read_checked(path: &Path) -> Result<ModelProto> {
	let proto = read(path)?;
	check_allowlist(&proto)?;
	Ok(proto)
}

fn read(path: &Path) -> Result<ModelProto> {
	candle_onnx::read_file(path).map_err(|e| EngineError::Model(format!("not an ONNX model: {e}")))
}

/// [`read_checked`] on the bytes of an ONNX file.
pub fn parse_checked(bytes: &[u8]) -> Result<ModelProto> {
	use prost::Message;
	let proto = ModelProto::decode(bytes).map_err(|e| EngineError::Model(format!("not an ONNX model: {e}")))?;
	check_allowlist(&proto)?;
	Ok(proto)
}

fn is_default_domain(domain: &str) -> bool {
	domain.is_empty() || domain == "ai.onnx"
}

pub fn check_allowlist(proto: &ModelProto) -> Result<()> {
	let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Model("ONNX model has no graph".into()))?;
	// Operators first: a model from another domain (e.g. `ai.onnx.ml`) is told every operator
	// it lacks, not only that its opset is unknown.
	let mut unsupported: Vec<String> = graph
		.node
		.iter()
		.filter(|n| {
			let op = n.op_type.as_str();
			!(is_default_domain(&n.domain) && ALLOWED_OPERATORS.contains(&op)
				|| n.domain == ML_DOMAIN && ALLOWED_ML_OPERATORS.contains(&op))
		})
		.map(|n| if n.domain.is_empty() { n.op_type.clone() } else { format!("{}:{}", n.domain, n.op_type) })
		.collect();
	unsupported.sort();
	unsupported.dedup();
	if !unsupported.is_empty() {
		return Err(EngineError::UnsupportedOperators(unsupported));
	}
	// Only the versions of the domains the nodes use matter once every node is supported.
	for opset in proto.opset_import.iter().filter(|o| o.domain == ML_DOMAIN) {
		if !ML_OPSETS.contains(&opset.version) {
			return Err(EngineError::UnsupportedOpset {
				domain: ML_DOMAIN.into(),
				version: opset.version,
				min: *ML_OPSETS.start(),
				max: *ML_OPSETS.end(),
			});
		}
	}
	let default_opsets: Vec<_> = proto.opset_import.iter().filter(|o| is_default_domain(&o.domain)).collect();
	if default_opsets.is_empty() {
		return Err(EngineError::Model("ONNX model declares no default-domain opset".into()));
	}
	for opset in default_opsets {
		if !(MIN_OPSET..=MAX_OPSET).contains(&opset.version) {
			return Err(EngineError::UnsupportedOpset {
				domain: "ai.onnx".into(),
				version: opset.version,
				min: MIN_OPSET,
				max: MAX_OPSET,
			});
		}
	}
	for init in &graph.initializer {
		if !SUPPORTED_DTYPES.contains(&init.data_type) {
			return Err(EngineError::UnsupportedDtype {
				dtype: init.data_type,
				place: format!("initializer {}", init.name),
			});
		}
	}
	for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
		match node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref()) {
			Some(t) if SUPPORTED_DTYPES.contains(&t.data_type) => {},
			Some(t) => {
				return Err(EngineError::UnsupportedDtype {
					dtype: t.data_type,
					place: format!("constant {}", node.name),
				})
			},
			None => return Err(EngineError::Model(format!("Constant {} has no tensor value", node.name))),
		}
	}
	for info in &graph.input {
		let dtype = tensor_type(info)?.elem_type;
		if !SUPPORTED_DTYPES.contains(&dtype) {
			return Err(EngineError::UnsupportedDtype { dtype, place: format!("graph value {}", info.name) });
		}
	}
	let strings = string_label_values(graph)?;
	for info in &graph.output {
		let dtype = output_dtype(graph, info)?;
		if dtype == STRING && strings.contains_key(info.name.as_str()) {
			continue;
		}
		if !SUPPORTED_DTYPES.contains(&dtype) {
			return Err(EngineError::UnsupportedDtype { dtype, place: format!("graph value {}", info.name) });
		}
	}
	let inputs = graph.input.iter().filter(|i| !graph.initializer.iter().any(|t| t.name == i.name)).count();
	if inputs == 0 || graph.output.is_empty() {
		return Err(EngineError::Model(format!(
			"the graph must have an input and an output, it has {inputs} inputs and {} outputs",
			graph.output.len()
		)));
	}
	let mut names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
	names.sort();
	if names.windows(2).any(|w| w[0] == w[1]) || names.iter().any(|n| n.is_empty()) {
		return Err(EngineError::Model("the graph's outputs need distinct, non-empty names".into()));
	}
	Ok(())
}

/// The element type a graph output is returned as. A tensor is returned as itself; ZipMap's
/// sequence of maps from class label to probability is returned as the `[N, C]` f32 tensor of
/// probabilities it was made from (class `c`'s probability in column `c`, in the order of the
/// node's labels), which holds the same numbers in one canonical encoding.
fn output_dtype(graph: &onnx::GraphProto, info: &onnx::ValueInfoProto) -> Result<i32> {
	match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
		Some(type_proto::Value::SequenceType(_))
			if graph.node.iter().any(|n| n.op_type == "ZipMap" && n.output.first() == Some(&info.name)) =>
		{
			Ok(FLOAT)
		},
		_ => Ok(tensor_type(info)?.elem_type),
	}
}

/// The values of a graph that hold string class labels, with their labels: the label output of
/// a classifier with `classlabels_strings`, and what `Identity` passes on. They are computed as
/// label indices and returned as the strings; any other operator reading one is refused at
/// import (the engine has no string arithmetic).
fn string_label_values(graph: &onnx::GraphProto) -> Result<HashMap<&str, Vec<String>>> {
	let mut strings: HashMap<&str, Vec<String>> = HashMap::new();
	for node in &graph.node {
		if let Some(labels) = node.input.iter().find_map(|i| strings.get(i.as_str())) {
			if node.op_type != "Identity" || node.output.len() != 1 {
				return Err(EngineError::UnsupportedDtype {
					dtype: STRING,
					place: format!(
						"{} (string tensors may only be returned, or passed on by Identity)",
						node_name(node)
					),
				});
			}
			let labels = labels.clone();
			strings.insert(&node.output[0], labels);
			continue;
		}
		let classifier =
			node.domain == ML_DOMAIN && matches!(node.op_type.as_str(), "LinearClassifier" | "TreeEnsembleClassifier");
		let labels = op::Attributes(node).strings("classlabels_strings");
		if classifier && !labels.is_empty() {
			if let Some(label) = node.output.first().filter(|o| !o.is_empty()) {
				strings.insert(label, labels);
			}
		}
	}
	Ok(strings)
}

/// A string output: each computed label index as its label.
fn label_strings(spec: &OutputSpec, t: &Tensor, labels: &[String]) -> Result<TensorValue> {
	let bad = || EngineError::Model(format!("output {} holds no class label indices", spec.name));
	if t.dtype() != DType::I64 {
		return Err(bad());
	}
	let data = t
		.flatten_all()?
		.to_vec1::<i64>()?
		.into_iter()
		.map(|i| usize::try_from(i).ok().and_then(|i| labels.get(i)).map(|l| l.clone().into_bytes()).ok_or_else(bad))
		.collect::<Result<_>>()?;
	Ok(TensorValue::Str { shape: output_shape(t)?, data })
}

fn tensor_type(info: &onnx::ValueInfoProto) -> Result<&type_proto::Tensor> {
	match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
		Some(type_proto::Value::TensorType(t)) => Ok(t),
		_ => Err(EngineError::Model(format!("graph value {} is not a tensor", info.name))),
	}
}

/// An ONNX element type as users read it.
fn dtype_name(dtype: i32) -> &'static str {
	match dtype {
		FLOAT => "f32",
		INT64 => "i64",
		INT32 => "i32",
		BOOL => "bool",
		_ => "an unsupported type",
	}
}

impl OnnxModel {
	pub fn load(profile: ExecutionProfile, path: &Path) -> Result<Self> {
		// `from_proto` checks the allowlist.
		Self::from_proto(profile, read(path)?)
	}

	/// A model from a parsed graph that passed [`check_allowlist`].
	pub fn from_proto(profile: ExecutionProfile, proto: ModelProto) -> Result<Self> {
		check_allowlist(&proto)?;
		let graph = proto.graph.as_ref().expect("checked by the allowlist");
		let mut inputs = Vec::new();
		for info in graph.input.iter().filter(|i| !graph.initializer.iter().any(|t| t.name == i.name)) {
			let ty = tensor_type(info)?;
			let dims = ty
				.shape
				.as_ref()
				.map(|s| {
					s.dim
						.iter()
						.map(|d| match d.value {
							Some(dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
							_ => None,
						})
						.collect()
				})
				.unwrap_or_default();
			inputs.push(InputSpec { name: info.name.clone(), dtype: ty.elem_type, dims });
		}
		let mut strings = string_label_values(graph)?;
		let outputs = graph
			.output
			.iter()
			.map(|o| {
				let labels = strings.remove(o.name.as_str());
				Ok(OutputSpec { name: o.name.clone(), dtype: output_dtype(graph, o)?, labels })
			})
			.collect::<Result<Vec<_>>>()?;
		let mut initializers = HashMap::new();
		for t in &graph.initializer {
			initializers.insert(t.name.clone(), tensor_from_proto(t)?);
		}
		let ops = Ops::new(profile)?;
		let mut linears = HashMap::new();
		let (mut fusions, mut absorbed, mut forests) = (HashMap::new(), HashSet::new(), HashMap::new());
		let mut convs = HashMap::new();
		for (index, node) in graph.node.iter().enumerate() {
			let weight = node.input.get(1).and_then(|w| initializers.get(w));
			if let (true, Some(w), false) = (node.op_type == "Conv", weight, ops.kernels == Kernels::PortableV1) {
				if let Some(prepared) = cnn::ConvWeights::prepare(node, w)? {
					if let Some(fusion) = fuse_conv_epilogue(graph, index, w.dims()[0], &initializers, &mut absorbed) {
						fusions.insert(index, fusion);
					}
					convs.insert(node.output.first().cloned().unwrap_or_default(), prepared);
				}
			}
			// A malformed ensemble is left for the node to refuse when it runs.
			if let (true, Ok(Some(forest))) = (node.domain == ML_DOMAIN, ml::Forest::prepare(node)) {
				forests.insert(node.output.first().cloned().unwrap_or_default(), forest);
			}
			if let Some(linear) = prepare_linear(ops.kernels, node, &initializers)? {
				let (linear, fusion) = fuse_epilogue(graph, index, linear, &initializers, &mut absorbed)?;
				if let Some(fusion) = fusion {
					fusions.insert(index, fusion);
				}
				linears.insert(node.output.first().cloned().unwrap_or_default(), linear);
			}
		}
		let opset = proto
			.opset_import
			.iter()
			.filter(|o| is_default_domain(&o.domain))
			.map(|o| o.version)
			.max()
			.unwrap_or(MAX_OPSET);
		Ok(Self { ops, opset, proto, inputs, outputs, initializers, linears, fusions, absorbed, forests, convs })
	}

	/// The graph's inputs: name and ONNX element type, in the graph's order.
	pub(crate) fn inputs(&self) -> impl Iterator<Item = (&str, i32)> {
		self.inputs.iter().map(|i| (i.name.as_str(), i.dtype))
	}

	pub(crate) fn ops(&self) -> &Ops {
		&self.ops
	}

	/// Run on checked tensors, one per graph input: the graph's outputs in its order.
	pub(crate) fn run_tensors(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>> {
		self.eval(inputs)
	}

	/// The graph's output names, in its order.
	pub fn output_names(&self) -> Vec<String> {
		self.outputs.iter().map(|o| o.name.clone()).collect()
	}

	/// The same graph evaluated by `candle_onnx::simple_eval`, as a reference for tests.
	pub fn run_reference(&self, value: &Value) -> Result<Value> {
		let inputs = self.input_tensors(value)?;
		let mut outputs = candle_onnx::simple_eval(&self.proto, inputs.into_iter().collect())?;
		let outputs = self
			.outputs
			.iter()
			.map(|o| {
				outputs.remove(&o.name).ok_or_else(|| EngineError::Model(format!("the graph produced no {}", o.name)))
			})
			.collect::<Result<Vec<_>>>()?;
		self.output_value(outputs)
	}

	/// Check a request's value against the graph inputs and make them tensors, by name. A lone
	/// `f32`/`i64` tensor feeds a graph with one input; named tensors must name every input
	/// exactly once.
	pub fn input_tensors(&self, value: &Value) -> Result<Vec<(String, Tensor)>> {
		let named: Vec<(String, TensorValue)> = match value {
			Value::F32 { shape, bits } if self.inputs.len() == 1 => {
				vec![(self.inputs[0].name.clone(), TensorValue::F32 { shape: shape.clone(), bits: bits.clone() })]
			},
			Value::I64 { shape, data } if self.inputs.len() == 1 => {
				vec![(self.inputs[0].name.clone(), TensorValue::I64 { shape: shape.clone(), data: data.clone() })]
			},
			Value::Tensors(tensors) => {
				let mut expected: Vec<String> = self.inputs.iter().map(|i| i.name.clone()).collect();
				expected.sort();
				let got: Vec<String> = tensors.iter().map(|t| String::from_utf8_lossy(&t.name).into_owned()).collect();
				if got != expected {
					return Err(InputError::WrongInputs { expected, got }.into());
				}
				got.into_iter().zip(tensors.iter().map(|t| t.tensor.clone())).collect()
			},
			Value::F32 { .. } | Value::I64 { .. } => {
				return Err(InputError::WrongType { expected: "named tensors", got: "one unnamed tensor" }.into())
			},
			Value::Text(_) => return Err(InputError::WrongType { expected: "tensors", got: "text" }.into()),
			Value::Tokens(_) => return Err(InputError::WrongType { expected: "tensors", got: "token ids" }.into()),
		};
		let mut total = 0usize;
		let mut tensors = Vec::with_capacity(named.len());
		for (name, tensor) in named {
			let spec = self.inputs.iter().find(|i| i.name == name).expect("the names were checked above");
			total = total.saturating_add(tensor.len());
			if total > MAX_INPUT_ELEMENTS {
				return Err(InputError::TooLarge { size: total, limit: MAX_INPUT_ELEMENTS }.into());
			}
			tensors.push((name, spec.tensor(&tensor)?));
		}
		Ok(tensors)
	}

	pub fn run(&self, value: &Value) -> Result<Value> {
		let inputs = self.input_tensors(value)?;
		self.output_value(self.eval(inputs)?)
	}

	/// The graph's outputs as a value: a graph with one `f32`/`i64` output gives that tensor
	/// alone (as every single-output model always has), any other gives named tensors.
	pub(crate) fn output_value(&self, outputs: Vec<Tensor>) -> Result<Value> {
		if let ([spec], [tensor]) = (&self.outputs[..], &outputs[..]) {
			if spec.dtype == FLOAT || spec.dtype == INT64 {
				check_dtype(spec, tensor)?;
				return value_from_tensor(tensor);
			}
		}
		let mut named: Vec<NamedTensor> = self
			.outputs
			.iter()
			.zip(&outputs)
			.map(|(spec, t)| {
				let tensor = match &spec.labels {
					Some(labels) => label_strings(spec, t, labels)?,
					None => {
						check_dtype(spec, t)?;
						tensor_value(t)?
					},
				};
				Ok(NamedTensor { name: spec.name.clone().into_bytes(), tensor })
			})
			.collect::<Result<_>>()?;
		named.sort_by(|a, b| a.name.cmp(&b.name));
		Ok(Value::Tensors(named))
	}

	/// The graph's outputs, in its order.
	fn eval(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>> {
		let graph = self.proto.graph.as_ref().expect("checked by the allowlist");
		let mut values: HashMap<&str, Tensor> =
			self.initializers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
		let inputs: HashMap<String, Tensor> = inputs.into_iter().collect();
		for spec in &self.inputs {
			values.insert(&spec.name, inputs.get(&spec.name).cloned().expect("input_tensors gives every input"));
		}
		for (index, node) in graph.node.iter().enumerate() {
			if self.absorbed.contains(&index) {
				continue;
			}
			let get = |i: usize| -> Result<&Tensor> {
				let name =
					node.input.get(i).ok_or_else(|| EngineError::Model(format!("{} lacks input {i}", node.op_type)))?;
				values
					.get(name.as_str())
					.ok_or_else(|| EngineError::Model(format!("{} reads undefined value {name}", node.op_type)))
			};
			if let Some(fusion) = self.fusions.get(&index) {
				let out = if node.op_type == "Conv" {
					let shortcut = match &fusion.shortcut {
						Some(s) => Some((values.get(s.value.as_str()), &graph.node[s.add])),
						None => None,
					};
					let shortcut = match shortcut {
						Some((Some(value), add)) => Some((value, add)),
						Some((None, add)) => {
							return Err(EngineError::Model(format!("{} reads an undefined value", node_name(add))));
						},
						None => None,
					};
					self.eval_fused_conv(node, fusion, &get, shortcut)?
				} else {
					self.eval_fused(node, fusion, get(0)?)?
				};
				values.insert(&fusion.output, out);
				continue;
			}
			let outs = self.eval_node(node, &get)?;
			if outs.len() < node.output.iter().filter(|n| !n.is_empty()).count() {
				return Err(EngineError::Model(format!("{} has more outputs than it computes", node_name(node))));
			}
			// An empty name is an optional output the graph does not use.
			for (name, out) in node.output.iter().zip(outs) {
				if !name.is_empty() {
					values.insert(name, out);
				}
			}
		}
		self.outputs
			.iter()
			.map(|o| {
				values
					.remove(o.name.as_str())
					.ok_or_else(|| EngineError::Model(format!("the graph produced no {}", o.name)))
			})
			.collect()
	}

	fn forest(&self, node: &NodeProto) -> Option<&ml::Forest> {
		node.output.first().and_then(|o| self.forests.get(o))
	}

	/// A linear node and the nodes fused into its epilogue.
	/// A `Conv` with the nodes fused into it: in its epilogue where the shortcut (if any) has
	/// the output's shape, else the shortcut's `Add` (broadcasting) and the activation after it.
	fn eval_fused_conv<'v>(
		&self,
		node: &NodeProto,
		fusion: &Fusion,
		get: &dyn Fn(usize) -> Result<&'v Tensor>,
		shortcut: Option<(&Tensor, &NodeProto)>,
	) -> Result<Tensor> {
		let prepared = node.output.first().and_then(|o| self.convs.get(o));
		let bias = node.input.get(2).filter(|n| !n.is_empty()).map(|_| get(2)).transpose()?;
		let (x, w) = (get(0)?, get(1)?);
		let fits = shortcut.is_none_or(|(s, _)| {
			s.dtype() == DType::F32 && cnn::conv_output_dims(node, x, w).is_ok_and(|dims| s.dims() == dims)
		});
		let norm = fusion.norm.as_ref();
		if fits {
			let epilogue =
				cnn::ConvEpilogue { norm, shortcut: shortcut.map(|(s, _)| s), activation: fusion.activation };
			return cnn::conv(&self.ops, node, x, w, bias, prepared, epilogue);
		}
		let y = cnn::conv(&self.ops, node, x, w, bias, prepared, cnn::ConvEpilogue { norm, ..Default::default() })?;
		let y = match shortcut {
			Some((s, add)) => arithmetic(s, &y, add, Arithmetic::Add)?,
			None => y,
		};
		match fusion.activation {
			Some(a) => self.ops.activate(&y, a),
			None => Ok(y),
		}
	}

	fn eval_fused(&self, node: &NodeProto, fusion: &Fusion, x: &Tensor) -> Result<Tensor> {
		let linear = node.output.first().and_then(|o| self.linears.get(o)).expect("a fusion starts at a linear node");
		if x.dtype() != DType::F32 {
			return Err(EngineError::Model(format!("{} takes f32 tensors only", node_name(node))));
		}
		let (out, inp) = linear.shape();
		within_limit((x.elem_count() / inp.max(1)).saturating_mul(out))?;
		self.ops.linear_then(x, linear, fusion.activation, None)
	}

	/// One node's outputs, in its order.
	fn eval_node<'a>(&self, node: &NodeProto, get: &dyn Fn(usize) -> Result<&'a Tensor>) -> Result<Vec<Tensor>> {
		let ops = &self.ops;
		// An optional input: absent, or named "" (skipped).
		let optional = |i: usize| -> Result<Option<&Tensor>> {
			match node.input.get(i) {
				Some(name) if !name.is_empty() => get(i).map(Some),
				_ => Ok(None),
			}
		};
		let attrs = op::Attributes(node);
		if let Some(linear) = node.output.first().and_then(|o| self.linears.get(o)) {
			// The weight is the model's, the rows the input's: refuse a product too large.
			let x = get(0)?;
			if x.dtype() != DType::F32 {
				return Err(EngineError::Model(format!("{} takes f32 tensors only", node_name(node))));
			}
			let (out, inp) = linear.shape();
			within_limit((x.elem_count() / inp.max(1)).saturating_mul(out))?;
			return Ok(vec![ops.linear(x, linear)?]);
		}
		// Activations, normalisations and products are defined on floats here; an integer
		// tensor reaching one is the graph's error, refused the same way in both profiles.
		if matches!(node.op_type.as_str(), "Relu" | "Sigmoid" | "Tanh" | "Softmax" | "MatMul" | "Gemm") {
			for i in 0..node.input.iter().filter(|n| !n.is_empty()).count() {
				if get(i)?.dtype() != DType::F32 {
					return Err(EngineError::Model(format!("{} takes f32 tensors only", node_name(node))));
				}
			}
		}
		if node.domain == ML_DOMAIN {
			return Ok(match node.op_type.as_str() {
				"Scaler" => vec![ml::scaler(node, get(0)?)?],
				"Normalizer" => vec![ml::normalizer(node, get(0)?)?],
				"LinearRegressor" => vec![ml::linear_regressor(node, get(0)?)?],
				"LinearClassifier" => ml::linear_classifier(node, get(0)?)?,
				"TreeEnsembleRegressor" => vec![ml::tree_ensemble_regressor(node, self.forest(node), get(0)?)?],
				"TreeEnsembleClassifier" => ml::tree_ensemble_classifier(node, self.forest(node), get(0)?)?,
				"ZipMap" => vec![ml::zip_map(node, get(0)?)?],
				other => return Err(EngineError::UnsupportedOperators(vec![format!("{ML_DOMAIN}:{other}")])),
			});
		}
		Ok(vec![match node.op_type.as_str() {
			"ArgMax" => ml::arg_max(node, get(0)?)?,
			"Add" => arithmetic(get(0)?, get(1)?, node, Arithmetic::Add)?,
			"Sub" => arithmetic(get(0)?, get(1)?, node, Arithmetic::Sub)?,
			"Mul" => arithmetic(get(0)?, get(1)?, node, Arithmetic::Mul)?,
			"Div" => arithmetic(get(0)?, get(1)?, node, Arithmetic::Div)?,
			"Identity" => get(0)?.clone(),
			"Shape" => op::shape(node, get(0)?)?,
			"Gather" => op::gather(node, get(0)?, get(1)?)?,
			// Axes are an input from opset 13, an attribute before.
			"Unsqueeze" => match (optional(1)?, op::Attributes(node).ints("axes")) {
				(Some(axes), _) => op::unsqueeze(node, get(0)?, &op::integers(node, axes)?)?,
				(None, Some(axes)) => op::unsqueeze(node, get(0)?, &axes)?,
				(None, None) => return Err(EngineError::Model(format!("{} lacks its axes", node_name(node)))),
			},
			"Squeeze" => match (optional(1)?, op::Attributes(node).ints("axes")) {
				(Some(axes), _) => op::squeeze(node, get(0)?, Some(op::integers(node, axes)?))?,
				(None, axes) => op::squeeze(node, get(0)?, axes)?,
			},
			"Concat" => {
				let parts = (0..node.input.len()).map(get).collect::<Result<Vec<_>>>()?;
				op::concat(node, &parts)?
			},
			"Slice" => op::slice(node, &(0..5).map(optional).collect::<Result<Vec<_>>>()?)?,
			"Expand" => op::expand(node, get(0)?, get(1)?)?,
			"ConstantOfShape" => op::constant_of_shape(node, get(0)?)?,
			"Cast" => op::cast(node, get(0)?)?,
			"Equal" => op::compare(node, get(0)?, get(1)?, Compare::Equal)?,
			"Less" => op::compare(node, get(0)?, get(1)?, Compare::Less)?,
			"LessOrEqual" => op::compare(node, get(0)?, get(1)?, Compare::LessOrEqual)?,
			"Greater" => op::compare(node, get(0)?, get(1)?, Compare::Greater)?,
			"GreaterOrEqual" => op::compare(node, get(0)?, get(1)?, Compare::GreaterOrEqual)?,
			"And" => op::logic(node, get(0)?, get(1)?, Logic::And)?,
			"Or" => op::logic(node, get(0)?, get(1)?, Logic::Or)?,
			"Xor" => op::logic(node, get(0)?, get(1)?, Logic::Xor)?,
			"IsNaN" | "IsInf" => op::is_special(node, get(0)?)?,
			"Range" => op::range(node, get(0)?, get(1)?, get(2)?)?,
			"Not" => op::not(node, get(0)?)?,
			"Where" => op::where_(node, get(0)?, get(1)?, get(2)?)?,
			"Clip" => op::clip(node, get(0)?, optional(1)?, optional(2)?)?,
			"Erf" => match ops.kernels {
				Kernels::PortableV2 => op::map_f32(node, get(0)?, crate::vmath::erf)?,
				_ => op::map_f32(node, get(0)?, libm::erff)?,
			},
			"Sqrt" => op::map_f32(node, get(0)?, f32::sqrt)?,
			"Neg" => match get(0)?.dtype() {
				DType::F32 => get(0)?.neg()?,
				_ => arithmetic(&get(0)?.zeros_like()?, get(0)?, node, Arithmetic::Sub)?,
			},
			"Pow" => op::pow(node, get(0)?, get(1)?)?,
			"ReduceSum" | "ReduceMean" => {
				let axes = match optional(1)? {
					Some(axes) => Some(op::integers(node, axes)?),
					None => op::Attributes(node).ints("axes"),
				};
				let kind = if node.op_type == "ReduceSum" { Reduce::Sum } else { Reduce::Mean };
				op::reduce(node, get(0)?, axes, kind)?
			},
			"Conv" => {
				let prepared = node.output.first().and_then(|o| self.convs.get(o));
				cnn::conv(ops, node, get(0)?, get(1)?, optional(2)?, prepared, Default::default())?
			},
			"BatchNormalization" => cnn::batch_norm(node, [get(0)?, get(1)?, get(2)?, get(3)?, get(4)?])?,
			"MaxPool" => cnn::pool(node, get(0)?, Pool::Max)?,
			"AveragePool" => cnn::pool(node, get(0)?, Pool::Average)?,
			"GlobalAveragePool" => cnn::global_average_pool(node, get(0)?)?,
			"HardSigmoid" => {
				let (alpha, beta) = (attrs.float("alpha", 0.2), attrs.float("beta", 0.5));
				op::map_f32(node, get(0)?, |x| cnn::hard_sigmoid(x, alpha, beta))?
			},
			"HardSwish" => op::map_f32(node, get(0)?, |x| x * cnn::hard_sigmoid(x, 1.0 / 6.0, 0.5))?,
			"LayerNormalization" => op::layer_normalization(ops, node, get(0)?, get(1)?, optional(2)?)?,
			"Relu" => ops.activate(get(0)?, Activation::Relu)?,
			"Sigmoid" => ops.activate(get(0)?, Activation::Sigmoid)?,
			"Tanh" => ops.activate(get(0)?, Activation::Tanh)?,
			"Constant" => {
				let t = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
				tensor_from_proto(t.ok_or_else(|| EngineError::Model("Constant without value".into()))?)?
			},
			"Softmax" => {
				let x = get(0)?;
				let rank = x.rank() as i64;
				if self.opset < 13 {
					// Opsets 11–12: the input is taken as a matrix [∏ dims before axis, ∏ the
					// rest] (default axis 1) and each row is normalised.
					let axis = attrs.int("axis", 1);
					let axis = if axis < 0 { axis + rank } else { axis };
					if !(0..=rank).contains(&axis) {
						return Err(EngineError::Model(format!("{}: axis {axis} out of range", node_name(node))));
					}
					let outer: usize = x.dims()[..axis as usize].iter().product();
					let rows = x.reshape((outer, x.elem_count() / outer.max(1)))?;
					ops.softmax_last(&rows)?.reshape(x.dims())?
				} else {
					let axis = attrs.int("axis", -1);
					let axis = if axis < 0 { axis + rank } else { axis };
					if !(0..rank).contains(&axis) {
						return Err(EngineError::Model(format!("{}: axis {axis} out of range", node_name(node))));
					}
					let last = rank as usize - 1;
					if axis as usize == last {
						ops.softmax_last(x)?
					} else {
						let moved = x.transpose(axis as usize, last)?.contiguous()?;
						ops.softmax_last(&moved)?.transpose(axis as usize, last)?.contiguous()?
					}
				}
			},
			"MatMul" => {
				let (a, b) = (get(0)?, get(1)?);
				if b.rank() == 2 && a.rank() >= 2 {
					let (k, n) = b.dims2()?;
					within_limit((a.elem_count() / k.max(1)).saturating_mul(n))?;
					let mut dims = a.dims().to_vec();
					let rows = a.elem_count() / k.max(1);
					let flat = a.reshape((1, rows, k))?;
					let y = ops.matmul_nt(&flat, &b.t()?.contiguous()?.unsqueeze(0)?)?;
					*dims.last_mut().expect("rank ≥ 2") = n;
					y.reshape(dims)?
				} else {
					if let ([.., m, k], [.., n]) = (a.dims(), b.dims()) {
						let (m, k, n) = (*m, (*k).max(1), *n);
						let batch = (a.elem_count() / m.saturating_mul(k).max(1))
							.max(b.elem_count() / k.saturating_mul(n).max(1));
						within_limit(batch.saturating_mul(m).saturating_mul(n))?;
					}
					ops.matmul(a, b)?
				}
			},
			"Gemm" => {
				let a = if attrs.int("transA", 0) != 0 { get(0)?.t()? } else { get(0)?.clone() };
				let b = if attrs.int("transB", 0) != 0 { get(1)?.clone() } else { get(1)?.t()? };
				within_limit(a.dims2()?.0.saturating_mul(b.dims2()?.0))?;
				let y = ops.matmul_nt(&a.contiguous()?.unsqueeze(0)?, &b.contiguous()?.unsqueeze(0)?)?.squeeze(0)?;
				let alpha = attrs.float("alpha", 1.0);
				let y = if alpha != 1.0 { y.affine(alpha as f64, 0.0)? } else { y };
				match node.input.get(2).filter(|n| !n.is_empty()) {
					Some(_) => {
						let beta = attrs.float("beta", 1.0);
						let c = get(2)?;
						// C broadcasts to [M, N] only (ONNX's unidirectional broadcast): a C the
						// input shapes cannot widen the product.
						if y.shape().broadcast_shape_binary_op(c.shape(), "Gemm")?.dims() != y.dims() {
							return Err(EngineError::Model(format!(
								"Gemm's C {:?} does not broadcast to {:?}",
								c.dims(),
								y.dims()
							)));
						}
						let c = if beta != 1.0 { c.affine(beta as f64, 0.0)? } else { c.clone() };
						y.broadcast_add(&c)?
					},
					None => y,
				}
			},
			"Flatten" => {
				let x = get(0)?;
				let rank = x.rank() as i64;
				let mut axis = attrs.int("axis", 1);
				if axis < 0 {
					axis += rank;
				}
				if !(0..=rank).contains(&axis) {
					return Err(EngineError::Model(format!("Flatten axis {axis} out of range")));
				}
				let outer: usize = x.dims()[..axis as usize].iter().product();
				x.reshape((outer, x.elem_count() / outer.max(1)))?
			},
			"Reshape" => {
				let x = get(0)?;
				let spec = get(1)?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
				x.reshape(reshape_dims(x.dims(), &spec)?)?
			},
			"Transpose" => {
				let x = get(0)?;
				let perm: Vec<usize> = match node.attribute.iter().find(|a| a.name == "perm") {
					Some(a) => a.ints.iter().map(|&i| i as usize).collect(),
					None => (0..x.rank()).rev().collect(),
				};
				let mut sorted = perm.clone();
				sorted.sort();
				if sorted != (0..x.rank()).collect::<Vec<_>>() {
					return Err(EngineError::Model(format!("Transpose perm {perm:?} is not a permutation")));
				}
				x.permute(perm)?.contiguous()?
			},
			other => return Err(EngineError::UnsupportedOperators(vec![other.to_string()])),
		}])
	}
}

/// A `MatMul` by a constant matrix, or a `Gemm` with constant `B` (and `C`, if any) and unit
/// scale factors, as a linear layer `y = x·Wᵀ + b`.
/// Fuse what follows linear node `index` into its epilogue: an `Add` of a constant `[out]`
/// vector (when the layer has no bias of its own), then `Relu`, `Sigmoid` or `Tanh`. Each fused
/// value must feed only the next node and not be a graph output. Only on dense panels, whose
/// matmul has an epilogue; elsewhere the nodes run one by one.
fn fuse_epilogue(
	graph: &onnx::GraphProto,
	index: usize,
	mut linear: Linear,
	constants: &HashMap<String, Tensor>,
	absorbed: &mut HashSet<usize>,
) -> Result<(Linear, Option<Fusion>)> {
	if !linear.has_panels() {
		return Ok((linear, None));
	}
	let single_use = |value: &str| single_use(graph, value);
	let next = |from: usize, value: &str| next_reader(graph, from, value);
	let Some(mut value) = graph.node[index].output.first().cloned() else { return Ok((linear, None)) };
	let (mut at, mut nodes, mut activation) = (index, Vec::new(), None);
	if linear.bias().is_none() && single_use(&value) {
		if let Some((i, add)) = next(at, &value).filter(|(_, n)| n.op_type == "Add" && is_default_domain(&n.domain)) {
			let other = add.input.iter().find(|v| **v != value);
			let bias = other
				.and_then(|v| constants.get(v))
				.filter(|b| b.dtype() == DType::F32 && b.dims() == [linear.shape().0]);
			if let (Some(bias), 2, Some(out)) = (bias, add.input.len(), add.output.first()) {
				linear = linear.with_bias(bias.clone())?;
				(at, value) = (i, out.clone());
				nodes.push(i);
			}
		}
	}
	if single_use(&value) {
		if let Some((i, act)) = next(at, &value).filter(|(_, n)| is_default_domain(&n.domain) && n.input.len() == 1) {
			let kind = match act.op_type.as_str() {
				"Relu" => Some(Activation::Relu),
				"Sigmoid" => Some(Activation::Sigmoid),
				"Tanh" => Some(Activation::Tanh),
				_ => None,
			};
			if let (Some(kind), Some(out)) = (kind, act.output.first()) {
				activation = Some(kind);
				value = out.clone();
				nodes.push(i);
			}
		}
	}
	if nodes.is_empty() {
		return Ok((linear, None));
	}
	absorbed.extend(nodes);
	Ok((linear, Some(Fusion { norm: None, shortcut: None, activation, output: value })))
}

fn prepare_linear(kernels: Kernels, node: &NodeProto, constants: &HashMap<String, Tensor>) -> Result<Option<Linear>> {
	let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
	let constant = |i: usize| node.input.get(i).and_then(|n| constants.get(n));
	match node.op_type.as_str() {
		"MatMul" => match constant(1) {
			Some(b) if b.rank() == 2 => Ok(Some(Linear::new(kernels, b.t()?.contiguous()?, None)?)),
			_ => Ok(None),
		},
		"Gemm" => {
			let unit = |name: &str| attr(name).is_none_or(|a| a.f == 1.0);
			if attr("transA").is_some_and(|a| a.i != 0) || !unit("alpha") || !unit("beta") {
				return Ok(None);
			}
			let Some(b) = constant(1).filter(|b| b.rank() == 2) else { return Ok(None) };
			let weight = if attr("transB").is_some_and(|a| a.i != 0) { b.clone() } else { b.t()?.contiguous()? };
			let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
				None => None,
				Some(_) => match constant(2) {
					Some(c) if c.dims() == [weight.dims()[0]] => Some(c.clone()),
					_ => return Ok(None),
				},
			};
			Ok(Some(Linear::new(kernels, weight, bias)?))
		},
		_ => Ok(None),
	}
}

/// An elementwise binary operator of ONNX.
#[derive(Clone, Copy)]
enum Arithmetic {
	Add,
	Sub,
	Mul,
	Div,
}

/// ONNX `Add`, `Sub`, `Mul` and `Div` with broadcasting. The result's size is checked before it
/// is allocated. On `i64` the integer semantics are spelled out rather than left to the build:
/// sums and products wrap in two's complement (as onnxruntime's do), division truncates toward
/// zero and is checked: a division by zero or `i64::MIN / -1` refuses the input instead of
/// crashing the process.
fn arithmetic(a: &Tensor, b: &Tensor, node: &NodeProto, op: Arithmetic) -> Result<Tensor> {
	let name = match op {
		Arithmetic::Add => "Add",
		Arithmetic::Sub => "Sub",
		Arithmetic::Mul => "Mul",
		Arithmetic::Div => "Div",
	};
	let shape = a.shape().broadcast_shape_binary_op(b.shape(), name)?;
	within_limit(shape.elem_count())?;
	match (a.dtype(), b.dtype()) {
		(DType::I64, DType::I64) => integer_arithmetic::<i64>(a, b, &shape, node, op),
		(DType::I32, DType::I32) => integer_arithmetic::<i32>(a, b, &shape, node, op),
		(DType::F32, DType::F32) => Ok(match op {
			Arithmetic::Add => a.broadcast_add(b)?,
			Arithmetic::Sub => a.broadcast_sub(b)?,
			Arithmetic::Mul => a.broadcast_mul(b)?,
			Arithmetic::Div => a.broadcast_div(b)?,
		}),
		(x, y) => {
			Err(EngineError::Model(format!("{} takes two numbers of one type, not {x:?} and {y:?}", node_name(node))))
		},
	}
}

/// Two's-complement integers with wrapping sums and products and checked division.
trait Integer: candle_core::WithDType {
	fn wrapping(self, other: Self, op: Arithmetic) -> Self;
	fn checked_quotient(self, other: Self) -> Option<Self>;
}

macro_rules! integer {
	($t:ty) => {
		impl Integer for $t {
			fn wrapping(self, other: Self, op: Arithmetic) -> Self {
				match op {
					Arithmetic::Add => self.wrapping_add(other),
					Arithmetic::Sub => self.wrapping_sub(other),
					Arithmetic::Mul => self.wrapping_mul(other),
					Arithmetic::Div => unreachable!("division is checked"),
				}
			}
			fn checked_quotient(self, other: Self) -> Option<Self> {
				self.checked_div(other)
			}
		}
	};
}
integer!(i64);
integer!(i32);

fn integer_arithmetic<T: Integer>(
	a: &Tensor,
	b: &Tensor,
	shape: &candle_core::Shape,
	node: &NodeProto,
	op: Arithmetic,
) -> Result<Tensor> {
	let x = a.broadcast_as(shape.clone())?.flatten_all()?.to_vec1::<T>()?;
	let y = b.broadcast_as(shape.clone())?.flatten_all()?.to_vec1::<T>()?;
	let pairs = x.iter().zip(&y);
	let results: Vec<T> = match op {
		Arithmetic::Div => pairs
			.map(|(x, y)| x.checked_quotient(*y))
			.collect::<Option<Vec<T>>>()
			.ok_or_else(|| InputError::DivisionByZero { node: node_name(node) })?,
		op => pairs.map(|(x, y)| x.wrapping(*y, op)).collect(),
	};
	Ok(Tensor::from_vec(results, shape.clone(), &Device::Cpu)?)
}

/// Refuse a tensor of `elements` before allocating it when it would exceed
/// [`MAX_INTERMEDIATE_ELEMENTS`].
pub(crate) fn within_limit(elements: usize) -> Result<()> {
	if elements > MAX_INTERMEDIATE_ELEMENTS {
		return Err(InputError::TooLarge { size: elements, limit: MAX_INTERMEDIATE_ELEMENTS }.into());
	}
	Ok(())
}

pub(crate) fn node_name(node: &NodeProto) -> String {
	if node.name.is_empty() {
		node.op_type.clone()
	} else {
		format!("{} ({})", node.name, node.op_type)
	}
}

fn wrong_type(expected: i32, got: &'static str) -> EngineError {
	InputError::WrongType { expected: dtype_name(expected), got }.into()
}

fn checked_tensor<T: candle_core::WithDType>(shape: &[u32], data: Vec<T>) -> Result<Tensor> {
	if data.is_empty() {
		return Err(InputError::Empty.into());
	}
	if data.len() > MAX_INPUT_ELEMENTS {
		return Err(InputError::TooLarge { size: data.len(), limit: MAX_INPUT_ELEMENTS }.into());
	}
	let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
	if elements != Some(data.len()) {
		return Err(InputError::Inconsistent { shape: shape.to_vec(), elements: data.len() }.into());
	}
	let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
	Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
}

/// ONNX `Reshape` semantics: `0` copies the input dimension, one `-1` is inferred. Products are
/// checked: a target spelled by the input cannot overflow into a valid-looking shape.
fn reshape_dims(input: &[usize], spec: &[i64]) -> Result<Vec<usize>> {
	let product = |dims: &[usize]| {
		dims.iter()
			.try_fold(1usize, |acc, &d| acc.checked_mul(d))
			.ok_or_else(|| EngineError::Model(format!("Reshape target {spec:?} is too large")))
	};
	let total = product(input)?;
	let mut dims = Vec::with_capacity(spec.len());
	let mut infer = None;
	for (i, &d) in spec.iter().enumerate() {
		match d {
			0 => {
				dims.push(*input.get(i).ok_or_else(|| EngineError::Model("Reshape copies a missing dimension".into()))?)
			},
			-1 if infer.is_none() => {
				infer = Some(i);
				dims.push(1);
			},
			d if d > 0 => dims.push(
				usize::try_from(d).map_err(|_| EngineError::Model(format!("Reshape target {spec:?} is too large")))?,
			),
			_ => return Err(EngineError::Model(format!("invalid Reshape target {spec:?}"))),
		}
	}
	let known = product(&dims)?;
	if let Some(i) = infer {
		if known == 0 || total % known != 0 {
			return Err(EngineError::Model(format!("cannot reshape {input:?} to {spec:?}")));
		}
		dims[i] = total / known;
	}
	if product(&dims)? != total {
		return Err(EngineError::Model(format!("cannot reshape {input:?} to {spec:?}")));
	}
	Ok(dims)
}

/// An f32/i64 initializer or constant as a tensor.
pub fn tensor_from_proto(t: &TensorProto) -> Result<Tensor> {
	let dims: Vec<usize> = t
		.dims
		.iter()
		.map(|&d| usize::try_from(d))
		.collect::<std::result::Result<_, _>>()
		.map_err(|_| EngineError::Model(format!("tensor {} has a negative dimension", t.name)))?;
	let count = dims
		.iter()
		.try_fold(1usize, |a, &d| a.checked_mul(d))
		.ok_or_else(|| EngineError::Model(format!("tensor {} is too large", t.name)))?;
	let bad = || EngineError::Model(format!("tensor {} holds the wrong number of elements", t.name));
	match t.data_type {
		FLOAT => typed(t, count, dims, &t.float_data, |c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
		INT64 => typed(t, count, dims, &t.int64_data, |c| i64::from_le_bytes(c.try_into().expect("8 bytes"))),
		INT32 => typed(t, count, dims, &t.int32_data, |c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
		BOOL => {
			// One byte per element in raw data, one int32 each otherwise; any non-zero is true.
			let data: Vec<u8> = if !t.raw_data.is_empty() {
				t.raw_data.iter().map(|&b| u8::from(b != 0)).collect()
			} else {
				t.int32_data.iter().map(|&b| u8::from(b != 0)).collect()
			};
			if data.len() != count {
				return Err(bad());
			}
			Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
		},
		other => Err(EngineError::UnsupportedDtype { dtype: other, place: format!("tensor {}", t.name) }),
	}
}

/// A tensor's `count` elements of `T`: from its little-endian raw data when present, else from
/// its typed field; either must hold exactly `count`.
fn typed<T: candle_core::WithDType>(
	t: &TensorProto,
	count: usize,
	dims: Vec<usize>,
	field: &[T],
	from_le: impl Fn(&[u8]) -> T,
) -> Result<Tensor> {
	let width = std::mem::size_of::<T>();
	let bad = || EngineError::Model(format!("tensor {} holds the wrong number of elements", t.name));
	let data: Vec<T> = if !t.raw_data.is_empty() {
		if Some(t.raw_data.len()) != count.checked_mul(width) {
			return Err(bad());
		}
		t.raw_data.chunks_exact(width).map(from_le).collect()
	} else {
		field.to_vec()
	};
	if data.len() != count {
		return Err(bad());
	}
	Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
}

/// A result tensor's dimensions as a value's shape.
fn output_shape(t: &Tensor) -> Result<Vec<u32>> {
	t.dims()
		.iter()
		.map(|&d| u32::try_from(d))
		.collect::<std::result::Result<_, _>>()
		.map_err(|_| EngineError::Model(format!("an output dimension of {:?} does not fit a value", t.dims())))
}

/// A result tensor as a request output value. Every NaN becomes the one canonical quiet NaN:
/// CPUs differ in the payload and sign of the NaNs they produce, and honest workers must not
/// disagree on bits that mean nothing.
pub fn value_from_tensor(t: &Tensor) -> Result<Value> {
	let shape = output_shape(t)?;
	Ok(match t.dtype() {
		DType::I64 => Value::I64 { shape, data: t.flatten_all()?.to_vec1::<i64>()? },
		_ => Value::F32 { shape, bits: crate::ops::host(t)?.into_iter().map(canonical_bits).collect() },
	})
}

/// A computed tensor as one of a value's named tensors (`u8` is how graphs' `bool`s are held).
pub fn tensor_value(t: &Tensor) -> Result<TensorValue> {
	let shape = output_shape(t)?;
	let flat = t.flatten_all()?;
	Ok(match t.dtype() {
		DType::F32 => TensorValue::F32 { shape, bits: crate::ops::host(t)?.into_iter().map(canonical_bits).collect() },
		DType::I64 => TensorValue::I64 { shape, data: flat.to_vec1::<i64>()? },
		DType::I32 => TensorValue::I32 { shape, data: flat.to_vec1::<i32>()? },
		DType::U8 => TensorValue::Bool { shape, data: flat.to_vec1::<u8>()?.into_iter().map(|b| b != 0).collect() },
		other => return Err(EngineError::Model(format!("an output of type {other:?} is not a value"))),
	})
}

/// The bit pattern of every NaN in an output.
pub const CANONICAL_NAN_BITS: u32 = 0x7fc0_0000;

/// An `f32`'s bits, with any NaN as [`CANONICAL_NAN_BITS`].
pub fn canonical_bits(v: f32) -> u32 {
	if v.is_nan() {
		CANONICAL_NAN_BITS
	} else {
		v.to_bits()
	}
}
