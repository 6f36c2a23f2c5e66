//! Fixed-order CPU kernels for the portable profile.
//!
//! Every result here is a function of the inputs alone: each reduction is summed in an order set
//! by this code (eight interleaved partial sums, then a fixed tree), every element is computed by
//! the same scalar expression whatever the SIMD width the compiler picks, multiplications and
//! additions are never fused (Rust does not contract `a * b + c`), transcendentals come from the
//! pure-Rust `libm`, and threads only split *which* outputs a thread computes, never how one
//! output is computed. So a build for any x86-64 level, on any CPU, with any thread count,
//! produces the same bits.

use rayon::prelude::*;

/// Partial sums per reduction. Explicit lanes let the compiler vectorise without reordering.
const LANES: usize = 8;
/// Output elements below which a kernel stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 15;

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

/// Four dot products sharing `a`; each result is bit-identical to `dot(a, b_i)`.
#[inline]
fn dot4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
	let n = a.len();
	let mut acc = [[0f32; LANES]; 4];
	let full = n / LANES * LANES;
	let mut i = 0;
	while i < full {
		let ca = &a[i..i + LANES];
		for (acc, b) in acc.iter_mut().zip(b.iter()) {
			let cb = &b[i..i + LANES];
			for j in 0..LANES {
				acc[j] += ca[j] * cb[j];
			}
		}
		i += LANES;
	}
	for (acc, b) in acc.iter_mut().zip(b.iter()) {
		for j in 0..n - full {
			acc[j] += a[full + j] * b[full + j];
		}
	}
	[reduce_lanes(acc[0]), reduce_lanes(acc[1]), reduce_lanes(acc[2]), reduce_lanes(acc[3])]
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

/// One row of `a` (length k) times every row of `b` (`n × k`) into `out` (length n).
fn row_times_rows(a: &[f32], b: &[f32], k: usize, out: &mut [f32]) {
	let n = out.len();
	let mut col = 0;
	while col + 4 <= n {
		let r = dot4(a, [
			&b[col * k..(col + 1) * k],
			&b[(col + 1) * k..(col + 2) * k],
			&b[(col + 2) * k..(col + 3) * k],
			&b[(col + 3) * k..(col + 4) * k],
		]);
		out[col..col + 4].copy_from_slice(&r);
		col += 4;
	}
	while col < n {
		out[col] = dot(a, &b[col * k..(col + 1) * k]);
		col += 1;
	}
}

/// `out[m × n] = a[m × k] · b[n × k]ᵀ` (both operands row-major, `b` already transposed — the
/// layout of a linear layer's weight).
pub fn matmul_nt(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
	let mut out = vec![0f32; m * n];
	if m == 0 || n == 0 {
		return out;
	}
	let work = m * n * k;
	if work < PARALLEL_MIN_WORK {
		for (row, out_row) in out.chunks_exact_mut(n).enumerate() {
			row_times_rows(&a[row * k..(row + 1) * k], b, k, out_row);
		}
	} else if m >= rayon::current_num_threads() * 2 {
		out.par_chunks_mut(n).enumerate().for_each(|(row, out_row)| {
			row_times_rows(&a[row * k..(row + 1) * k], b, k, out_row);
		});
	} else {
		// Few rows (decoding one token): split the columns instead.
		const COLS: usize = 64;
		for (row, out_row) in out.chunks_exact_mut(n).enumerate() {
			let a_row = &a[row * k..(row + 1) * k];
			out_row.par_chunks_mut(COLS).enumerate().for_each(|(block, out_block)| {
				let first = block * COLS;
				row_times_rows(a_row, &b[first * k..(first + out_block.len()) * k], k, out_block);
			});
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
		x.par_chunks_mut(width).for_each(f);
	}
}

/// Softmax over each row; rows that are all `-inf` become all zero.
pub fn softmax_rows(x: &mut [f32], width: usize) {
	for_each_row(x, width, |row| {
		let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
		if max == f32::NEG_INFINITY {
			row.fill(0.0);
			return;
		}
		for v in row.iter_mut() {
			*v = libm::expf(*v - max);
		}
		let total = sum(row);
		for v in row.iter_mut() {
			*v /= total;
		}
	})
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

/// Elementwise activations, with `libm` for the transcendental parts.
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

#[inline]
fn activate(a: Activation, x: f32) -> f32 {
	match a {
		Activation::GeluErf => 0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2)),
		Activation::Silu => x / (1.0 + libm::expf(-x)),
		Activation::Relu => if x > 0.0 { x } else { 0.0 },
		Activation::Sigmoid => 1.0 / (1.0 + libm::expf(-x)),
		Activation::Tanh => libm::tanhf(x),
		Activation::Exp => libm::expf(x),
	}
}

pub fn activate_in_place(x: &mut [f32], a: Activation) {
	if x.len() < PARALLEL_MIN_WORK {
		x.iter_mut().for_each(|v| *v = activate(a, *v));
	} else {
		x.par_chunks_mut(4096).for_each(|c| c.iter_mut().for_each(|v| *v = activate(a, *v)));
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
