//! Model inputs and outputs as users write and read them: text, token ids, or a tensor in JSON
//! (`{"Text": "..."}`, `{"Tokens": [1, 2]}`, `{"F32": {"shape": [1, 4], "data": [0.5, ...]}}`,
//! `{"I64": {"shape": [2], "data": [7, 8]}}`, or named tensors for graphs with several inputs:
//! `{"input_ids": {"dtype": "i64", "shape": [1, 3], "data": [101, 7, 102]}, ...}`), and the
//! SCALE `Value` the chain carries.

use crate::error::{Error, Result};
use codec::Decode;
use opg_primitives::{
	inference::{Answer, Value},
	value_json,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A [`Value`] in JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum JsonValue {
	Text(String),
	Tokens(Vec<u32>),
	F32 {
		shape: Vec<u32>,
		data: Vec<f32>,
	},
	I64 {
		shape: Vec<u32>,
		data: Vec<i64>,
	},
	/// Named tensors (`opg_primitives::value_json`): the bare object, read by
	/// [`JsonValue::parse`] from any object whose members all have a `dtype` and written by
	/// [`JsonValue::to_json`].
	#[serde(skip)]
	Tensors(serde_json::Value),
}

impl From<&Value> for JsonValue {
	fn from(v: &Value) -> Self {
		match v {
			Value::Text(bytes) => JsonValue::Text(String::from_utf8_lossy(bytes).into_owned()),
			Value::Tokens(t) => JsonValue::Tokens(t.clone()),
			Value::F32 { shape, bits } => {
				JsonValue::F32 { shape: shape.clone(), data: bits.iter().map(|b| f32::from_bits(*b)).collect() }
			},
			Value::I64 { shape, data } => JsonValue::I64 { shape: shape.clone(), data: data.clone() },
			Value::Tensors(_) => JsonValue::Tensors(
				serde_json::from_str(&value_json::value_to_json(v, "output")).unwrap_or(serde_json::Value::Null),
			),
		}
	}
}

impl JsonValue {
	/// The JSON form of the value.
	pub fn to_json(&self) -> serde_json::Value {
		match self {
			JsonValue::Tensors(json) => json.clone(),
			other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
		}
	}

	/// Any of the JSON forms above.
	pub fn parse(json: serde_json::Value) -> std::result::Result<Self, serde_json::Error> {
		if value_json::is_named_tensors(&json) {
			return Ok(JsonValue::Tensors(json));
		}
		serde_json::from_value(json)
	}

	pub fn into_value(self) -> Result<Value> {
		let check = |shape: &[u32], len: usize| {
			let elements = shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d as u64));
			if elements != Some(len as u64) {
				return Err(Error::Input(format!("the tensor's shape {shape:?} does not hold its {len} values")));
			}
			Ok(())
		};
		Ok(match self {
			JsonValue::Text(t) => Value::Text(t.into_bytes()),
			JsonValue::Tokens(t) => Value::Tokens(t),
			JsonValue::F32 { shape, data } => {
				check(&shape, data.len())?;
				Value::F32 { shape, bits: data.iter().map(|v| v.to_bits()).collect() }
			},
			JsonValue::I64 { shape, data } => {
				check(&shape, data.len())?;
				Value::I64 { shape, data }
			},
			JsonValue::Tensors(json) => value_json::tensors_from_json(&json).map_err(Error::Input)?,
		})
	}
}

/// Parse `1,2,3` (or spaces) into token ids.
pub fn parse_tokens(text: &str) -> Result<Vec<u32>> {
	text.split(|c: char| c == ',' || c.is_whitespace())
		.filter(|s| !s.is_empty())
		.map(|s| s.parse::<u32>().map_err(|_| Error::Input(format!("`{s}` is not a token id (a whole number)"))))
		.collect()
}

/// Read an input file in the JSON form above.
pub fn read_input_json(path: &Path) -> Result<Value> {
	let text = std::fs::read_to_string(path)
		.map_err(|e| Error::Input(format!("cannot read the input file {}: {e}", path.display())))?;
	let json = serde_json::from_str(&text).and_then(JsonValue::parse).map_err(|e| {
		Error::Input(format!(
			"{} is not an input: {e} (expected {{\"Text\": \"...\"}}, {{\"Tokens\": [..]}}, {{\"F32\": {{\"shape\": [..], \"data\": [..]}}}}, {{\"I64\": ...}} or named tensors {{\"name\": {{\"dtype\": \"i64\", \"shape\": [..], \"data\": [..]}}}})",
			path.display()
		))
	})?;
	json.into_value()
}

/// Decode a model's output as it travels on chain.
pub fn decode_output(bytes: &[u8]) -> Option<Value> {
	let mut input = bytes;
	let value = Value::decode(&mut input).ok()?;
	input.is_empty().then_some(value)
}

/// A short human reading of a value: text as is, the first token ids, a tensor's shape, first
/// values and L2 norm.
pub fn describe(value: &Value) -> String {
	fn first<T: std::fmt::Display>(items: &[T], n: usize) -> String {
		let shown: Vec<String> = items.iter().take(n).map(|v| v.to_string()).collect();
		let more = if items.len() > n { format!(", … ({} in all)", items.len()) } else { String::new() };
		format!("[{}{more}]", shown.join(", "))
	}
	match value {
		Value::Text(bytes) => format!("text: {:?}", String::from_utf8_lossy(bytes)),
		Value::Tokens(t) => format!("{} token ids: {}", t.len(), first(t, 24)),
		Value::F32 { shape, bits } => {
			let values: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
			let norm = values.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt();
			let shown: Vec<String> = values.iter().take(6).map(|v| format!("{v:.6}")).collect();
			let more = if values.len() > 6 { ", …" } else { "" };
			format!("f32 tensor {shape:?}: [{}{more}], L2 norm {norm:.6}", shown.join(", "))
		},
		Value::I64 { shape, data } => format!("i64 tensor {shape:?}: {}", first(data, 8)),
		Value::Tensors(tensors) => {
			let each: Vec<String> = tensors
				.iter()
				.map(|t| format!("{} {} {:?}", String::from_utf8_lossy(&t.name), t.tensor.dtype(), t.tensor.shape()))
				.collect();
			format!("{} named tensors: {}", tensors.len(), each.join("; "))
		},
	}
}

/// An answer as JSON: `{"output": <value>}` or `{"rejected": "<reason>"}`.
pub fn answer_json(answer: &Answer) -> serde_json::Value {
	match answer {
		Answer::Output(bytes) => match decode_output(bytes) {
			Some(v) => serde_json::json!({ "output": JsonValue::from(&v).to_json(), "output_hex": hex::encode(bytes) }),
			None => serde_json::json!({ "output": null, "output_hex": hex::encode(bytes) }),
		},
		Answer::Rejected(r) => serde_json::json!({
			"output": null,
			"output_hex": null,
			"rejected": format!("{r:?}"),
			"reason": r.describe(),
		}),
	}
}

/// An answer for people.
pub fn describe_answer(answer: &Answer) -> String {
	match answer {
		Answer::Output(bytes) => match decode_output(bytes) {
			Some(v) => describe(&v),
			None => format!("{} bytes that are not one value", bytes.len()),
		},
		Answer::Rejected(r) => format!("the model refuses the input: {}", r.describe()),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use codec::Encode;

	#[test]
	fn json_inputs_round_trip_and_bad_shapes_are_refused() {
		let v: JsonValue = serde_json::from_str(r#"{"F32": {"shape": [1, 2], "data": [0.5, -1.0]}}"#).unwrap();
		let value = v.into_value().unwrap();
		assert_eq!(value, Value::F32 { shape: vec![1, 2], bits: vec![0.5f32.to_bits(), (-1.0f32).to_bits()] });
		assert_eq!(JsonValue::from(&value).into_value().unwrap(), value);
		let bad: JsonValue = serde_json::from_str(r#"{"F32": {"shape": [3], "data": [0.5]}}"#).unwrap();
		assert!(bad.into_value().unwrap_err().to_string().contains("does not hold its 1 values"));
		assert_eq!(parse_tokens("1, 2 3").unwrap(), vec![1, 2, 3]);
		// Named tensors, for graphs with several inputs, in any member order.
		let v = JsonValue::parse(
			serde_json::from_str(
				r#"{"mask": {"dtype": "bool", "shape": [1], "data": [true]}, "ids": {"dtype": "i64", "shape": [1], "data": [7]}}"#,
			)
			.unwrap(),
		)
		.unwrap();
		let value = v.into_value().unwrap();
		assert!(value.is_canonical() && describe(&value) == "2 named tensors: ids i64 [1]; mask bool [1]");
		assert_eq!(JsonValue::from(&value).into_value().unwrap(), value);
		assert!(parse_tokens("1,x").is_err());
	}

	#[test]
	fn outputs_decode_only_when_exactly_one_value() {
		let v = Value::Tokens(vec![1, 2]);
		assert_eq!(decode_output(&v.encode()), Some(v.clone()));
		let mut trailing = v.encode();
		trailing.push(0);
		assert_eq!(decode_output(&trailing), None);
		assert!(describe(&Value::F32 { shape: vec![2], bits: vec![3.0f32.to_bits(), 4.0f32.to_bits()] })
			.contains("L2 norm 5.000000"));
	}
}
