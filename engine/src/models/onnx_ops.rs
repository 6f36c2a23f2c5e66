//! The ONNX operators a transformer exported by `torch.onnx` uses beyond products and
//! activations: shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Expand,
//! ConstantOfShape), types and masks (Cast, Equal, Less, Greater, Not, Where, Clip),
//! elementwise maths (Erf, Pow, Sqrt, Neg) and the order-sensitive ones (ReduceSum,
//! ReduceMean, LayerNormalization), with their semantics at opsets 11–21.
//!
//! Data movement and comparisons are exact in IEEE-754 and run through candle in both profiles.
//! Sums run on the engine's fixed-order kernels in both profiles, and the transcendental ones on
//! `libm` (pure Rust: the same bits on every CPU), so no result depends on the CPU.

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::{self, NodeProto};

use super::onnx::{node_name, tensor_from_proto, within_limit};
use crate::{
	error::{EngineError, Result},
	kernels,
	ops::{host, Norm, Ops},
};

/// A node's attributes, read with their ONNX defaults.
pub(crate) struct Attributes<'a>(pub &'a NodeProto);

impl Attributes<'_> {
	pub fn get(&self, name: &str) -> Option<&onnx::AttributeProto> {
		self.0.attribute.iter().find(|a| a.name == name)
	}
	pub fn int(&self, name: &str, default: i64) -> i64 {
		self.get(name).map_or(default, |a| a.i)
	}
	pub fn float(&self, name: &str, default: f32) -> f32 {
		self.get(name).map_or(default, |a| a.f)
	}
	pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
		self.get(name).map(|a| a.ints.clone())
	}
	pub fn tensor(&self, name: &str) -> Option<&onnx::TensorProto> {
		self.get(name).and_then(|a| a.t.as_ref())
	}
	pub fn string(&self, name: &str, default: &str) -> String {
		self.get(name).map_or_else(|| default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned())
	}
	pub fn strings(&self, name: &str) -> Vec<String> {
		self.get(name)
			.map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
			.unwrap_or_default()
	}
}

fn model_error(node: &NodeProto, what: impl std::fmt::Display) -> EngineError {
	EngineError::Model(format!("{}: {what}", node_name(node)))
}

/// An axis in `-rank..rank` as an index.
fn axis_index(node: &NodeProto, axis: i64, rank: usize) -> Result<usize> {
	let rank = rank as i64;
	let a = if axis < 0 { axis + rank } else { axis };
	if !(0..rank).contains(&a) {
		return Err(model_error(node, format!("axis {axis} is outside a rank-{rank} tensor")));
	}
	Ok(a as usize)
}

/// An integer tensor (i64 or i32) as `i64`s.
pub(crate) fn integers(node: &NodeProto, t: &Tensor) -> Result<Vec<i64>> {
	match t.dtype() {
		DType::I64 => Ok(t.flatten_all()?.to_vec1::<i64>()?),
		DType::I32 => Ok(t.flatten_all()?.to_vec1::<i32>()?.into_iter().map(i64::from).collect()),
		other => Err(model_error(node, format!("expects integers, got {other:?}"))),
	}
}

/// Dimensions given as a tensor of integers (a shape), each non-negative and the product
/// within the engine's limit.
fn dims_from(node: &NodeProto, t: &Tensor) -> Result<Vec<usize>> {
	let dims = integers(node, t)?
		.into_iter()
		.map(|d| usize::try_from(d).map_err(|_| model_error(node, format!("negative dimension {d}"))))
		.collect::<Result<Vec<_>>>()?;
	let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
	within_limit(count)?;
	Ok(dims)
}

fn i64_vector(values: Vec<i64>) -> Result<Tensor> {
	let n = values.len();
	Ok(Tensor::from_vec(values, n, &Device::Cpu)?)
}

/// ONNX multidirectional broadcasting of several shapes, refused beyond the size limit.
fn broadcast_dims(node: &NodeProto, shapes: &[&[usize]]) -> Result<Vec<usize>> {
	let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
	let mut out = vec![1usize; rank];
	for shape in shapes {
		for (i, &d) in shape.iter().enumerate() {
			let o = &mut out[rank - shape.len() + i];
			if *o == 1 {
				*o = d;
			} else if d != 1 && d != *o {
				return Err(model_error(node, format!("shapes {shapes:?} do not broadcast")));
			}
		}
	}
	within_limit(out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX))?;
	Ok(out)
}

pub(crate) fn shape(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let attrs = Attributes(node);
	let rank = x.rank() as i64;
	// Opset 15's `start`/`end`, clamped to the rank as the operator defines.
	let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
	let (start, end) = (clamp(attrs.int("start", 0)), clamp(attrs.int("end", rank)));
	let dims = x.dims().get(start..end.max(start)).unwrap_or(&[]);
	i64_vector(dims.iter().map(|&d| d as i64).collect())
}

pub(crate) fn gather(node: &NodeProto, data: &Tensor, indices: &Tensor) -> Result<Tensor> {
	let axis = axis_index(node, Attributes(node).int("axis", 0), data.rank())?;
	let size = data.dims()[axis] as i64;
	let picked = integers(node, indices)?
		.into_iter()
		.map(|i| {
			let j = if i < 0 { i + size } else { i };
			if (0..size).contains(&j) {
				Ok(j as u32)
			} else {
				Err(model_error(node, format!("index {i} is outside an axis of {size}")))
			}
		})
		.collect::<Result<Vec<u32>>>()?;
	let mut dims = data.dims()[..axis].to_vec();
	dims.extend(indices.dims());
	dims.extend(&data.dims()[axis + 1..]);
	within_limit(dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX))?;
	let n = picked.len();
	let selected = data.contiguous()?.index_select(&Tensor::from_vec(picked, n, &Device::Cpu)?, axis)?;
	Ok(selected.reshape(dims)?)
}

/// `Unsqueeze` (axes an input since opset 13, an attribute before).
pub(crate) fn unsqueeze(node: &NodeProto, x: &Tensor, axes: &[i64]) -> Result<Tensor> {
	let out_rank = x.rank() + axes.len();
	let mut axes: Vec<usize> = axes.iter().map(|&a| axis_index(node, a, out_rank)).collect::<Result<_>>()?;
	axes.sort();
	if axes.windows(2).any(|w| w[0] == w[1]) {
		return Err(model_error(node, "repeats an axis"));
	}
	let mut dims = x.dims().to_vec();
	for a in axes {
		dims.insert(a, 1);
	}
	Ok(x.reshape(dims)?)
}

/// `Squeeze`: the given axes (each of size 1), or every axis of size 1.
pub(crate) fn squeeze(node: &NodeProto, x: &Tensor, axes: Option<Vec<i64>>) -> Result<Tensor> {
	let remove: Vec<usize> = match axes {
		Some(axes) => axes.into_iter().map(|a| axis_index(node, a, x.rank())).collect::<Result<_>>()?,
		None => (0..x.rank()).filter(|&i| x.dims()[i] == 1).collect(),
	};
	if remove.iter().any(|&a| x.dims()[a] != 1) {
		return Err(model_error(node, format!("cannot squeeze a dimension other than 1 of {:?}", x.dims())));
	}
	let dims: Vec<usize> = x.dims().iter().enumerate().filter(|(i, _)| !remove.contains(i)).map(|(_, &d)| d).collect();
	Ok(x.reshape(dims)?)
}

pub(crate) fn concat(node: &NodeProto, parts: &[&Tensor]) -> Result<Tensor> {
	let first = parts.first().ok_or_else(|| model_error(node, "has no inputs"))?;
	let axis = axis_index(node, Attributes(node).int("axis", 0), first.rank())?;
	let total = parts.iter().try_fold(0usize, |a, p| a.checked_add(p.elem_count())).unwrap_or(usize::MAX);
	within_limit(total)?;
	// Empty parts (a dimension of 0) add nothing; candle refuses none of them either.
	let parts: Vec<Tensor> = parts.iter().map(|p| p.contiguous()).collect::<candle_core::Result<_>>()?;
	Ok(Tensor::cat(&parts, axis)?)
}

/// `Slice` with ONNX's clamping: starts and ends past either end are clamped, steps may be
/// negative, never zero.
pub(crate) fn slice(node: &NodeProto, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
	let data = inputs[0].ok_or_else(|| model_error(node, "lacks its data"))?;
	let vector = |i: usize| inputs.get(i).copied().flatten().map(|t| integers(node, t)).transpose();
	let (starts, ends) = (
		vector(1)?.ok_or_else(|| model_error(node, "lacks starts"))?,
		vector(2)?.ok_or_else(|| model_error(node, "lacks ends"))?,
	);
	let rank = data.rank();
	let axes = match vector(3)? {
		Some(a) => a.into_iter().map(|a| axis_index(node, a, rank)).collect::<Result<Vec<_>>>()?,
		None => (0..starts.len()).collect(),
	};
	let steps = vector(4)?.unwrap_or_else(|| vec![1; starts.len()]);
	if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
		return Err(model_error(node, "starts, ends, axes and steps differ in length"));
	}
	let mut out = data.clone();
	for (((&start, &end), &axis), &step) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
		let size = data.dims()[axis] as i64;
		if step == 0 {
			return Err(model_error(node, "a step of 0"));
		}
		let wrap = |v: i64| if v < 0 { v.saturating_add(size) } else { v };
		let picked: Vec<u32> = if step > 0 {
			let (s, e) = (wrap(start).clamp(0, size), wrap(end).clamp(0, size));
			(s..e).step_by(step as usize).map(|i| i as u32).collect()
		} else {
			let (s, e) = (wrap(start).clamp(-1, size - 1), wrap(end).clamp(-1, size - 1));
			let mut v = Vec::new();
			let mut i = s;
			while i > e {
				v.push(i as u32);
				i = i.saturating_add(step);
			}
			v
		};
		let n = picked.len();
		if n == size as usize && step == 1 {
			continue;
		}
		out = out.contiguous()?.index_select(&Tensor::from_vec(picked, n, &Device::Cpu)?, axis)?;
	}
	Ok(out)
}

pub(crate) fn expand(node: &NodeProto, x: &Tensor, shape: &Tensor) -> Result<Tensor> {
	let target = integers(node, shape)?
		.into_iter()
		.map(|d| usize::try_from(d).map_err(|_| model_error(node, format!("negative dimension {d}"))))
		.collect::<Result<Vec<_>>>()?;
	let dims = broadcast_dims(node, &[x.dims(), &target])?;
	Ok(x.broadcast_as(dims)?.contiguous()?)
}

pub(crate) fn constant_of_shape(node: &NodeProto, shape: &Tensor) -> Result<Tensor> {
	let dims = dims_from(node, shape)?;
	let value = match Attributes(node).tensor("value") {
		Some(t) => tensor_from_proto(t)?.flatten_all()?,
		None => Tensor::zeros(1, DType::F32, &Device::Cpu)?,
	};
	if value.elem_count() != 1 {
		return Err(model_error(node, "value must hold one element"));
	}
	Ok(value.reshape(())?.broadcast_as(dims)?.contiguous()?)
}

/// The ONNX element type `to` as the dtype that holds it here (`bool` is `u8`).
fn dtype_of(node: &NodeProto, to: i64) -> Result<DType> {
	use onnx::tensor_proto::DataType;
	Ok(match i32::try_from(to).ok().and_then(|t| DataType::try_from(t).ok()) {
		Some(DataType::Float) => DType::F32,
		Some(DataType::Int64) => DType::I64,
		Some(DataType::Int32) => DType::I32,
		Some(DataType::Bool) => DType::U8,
		_ => return Err(model_error(node, format!("casts to unsupported type {to}"))),
	})
}

/// `Cast`: to bool is "non-zero" (NaN included); float to integer truncates toward zero and
/// saturates (NaN becomes 0), integer narrowing wraps: each defined the same on every CPU.
pub(crate) fn cast(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let to = dtype_of(node, Attributes(node).int("to", 0))?;
	if to == x.dtype() {
		return Ok(x.clone());
	}
	Ok(match (x.dtype(), to) {
		(DType::F32, DType::U8) => {
			let v: Vec<u8> = host(x)?.into_iter().map(|f| u8::from(f != 0.0)).collect();
			Tensor::from_vec(v, x.dims(), &Device::Cpu)?
		},
		(_, DType::U8) => x.ne(&x.zeros_like()?)?,
		(DType::F32, DType::I64) => {
			Tensor::from_vec(host(x)?.into_iter().map(|f| f as i64).collect::<Vec<_>>(), x.dims(), &Device::Cpu)?
		},
		(DType::F32, DType::I32) => {
			Tensor::from_vec(host(x)?.into_iter().map(|f| f as i32).collect::<Vec<_>>(), x.dims(), &Device::Cpu)?
		},
		(DType::I64, DType::I32) => {
			let v: Vec<i32> = x.flatten_all()?.to_vec1::<i64>()?.into_iter().map(|i| i as i32).collect();
			Tensor::from_vec(v, x.dims(), &Device::Cpu)?
		},
		// Widening and integer-to-float conversions are exact or correctly rounded.
		_ => x.to_dtype(to)?,
	})
}

/// A comparison operator, with broadcasting; the result is `bool`.
#[derive(Clone, Copy)]
pub(crate) enum Compare {
	Equal,
	Less,
	LessOrEqual,
	Greater,
	GreaterOrEqual,
}

pub(crate) fn compare(node: &NodeProto, a: &Tensor, b: &Tensor, op: Compare) -> Result<Tensor> {
	if a.dtype() != b.dtype() {
		return Err(model_error(node, format!("compares {:?} with {:?}", a.dtype(), b.dtype())));
	}
	let dims = broadcast_dims(node, &[a.dims(), b.dims()])?;
	let (a, b) = (a.broadcast_as(dims.clone())?, b.broadcast_as(dims)?);
	Ok(match op {
		Compare::Equal => a.eq(&b)?,
		Compare::Less => a.lt(&b)?,
		Compare::LessOrEqual => a.le(&b)?,
		Compare::Greater => a.gt(&b)?,
		Compare::GreaterOrEqual => a.ge(&b)?,
	})
}

/// A logical operator on two bool tensors, with broadcasting.
#[derive(Clone, Copy)]
pub(crate) enum Logic {
	And,
	Or,
	Xor,
}

pub(crate) fn logic(node: &NodeProto, a: &Tensor, b: &Tensor, op: Logic) -> Result<Tensor> {
	if a.dtype() != DType::U8 || b.dtype() != DType::U8 {
		return Err(model_error(node, "takes bool"));
	}
	let dims = broadcast_dims(node, &[a.dims(), b.dims()])?;
	let flat = |t: &Tensor| -> Result<Vec<u8>> { Ok(t.broadcast_as(dims.clone())?.flatten_all()?.to_vec1::<u8>()?) };
	let (a, b) = (flat(a)?, flat(b)?);
	let v: Vec<u8> = a
		.iter()
		.zip(&b)
		.map(|(&x, &y)| {
			let (x, y) = (x != 0, y != 0);
			u8::from(match op {
				Logic::And => x && y,
				Logic::Or => x || y,
				Logic::Xor => x != y,
			})
		})
		.collect();
	Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

/// `IsNaN`, and `IsInf` with its `detect_negative` / `detect_positive` attributes: an f32
/// tensor's elements tested by their bits, as bool.
pub(crate) fn is_special(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	if x.dtype() != DType::F32 {
		return Err(model_error(node, "takes f32"));
	}
	let attrs = Attributes(node);
	let (negative, positive) = (attrs.int("detect_negative", 1) != 0, attrs.int("detect_positive", 1) != 0);
	let test = |f: f32| match node.op_type.as_str() {
		"IsNaN" => f.is_nan(),
		_ => f.is_infinite() && if f > 0.0 { positive } else { negative },
	};
	let v: Vec<u8> = host(x)?.into_iter().map(|f| u8::from(test(f))).collect();
	Ok(Tensor::from_vec(v, x.dims(), &Device::Cpu)?)
}

/// `Range(start, limit, delta)` on scalars of one type: `max(ceil((limit − start) / delta), 0)`
/// elements `start + i·delta`, as the operator defines them. Integers are exact (a count or an
/// element that overflows is the graph's error); f32 uses IEEE division, ceiling and one
/// multiply-add per element (separate roundings), the same on every CPU.
pub(crate) fn range(node: &NodeProto, start: &Tensor, limit: &Tensor, delta: &Tensor) -> Result<Tensor> {
	if start.dtype() != limit.dtype() || start.dtype() != delta.dtype() {
		return Err(model_error(node, "takes start, limit and delta of one type"));
	}
	if [start, limit, delta].iter().any(|t| t.elem_count() != 1) {
		return Err(model_error(node, "takes scalars"));
	}
	match start.dtype() {
		DType::F32 => {
			let [s, l, d] = [start, limit, delta].map(|t| host(t).map(|v| v[0]));
			let (s, l, d) = (s?, l?, d?);
			let count = ((l - s) / d).ceil();
			if !count.is_finite() {
				return Err(model_error(node, format!("cannot count from {s} to {l} by {d}")));
			}
			let n = if count > 0.0 { count as usize } else { 0 };
			within_limit(n)?;
			let v: Vec<f32> = (0..n).map(|i| s + i as f32 * d).collect();
			Ok(Tensor::from_vec(v, n, &Device::Cpu)?)
		},
		dtype @ (DType::I64 | DType::I32) => {
			let [s, l, d] = [start, limit, delta].map(|t| integers(node, t).map(|v| v[0]));
			let (s, l, d) = (s?, l?, d?);
			if d == 0 {
				return Err(model_error(node, "has a zero delta"));
			}
			let span = i128::from(l) - i128::from(s);
			let d128 = i128::from(d);
			// Ceiling division of the span by the delta, in i128 so nothing overflows.
			let count = span / d128 + i128::from(span % d128 != 0 && (span < 0) == (d128 < 0));
			let n = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
			within_limit(n)?;
			// Every element lies between start and limit, so wrapping arithmetic is exact.
			let v: Vec<i64> = (0..n as i64).map(|i| s.wrapping_add(i.wrapping_mul(d))).collect();
			let t = i64_vector(v)?;
			Ok(if dtype == DType::I32 { t.to_dtype(DType::I32)? } else { t })
		},
		other => Err(model_error(node, format!("takes f32, i64 or i32, got {other:?}"))),
	}
}

pub(crate) fn not(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	if x.dtype() != DType::U8 {
		return Err(model_error(node, "takes bool"));
	}
	Ok(x.eq(&x.zeros_like()?)?)
}

pub(crate) fn where_(node: &NodeProto, cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
	if cond.dtype() != DType::U8 {
		return Err(model_error(node, "takes a bool condition"));
	}
	let dims = broadcast_dims(node, &[cond.dims(), x.dims(), y.dims()])?;
	let b = |t: &Tensor| t.broadcast_as(dims.clone()).and_then(|t| t.contiguous());
	Ok(b(cond)?.where_cond(&b(x)?, &b(y)?)?)
}

/// `Clip` with optional `min` and `max` inputs (scalars); NaN stays NaN.
pub(crate) fn clip(node: &NodeProto, x: &Tensor, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<Tensor> {
	let scalar = |t: Option<&Tensor>| -> Result<Option<Tensor>> {
		match t {
			Some(t) if t.elem_count() == 1 && t.dtype() == x.dtype() => Ok(Some(t.flatten_all()?.reshape(())?)),
			Some(_) => Err(model_error(node, "min and max must be scalars of the input's type")),
			None => Ok(None),
		}
	};
	let mut y = x.clone();
	if let Some(lo) = scalar(min)? {
		let lo = lo.broadcast_as(x.dims())?;
		y = y.lt(&lo)?.where_cond(&lo, &y)?;
	}
	if let Some(hi) = scalar(max)? {
		let hi = hi.broadcast_as(x.dims())?;
		y = y.gt(&hi)?.where_cond(&hi, &y)?;
	}
	Ok(y)
}

/// An elementwise function of f32s on `libm`, the same bits in both profiles.
pub(crate) fn map_f32(node: &NodeProto, x: &Tensor, f: impl Fn(f32) -> f32) -> Result<Tensor> {
	if x.dtype() != DType::F32 {
		return Err(model_error(node, "takes f32 tensors only"));
	}
	let v: Vec<f32> = host(x)?.into_iter().map(f).collect();
	Ok(Tensor::from_vec(v, x.dims(), &Device::Cpu)?)
}

/// `Pow` on f32s with broadcasting: `x²` is `x·x` exactly, anything else `libm::powf`.
pub(crate) fn pow(node: &NodeProto, x: &Tensor, y: &Tensor) -> Result<Tensor> {
	if x.dtype() != DType::F32 || y.dtype() != DType::F32 {
		return Err(model_error(node, "takes f32 tensors only"));
	}
	let dims = broadcast_dims(node, &[x.dims(), y.dims()])?;
	let xs = host(&x.broadcast_as(dims.clone())?.contiguous()?)?;
	let ys = host(&y.broadcast_as(dims.clone())?.contiguous()?)?;
	let v: Vec<f32> = xs.iter().zip(&ys).map(|(&a, &b)| if b == 2.0 { a * a } else { libm::powf(a, b) }).collect();
	Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

/// Whether a reduction sums or averages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduce {
	Sum,
	Mean,
}

/// `ReduceSum`/`ReduceMean` over `axes` (all when none are given, unless
/// `noop_with_empty_axes`), `keepdims` as the operator defines. The reduced elements of each
/// output are summed in the fixed order of [`kernels::sum`] in both profiles; i64 sums wrap.
pub(crate) fn reduce(node: &NodeProto, x: &Tensor, axes: Option<Vec<i64>>, op: Reduce) -> Result<Tensor> {
	let attrs = Attributes(node);
	let keep = attrs.int("keepdims", 1) != 0;
	let rank = x.rank();
	let mut axes: Vec<usize> = match axes {
		Some(a) if !a.is_empty() => a.into_iter().map(|a| axis_index(node, a, rank)).collect::<Result<_>>()?,
		_ if attrs.int("noop_with_empty_axes", 0) != 0 => return Ok(x.clone()),
		_ => (0..rank).collect(),
	};
	axes.sort();
	axes.dedup();
	let kept: Vec<usize> = (0..rank).filter(|i| !axes.contains(i)).collect();
	let outer: usize = kept.iter().map(|&i| x.dims()[i]).product();
	let inner: usize = axes.iter().map(|&i| x.dims()[i]).product();
	let order: Vec<usize> = kept.iter().chain(&axes).copied().collect();
	let moved = x.permute(order)?.contiguous()?;
	let out_dims: Vec<usize> =
		(0..rank).filter_map(|i| if axes.contains(&i) { keep.then_some(1) } else { Some(x.dims()[i]) }).collect();
	match x.dtype() {
		DType::F32 => {
			let v = host(&moved)?;
			let sums: Vec<f32> = (0..outer)
				.map(|r| {
					let s = kernels::sum(&v[r * inner..(r + 1) * inner]);
					if op == Reduce::Mean {
						s / inner as f32
					} else {
						s
					}
				})
				.collect();
			Ok(Tensor::from_vec(sums, out_dims, &Device::Cpu)?)
		},
		DType::I64 if op == Reduce::Sum => {
			let v = moved.flatten_all()?.to_vec1::<i64>()?;
			let sums: Vec<i64> = (0..outer)
				.map(|r| v[r * inner..(r + 1) * inner].iter().fold(0i64, |a, b| a.wrapping_add(*b)))
				.collect();
			Ok(Tensor::from_vec(sums, out_dims, &Device::Cpu)?)
		},
		other => Err(model_error(node, format!("does not reduce {other:?}"))),
	}
}

/// `LayerNormalization` (opset 17): normalise over the axes from `axis` on, then scale and
/// shift. Only the `Y` output is computed; a graph that reads `Mean` or `InvStdDev` is refused.
pub(crate) fn layer_normalization(
	ops: &Ops,
	node: &NodeProto,
	x: &Tensor,
	scale: &Tensor,
	bias: Option<&Tensor>,
) -> Result<Tensor> {
	if node.output.iter().skip(1).any(|o| !o.is_empty()) {
		return Err(model_error(node, "the Mean and InvStdDev outputs are not supported"));
	}
	let attrs = Attributes(node);
	let axis = axis_index(node, attrs.int("axis", -1), x.rank())?;
	let width: usize = x.dims()[axis..].iter().product();
	let flat = |t: &Tensor| -> Result<Tensor> {
		if t.elem_count() != width || t.dtype() != DType::F32 {
			return Err(model_error(
				node,
				format!("scale and bias must be f32 of the normalised shape {:?}", &x.dims()[axis..]),
			));
		}
		Ok(t.flatten_all()?)
	};
	let norm = Norm::new(flat(scale)?, bias.map(flat).transpose()?, attrs.float("epsilon", 1e-5))?;
	let rows = x.elem_count() / width.max(1);
	let y = ops.layer_norm(&x.reshape((rows, width))?, &norm)?;
	Ok(y.reshape(x.dims())?)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn node(op: &str, attribute: Vec<onnx::AttributeProto>) -> NodeProto {
		NodeProto { op_type: op.into(), name: format!("/{op}"), attribute, ..Default::default() }
	}

	fn bools(v: &[u8], dims: &[usize]) -> Tensor {
		Tensor::from_vec(v.to_vec(), dims, &Device::Cpu).unwrap()
	}

	fn scalar<T: candle_core::WithDType>(v: T) -> Tensor {
		Tensor::new(v, &Device::Cpu).unwrap()
	}

	#[test]
	fn logic_broadcasts_over_bools_and_refuses_other_types() {
		let (a, b) = (bools(&[0, 1, 0, 1], &[2, 2]), bools(&[1, 0], &[2]));
		let run = |op| logic(&node("And", vec![]), &a, &b, op).unwrap().flatten_all().unwrap().to_vec1::<u8>().unwrap();
		assert_eq!(run(Logic::And), [0, 0, 0, 0]);
		assert_eq!(run(Logic::Or), [1, 1, 1, 1]);
		assert_eq!(run(Logic::Xor), [1, 1, 1, 1]);
		let b = bools(&[1, 1], &[2]);
		assert_eq!(
			logic(&node("And", vec![]), &a, &b, Logic::And).unwrap().flatten_all().unwrap().to_vec1::<u8>().unwrap(),
			[0, 1, 0, 1]
		);
		assert!(logic(&node("And", vec![]), &scalar(1f32), &b, Logic::And).is_err());
		let ge = compare(
			&node("GreaterOrEqual", vec![]),
			&scalar(2i64),
			&Tensor::new(&[1i64, 2, 3], &Device::Cpu).unwrap(),
			Compare::GreaterOrEqual,
		);
		assert_eq!(ge.unwrap().to_vec1::<u8>().unwrap(), [1, 1, 0]);
		let le = compare(
			&node("LessOrEqual", vec![]),
			&scalar(2i64),
			&Tensor::new(&[1i64, 2, 3], &Device::Cpu).unwrap(),
			Compare::LessOrEqual,
		);
		assert_eq!(le.unwrap().to_vec1::<u8>().unwrap(), [0, 1, 1]);
	}

	#[test]
	fn is_nan_and_is_inf_test_bits() {
		let x = Tensor::new(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0, -0.0], &Device::Cpu).unwrap();
		let test = |op: &str, attrs| is_special(&node(op, attrs), &x).unwrap().to_vec1::<u8>().unwrap();
		assert_eq!(test("IsNaN", vec![]), [1, 0, 0, 0, 0]);
		assert_eq!(test("IsInf", vec![]), [0, 1, 1, 0, 0]);
		let only_negative = onnx::AttributeProto { name: "detect_positive".into(), i: 0, ..Default::default() };
		assert_eq!(test("IsInf", vec![only_negative]), [0, 0, 1, 0, 0]);
	}

	#[test]
	fn range_counts_by_ceiling_and_refuses_what_cannot_end() {
		let n = node("Range", vec![]);
		let ints =
			|s: i64, l: i64, d: i64| range(&n, &scalar(s), &scalar(l), &scalar(d)).map(|t| t.to_vec1::<i64>().unwrap());
		assert_eq!(ints(0, 5, 2).unwrap(), [0, 2, 4]);
		assert_eq!(ints(10, 4, -3).unwrap(), [10, 7]);
		assert_eq!(ints(3, 3, 1).unwrap(), Vec::<i64>::new());
		assert_eq!(ints(5, 0, 1).unwrap(), Vec::<i64>::new());
		// Extremes do not overflow; a zero delta or an overlong range is the graph's error.
		assert_eq!(ints(i64::MAX - 1, i64::MAX, 1).unwrap(), [i64::MAX - 1]);
		assert_eq!(ints(i64::MIN, i64::MAX, i64::MAX).unwrap(), [i64::MIN, -1, i64::MAX - 1]);
		assert!(ints(0, 5, 0).is_err());
		assert!(ints(i64::MIN, i64::MAX, 1).is_err());
		let i32s = range(&n, &scalar(1i32), &scalar(4i32), &scalar(1i32)).unwrap();
		assert_eq!((i32s.dtype(), i32s.to_vec1::<i32>().unwrap()), (DType::I32, vec![1, 2, 3]));
		let floats = range(&n, &scalar(1.0f32), &scalar(2.0f32), &scalar(0.25f32)).unwrap().to_vec1::<f32>().unwrap();
		assert_eq!(floats, [1.0, 1.25, 1.5, 1.75]);
		assert!(range(&n, &scalar(0f32), &scalar(1f32), &scalar(0f32)).is_err());
		assert!(range(&n, &scalar(0f32), &scalar(f32::NAN), &scalar(1f32)).is_err());
		assert!(range(&n, &scalar(0i64), &scalar(1i32), &scalar(1i64)).is_err());
	}
}
