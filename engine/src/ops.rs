//! The handful of numeric operations whose results depend on how they are computed, behind one
//! API with one implementation per [`Kernels`]:
//!
//! - [`Kernels::PortableV1`] (the portable profile, version 1): the fixed-order kernels of
//!   [`crate::kernels`], bit-identical on every CPU and thread count;
//! - [`Kernels::PortableV2`]: version 1 with every matmul on the k-order outer-product kernel of
//!   [`crate::gemm`] and `exp`/`erf`/`tanh` on the vectorised polynomials of [`crate::vmath`]:
//!   as bit-identical, and faster;
//! - [`Kernels::Fast`]: candle's native CPU paths (gemm with run-time SIMD dispatch for
//!   attention, quantized kernels, fused norms, the system libm), compared on chain with a
//!   tolerance. Dense linear layers share portable v2's matmul, which measured faster than any
//!   alternative here (docs/BENCHMARKS.md).
//!
//! Everything else a model does (gathers, reshapes, transposes, concatenation, elementwise
//! `+ − × ÷`, `sqrt`) is exact per element in IEEE-754 and goes through candle in both profiles.

use candle_core::{quantized::QMatMul, DType, Device, Module, Tensor};
use opg_primitives::inference::ExecutionProfile;

use crate::{
	error::{EngineError, Result},
	gemm,
	kernels::{self, Activation, Polynomials},
};

/// A tensor's elements as a row-major host vector.
pub fn host(t: &Tensor) -> Result<Vec<f32>> {
	Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// `f` on `t`'s values as one `f32` slice in row-major order: borrowed where the tensor already
/// is one, copied otherwise.
pub fn with_host<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
	if t.dtype() == DType::F32 && t.device().is_cpu() {
		let (storage, layout) = t.storage_and_layout();
		if let (candle_core::Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
			return Ok(f(&cpu.as_slice::<f32>()?[start..end]));
		}
	}
	Ok(f(&host(t)?))
}

fn from_host(data: Vec<f32>, dims: &[usize]) -> Result<Tensor> {
	Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
}

/// A weight matrix `[out, in]` stored the way its profile consumes it.
pub enum Weight {
	/// Packed `f32` rows for version 1's interleaved dot products.
	Packed(kernels::PackedRows),
	/// `f32` column panels for the k-order outer-product matmul ([`crate::gemm`]).
	Panels(gemm::PackedPanels),
	/// A quantized tensor for candle's quantized matmul (fast profile, GGUF).
	Quantized(QMatMul),
}

/// A linear layer `y = x·Wᵀ + b`.
pub struct Linear {
	weight: Weight,
	bias: Option<Tensor>,
	/// The bias as the fused epilogue of [`gemm::matmul_fused`] reads it.
	bias_host: Option<Vec<f32>>,
	/// `[out, in]` of `W`.
	shape: (usize, usize),
}

impl Linear {
	/// From a dense `[out, in]` weight, packed for the kernels' matmul. The fast profile shares
	/// the k-order matmul of portable v2, the fastest here (docs/BENCHMARKS.md), so fast differs
	/// from portable in the norms, softmax, activations, attention and quantized matmuls.
	pub fn new(kernels: Kernels, weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
		let (out, inp) = weight.dims2()?;
		if let Some(b) = &bias {
			if b.dims() != [out] {
				return Err(EngineError::Model(format!("bias shape {:?} does not match {out} outputs", b.dims())));
			}
		}
		let weight = Self::dense(kernels, host(&weight)?, out, inp);
		let bias = bias.map(|b| b.to_dtype(DType::F32)).transpose()?;
		Ok(Self { weight, bias_host: bias.as_ref().map(host).transpose()?, bias, shape: (out, inp) })
	}

	/// Layers with the same input side by side, as one layer whose outputs are theirs in order
	/// (Q, K and V as one matmul). Each output column is summed alone, so the bits are those of
	/// the separate layers. `None` where the parts are not all dense panels with matching biases.
	pub fn concat(parts: &[&Linear]) -> Result<Option<Self>> {
		let Some(first) = parts.first() else { return Ok(None) };
		let inp = first.shape.1;
		let mut rows = Vec::new();
		let mut bias = Vec::new();
		for part in parts {
			let (Weight::Panels(panels), true) = (&part.weight, part.shape.1 == inp) else { return Ok(None) };
			if part.bias_host.is_some() != first.bias_host.is_some() {
				return Ok(None);
			}
			rows.extend(panels.rows());
			bias.extend(part.bias_host.iter().flatten());
		}
		let out: usize = parts.iter().map(|p| p.shape.0).sum();
		let bias_host = first.bias_host.is_some().then_some(bias);
		Ok(Some(Self {
			weight: Weight::Panels(gemm::PackedPanels::new(&rows, out, inp)),
			bias: bias_host.clone().map(|b| from_host(b, &[out])).transpose()?,
			bias_host,
			shape: (out, inp),
		}))
	}

	fn dense(kernels: Kernels, rows: Vec<f32>, out: usize, inp: usize) -> Weight {
		match kernels {
			Kernels::PortableV1 => Weight::Packed(kernels::PackedRows::new(rows, out, inp)),
			Kernels::PortableV2 | Kernels::Fast => Weight::Panels(gemm::PackedPanels::new(&rows, out, inp)),
		}
	}

	/// `[out, in]`: how many features it makes of how many.
	pub fn shape(&self) -> (usize, usize) {
		self.shape
	}

	/// Whether the weight is dense panels, whose matmul fuses an epilogue.
	pub fn has_panels(&self) -> bool {
		matches!(self.weight, Weight::Panels(_))
	}

	pub fn bias(&self) -> Option<&Tensor> {
		self.bias.as_ref()
	}

	/// The layer with a bias `[out]` added to its outputs (it has none yet).
	pub fn with_bias(mut self, bias: Tensor) -> Result<Self> {
		if self.bias.is_some() || bias.dims() != [self.shape.0] {
			return Err(EngineError::Model(format!(
				"bias shape {:?} does not match {} outputs",
				bias.dims(),
				self.shape.0
			)));
		}
		let bias = bias.to_dtype(DType::F32)?;
		self.bias_host = Some(host(&bias)?);
		self.bias = Some(bias);
		Ok(self)
	}

	/// The rows of `x[…, in]` and the dimensions of the output `[…, out]`.
	fn output_dims(&self, x: &Tensor) -> Result<(usize, Vec<usize>)> {
		let (out, inp) = self.shape;
		let mut dims = x.dims().to_vec();
		let last = dims.last_mut().ok_or_else(|| EngineError::Model("linear on a scalar".into()))?;
		if *last != inp {
			return Err(EngineError::Model(format!("linear expects {inp} features, got {last}")));
		}
		*last = out;
		Ok((x.elem_count() / inp.max(1), dims))
	}

	/// From a quantized weight: kept quantized in the fast profile, dequantized (exactly, for
	/// q8_0: an f16 scale times an i8 fits an f32 mantissa) in the portable one.
	pub fn quantized(kernels: Kernels, q: candle_core::quantized::QTensor) -> Result<Self> {
		let (out, inp) = q.shape().dims2()?;
		let weight = match kernels {
			Kernels::PortableV1 | Kernels::PortableV2 => {
				Self::dense(kernels, host(&q.dequantize(&Device::Cpu)?)?, out, inp)
			},
			Kernels::Fast => Weight::Quantized(QMatMul::from_qtensor(q)?),
		};
		Ok(Self { weight, bias: None, bias_host: None, shape: (out, inp) })
	}
}

/// The versions of the portable profile this engine implements. Version 1's kernels sum in the
/// orders [`crate::kernels`] documents; a kernel that sums in another order is a new version,
/// added here beside the old one, which keeps its bits.
pub const PORTABLE_VERSIONS: std::ops::RangeInclusive<u16> = 1..=2;

/// The kernels a model runs on, resolved once from its chain profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
	/// Version 1 of the portable profile.
	PortableV1,
	/// Version 2: version 1 with the k-order matmul of [`crate::gemm`] and the polynomial
	/// transcendentals of [`crate::vmath`].
	PortableV2,
	/// The fast profile.
	Fast,
}

impl Kernels {
	/// The kernels of `profile`, or [`EngineError::UnsupportedProfile`] for a portable version
	/// this engine does not implement (so it declines the model rather than run it in other bits).
	pub fn for_profile(profile: ExecutionProfile) -> Result<Self> {
		match profile {
			ExecutionProfile::Portable => Ok(Self::PortableV1),
			ExecutionProfile::PortableVersion(2) => Ok(Self::PortableV2),
			ExecutionProfile::Fast => Ok(Self::Fast),
			ExecutionProfile::PortableVersion(version) => Err(EngineError::UnsupportedProfile {
				version,
				implemented: format!("{}..={}", PORTABLE_VERSIONS.start(), PORTABLE_VERSIONS.end()),
			}),
		}
	}
}

/// The profile-dependent operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ops {
	pub kernels: Kernels,
}

impl Ops {
	pub fn new(profile: ExecutionProfile) -> Result<Self> {
		Ok(Self { kernels: Kernels::for_profile(profile)? })
	}

	/// `x[…, in] → […, out]`.
	pub fn linear(&self, x: &Tensor, layer: &Linear) -> Result<Tensor> {
		let dense = |matmul: &dyn Fn(&[f32], usize) -> Vec<f32>| -> Result<Tensor> {
			let (rows, out_dims) = layer.output_dims(x)?;
			from_host(with_host(x, |a| matmul(a, rows))?, &out_dims)
		};
		let y = match &layer.weight {
			Weight::Packed(packed) => dense(&|a, rows| kernels::matmul_packed(a, rows, packed))?,
			Weight::Panels(panels) => dense(&|a, rows| gemm::matmul(a, rows, panels))?,
			Weight::Quantized(q) => q.forward(x)?,
		};
		Ok(match &layer.bias {
			Some(b) => y.broadcast_add(b)?,
			None => y,
		})
	}

	/// `activation(x·Wᵀ + b) + residual`, with the same bits as [`Ops::linear`], [`Ops::activate`]
	/// and an add in turn; on dense panels all in the matmul's epilogue, while each tile is
	/// still in cache (portable v2, fast).
	pub fn linear_then(
		&self,
		x: &Tensor,
		layer: &Linear,
		activation: Option<Activation>,
		residual: Option<&Tensor>,
	) -> Result<Tensor> {
		if !layer.has_panels() {
			let y = self.linear(x, layer)?;
			let y = match activation {
				Some(a) => self.activate(&y, a)?,
				None => y,
			};
			return Ok(match residual {
				Some(r) => y.add(r)?,
				None => y,
			});
		};
		let (rows, out_dims) = layer.output_dims(x)?;
		// The input and the residual borrowed, not copied: the matmul reads each once.
		let product = |residual: Option<&[f32]>| -> Result<Vec<f32>> {
			with_host(x, |a| self.linear_rows(a, rows, layer, activation, residual))?
		};
		let y = match residual {
			Some(r) => with_host(r, |r| product(Some(r)))??,
			None => product(None)?,
		};
		from_host(y, &out_dims)
	}

	/// [`Ops::linear_then`] on `rows` rows of plain values (`[rows, in]` in, `[rows, out]` out),
	/// for a layer on dense panels: what an encoder that keeps its activations out of tensors
	/// calls, so no layer copies its input or output.
	pub fn linear_rows(
		&self,
		x: &[f32],
		rows: usize,
		layer: &Linear,
		activation: Option<Activation>,
		residual: Option<&[f32]>,
	) -> Result<Vec<f32>> {
		let Weight::Panels(panels) = &layer.weight else {
			return Err(EngineError::Model("a layer on rows needs dense panels".into()));
		};
		let (out, inp) = layer.shape;
		if x.len() != rows * inp || residual.is_some_and(|r| r.len() != rows * out) {
			return Err(EngineError::Model(format!("{rows} rows do not match a layer of {inp} → {out}")));
		}
		let epilogue = gemm::Epilogue { bias: layer.bias_host.as_deref(), activation, residual, ..Default::default() };
		Ok(gemm::matmul_fused(x, rows, panels, &epilogue))
	}

	/// `a[B…, m, k] · b[B…, n, k]ᵀ → [B…, m, n]` with matching batch dimensions.
	pub fn matmul_nt(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => Ok(a.contiguous()?.matmul(&b.t()?.contiguous()?)?),
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let (ad, bd) = (a.dims(), b.dims());
				if ad.len() < 2 || ad.len() != bd.len() || ad[..ad.len() - 2] != bd[..bd.len() - 2] {
					return Err(EngineError::Model(format!("matmul of {ad:?} by {bd:?}ᵀ")));
				}
				let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
				let (n, k2) = (bd[bd.len() - 2], bd[bd.len() - 1]);
				if k != k2 {
					return Err(EngineError::Model(format!("matmul of {ad:?} by {bd:?}ᵀ")));
				}
				let batch: usize = ad[..ad.len() - 2].iter().product();
				let (av, bv) = (host(a)?, host(b)?);
				let mut out = Vec::with_capacity(batch * m * n);
				for i in 0..batch {
					let (ai, bi) = (&av[i * m * k..(i + 1) * m * k], &bv[i * n * k..(i + 1) * n * k]);
					out.extend(match self.kernels {
						Kernels::PortableV2 => gemm::matmul(ai, m, &gemm::PackedPanels::new(bi, n, k)),
						_ => kernels::matmul_nt(ai, bi, m, k, n),
					});
				}
				let mut dims = ad[..ad.len() - 2].to_vec();
				dims.extend([m, n]);
				from_host(out, &dims)
			},
		}
	}

	/// `a[B…, m, k] · b[B…, k, n] → [B…, m, n]`.
	pub fn matmul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => Ok(a.contiguous()?.matmul(&b.contiguous()?)?),
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let r = b.rank();
				if r < 2 {
					return Err(EngineError::Model(format!("matmul by a rank-{r} tensor")));
				}
				self.matmul_nt(a, &b.transpose(r - 2, r - 1)?.contiguous()?)
			},
		}
	}

	pub fn softmax_last(&self, x: &Tensor) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => Ok(candle_nn::ops::softmax_last_dim(&x.contiguous()?)?),
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let width = *x.dims().last().unwrap_or(&1);
				let mut v = host(x)?;
				match self.kernels {
					Kernels::PortableV2 => kernels::softmax_rows_with::<Polynomials>(&mut v, width),
					_ => kernels::softmax_rows(&mut v, width),
				}
				from_host(v, x.dims())
			},
		}
	}

	pub fn layer_norm(&self, x: &Tensor, norm: &Norm) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => {
				let beta = norm.beta.clone().map_or_else(|| norm.gamma.zeros_like(), Ok)?;
				Ok(candle_nn::ops::layer_norm(&x.contiguous()?, &norm.gamma, &beta, norm.eps)?)
			},
			Kernels::PortableV1 | Kernels::PortableV2 => {
				self.check_width(x, norm)?;
				from_host(self.layer_norm_rows(host(x)?, norm)?, x.dims())
			},
		}
	}

	/// [`Ops::layer_norm`] on rows of plain values (`[rows, width]`), in place where the profile's
	/// norm runs on the host.
	pub fn layer_norm_rows(&self, mut x: Vec<f32>, norm: &Norm) -> Result<Vec<f32>> {
		let width = norm.gamma_host.len();
		// Whole rows only; no values at all is no rows, whatever the width.
		if x.len() % width.max(1) != 0 || (width == 0 && !x.is_empty()) {
			return Err(EngineError::Model(format!("norm over {width} features, input has {} values", x.len())));
		}
		match self.kernels {
			Kernels::Fast => {
				let rows = x.len() / width.max(1);
				host(&self.layer_norm(&from_host(x, &[rows, width])?, norm)?)
			},
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let zeros;
				let beta = match &norm.beta_host {
					Some(b) => b.as_slice(),
					None => {
						zeros = vec![0f32; width];
						&zeros
					},
				};
				kernels::layer_norm_rows(&mut x, &norm.gamma_host, beta, norm.eps);
				Ok(x)
			},
		}
	}

	pub fn rms_norm(&self, x: &Tensor, norm: &Norm) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => Ok(candle_nn::ops::rms_norm(&x.contiguous()?, &norm.gamma, norm.eps)?),
			Kernels::PortableV1 | Kernels::PortableV2 => {
				self.check_width(x, norm)?;
				let mut v = host(x)?;
				kernels::rms_norm_rows(&mut v, &norm.gamma_host, norm.eps);
				from_host(v, x.dims())
			},
		}
	}

	pub fn activate(&self, x: &Tensor, a: Activation) -> Result<Tensor> {
		match self.kernels {
			Kernels::Fast => Ok(match a {
				Activation::GeluErf => x.gelu_erf()?,
				Activation::Silu => x.silu()?,
				Activation::Relu => x.relu()?,
				Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
				Activation::Tanh => x.tanh()?,
				Activation::Exp => x.exp()?,
			}),
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let mut v = host(x)?;
				match self.kernels {
					Kernels::PortableV2 => kernels::activate_in_place_with::<Polynomials>(&mut v, a),
					_ => kernels::activate_in_place(&mut v, a),
				}
				from_host(v, x.dims())
			},
		}
	}

	/// Mean over the rows of `[rows, width]`, then optionally L2-normalised.
	pub fn mean_pool(&self, x: &Tensor, normalize: bool) -> Result<Tensor> {
		let (rows, width) = x.dims2()?;
		match self.kernels {
			Kernels::Fast => {
				let mean = x.mean(0)?;
				if !normalize {
					return Ok(mean);
				}
				let norm = mean.sqr()?.sum_all()?.sqrt()?.maximum(1e-12)?;
				Ok(mean.broadcast_div(&norm)?)
			},
			Kernels::PortableV1 | Kernels::PortableV2 => {
				let mut v = kernels::mean_rows(&host(x)?, rows, width);
				if normalize {
					kernels::l2_normalize(&mut v);
				}
				from_host(v, &[width])
			},
		}
	}

	fn check_width(&self, x: &Tensor, norm: &Norm) -> Result<()> {
		match x.dims().last() {
			Some(w) if *w == norm.gamma_host.len() => Ok(()),
			other => {
				Err(EngineError::Model(format!("norm over {} features, input has {other:?}", norm.gamma_host.len())))
			},
		}
	}
}

/// A LayerNorm or RMSNorm's parameters.
pub struct Norm {
	gamma: Tensor,
	beta: Option<Tensor>,
	gamma_host: Vec<f32>,
	beta_host: Option<Vec<f32>>,
	eps: f32,
}

impl Norm {
	pub fn new(gamma: Tensor, beta: Option<Tensor>, eps: f32) -> Result<Self> {
		let gamma = gamma.to_dtype(DType::F32)?;
		let beta = beta.map(|b| b.to_dtype(DType::F32)).transpose()?;
		if gamma.rank() != 1 || beta.as_ref().is_some_and(|b| b.dims() != gamma.dims()) {
			return Err(EngineError::Model("norm parameters must be matching vectors".into()));
		}
		Ok(Self { gamma_host: host(&gamma)?, beta_host: beta.as_ref().map(host).transpose()?, gamma, beta, eps })
	}
}
