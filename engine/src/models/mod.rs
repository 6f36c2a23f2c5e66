//! One file per model architecture, each built on [`crate::ops::Ops`] so one implementation
//! serves both execution profiles.

pub mod bert;
pub mod bpe;
pub mod gguf;
pub mod llama;
pub mod onnx;
mod onnx_cnn;
mod onnx_ml;
mod onnx_ops;
pub mod onnx_text;
pub mod spm;
pub mod text;

use candle_core::{DType, Tensor};
use std::collections::HashMap;

use crate::error::{EngineError, Result};

/// Named tensors of a checkpoint, with clear errors for missing or mis-shaped ones.
pub(crate) struct Weights {
	tensors: HashMap<String, Tensor>,
	prefix: String,
}

impl Weights {
	pub fn new(tensors: HashMap<String, Tensor>) -> Self {
		Self { tensors, prefix: String::new() }
	}

	pub fn contains(&self, name: &str) -> bool {
		self.tensors.contains_key(&format!("{}{name}", self.prefix))
	}

	pub fn set_prefix(&mut self, prefix: &str) {
		self.prefix = prefix.to_string();
	}

	/// The tensor `name` as f32, checked against `dims`.
	pub fn get(&self, name: &str, dims: &[usize]) -> Result<Tensor> {
		let full = format!("{}{name}", self.prefix);
		let t = self.tensors.get(&full).ok_or_else(|| EngineError::Model(format!("weights lack tensor {full}")))?;
		if t.dims() != dims {
			return Err(EngineError::Model(format!("tensor {full} has shape {:?}, expected {dims:?}", t.dims())));
		}
		Ok(t.to_dtype(DType::F32)?)
	}
}

/// Read a small JSON config file of a bundle.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
	let bytes = std::fs::read(path).map_err(crate::error::io_at(path))?;
	serde_json::from_slice(&bytes).map_err(|e| EngineError::Model(format!("{}: {e}", path.display())))
}

/// Index of the largest value; the lowest index wins ties, NaN never wins.
pub fn argmax(values: &[f32]) -> Option<usize> {
	let mut best: Option<(usize, f32)> = None;
	for (i, &v) in values.iter().enumerate() {
		if v.is_nan() {
			continue;
		}
		if best.is_none_or(|(_, b)| v > b) {
			best = Some((i, v));
		}
	}
	best.map(|(i, _)| i)
}
