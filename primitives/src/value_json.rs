//! Named tensors as JSON, the form command lines read and print:
//! `{"input_ids": {"dtype": "i64", "shape": [1, 12], "data": [101, ...]}, ...}`.
//!
//! `dtype` is `f32`, `i64`, `i32`, `bool` or `string`. An `f32` that is NaN or infinite has no JSON number
//! and is written as `null`; `null` is refused on input.

use crate::inference::{NamedTensor, TensorValue, Value};
use alloc::{
	collections::BTreeMap,
	format,
	string::{String, ToString},
	vec::Vec,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorIn {
	dtype: String,
	shape: Vec<u32>,
	data: Vec<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DataOut<'a> {
	F32(Vec<Option<f32>>),
	I64(&'a [i64]),
	I32(&'a [i32]),
	Bool(&'a [bool]),
	Str(Vec<alloc::borrow::Cow<'a, str>>),
}

#[derive(Serialize)]
struct TensorOut<'a> {
	dtype: &'static str,
	shape: &'a [u32],
	data: DataOut<'a>,
}

/// Whether `json` is an object of named tensors (every member has a `dtype`), as opposed to
/// another JSON form of a value.
pub fn is_named_tensors(json: &serde_json::Value) -> bool {
	json.as_object().is_some_and(|members| !members.is_empty() && members.values().all(|m| m.get("dtype").is_some()))
}

/// A value in JSON as [`value_to_json`] writes it: named tensors, `{"text": "..."}` or
/// `{"tokens": [...]}`.
pub fn value_from_json(json: &serde_json::Value) -> Result<Value, String> {
	if !is_named_tensors(json) {
		let single = json.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next());
		match single {
			Some((key, serde_json::Value::String(text))) if key == "text" => {
				return Ok(Value::Text(text.as_bytes().to_vec()))
			},
			Some((key, tokens)) if key == "tokens" => {
				return serde_json::from_value::<Vec<u32>>(tokens.clone())
					.map(Value::Tokens)
					.map_err(|e| format!("tokens: {e}"))
			},
			_ => {},
		}
	}
	tensors_from_json(json)
}

/// Named tensors in JSON as a canonical [`Value::Tensors`] (names in ascending order).
pub fn tensors_from_json(json: &serde_json::Value) -> Result<Value, String> {
	let members = json.as_object().ok_or("named tensors are a JSON object: {\"name\": {\"dtype\": ...}}")?;
	if members.is_empty() {
		return Err("no tensors".into());
	}
	let mut tensors = BTreeMap::new();
	for (name, member) in members {
		let t: TensorIn = serde_json::from_value(member.clone()).map_err(|e| format!("tensor {name:?}: {e}"))?;
		let tensor = tensor_from_parts(&t).map_err(|e| format!("tensor {name:?}: {e}"))?;
		tensors.insert(name.as_bytes().to_vec(), tensor);
	}
	Ok(Value::Tensors(tensors.into_iter().map(|(name, tensor)| NamedTensor { name, tensor }).collect()))
}

fn tensor_from_parts(t: &TensorIn) -> Result<TensorValue, String> {
	let elements = t.shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(u64::from(*d)));
	if elements != Some(t.data.len() as u64) {
		return Err(format!("the shape {:?} does not hold its {} values", t.shape, t.data.len()));
	}
	let shape = t.shape.clone();
	fn each(what: &str) -> impl Fn((usize, &serde_json::Value)) -> String + '_ {
		move |(i, v)| format!("element {i} ({v}) is not {what}")
	}
	Ok(match t.dtype.as_str() {
		"f32" => TensorValue::F32 {
			shape,
			bits: t
				.data
				.iter()
				.enumerate()
				.map(|(i, v)| v.as_f64().map(|x| (x as f32).to_bits()).ok_or_else(|| each("a number")((i, v))))
				.collect::<Result<_, _>>()?,
		},
		"i64" => TensorValue::I64 {
			shape,
			data: t
				.data
				.iter()
				.enumerate()
				.map(|(i, v)| v.as_i64().ok_or_else(|| each("an i64")((i, v))))
				.collect::<Result<_, _>>()?,
		},
		"i32" => TensorValue::I32 {
			shape,
			data: t
				.data
				.iter()
				.enumerate()
				.map(|(i, v)| v.as_i64().and_then(|x| i32::try_from(x).ok()).ok_or_else(|| each("an i32")((i, v))))
				.collect::<Result<_, _>>()?,
		},
		"bool" => TensorValue::Bool {
			shape,
			data: t
				.data
				.iter()
				.enumerate()
				.map(|(i, v)| v.as_bool().ok_or_else(|| each("true or false")((i, v))))
				.collect::<Result<_, _>>()?,
		},
		"string" => TensorValue::Str {
			shape,
			data: t
				.data
				.iter()
				.enumerate()
				.map(|(i, v)| v.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| each("a string")((i, v))))
				.collect::<Result<_, _>>()?,
		},
		other => return Err(format!("unknown dtype {other:?} (f32, i64, i32, bool or string)")),
	})
}

/// Tensors as a JSON object of named tensors, `f32`s in their shortest round-trip form.
pub fn tensors_to_json(tensors: &[(String, &TensorValue)]) -> String {
	let members: BTreeMap<&str, TensorOut> = tensors
		.iter()
		.map(|(name, t)| {
			let data = match t {
				TensorValue::F32 { bits, .. } => {
					DataOut::F32(bits.iter().map(|b| Some(f32::from_bits(*b)).filter(|v| v.is_finite())).collect())
				},
				TensorValue::I64 { data, .. } => DataOut::I64(data),
				TensorValue::I32 { data, .. } => DataOut::I32(data),
				TensorValue::Bool { data, .. } => DataOut::Bool(data),
				TensorValue::Str { data, .. } => {
					DataOut::Str(data.iter().map(|s| String::from_utf8_lossy(s)).collect())
				},
			};
			(name.as_str(), TensorOut { dtype: t.dtype(), shape: t.shape(), data })
		})
		.collect();
	serde_json::to_string(&members).unwrap_or_else(|e| e.to_string())
}

/// The named tensors of a value: its own for [`Value::Tensors`], `unnamed` for a lone tensor;
/// `None` for text and token ids.
pub fn named_tensors(value: &Value, unnamed: &str) -> Option<Vec<(String, TensorValue)>> {
	match value {
		Value::Tensors(tensors) => {
			Some(tensors.iter().map(|t| (String::from_utf8_lossy(&t.name).into_owned(), t.tensor.clone())).collect())
		},
		Value::F32 { shape, bits } => {
			Some(alloc::vec![(unnamed.into(), TensorValue::F32 { shape: shape.clone(), bits: bits.clone() })])
		},
		Value::I64 { shape, data } => {
			Some(alloc::vec![(unnamed.into(), TensorValue::I64 { shape: shape.clone(), data: data.clone() })])
		},
		Value::Text(_) | Value::Tokens(_) => None,
	}
}

/// Any value as JSON: named tensors as above (a lone tensor under `unnamed`), text as
/// `{"text": "..."}`, token ids as `{"tokens": [...]}`.
pub fn value_to_json(value: &Value, unnamed: &str) -> String {
	match value {
		Value::Text(bytes) => serde_json::json!({ "text": String::from_utf8_lossy(bytes) }).to_string(),
		Value::Tokens(tokens) => serde_json::json!({ "tokens": tokens }).to_string(),
		other => {
			let tensors = named_tensors(other, unnamed).unwrap_or_default();
			tensors_to_json(&tensors.iter().map(|(n, t)| (n.clone(), t)).collect::<Vec<_>>())
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn named_tensors_round_trip_in_name_order() {
		let json: serde_json::Value = serde_json::from_str(
			r#"{"token_type_ids": {"dtype": "i64", "shape": [1, 2], "data": [0, 0]},
			    "input_ids": {"dtype": "i64", "shape": [1, 2], "data": [101, 102]},
			    "mask": {"dtype": "bool", "shape": [2], "data": [true, false]},
			    "x": {"dtype": "f32", "shape": [2], "data": [0.1, -2.5]},
			    "n": {"dtype": "i32", "shape": [], "data": [-7]},
			    "label": {"dtype": "string", "shape": [2], "data": ["cat", "d\u00f6g"]}}"#,
		)
		.unwrap();
		assert!(is_named_tensors(&json));
		let value = value_from_json(&json).unwrap();
		assert!(value.is_canonical());
		let Value::Tensors(tensors) = &value else { panic!("named tensors") };
		let names: Vec<&[u8]> = tensors.iter().map(|t| &t.name[..]).collect();
		assert_eq!(names, [&b"input_ids"[..], b"label", b"mask", b"n", b"token_type_ids", b"x"]);
		let text = value_to_json(&value, "output");
		assert!(text.contains(r#""x":{"dtype":"f32","shape":[2],"data":[0.1,-2.5]}"#), "{text}");
		assert!(text.contains(r#""label":{"dtype":"string","shape":[2],"data":["cat","dög"]}"#), "{text}");
		assert_eq!(value_from_json(&serde_json::from_str(&text).unwrap()).unwrap(), value);
	}

	#[test]
	fn bad_tensors_are_refused_with_the_reason() {
		let err = |s: &str| value_from_json(&serde_json::from_str(s).unwrap()).unwrap_err();
		assert!(err(r#"{"a": {"dtype": "f32", "shape": [3], "data": [1]}}"#).contains("does not hold its 1 values"));
		assert!(err(r#"{"a": {"dtype": "f16", "shape": [1], "data": [1]}}"#).contains("unknown dtype"));
		assert!(err(r#"{"a": {"dtype": "string", "shape": [1], "data": [1]}}"#).contains("is not a string"));
		assert!(err(r#"{"a": {"dtype": "i32", "shape": [1], "data": [3000000000]}}"#).contains("is not an i32"));
		assert!(err(r#"{"a": {"dtype": "f32", "shape": [1], "data": [null]}}"#).contains("is not a number"));
		assert!(err(r#"{"a": {"dtype": "bool", "shape": [1], "data": [1]}}"#).contains("true or false"));
		assert!(err(r#"{}"#).contains("no tensors"));
		// A NaN output is written as null.
		let nan = Value::F32 { shape: vec![1], bits: vec![f32::NAN.to_bits()] };
		assert_eq!(value_to_json(&nan, "y"), r#"{"y":{"dtype":"f32","shape":[1],"data":[null]}}"#);
		assert_eq!(value_to_json(&Value::Tokens(vec![1, 2]), "y"), r#"{"tokens":[1,2]}"#);
		for v in [Value::Tokens(vec![1, 2]), Value::Text(b"hi".to_vec())] {
			assert_eq!(value_from_json(&serde_json::from_str(&value_to_json(&v, "y")).unwrap()).unwrap(), v);
		}
	}
}
