//! An ONNX graph that takes text: the bundle's tokenizer makes the graph's `input_ids`,
//! `attention_mask` and `token_type_ids` (whichever it declares, as i64 or i32 `[1, tokens]`),
//! and an optional pooling turns the first output's token states into one embedding.

use candle_core::{Device, Tensor};
use std::path::Path;

use super::{
	onnx::{self, value_from_tensor, OnnxModel},
	text::TextTokenizer,
};
use crate::{
	error::{EngineError, Result},
	manifest::Pooling,
};
use opg_primitives::inference::{ExecutionProfile, Value};

/// The graph inputs a tokenizer can feed.
const TEXT_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

pub struct OnnxTextModel {
	graph: OnnxModel,
	tokenizer: TextTokenizer,
	pooling: Pooling,
	normalize: bool,
}

impl OnnxTextModel {
	pub fn load(
		profile: ExecutionProfile,
		graph: &Path,
		tokenizer: &Path,
		max_tokens: u32,
		pooling: Pooling,
		normalize: bool,
	) -> Result<Self> {
		let graph = OnnxModel::load(profile, graph)?;
		let names: Vec<&str> = graph.inputs().map(|(n, _)| n).collect();
		if !names.contains(&"input_ids") || names.iter().any(|n| !TEXT_INPUTS.contains(n)) {
			return Err(EngineError::Model(format!(
				"a text model's graph takes input_ids and optionally attention_mask and token_type_ids, not {names:?}"
			)));
		}
		if let Some((name, _)) = graph.inputs().find(|(_, t)| *t != onnx::INT64 && *t != onnx::INT32) {
			return Err(EngineError::Model(format!("graph input {name} must be i64 or i32")));
		}
		let tokenizer = TextTokenizer::load(tokenizer, max_tokens as usize)?;
		Ok(Self { graph, tokenizer, pooling, normalize })
	}

	/// The tokens of `text` as the graph's inputs.
	pub fn inputs(&self, text: &str) -> Result<Vec<(String, Tensor)>> {
		let tokens = self.tokenizer.encode(text)?;
		let n = tokens.ids.len();
		self.graph
			.inputs()
			.map(|(name, dtype)| {
				let values: Vec<i64> = match name {
					"input_ids" => tokens.ids.iter().map(|&i| i64::from(i)).collect(),
					"token_type_ids" => tokens.type_ids.iter().map(|&i| i64::from(i)).collect(),
					_ => vec![1; n],
				};
				let tensor = Tensor::from_vec(values, (1, n), &Device::Cpu)?;
				let tensor = if dtype == onnx::INT32 { tensor.to_dtype(candle_core::DType::I32)? } else { tensor };
				Ok((name.to_string(), tensor))
			})
			.collect()
	}

	pub fn run(&self, text: &str) -> Result<Value> {
		let outputs = self.graph.run_tensors(self.inputs(text)?)?;
		let states = match self.pooling {
			Pooling::None => return self.graph.output_value(outputs),
			Pooling::Mean | Pooling::Cls => {
				outputs.into_iter().next().ok_or_else(|| EngineError::Model("no output".into()))?
			},
		};
		// One text: `[1, tokens, width]` (or `[tokens, width]`), every token attended.
		let (tokens, width) = match states.dims() {
			[1, t, w] | [t, w] => (*t, *w),
			dims => {
				return Err(EngineError::Model(format!("pooling needs [1, tokens, width] token states, got {dims:?}")))
			},
		};
		let states = states.reshape((tokens, width))?;
		let rows = if self.pooling == Pooling::Cls { states.narrow(0, 0, 1)? } else { states };
		value_from_tensor(&self.graph.ops().mean_pool(&rows, self.normalize)?)
	}
}
