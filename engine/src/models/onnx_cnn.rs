//! The ONNX operators of convolutional networks (ResNet, MobileNet): 2-D `Conv` with groups,
//! strides, dilations and padding, `BatchNormalization` (inference), `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, `HardSigmoid` and `HardSwish`, at their opset 11–21 semantics.
//!
//! A convolution multiplies each output position's patch by the weights. Portable v1 gathers
//! the patches (im2col) and runs [`Ops::matmul_nt`] on its fixed-order kernels; portable v2 and
//! fast run the k-order matmul against weights packed at load, reading the patches where they
//! are in the input (zero-padded once per convolution). Pool windows are summed in row-major
//! order; per-element formulas are written once, so the same bits come out on every CPU.

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::NodeProto;

use super::{
	onnx::{node_name, within_limit},
	onnx_ops::Attributes,
};
use crate::{
	error::{EngineError, Result},
	gemm,
	kernels::{self, Activation},
	ops::{host, with_host, Kernels, Ops},
	team,
};
use std::collections::HashMap;

fn model_error(node: &NodeProto, what: impl std::fmt::Display) -> EngineError {
	EngineError::Model(format!("{}: {what}", node_name(node)))
}

/// Where a 2-D window slides: per spatial axis, the kernel, stride, dilation, padding before
/// and the output length.
#[derive(Clone, Copy, Debug)]
struct Axis {
	kernel: usize,
	stride: usize,
	dilation: usize,
	pad_begin: usize,
	pad_end: usize,
	input: usize,
	output: usize,
}

impl Axis {
	/// The input index the `o`-th output reads at kernel offset `k`, if inside the input.
	fn source(&self, o: usize, k: usize) -> Option<usize> {
		let i = (o * self.stride + k * self.dilation) as isize - self.pad_begin as isize;
		(0..self.input as isize).contains(&i).then_some(i as usize)
	}

	/// Whether that position is inside the input or its declared padding (a `ceil_mode`
	/// window may hang past both).
	fn in_padded(&self, o: usize, k: usize) -> bool {
		o * self.stride + k * self.dilation < self.pad_begin + self.input + self.pad_end
	}
}

/// The two spatial axes of a window over `[N, C, H, W]`, from the node's `auto_pad`, `pads`,
/// `strides`, `dilations` and (for pools) `ceil_mode`.
fn window(node: &NodeProto, input: [usize; 2], kernel: [usize; 2], ceil_mode: bool) -> Result<[Axis; 2]> {
	let attrs = Attributes(node);
	let pair = |name: &str| -> Result<[usize; 2]> {
		match attrs.ints(name) {
			None => Ok([1, 1]),
			Some(v) if v.len() == 2 && v.iter().all(|&x| (1..=1 << 16).contains(&x)) => {
				Ok([v[0] as usize, v[1] as usize])
			},
			Some(v) => Err(model_error(node, format!("{name} {v:?} must be two positive numbers"))),
		}
	};
	let (strides, dilations) = (pair("strides")?, pair("dilations")?);
	let auto_pad = attrs.string("auto_pad", "NOTSET");
	let mut axes = [Axis { kernel: 0, stride: 0, dilation: 0, pad_begin: 0, pad_end: 0, input: 0, output: 0 }; 2];
	for d in 0..2 {
		let span = dilations[d] * (kernel[d].max(1) - 1) + 1;
		let (begin, end) = match auto_pad.as_str() {
			"NOTSET" => match attrs.ints("pads") {
				None => (0, 0),
				Some(p) if p.len() == 4 && p.iter().all(|&x| (0..=1 << 16).contains(&x)) => {
					(p[d] as usize, p[d + 2] as usize)
				},
				Some(p) => return Err(model_error(node, format!("pads {p:?} must be four non-negative numbers"))),
			},
			"VALID" => (0, 0),
			"SAME_UPPER" | "SAME_LOWER" => {
				let out = input[d].div_ceil(strides[d]);
				let total = ((out.max(1) - 1) * strides[d] + span).saturating_sub(input[d]);
				let small = total / 2;
				if auto_pad == "SAME_UPPER" {
					(small, total - small)
				} else {
					(total - small, small)
				}
			},
			other => return Err(model_error(node, format!("auto_pad {other:?}"))),
		};
		let padded = input[d] + begin + end;
		if padded < span {
			return Err(model_error(node, format!("a window of {span} does not fit {padded}")));
		}
		let mut output =
			if ceil_mode { (padded - span).div_ceil(strides[d]) + 1 } else { (padded - span) / strides[d] + 1 };
		// With ceil_mode, a last window that would start in the end padding is dropped.
		if ceil_mode && (output - 1) * strides[d] >= input[d] + begin {
			output -= 1;
		}
		axes[d] = Axis {
			kernel: kernel[d],
			stride: strides[d],
			dilation: dilations[d],
			pad_begin: begin,
			pad_end: end,
			input: input[d],
			output,
		};
	}
	Ok(axes)
}

fn dims4(node: &NodeProto, x: &Tensor) -> Result<[usize; 4]> {
	match x.dims() {
		&[n, c, h, w] if x.dtype() == DType::F32 => Ok([n, c, h, w]),
		dims => Err(model_error(node, format!("takes an f32 [N, C, H, W] tensor, got {:?} {dims:?}", x.dtype()))),
	}
}

fn elements(dims: &[usize]) -> usize {
	dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX)
}

/// A `Conv` node's constant weights `[M, C/group, kH, kW]` packed at load for the k-order
/// matmul (portable v2, fast): one set of panels per group, the group's output channels as
/// columns.
pub(crate) struct ConvWeights {
	groups: Vec<gemm::PackedPanels>,
}

impl ConvWeights {
	/// For a `Conv` whose weights are a constant 4-D f32 tensor with a valid group count.
	pub(crate) fn prepare(node: &NodeProto, w: &Tensor) -> Result<Option<Self>> {
		let &[m, cg, kh, kw] = w.dims() else { return Ok(None) };
		let group = Attributes(node).int("group", 1);
		let Some(group) = usize::try_from(group).ok().filter(|g| *g >= 1 && m % g == 0) else { return Ok(None) };
		if w.dtype() != DType::F32 {
			return Ok(None);
		}
		let (mg, patch) = (m / group, cg * kh * kw);
		let all = host(&w.contiguous()?)?;
		let groups =
			all.chunks_exact((mg * patch).max(1)).take(group).map(|g| gemm::PackedPanels::new(g, mg, patch)).collect();
		Ok(Some(Self { groups }))
	}
}

/// A `BatchNormalization` node's constant parameters per channel, as a convolution's epilogue
/// applies them (`std` = `√(var + ε)`, as [`batch_norm`] computes it).
pub(crate) struct BatchNormParams {
	mean: Vec<f32>,
	std: Vec<f32>,
	scale: Vec<f32>,
	shift: Vec<f32>,
}

impl BatchNormParams {
	/// For an inference-mode node with one output and constant f32 `[channels]` parameters.
	pub(crate) fn from_node(node: &NodeProto, constants: &HashMap<String, Tensor>, channels: usize) -> Option<Self> {
		let attrs = Attributes(node);
		if attrs.int("training_mode", 0) != 0
			|| node.output.iter().skip(1).any(|o| !o.is_empty())
			|| node.input.len() != 5
		{
			return None;
		}
		let param = |i: usize| -> Option<Vec<f32>> {
			let t = constants.get(node.input.get(i)?)?;
			(t.dims() == [channels] && t.dtype() == DType::F32).then(|| host(t).ok()).flatten()
		};
		let (scale, shift, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
		let eps = attrs.float("epsilon", 1e-5);
		let std = var.iter().map(|v| (v + eps).sqrt()).collect();
		Some(Self { mean, std, scale, shift })
	}

	/// Channels `range` as an epilogue step.
	fn columns(&self, range: std::ops::Range<usize>) -> gemm::ColumnNorm<'_> {
		gemm::ColumnNorm {
			mean: &self.mean[range.clone()],
			std: &self.std[range.clone()],
			scale: &self.scale[range.clone()],
			shift: &self.shift[range],
		}
	}
}

/// Each output position's patch of one image's channels `channels`, in (channel, ky, kx) order
/// (`[positions, patch]`); padding reads zero. Exact copies only.
fn patches<'a>(plane_of: impl Fn(usize) -> &'a [f32], channels: usize, [ay, ax]: [Axis; 2], width: usize) -> Vec<f32> {
	let (kh, kw) = (ay.kernel, ax.kernel);
	let patch = channels * kh * kw;
	let mut cols = vec![0f32; ay.output * ax.output * patch];
	// The output columns whose kernel offset `kx` lands inside the input: a contiguous range.
	let valid_x: Vec<std::ops::Range<usize>> = (0..kw)
		.map(|kx| {
			let first = (0..ax.output).find(|&ox| ax.source(ox, kx).is_some());
			let last = (0..ax.output).rev().find(|&ox| ax.source(ox, kx).is_some());
			match (first, last) {
				(Some(f), Some(l)) => f..l + 1,
				_ => 0..0,
			}
		})
		.collect();
	for oy in 0..ay.output {
		let rows = &mut cols[oy * ax.output * patch..(oy + 1) * ax.output * patch];
		for ci in 0..channels {
			let plane = plane_of(ci);
			for ky in 0..kh {
				let Some(iy) = ay.source(oy, ky) else { continue };
				let line = &plane[iy * width..(iy + 1) * width];
				for (kx, range) in valid_x.iter().enumerate() {
					let at = (ci * kh + ky) * kw + kx;
					for ox in range.clone() {
						let ix = ox * ax.stride + kx * ax.dilation - ax.pad_begin;
						rows[ox * patch + at] = line[ix];
					}
				}
			}
		}
	}
	cols
}

/// A convolution's patches as rows read where they are in its padded input (see
/// [`gemm::Gathered`]): the padded planes' height and width, and each (channel, ky, kx)'s
/// offset. Position `(oy, ox)`'s value at `(ci, ky, kx)` is padded plane `ci`'s value at row
/// `oy·sy + ky·dy`, column `ox·sx + kx·dx`: that of [`patches`]. The output rows are the runs.
struct PatchOffsets {
	axes: [Axis; 2],
	height: usize,
	width: usize,
	depths: Vec<usize>,
}

impl PatchOffsets {
	/// For `channels` input channels; an error where the padded input would be over the
	/// interpreter's size limit.
	fn new(channels: usize, [ay, ax]: [Axis; 2]) -> Result<Self> {
		let (height, width) = (ay.pad_begin + ay.input + ay.pad_end, ax.pad_begin + ax.input + ax.pad_end);
		within_limit(elements(&[channels, height, width]))?;
		let depths = (0..channels)
			.flat_map(|ci| {
				(0..ay.kernel).flat_map(move |ky| {
					(0..ax.kernel).map(move |kx| (ci * height + ky * ay.dilation) * width + kx * ax.dilation)
				})
			})
			.collect();
		Ok(Self { axes: [ay, ax], height, width, depths })
	}

	/// The patches over `data`, the padded planes; `None` if it is too short for them.
	fn rows<'a>(&'a self, data: &'a [f32]) -> Option<gemm::Gathered<'a>> {
		let [ay, ax] = self.axes;
		gemm::Gathered::new(data, (ay.output, ax.output), (ay.stride * self.width, ax.stride), &self.depths)
	}
}

/// The `channels` planes of `input` (each `ay.input × ax.input`) with their padding as zeros,
/// plane after plane, into `buffer`: each value written once, the planes shared among the
/// team's threads when there are many (the copy would otherwise leave the other threads idle
/// between two convolutions).
fn pad_planes(input: &[f32], channels: usize, [ay, ax]: [Axis; 2], buffer: &mut Vec<f32>) {
	let (height, width) = (ay.pad_begin + ay.input + ay.pad_end, ax.pad_begin + ax.input + ax.pad_end);
	let (padded, plane) = (height * width, ay.input * ax.input);
	// Every value is written below: what the buffer held is never read.
	buffer.resize(channels * padded, 0.0);
	let pad = |ci: usize, out: &mut [f32]| {
		let (top, rest) = out.split_at_mut(ay.pad_begin * width);
		top.fill(0.0);
		let (rows, bottom) = rest.split_at_mut(ay.input * width);
		bottom.fill(0.0);
		for (y, row) in rows.chunks_exact_mut(width.max(1)).enumerate() {
			let (left, rest) = row.split_at_mut(ax.pad_begin);
			left.fill(0.0);
			let (values, right) = rest.split_at_mut(ax.input);
			values.copy_from_slice(&input[ci * plane + y * ax.input..][..ax.input]);
			right.fill(0.0);
		}
	};
	let parallel = channels * padded >= PARALLEL_PAD;
	crate::team::for_each_piece(&mut buffer[..], padded, parallel, |ci, out| pad(ci, out));
}

/// Padded values below which one thread pads a convolution's input alone.
const PARALLEL_PAD: usize = 1 << 15;

/// What the nodes fused into a convolution apply to each output after its bias, in this order,
/// each rounded as the separate node would.
#[derive(Clone, Copy, Default)]
pub(crate) struct ConvEpilogue<'a> {
	pub norm: Option<&'a BatchNormParams>,
	/// Added next: a tensor of the output's shape (a residual connection).
	pub shortcut: Option<&'a Tensor>,
	pub activation: Option<Activation>,
}

/// The output dimensions `[N, M, H', W']` of a `Conv` on `x` with weights `w`.
pub(crate) fn conv_output_dims(node: &NodeProto, x: &Tensor, w: &Tensor) -> Result<[usize; 4]> {
	let ([n, _, h, wid], [m, _, kh, kw]) = (dims4(node, x)?, dims4(node, w)?);
	let [ay, ax] = window(node, [h, wid], [kh, kw], false)?;
	Ok([n, m, ay.output, ax.output])
}

/// `Conv` over `[N, C, H, W]` with weights `[M, C/group, kH, kW]` and an optional bias `[M]`;
/// `prepared`: the weights as [`ConvWeights::prepare`] packed them at load; `fused`: what the
/// nodes after it that are fused into it apply (in the matmul's epilogue where the weights are
/// prepared).
pub(crate) fn conv(
	ops: &Ops,
	node: &NodeProto,
	x: &Tensor,
	w: &Tensor,
	bias: Option<&Tensor>,
	prepared: Option<&ConvWeights>,
	fused: ConvEpilogue,
) -> Result<Tensor> {
	let [n, c, h, wid] = dims4(node, x)?;
	let [m, cg, kh, kw] = dims4(node, w)?;
	let group = usize::try_from(Attributes(node).int("group", 1)).ok().filter(|g| *g >= 1 && c % g == 0 && m % g == 0);
	let group = group.ok_or_else(|| model_error(node, "group must divide the input and output channels"))?;
	if cg * group != c {
		return Err(model_error(node, format!("weights for {} input channels, the input has {c}", cg * group)));
	}
	if let Some(shape) = Attributes(node).ints("kernel_shape") {
		if shape != [kh as i64, kw as i64] {
			return Err(model_error(node, format!("kernel_shape {shape:?} is not the weights' [{kh}, {kw}]")));
		}
	}
	let [ay, ax] = window(node, [h, wid], [kh, kw], false)?;
	let (positions, patch, mg) = (ay.output * ax.output, cg * kh * kw, m / group);
	within_limit(elements(&[n, m, positions]))?;
	within_limit(elements(&[positions, patch]))?;
	let weights = w.contiguous()?;
	let bias = match bias {
		Some(b) if b.dims() == [m] => Some(host(b)?),
		Some(b) => return Err(model_error(node, format!("bias {:?} for {m} output channels", b.dims()))),
		None => None,
	};
	let ConvEpilogue { norm, shortcut, activation } = fused;
	if let Some(s) = shortcut.filter(|s| s.dims() != [n, m, ay.output, ax.output] || s.dtype() != DType::F32) {
		return Err(model_error(
			node,
			format!("a fused shortcut {:?} {:?} is not the output's shape", s.dtype(), s.dims()),
		));
	}
	// Weights prepared for this node's shape (an output name is not proof of that).
	let prepared = prepared.filter(|p| {
		ops.kernels != Kernels::PortableV1
			&& p.groups.len() == group
			&& p.groups.iter().all(|g| g.k() == patch && g.n() == mg)
	});
	let offsets = prepared.map(|_| PatchOffsets::new(cg, [ay, ax])).transpose()?;
	let padded = ay.pad_begin + ay.pad_end + ax.pad_begin + ax.pad_end > 0;
	thread_local! {
		/// The padded input of the convolution running on this thread, kept from one to the next.
		static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
	}
	let run = |input: &[f32], shortcut: Option<&[f32]>| -> Result<Vec<f32>> {
		let mut out: Vec<f32> = Vec::with_capacity(n * m * positions);
		for b in 0..n {
			for g in 0..group {
				let plane_of = |ci: usize| &input[((b * c) + g * cg + ci) * h * wid..][..h * wid];
				match prepared.zip(offsets.as_ref()) {
					Some((prepared, offsets)) => {
						// [positions, patch] · [Mg, patch]ᵀ = [positions, Mg], stored column after
						// column: the group's Mg output planes. The same products in the same k order
						// as the other orientation: the same bits. The patches are read where they
						// are in the (padded) input, never copied out.
						let channels = g * mg..(g + 1) * mg;
						let epilogue = gemm::Epilogue {
							bias: bias.as_ref().map(|b| &b[channels.clone()]),
							norm: norm.map(|p| p.columns(channels.clone())),
							shortcut: shortcut.map(|s| &s[(b * m + g * mg) * positions..][..mg * positions]),
							activation,
							residual: None,
						};
						let group_input = &input[(b * c + g * cg) * h * wid..][..cg * h * wid];
						let multiply = |data: &[f32]| -> Result<Vec<f32>> {
							let gathered =
								offsets.rows(data).ok_or_else(|| model_error(node, "patches reach past the input"))?;
							Ok(gemm::matmul_fused_gathered(
								gathered,
								&prepared.groups[g],
								&epilogue,
								gemm::Layout::Columns,
							))
						};
						let planes = match padded {
							false => multiply(group_input)?,
							true => PADDED.with(|cell| {
								let mut buffer = cell.take();
								pad_planes(group_input, cg, [ay, ax], &mut buffer);
								debug_assert_eq!(buffer.len(), cg * offsets.height * offsets.width);
								let planes = multiply(&buffer);
								cell.replace(buffer);
								planes
							})?,
						};
						if n * group == 1 {
							out = planes;
						} else {
							out.extend_from_slice(&planes);
						}
					},
					None => {
						let cols = patches(plane_of, cg, [ay, ax], wid);
						let cols = Tensor::from_vec(cols, (1, positions, patch), &Device::Cpu)?;
						let wg = weights.narrow(0, g * mg, mg)?.reshape((1, mg, patch))?;
						// [Mg, patch] · [positions, patch]ᵀ = [Mg, positions]: the group's output planes.
						out.extend(host(&ops.matmul_nt(&wg, &cols)?)?);
					},
				}
			}
		}
		Ok(out)
	};
	let mut out = with_host(x, |input| match shortcut {
		Some(s) => with_host(s, |s| run(input, Some(s)))?,
		None => run(input, None),
	})??;
	if prepared.is_none() {
		// The epilogue's steps, plane by plane.
		for (i, plane) in out.chunks_exact_mut(positions.max(1)).enumerate() {
			let channel = i % m;
			if let Some(b) = &bias {
				plane.iter_mut().for_each(|v| *v += b[channel]);
			}
			if let Some(norm) = norm {
				let one = norm.columns(channel..channel + 1);
				plane.iter_mut().for_each(|v| one.apply(std::slice::from_mut(v), 0));
			}
			if let Some(s) = shortcut {
				with_host(s, |s| plane.iter_mut().zip(&s[i * positions..]).for_each(|(v, s)| *v += s))?;
			}
			if let Some(a) = activation {
				match ops.kernels {
					Kernels::PortableV1 => kernels::activate_in_place(plane, a),
					_ => kernels::activate_in_place_with::<kernels::Polynomials>(plane, a),
				}
			}
		}
	}
	Ok(Tensor::from_vec(out, (n, m, ay.output, ax.output), &Device::Cpu)?)
}

/// `BatchNormalization` in inference mode: `(x − mean) / √(var + ε) · scale + bias` per channel,
/// element by element in that order.
pub(crate) fn batch_norm(node: &NodeProto, inputs: [&Tensor; 5]) -> Result<Tensor> {
	let attrs = Attributes(node);
	if attrs.int("training_mode", 0) != 0 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
		return Err(model_error(node, "only inference mode (one output) is supported"));
	}
	let x = inputs[0];
	if x.rank() < 2 || x.dtype() != DType::F32 {
		return Err(model_error(node, "takes an f32 [N, C, …] tensor"));
	}
	let (n, c) = (x.dims()[0], x.dims()[1]);
	let inner = x.elem_count() / (n * c).max(1);
	let params = inputs[1..]
		.iter()
		.map(|t| {
			if t.dims() == [c] && t.dtype() == DType::F32 {
				host(t)
			} else {
				Err(model_error(node, "parameters must be f32 [C]"))
			}
		})
		.collect::<Result<Vec<_>>>()?;
	let eps = attrs.float("epsilon", 1e-5);
	let (scale, shift, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
	let mut v = host(&x.contiguous()?)?;
	for (i, plane) in v.chunks_exact_mut(inner.max(1)).enumerate() {
		let ch = i % c;
		let std = (var[ch] + eps).sqrt();
		for e in plane {
			*e = (*e - mean[ch]) / std * scale[ch] + shift[ch];
		}
	}
	Ok(Tensor::from_vec(v, x.dims(), &Device::Cpu)?)
}

/// Which pool.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pool {
	Max,
	Average,
}

/// `MaxPool` / `AveragePool` over `[N, C, H, W]`. Padding never wins a max; an average counts
/// it only with `count_include_pad`.
pub(crate) fn pool(node: &NodeProto, x: &Tensor, kind: Pool) -> Result<Tensor> {
	let attrs = Attributes(node);
	if node.output.iter().skip(1).any(|o| !o.is_empty()) {
		return Err(model_error(node, "the Indices output is not supported"));
	}
	let [n, c, h, w] = dims4(node, x)?;
	let kernel = match attrs.ints("kernel_shape") {
		Some(k) if k.len() == 2 && k.iter().all(|&v| (1..=1 << 16).contains(&v)) => [k[0] as usize, k[1] as usize],
		other => return Err(model_error(node, format!("kernel_shape {other:?} must be two positive numbers"))),
	};
	let [ay, ax] = window(node, [h, w], kernel, attrs.int("ceil_mode", 0) != 0)?;
	within_limit(elements(&[n, c, ay.output, ax.output]))?;
	let include_pad = attrs.int("count_include_pad", 0) != 0;
	let outputs = ay.output * ax.output;
	let mut out = vec![0f32; n * c * outputs];
	let max_extent = MaxPadded::new([ay, ax]);
	if kind == Pool::Max {
		within_limit(elements(&[max_extent.height, max_extent.width]))?;
	}
	with_host(x, |input| {
		// Planes in parallel when there is enough work: each plane's windows are computed
		// alone, in the same order either way.
		let parallel = worth_splitting(n * c * outputs * ay.kernel * ax.kernel);
		team::for_each_piece(&mut out, outputs, parallel, |i, out| {
			let plane = &input[i * h * w..(i + 1) * h * w];
			match kind {
				Pool::Max => max_pool_plane(plane, [ay, ax], max_extent, out),
				Pool::Average => pool_plane(plane, [ay, ax], (kind, include_pad), out),
			}
		});
	})?;
	Ok(Tensor::from_vec(out, (n, c, ay.output, ax.output), &Device::Cpu)?)
}

/// One plane's pool, window by window: each output's taps in row-major order (the definition
/// [`max_pool_plane`] is checked against).
fn pool_plane(plane: &[f32], [ay, ax]: [Axis; 2], (kind, include_pad): (Pool, bool), out: &mut [f32]) {
	let w = ax.input;
	for (oy, out) in out.chunks_exact_mut(ax.output.max(1)).enumerate() {
		for (ox, out) in out.iter_mut().enumerate() {
			let (mut acc, mut count, mut padded) =
				(if kind == Pool::Max { f32::NEG_INFINITY } else { 0.0 }, 0usize, 0usize);
			for ky in 0..ay.kernel {
				for kx in 0..ax.kernel {
					match (ay.source(oy, ky), ax.source(ox, kx)) {
						(Some(iy), Some(ix)) => {
							let v = plane[iy * w + ix];
							acc = if kind == Pool::Max { max_step(acc, v) } else { acc + v };
							count += 1;
						},
						_ if ay.in_padded(oy, ky) && ax.in_padded(ox, kx) => padded += 1,
						_ => {},
					}
				}
			}
			*out = match kind {
				Pool::Max => acc,
				Pool::Average => {
					let divisor = if include_pad { count + padded } else { count };
					acc / divisor.max(1) as f32
				},
			};
		}
	}
}

/// The `-inf`-bordered plane a max pool reads: every offset of every window inside it, and
/// whole `stride`-long steps from any window column's start.
#[derive(Clone, Copy)]
struct MaxPadded {
	height: usize,
	width: usize,
}

impl MaxPadded {
	fn new([ay, ax]: [Axis; 2]) -> Self {
		let last_row = ay.output.saturating_sub(1) * ay.stride + (ay.kernel - 1) * ay.dilation + 1;
		let height = (ay.pad_begin + ay.input).max(last_row);
		let width = (ax.pad_begin + ax.input).max(ax.output * ax.stride + (ax.kernel - 1) * ax.dilation);
		Self { height, width }
	}
}

/// `MaxPool` of one plane, a whole output row at a time: for each window offset in row-major
/// order, every output of the row takes the value there if it is greater or NaN (as the
/// window-at-a-time loop does for each output), from `-inf`. Outside the input reads `-inf`,
/// which never replaces anything: the same as skipping it. The loops over a row vectorise.
fn max_pool_plane(plane: &[f32], axes: [Axis; 2], extent: MaxPadded, out: &mut [f32]) {
	thread_local! {
		/// The plane with its `-inf` border, kept from one plane to the next.
		static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
	}
	PADDED.with(|cell| {
		let mut padded = cell.take();
		// Compiled for the widest vector unit the CPU has (the one `kernel_variant` names):
		// copies, comparisons and selects only, so every width gives the same bits.
		#[cfg(target_arch = "x86_64")]
		match kernels::kernel_variant() {
			// SAFETY: each is selected only when the CPU reports its instructions.
			"avx512" => unsafe { wide::max_pool_avx512(plane, axes, extent, &mut padded, out) },
			"avx2" => unsafe { wide::max_pool_avx2(plane, axes, extent, &mut padded, out) },
			_ => max_pool_bordered(plane, axes, extent, &mut padded, out),
		}
		#[cfg(not(target_arch = "x86_64"))]
		max_pool_bordered(plane, axes, extent, &mut padded, out);
		cell.replace(padded);
	});
}

#[cfg(target_arch = "x86_64")]
mod wide {
	use super::{max_pool_bordered, Axis, MaxPadded};

	#[target_feature(enable = "avx2")]
	pub unsafe fn max_pool_avx2(
		plane: &[f32],
		axes: [Axis; 2],
		extent: MaxPadded,
		padded: &mut Vec<f32>,
		out: &mut [f32],
	) {
		max_pool_bordered(plane, axes, extent, padded, out)
	}

	#[target_feature(enable = "avx512f,avx512vl")]
	pub unsafe fn max_pool_avx512(
		plane: &[f32],
		axes: [Axis; 2],
		extent: MaxPadded,
		padded: &mut Vec<f32>,
		out: &mut [f32],
	) {
		max_pool_bordered(plane, axes, extent, padded, out)
	}
}

/// [`max_pool_plane`]'s work, with `padded` (any contents) to hold the bordered plane.
#[inline(always)]
fn max_pool_bordered(
	plane: &[f32],
	[ay, ax]: [Axis; 2],
	MaxPadded { height, width }: MaxPadded,
	padded: &mut Vec<f32>,
	out: &mut [f32],
) {
	padded.clear();
	padded.resize(height * width, f32::NEG_INFINITY);
	for (y, line) in plane.chunks_exact(ax.input.max(1)).enumerate() {
		let at = (ay.pad_begin + y) * width + ax.pad_begin;
		padded[at..at + ax.input].copy_from_slice(line);
	}
	for (oy, row) in out.chunks_exact_mut(ax.output.max(1)).enumerate() {
		row.fill(f32::NEG_INFINITY);
		for ky in 0..ay.kernel {
			let line = &padded[(oy * ay.stride + ky * ay.dilation) * width..][..width];
			for kx in 0..ax.kernel {
				let taps = &line[kx * ax.dilation..][..ax.output * ax.stride];
				match ax.stride {
					1 => max_taps::<1>(row, taps),
					2 => max_taps::<2>(row, taps),
					stride => row.iter_mut().zip(taps.chunks_exact(stride)).for_each(|(o, t)| *o = max_step(*o, t[0])),
				}
			}
		}
	}
}

/// One window offset over a row of outputs: tap `j` is `taps[j · S]`.
#[inline(always)]
fn max_taps<const S: usize>(row: &mut [f32], taps: &[f32]) {
	for (o, t) in row.iter_mut().zip(taps.chunks_exact(S)) {
		*o = max_step(*o, t[0]);
	}
}

/// One step of a max window: `v` replaces `acc` if greater, or NaN.
#[inline(always)]
fn max_step(acc: f32, v: f32) -> f32 {
	if v > acc || v.is_nan() {
		v
	} else {
		acc
	}
}

/// Whether an operator touching `work` values is worth splitting over the threads.
fn worth_splitting(work: usize) -> bool {
	work >= 1 << 16
}

/// `GlobalAveragePool`: the mean of each `[N, C]` plane, summed in the fixed order of
/// [`kernels::sum`], kept as `[N, C, 1, 1]`.
pub(crate) fn global_average_pool(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	if x.rank() < 3 || x.dtype() != DType::F32 {
		return Err(model_error(node, "takes an f32 [N, C, …] tensor"));
	}
	let (n, c) = (x.dims()[0], x.dims()[1]);
	let inner = (x.elem_count() / (n * c).max(1)).max(1);
	let v = host(&x.contiguous()?)?;
	let means: Vec<f32> = v.chunks_exact(inner).map(|p| kernels::sum(p) / inner as f32).collect();
	let mut dims = vec![n, c];
	dims.resize(x.rank(), 1);
	Ok(Tensor::from_vec(means, dims, &Device::Cpu)?)
}

/// `max(0, min(1, α·x + β))`, and `HardSwish` = `x · HardSigmoid(x)` with α = 1/6, β = ½.
pub(crate) fn hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
	(alpha * x + beta).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn row_at_a_time_max_pool_gives_the_window_at_a_time_bits() {
		// (input h, w), kernel, stride, dilation, pads (begin, end), ceil_mode.
		let cases = [
			((112, 112), 3, 2, 1, (1, 1), false),
			((7, 9), 3, 1, 1, (1, 1), false),
			((8, 8), 2, 2, 1, (0, 0), true),
			((9, 11), 3, 2, 2, (2, 0), true),
			((5, 6), 3, 3, 1, (1, 2), true),
			((4, 4), 4, 1, 1, (0, 0), false),
		];
		for ((h, w), kernel, stride, dilation, (pad_begin, pad_end), ceil_mode) in cases {
			let axis = |input: usize| {
				let span = dilation * (kernel - 1) + 1;
				let padded = input + pad_begin + pad_end;
				let mut output =
					if ceil_mode { (padded - span).div_ceil(stride) + 1 } else { (padded - span) / stride + 1 };
				if ceil_mode && (output - 1) * stride >= input + pad_begin {
					output -= 1;
				}
				Axis { kernel, stride, dilation, pad_begin, pad_end, input, output }
			};
			let axes = [axis(h), axis(w)];
			// Ties, both zeros, infinities and NaNs with different payloads.
			let specials =
				[0.0, -0.0, 1.0, 1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::from_bits(0x7fc0_0001)];
			let plane: Vec<f32> = (0..h * w)
				.map(
					|i| if i % 7 == 3 { specials[i / 7 % specials.len()] } else { ((i * 37 % 23) as f32 - 11.0) / 4.0 },
				)
				.collect();
			let outputs = axes[0].output * axes[1].output;
			let (mut expected, mut got) = (vec![0f32; outputs], vec![0f32; outputs]);
			pool_plane(&plane, axes, (Pool::Max, false), &mut expected);
			max_pool_plane(&plane, axes, MaxPadded::new(axes), &mut got);
			let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
			assert_eq!(bits(&got), bits(&expected), "{h}×{w} k{kernel} s{stride} d{dilation} ceil {ceil_mode}");
			// The baseline compilation too (the CPU's widest ran above), over a used buffer.
			let mut buffer = vec![f32::NAN; 5];
			max_pool_bordered(&plane, axes, MaxPadded::new(axes), &mut buffer, &mut got);
			assert_eq!(bits(&got), bits(&expected), "baseline {h}×{w} k{kernel} s{stride} d{dilation}");
		}
	}

	#[test]
	fn planes_padded_by_the_team_are_the_input_bordered_by_zeros() {
		// Over `PARALLEL_PAD` values, so the planes are shared among the team's threads; a
		// channel count no thread count divides; uneven pads on both axes.
		let (channels, h, w) = (9, 64, 61);
		let axis = |input: usize, pad_begin: usize, pad_end: usize| Axis {
			kernel: 3,
			stride: 1,
			dilation: 1,
			pad_begin,
			pad_end,
			input,
			output: input + pad_begin + pad_end - 2,
		};
		let axes = [axis(h, 1, 2), axis(w, 2, 0)];
		let (height, width) = (h + 3, w + 2);
		assert!(channels * height * width >= PARALLEL_PAD);
		let input: Vec<f32> = (0..channels * h * w).map(|i| i as f32 + 1.0).collect();
		// A buffer holding another convolution's values, longer than this one needs.
		let mut padded = vec![f32::NAN; channels * height * width + 100];
		pad_planes(&input, channels, axes, &mut padded);
		assert_eq!(padded.len(), channels * height * width);
		for ci in 0..channels {
			for y in 0..height {
				for x in 0..width {
					let inside = (1..h + 1).contains(&y) && (2..w + 2).contains(&x);
					let expected = if inside { input[(ci * h + y - 1) * w + x - 2] } else { 0.0 };
					assert_eq!(padded[(ci * height + y) * width + x].to_bits(), expected.to_bits(), "{ci} {y} {x}");
				}
			}
		}
	}

	#[test]
	fn padding_an_empty_input_gives_the_padding() {
		let axis =
			|input: usize| Axis { kernel: 3, stride: 1, dilation: 1, pad_begin: 2, pad_end: 2, input, output: 2 };
		for (h, w) in [(0, 3), (3, 0), (0, 0)] {
			let mut padded = vec![1.0; 7];
			pad_planes(&[], 2, [axis(h), axis(w)], &mut padded);
			assert_eq!(padded, vec![0.0; 2 * (h + 4) * (w + 4)], "{h}×{w}");
		}
	}

	#[test]
	fn gathered_patches_are_the_patches_rows() {
		// (input h, w), kernel, stride, dilation, pads (begin, end) on both axes.
		let cases = [
			((7, 9), 3, 1, 1, (1, 1)),
			((8, 8), 7, 2, 1, (3, 3)),
			((5, 11), 2, 3, 2, (0, 2)),
			((3, 3), 1, 1, 1, (0, 0)),
			((6, 4), 3, 2, 1, (2, 0)),
		];
		let channels = 3;
		for ((h, w), kernel, stride, dilation, (pad_begin, pad_end)) in cases {
			let axis = |input: usize| {
				let span = dilation * (kernel - 1) + 1;
				let output = (input + pad_begin + pad_end - span) / stride + 1;
				Axis { kernel, stride, dilation, pad_begin, pad_end, input, output }
			};
			let axes = [axis(h), axis(w)];
			let input: Vec<f32> = (0..channels * h * w).map(|i| i as f32 + 1.0).collect();
			let rows = patches(|ci| &input[ci * h * w..][..h * w], channels, axes, w);
			let offsets = PatchOffsets::new(channels, axes).unwrap();
			let mut padded = Vec::new();
			pad_planes(&input, channels, axes, &mut padded);
			assert_eq!(padded.len(), channels * offsets.height * offsets.width);
			assert!(offsets.rows(&padded).is_some());
			let patch = channels * kernel * kernel;
			let starts = (0..axes[0].output)
				.flat_map(|oy| (0..axes[1].output).map(move |ox| oy * stride * offsets.width + ox * stride));
			for (i, row) in starts.enumerate() {
				for (d, &depth) in offsets.depths.iter().enumerate() {
					assert_eq!(
						padded[row + depth],
						rows[i * patch + d],
						"{h}×{w} k{kernel} s{stride} d{dilation}: {i} at {d}"
					);
				}
			}
		}
	}
}
