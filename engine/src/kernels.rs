//! Fixed-order CPU kernels for the portable profile.
//!
//! Every result here is a function of the inputs alone: each reduction is summed in an order set
//! by this code (eight interleaved partial sums, then a fixed tree), every element is computed by
//! the same scalar expression whatever the SIMD width the compiler picks, multiplications and
//! additions are never fused (Rust does not contract `a * b + c`), transcendentals come from the
//! pure-Rust `libm` (version 1) or the fixed polynomials of [`crate::vmath`] (version 2), and threads only split *which* outputs a thread computes, never how one
//! output is computed. So a build for any x86-64 level, on any CPU, with any thread count,
//! produces the same bits.

use rayon::prelude::*;
use std::ops::Range;

/// Partial sums per reduction. Explicit lanes let the compiler vectorise without reordering.
const LANES: usize = 8;
/// Output elements below which a kernel stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 15;
/// Multiply-adds below which a matmul stays on the calling thread (waking the pool costs more).
const PARALLEL_MIN_MATMUL: usize = 1 << 19;

#[inline(always)]
fn reduce_lanes(acc: [f32; LANES]) -> f32 {
	let s = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
	(s[0] + s[2]) + (s[1] + s[3])
}

/// Σ a[i]·b[i] in the engine's fixed order.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
	debug_assert_eq!(a.len(), b.len());
	let n = a.len().min(b.len());
	let mut acc = [0f32; LANES];
	let full = n / LANES * LANES;
	for (ca, cb) in a[..full].chunks_exact(LANES).zip(b[..full].chunks_exact(LANES)) {
		for j in 0..LANES {
			acc[j] += ca[j] * cb[j];
		}
	}
	for j in 0..n - full {
		acc[j] += a[full + j] * b[full + j];
	}
	reduce_lanes(acc)
}

/// Σ x[i] in the engine's fixed order.
#[inline]
pub fn sum(x: &[f32]) -> f32 {
	let mut acc = [0f32; LANES];
	let full = x.len() / LANES * LANES;
	for c in x[..full].chunks_exact(LANES) {
		for j in 0..LANES {
			acc[j] += c[j];
		}
	}
	for j in 0..x.len() - full {
		acc[j] += x[full + j];
	}
	reduce_lanes(acc)
}

/// Copy the full `LANES`-chunks of `rows` into one panel laid out `[chunk][row][lane]`, so a
/// tile streams through a single pointer.
#[inline(always)]
fn pack<const N: usize>(rows: [&[f32]; N], chunks: usize, panel: &mut Vec<f32>) {
	panel.clear();
	for chunk in 0..chunks {
		for row in rows {
			panel.extend_from_slice(&row[chunk * LANES..(chunk + 1) * LANES]);
		}
	}
}

/// A register tile: `R` rows of `a` times `C` rows of `b`, each output accumulated exactly as
/// [`dot`] does (element `i` of a full chunk into lane `i % LANES`, the tail into lanes
/// `0..k % LANES`, then the fixed tree), so every tile shape gives the same bits.
/// `a_panel`/`b_panel` hold the full chunks packed by [`pack`]; the rows give the tail.
#[inline(always)]
fn tile<const R: usize, const C: usize>(
	a_panel: &[f32],
	b_panel: &[f32],
	a: [&[f32]; R],
	b: [&[f32]; C],
	k: usize,
) -> [[f32; C]; R] {
	let chunks = k / LANES;
	let a_panel = &a_panel[..chunks * R * LANES];
	let b_panel = &b_panel[..chunks * C * LANES];
	let mut acc = [[[0f32; LANES]; C]; R];
	for (xs, ys) in a_panel.chunks_exact(R * LANES).zip(b_panel.chunks_exact(C * LANES)) {
		let mut x = [[0f32; LANES]; R];
		for r in 0..R {
			x[r].copy_from_slice(&xs[r * LANES..(r + 1) * LANES]);
		}
		for c in 0..C {
			let mut y = [0f32; LANES];
			y.copy_from_slice(&ys[c * LANES..(c + 1) * LANES]);
			for r in 0..R {
				for l in 0..LANES {
					acc[r][c][l] += x[r][l] * y[l];
				}
			}
		}
	}
	let full = chunks * LANES;
	for t in 0..k - full {
		for r in 0..R {
			for c in 0..C {
				acc[r][c][t] += a[r][full + t] * b[c][full + t];
			}
		}
	}
	let mut out = [[0f32; C]; R];
	for r in 0..R {
		for c in 0..C {
			out[r][c] = reduce_lanes(acc[r][c]);
		}
	}
	out
}

/// Columns of `b` per register tile.
const TILE_COLS: usize = 4;

/// The `b` operand of [`matmul_nt`] (`n × k`, row-major) with every group of `TILE_COLS` rows
/// also packed into a panel, so tiles stream through memory. A layer's weight is packed once,
/// at load.
pub struct PackedRows {
	n: usize,
	k: usize,
	rows: Vec<f32>,
	panels: Vec<f32>,
}

impl PackedRows {
	pub fn new(rows: Vec<f32>, n: usize, k: usize) -> Self {
		assert_eq!(rows.len(), n * k, "matrix data does not match its shape");
		let chunks = k / LANES;
		let mut panels = Vec::with_capacity(n / TILE_COLS * TILE_COLS * chunks * LANES);
		let mut panel = Vec::new();
		for quad in 0..n / TILE_COLS {
			let first = quad * TILE_COLS;
			pack::<TILE_COLS>(std::array::from_fn(|c| &rows[(first + c) * k..(first + c + 1) * k]), chunks, &mut panel);
			panels.extend_from_slice(&panel);
		}
		Self { n, k, rows, panels }
	}

	pub fn rows(&self) -> usize {
		self.n
	}

	pub fn cols(&self) -> usize {
		self.k
	}

	fn row(&self, j: usize) -> &[f32] {
		&self.rows[j * self.k..(j + 1) * self.k]
	}

	fn panel(&self, quad: usize) -> &[f32] {
		let len = self.k / LANES * TILE_COLS * LANES;
		&self.panels[quad * len..(quad + 1) * len]
	}
}

/// `out[m × cols.len()]` = rows of `a` times the `b` rows in `cols` (`cols.start` a multiple of
/// `TILE_COLS`), in `R`-row tiles.
#[inline(always)]
fn block<const R: usize>(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
	let (k, width) = (b.k, cols.len());
	let chunks = k / LANES;
	let a_row = |i: usize| &a[i * k..(i + 1) * k];
	// Row panels of `a`, packed once per block and reused by every column tile.
	let mut a_panels: Vec<Vec<f32>> = Vec::with_capacity(m / R + m % R);
	let mut i = 0;
	while i + R <= m {
		let mut panel = Vec::with_capacity(chunks * R * LANES);
		pack::<R>(std::array::from_fn(|r| a_row(i + r)), chunks, &mut panel);
		a_panels.push(panel);
		i += R;
	}
	while i < m {
		let mut panel = Vec::with_capacity(chunks * LANES);
		pack::<1>([a_row(i)], chunks, &mut panel);
		a_panels.push(panel);
		i += 1;
	}
	let mut j = 0;
	while j + TILE_COLS <= width {
		let bs: [&[f32]; TILE_COLS] = std::array::from_fn(|c| b.row(cols.start + j + c));
		let b_panel = b.panel((cols.start + j) / TILE_COLS);
		let mut i = 0;
		for panel in &a_panels {
			if i + R <= m {
				let t = tile::<R, TILE_COLS>(panel, b_panel, std::array::from_fn(|r| a_row(i + r)), bs, k);
				for (r, row) in t.iter().enumerate() {
					out[(i + r) * width + j..(i + r) * width + j + TILE_COLS].copy_from_slice(row);
				}
				i += R;
			} else {
				let [row] = tile::<1, TILE_COLS>(panel, b_panel, [a_row(i)], bs, k);
				out[i * width + j..i * width + j + TILE_COLS].copy_from_slice(&row);
				i += 1;
			}
		}
		j += TILE_COLS;
	}
	for j in j..width {
		for i in 0..m {
			out[i * width + j] = dot(a_row(i), b.row(cols.start + j));
		}
	}
}

type BlockKernel = fn(&[f32], usize, &PackedRows, Range<usize>, &mut [f32]);

fn block_baseline(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
	block::<2>(a, m, b, cols, out)
}

// The same Rust compiled for wider vector units, chosen at run time. Only the instructions
// differ: each lane's multiplications and additions, and their order, are those of the source,
// and Rust never fuses them into FMAs, so the bits are those of the baseline.
#[cfg(target_arch = "x86_64")]
mod wide {
	use super::PackedRows;
	use std::ops::Range;

	#[target_feature(enable = "avx2")]
	unsafe fn avx2(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
		super::block::<2>(a, m, b, cols, out)
	}

	#[target_feature(enable = "avx512f,avx512vl")]
	unsafe fn avx512(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
		super::block::<4>(a, m, b, cols, out)
	}

	#[target_feature(enable = "avx2")]
	pub unsafe fn activate_avx2(x: &mut [f32], a: super::Activation) {
		super::activate_slice::<super::Polynomials>(x, a)
	}

	#[target_feature(enable = "avx512f,avx512vl")]
	pub unsafe fn activate_avx512(x: &mut [f32], a: super::Activation) {
		super::activate_slice::<super::Polynomials>(x, a)
	}

	#[target_feature(enable = "avx2")]
	pub unsafe fn softmax_row_avx2(row: &mut [f32]) {
		super::softmax_row::<super::Polynomials>(row)
	}

	#[target_feature(enable = "avx512f,avx512vl")]
	pub unsafe fn softmax_row_avx512(row: &mut [f32]) {
		super::softmax_row::<super::Polynomials>(row)
	}

	#[target_feature(enable = "avx2")]
	pub unsafe fn scaled_softmax_row_avx2(row: &mut [f32], scale: f32) {
		super::scaled_softmax_row::<super::Polynomials>(row, scale)
	}

	#[target_feature(enable = "avx512f,avx512vl")]
	pub unsafe fn scaled_softmax_row_avx512(row: &mut [f32], scale: f32) {
		super::scaled_softmax_row::<super::Polynomials>(row, scale)
	}

	pub fn avx2_checked(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
		// SAFETY: selected only when the CPU reports AVX2.
		unsafe { avx2(a, m, b, cols, out) }
	}

	pub fn avx512_checked(a: &[f32], m: usize, b: &PackedRows, cols: Range<usize>, out: &mut [f32]) {
		// SAFETY: selected only when the CPU reports AVX-512F and AVX-512VL.
		unsafe { avx512(a, m, b, cols, out) }
	}
}

/// Which compilation of the matmul kernel this CPU runs (all give identical bits).
/// `OPG_ENGINE_KERNEL=baseline|avx2|avx512` forces one the CPU supports.
pub fn kernel_variant() -> &'static str {
	selected().0
}

fn selected() -> &'static (&'static str, BlockKernel) {
	static KERNEL: std::sync::OnceLock<(&'static str, BlockKernel)> = std::sync::OnceLock::new();
	KERNEL.get_or_init(|| {
		let forced = std::env::var("OPG_ENGINE_KERNEL").ok();
		let allowed = |name: &str| forced.as_deref().is_none_or(|f| f == name);
		#[cfg(target_arch = "x86_64")]
		{
			if allowed("avx512")
				&& std::is_x86_feature_detected!("avx512f")
				&& std::is_x86_feature_detected!("avx512vl")
			{
				return ("avx512", wide::avx512_checked as BlockKernel);
			}
			if allowed("avx2") && std::is_x86_feature_detected!("avx2") {
				return ("avx2", wide::avx2_checked as BlockKernel);
			}
		}
		("baseline", block_baseline as BlockKernel)
	})
}

/// Columns per parallel task: a block of `b` that stays in the core's L2 while every row of `a`
/// passes over it.
const BLOCK_COLS: usize = 64;

/// `out[m × n] = a[m × k] · b[n × k]ᵀ` (both operands row-major, `b` already transposed — the
/// layout of a linear layer's weight).
pub fn matmul_nt(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
	assert!(b.len() >= n * k, "matmul operand too short");
	matmul_packed(a, m, &PackedRows::new(b[..n * k].to_vec(), n, k))
}

/// `out[m × n] = a[m × k] · bᵀ` for a packed `b` (`n × k`), in the fixed order.
pub fn matmul_packed(a: &[f32], m: usize, b: &PackedRows) -> Vec<f32> {
	matmul_with(selected().1, a, m, b)
}

fn matmul_with(kernel: BlockKernel, a: &[f32], m: usize, b: &PackedRows) -> Vec<f32> {
	let (k, n) = (b.k, b.n);
	assert!(a.len() >= m * k, "matmul operand too short");
	let mut out = vec![0f32; m * n];
	if m == 0 || n == 0 {
		return out;
	}
	let blocks: Vec<Range<usize>> =
		(0..n).step_by(BLOCK_COLS).map(|start| start..(start + BLOCK_COLS).min(n)).collect();
	let compute = |cols: &Range<usize>| {
		let mut buf = vec![0f32; m * cols.len()];
		kernel(a, m, b, cols.clone(), &mut buf);
		buf
	};
	let results: Vec<Vec<f32>> = if m * n * k < PARALLEL_MIN_MATMUL || blocks.len() == 1 {
		blocks.iter().map(compute).collect()
	} else {
		blocks.par_iter().map(compute).collect()
	};
	for (cols, buf) in blocks.iter().zip(results) {
		let width = cols.len();
		for i in 0..m {
			out[i * n + cols.start..i * n + cols.end].copy_from_slice(&buf[i * width..(i + 1) * width]);
		}
	}
	out
}

/// Apply `f` to each row of `rows × width`, in parallel when large.
fn for_each_row(x: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
	if width == 0 {
		return;
	}
	if x.len() < PARALLEL_MIN_WORK {
		x.chunks_exact_mut(width).for_each(f);
	} else {
		crate::team::for_each_piece(x, width, true, |_, row| f(row));
	}
}

/// Where a kernel takes `exp`, `erf` and `tanh` from: the pure-Rust `libm` (portable v1) or the
/// fixed polynomials of [`crate::vmath`] (portable v2), which vectorise.
pub trait Transcendentals {
	fn exp(x: f32) -> f32;
	fn erf(x: f32) -> f32;
	fn tanh(x: f32) -> f32;

	/// BERT's GELU, `0.5·x·(1 + erf(x/√2))` unless the set has a form of its own.
	#[inline(always)]
	fn gelu(x: f32) -> f32 {
		0.5 * x * (1.0 + Self::erf(x * core::f32::consts::FRAC_1_SQRT_2))
	}

	/// `a` over a slice with these transcendentals.
	fn activate(x: &mut [f32], a: Activation)
	where
		Self: Sized,
	{
		activate_slice::<Self>(x, a)
	}

	/// Softmax of one row with these exponentials.
	fn softmax_row(row: &mut [f32])
	where
		Self: Sized,
	{
		softmax_row::<Self>(row)
	}

	/// Softmax of one row times `scale`, with these exponentials.
	fn scaled_softmax_row(row: &mut [f32], scale: f32)
	where
		Self: Sized,
	{
		scaled_softmax_row::<Self>(row, scale)
	}
}

/// Portable v1's transcendentals.
pub struct Libm;

impl Transcendentals for Libm {
	#[inline(always)]
	fn exp(x: f32) -> f32 {
		libm::expf(x)
	}
	#[inline(always)]
	fn erf(x: f32) -> f32 {
		libm::erff(x)
	}
	#[inline(always)]
	fn tanh(x: f32) -> f32 {
		libm::tanhf(x)
	}
}

/// Portable v2's transcendentals.
pub struct Polynomials;

impl Transcendentals for Polynomials {
	#[inline(always)]
	fn exp(x: f32) -> f32 {
		crate::vmath::exp(x)
	}
	#[inline(always)]
	fn erf(x: f32) -> f32 {
		crate::vmath::erf(x)
	}
	#[inline(always)]
	fn tanh(x: f32) -> f32 {
		crate::vmath::tanh(x)
	}
	#[inline(always)]
	fn gelu(x: f32) -> f32 {
		crate::vmath::gelu(x)
	}

	/// Compiled for the widest vector unit the CPU has (the one [`kernel_variant`] names): the
	/// polynomials are correctly rounded operations and selects only, so every width gives the
	/// baseline's bits.
	fn activate(x: &mut [f32], a: Activation) {
		#[cfg(target_arch = "x86_64")]
		match kernel_variant() {
			// SAFETY: each is selected only when the CPU reports its instructions.
			"avx512" => return unsafe { wide::activate_avx512(x, a) },
			"avx2" => return unsafe { wide::activate_avx2(x, a) },
			_ => {},
		}
		activate_slice::<Self>(x, a)
	}

	/// Compiled for the widest vector unit, as [`Polynomials::activate`].
	fn softmax_row(row: &mut [f32]) {
		#[cfg(target_arch = "x86_64")]
		match kernel_variant() {
			// SAFETY: each is selected only when the CPU reports its instructions.
			"avx512" => return unsafe { wide::softmax_row_avx512(row) },
			"avx2" => return unsafe { wide::softmax_row_avx2(row) },
			_ => {},
		}
		softmax_row::<Self>(row)
	}

	/// Compiled for the widest vector unit, as [`Polynomials::activate`].
	fn scaled_softmax_row(row: &mut [f32], scale: f32) {
		#[cfg(target_arch = "x86_64")]
		match kernel_variant() {
			// SAFETY: each is selected only when the CPU reports its instructions.
			"avx512" => return unsafe { wide::scaled_softmax_row_avx512(row, scale) },
			"avx2" => return unsafe { wide::scaled_softmax_row_avx2(row, scale) },
			_ => {},
		}
		scaled_softmax_row::<Self>(row, scale)
	}
}

/// Softmax over each row; rows that are all `-inf` become all zero.
pub fn softmax_rows(x: &mut [f32], width: usize) {
	softmax_rows_with::<Libm>(x, width)
}

/// [`softmax_rows`] with the exponentials of `T`.
pub fn softmax_rows_with<T: Transcendentals>(x: &mut [f32], width: usize) {
	for_each_row(x, width, T::softmax_row)
}

/// Softmax over each row of `x · scale` (attention's scores over `√d`) with the exponentials
/// of `T`: the products are those of a separate pass, made in the pass that finds each row's
/// maximum.
pub fn scaled_softmax_rows_with<T: Transcendentals>(x: &mut [f32], width: usize, scale: f32) {
	for_each_row(x, width, |row| T::scaled_softmax_row(row, scale))
}

/// Softmax of one row with the exponentials of `T`; all `-inf` becomes all zero.
#[inline(always)]
fn softmax_row<T: Transcendentals>(row: &mut [f32]) {
	let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
	exponentiate_row::<T>(row, max)
}

/// [`softmax_row`] of `row · scale`. The maximum is found in lanes, so the loop vectorises
/// (a running maximum through one value does not): `max` gives the same value in any order
/// (NaNs are skipped either way), up to the sign of a zero maximum, which `v − max` and `e⁰`
/// never see.
#[inline(always)]
fn scaled_softmax_row<T: Transcendentals>(row: &mut [f32], scale: f32) {
	let mut lanes = [f32::NEG_INFINITY; 16];
	let mut chunks = row.chunks_exact_mut(lanes.len());
	for chunk in &mut chunks {
		for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
			*v *= scale;
			*lane = lane.max(*v);
		}
	}
	let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
	for v in chunks.into_remainder() {
		*v *= scale;
		max = max.max(*v);
	}
	exponentiate_row::<T>(row, max)
}

/// The rest of a softmax once the row's maximum is known: `e^(v − max)` over their sum.
#[inline(always)]
fn exponentiate_row<T: Transcendentals>(row: &mut [f32], max: f32) {
	if max == f32::NEG_INFINITY {
		row.fill(0.0);
		return;
	}
	for v in row.iter_mut() {
		*v = T::exp(*v - max);
	}
	let total = sum(row);
	for v in row.iter_mut() {
		*v /= total;
	}
}

/// LayerNorm over each row: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn layer_norm_rows(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
	let width = gamma.len();
	for_each_row(x, width, |row| {
		let mean = sum(row) / width as f32;
		for v in row.iter_mut() {
			*v -= mean;
		}
		let var = dot(row, row) / width as f32;
		let scale = 1.0 / (var + eps).sqrt();
		for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
			*v = *v * scale * g + b;
		}
	})
}

/// RMSNorm over each row: `x / sqrt(mean(x²) + eps) * gamma`.
pub fn rms_norm_rows(x: &mut [f32], gamma: &[f32], eps: f32) {
	let width = gamma.len();
	for_each_row(x, width, |row| {
		let mean_sq = dot(row, row) / width as f32;
		let scale = 1.0 / (mean_sq + eps).sqrt();
		for (v, g) in row.iter_mut().zip(gamma) {
			*v = *v * scale * g;
		}
	})
}

/// Elementwise activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
	/// `0.5·x·(1 + erf(x/√2))`, BERT's GELU.
	GeluErf,
	/// `x·σ(x)`, Llama's SwiGLU gate.
	Silu,
	Relu,
	Sigmoid,
	Tanh,
	Exp,
}

/// One activation over a slice, with the transcendentals of `T`. The activation is chosen
/// outside the loop so each loop is a plain map the compiler can vectorise.
#[inline(always)]
pub(crate) fn activate_slice<T: Transcendentals>(x: &mut [f32], a: Activation) {
	#[inline(always)]
	fn map(x: &mut [f32], f: impl Fn(f32) -> f32) {
		for v in x.iter_mut() {
			*v = f(*v);
		}
	}
	match a {
		Activation::GeluErf => map(x, T::gelu),
		Activation::Silu => map(x, |x| x / (1.0 + T::exp(-x))),
		Activation::Relu => map(x, |x| if x > 0.0 { x } else { 0.0 }),
		Activation::Sigmoid => map(x, |x| 1.0 / (1.0 + T::exp(-x))),
		Activation::Tanh => map(x, T::tanh),
		Activation::Exp => map(x, T::exp),
	}
}

pub fn activate_in_place(x: &mut [f32], a: Activation) {
	activate_in_place_with::<Libm>(x, a)
}

/// [`activate_in_place`] with the transcendentals of `T`.
pub fn activate_in_place_with<T: Transcendentals>(x: &mut [f32], a: Activation) {
	if x.len() < PARALLEL_MIN_WORK {
		T::activate(x, a);
	} else {
		crate::team::for_each_piece(x, 4096, true, |_, c| T::activate(c, a));
	}
}

/// Mean of the rows of `rows × width`, summed down each column in row order.
pub fn mean_rows(x: &[f32], rows: usize, width: usize) -> Vec<f32> {
	let mut out = vec![0f32; width];
	for row in x.chunks_exact(width).take(rows) {
		for (o, v) in out.iter_mut().zip(row) {
			*o += v;
		}
	}
	let n = rows.max(1) as f32;
	out.iter_mut().for_each(|o| *o /= n);
	out
}

/// Scale to unit L2 norm (the zero vector stays zero).
pub fn l2_normalize(x: &mut [f32]) {
	let norm = dot(x, x).sqrt().max(1e-12);
	x.iter_mut().for_each(|v| *v /= norm);
}

#[cfg(test)]
mod tests {
	use super::*;

	fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
		let mut out = vec![0f64; m * n];
		for i in 0..m {
			for j in 0..n {
				out[i * n + j] = (0..k).map(|t| a[i * k + t] as f64 * b[j * k + t] as f64).sum();
			}
		}
		out
	}

	fn pseudo(len: usize, seed: u32) -> Vec<f32> {
		let mut s = seed;
		(0..len)
			.map(|_| {
				s = s.wrapping_mul(1664525).wrapping_add(1013904223);
				(s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
			})
			.collect()
	}

	#[test]
	fn matmul_matches_wide_reference_and_every_split() {
		for &(m, k, n) in &[(1, 1, 1), (3, 7, 5), (2, 9, 130), (70, 33, 17), (5, 384, 384), (1, 64, 1000)] {
			let a = pseudo(m * k, 1);
			let b = pseudo(n * k, 2);
			let got = matmul_nt(&a, &b, m, k, n);
			for (g, r) in got.iter().zip(naive(&a, &b, m, k, n)) {
				assert!((*g as f64 - r).abs() < 1e-4 * (k as f64).sqrt(), "{m}x{k}x{n}: {g} vs {r}");
			}
			// Whatever path the size picks, each element equals the single-row dot product.
			for i in 0..m {
				for j in 0..n {
					assert_eq!(got[i * n + j].to_bits(), dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]).to_bits());
				}
			}
		}
	}

	#[test]
	fn every_compiled_variant_gives_the_same_bits() {
		let mut variants: Vec<(&str, BlockKernel)> = vec![("baseline", block_baseline)];
		#[cfg(target_arch = "x86_64")]
		{
			if std::is_x86_feature_detected!("avx2") {
				variants.push(("avx2", wide::avx2_checked));
			}
			if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
				variants.push(("avx512", wide::avx512_checked));
			}
		}
		// Sizes with row, column and k tails, and k below one chunk.
		for &(m, k, n) in &[(1, 3, 5), (7, 13, 9), (9, 384, 70), (17, 61, 131), (4, 8, 4)] {
			let a = pseudo(m * k, 11);
			let b = PackedRows::new(pseudo(n * k, 12), n, k);
			let reference = matmul_with(block_baseline, &a, m, &b);
			for (name, kernel) in &variants {
				let got = matmul_with(*kernel, &a, m, &b);
				assert!(got.iter().zip(&reference).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} {m}x{k}x{n}");
			}
		}
	}

	#[test]
	fn every_compiled_activation_gives_the_scalar_bits() {
		let mut xs: Vec<f32> = (0..20_000u32).map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761))).collect();
		xs.extend((-2000..2000).map(|i| i as f32 * 0.01));
		xs.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 88.8, -104.5, 9.2, 4.0]);
		let activations = [
			Activation::GeluErf,
			Activation::Silu,
			Activation::Relu,
			Activation::Sigmoid,
			Activation::Tanh,
			Activation::Exp,
		];
		for a in activations {
			let scalar: Vec<u32> = xs
				.iter()
				.map(|&x| {
					let mut one = [std::hint::black_box(x)];
					std::hint::black_box(activate_slice::<Polynomials> as fn(&mut [f32], Activation))(&mut one, a);
					one[0].to_bits()
				})
				.collect();
			let mut compiled: Vec<(&str, Vec<f32>)> = vec![("dispatched", xs.clone())];
			#[cfg(target_arch = "x86_64")]
			{
				if std::is_x86_feature_detected!("avx2") {
					let mut v = xs.clone();
					// SAFETY: the CPU has AVX2.
					unsafe { wide::activate_avx2(&mut v, a) };
					compiled.push(("avx2", v));
				}
				if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
					let mut v = xs.clone();
					// SAFETY: the CPU has AVX-512F and VL.
					unsafe { wide::activate_avx512(&mut v, a) };
					compiled.push(("avx512", v));
				}
			}
			Polynomials::activate(&mut compiled[0].1, a);
			for (name, got) in &compiled {
				let same = got
					.iter()
					.zip(&scalar)
					.all(|(g, s)| g.to_bits() == *s || (g.is_nan() && f32::from_bits(*s).is_nan()));
				assert!(same, "{name} {a:?} differs from the scalar bits");
			}
		}
	}

	#[test]
	fn every_compiled_softmax_gives_the_scalar_bits() {
		for width in [1, 7, 17, 128, 131] {
			let mut rows = pseudo(width * 9, width as u32);
			rows.iter_mut().enumerate().for_each(|(i, v)| *v *= 1.0 + (i % 13) as f32);
			rows[width..2 * width].fill(f32::NEG_INFINITY);
			let mut scalar = rows.clone();
			scalar.chunks_exact_mut(width).for_each(std::hint::black_box(softmax_row::<Polynomials> as fn(&mut [f32])));
			let mut compiled: Vec<(&str, Vec<f32>)> = vec![("dispatched", rows.clone())];
			softmax_rows_with::<Polynomials>(&mut compiled[0].1, width);
			#[cfg(target_arch = "x86_64")]
			{
				if std::is_x86_feature_detected!("avx2") {
					let mut v = rows.clone();
					// SAFETY: the CPU has AVX2.
					v.chunks_exact_mut(width).for_each(|r| unsafe { wide::softmax_row_avx2(r) });
					compiled.push(("avx2", v));
				}
				if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
					let mut v = rows.clone();
					// SAFETY: the CPU has AVX-512F and VL.
					v.chunks_exact_mut(width).for_each(|r| unsafe { wide::softmax_row_avx512(r) });
					compiled.push(("avx512", v));
				}
			}
			for (name, got) in &compiled {
				let same = got.iter().zip(&scalar).all(|(g, s)| g.to_bits() == s.to_bits());
				assert!(same, "{name} softmax of width {width} differs from the scalar bits");
			}
		}
	}

	#[test]
	fn scaling_in_the_softmax_gives_the_bits_of_a_separate_pass() {
		let scale = (1.0 / 32f64.sqrt()) as f32;
		for width in [1, 7, 17, 128, 131] {
			let mut rows = pseudo(width * 9, width as u32 + 7);
			rows.iter_mut().enumerate().for_each(|(i, v)| *v *= 3.0 + (i % 11) as f32);
			rows[width..2 * width].fill(f32::NEG_INFINITY);
			rows[2 * width] = -0.0;
			// A zero maximum of either sign, wherever the lanes put it, and a NaN.
			rows[3 * width..4 * width].iter_mut().for_each(|v| *v = -v.abs());
			rows[3 * width] = -0.0;
			rows[4 * width - 1] = 0.0;
			rows[4 * width + width / 2] = f32::NAN;
			let mut separate = rows.clone();
			separate.iter_mut().for_each(|v| *v *= scale);
			separate
				.chunks_exact_mut(width)
				.for_each(std::hint::black_box(softmax_row::<Polynomials> as fn(&mut [f32])));
			let mut compiled: Vec<(&str, Vec<f32>)> = vec![("dispatched", rows.clone()), ("scalar", rows.clone())];
			scaled_softmax_rows_with::<Polynomials>(&mut compiled[0].1, width, scale);
			compiled[1]
				.1
				.chunks_exact_mut(width)
				.for_each(|r| std::hint::black_box(scaled_softmax_row::<Polynomials>)(r, scale));
			#[cfg(target_arch = "x86_64")]
			{
				if std::is_x86_feature_detected!("avx2") {
					let mut v = rows.clone();
					// SAFETY: the CPU has AVX2.
					v.chunks_exact_mut(width).for_each(|r| unsafe { wide::scaled_softmax_row_avx2(r, scale) });
					compiled.push(("avx2", v));
				}
				if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
					let mut v = rows.clone();
					// SAFETY: the CPU has AVX-512F and VL.
					v.chunks_exact_mut(width).for_each(|r| unsafe { wide::scaled_softmax_row_avx512(r, scale) });
					compiled.push(("avx512", v));
				}
			}
			for (name, got) in &compiled {
				let same = got.iter().zip(&separate).all(|(g, s)| g.to_bits() == s.to_bits());
				assert!(same, "{name} scaled softmax of width {width} differs from scaling, then softmax");
			}
		}
	}

	#[test]
	fn thread_count_does_not_change_bits() {
		let (m, k, n) = (64, 96, 200);
		let a = pseudo(m * k, 3);
		let b = pseudo(n * k, 4);
		let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
		let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
		let x = one.install(|| matmul_nt(&a, &b, m, k, n));
		let y = three.install(|| matmul_nt(&a, &b, m, k, n));
		assert_eq!(x, y);
		let mut s1 = pseudo(1 << 16, 5);
		let mut s2 = s1.clone();
		one.install(|| softmax_rows(&mut s1, 256));
		three.install(|| softmax_rows(&mut s2, 256));
		assert_eq!(s1, s2);
	}

	#[test]
	fn softmax_and_norms_are_sane() {
		let mut x = vec![1.0, 2.0, 3.0, f32::NEG_INFINITY];
		softmax_rows(&mut x, 4);
		assert!((sum(&x) - 1.0).abs() < 1e-6 && x[3] == 0.0 && x[2] > x[1]);
		let mut masked = vec![f32::NEG_INFINITY; 3];
		softmax_rows(&mut masked, 3);
		assert_eq!(masked, vec![0.0; 3]);
		let mut y = vec![1.0, 2.0, 3.0, 4.0];
		layer_norm_rows(&mut y, &[1.0; 4], &[0.0; 4], 1e-5);
		assert!(sum(&y).abs() < 1e-6);
		let mut z = vec![3.0, 4.0];
		l2_normalize(&mut z);
		assert_eq!(z, vec![0.6, 0.8]);
	}
}
