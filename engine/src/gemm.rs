//! The matmul of the portable profile's version 2: bits that do not depend on how it is blocked.
//!
//! Every output is one lane summed in `k` order, `acc = acc + a·b` from `+0` (a multiply and an
//! add, each rounded; never fused). Tile shape, SIMD width, k-blocking and the split of the
//! columns over threads only decide which lane of which register holds an output and when it is
//! stored and reloaded (exact), never the order of its sum; so every compilation, CPU and
//! thread count gives the bits of [`reference`].
//!
//! The layout is an outer-product micro-kernel: `b` (a layer's weight, `n × k`) is packed once
//! into panels of [`NR`] columns, `[panel][k][NR]`; `a` is packed once per matmul into panels of
//! `MR` rows, `[panel][k][MR]`; the kernel broadcasts one element of `a` against a row of a
//! `b` panel and adds into an `MR × NR` tile of accumulators held in registers (`MR` = 8 for
//! AVX-512, 6 for AVX2, 4 for SSE2 and plain Rust). A panel's last rows run on a kernel for
//! exactly that many rows; `b` panels are zero-padded to whole tiles, and only the real columns
//! of a tile are stored.

use rayon::prelude::*;

/// Columns per `b` panel: one AVX-512 register, two AVX2 ones, four SSE ones.
pub const NR: usize = 16;
/// Depth per block: an `a` panel and a `b` panel of this depth stay in L1 while a tile is summed.
const KC: usize = 256;
/// Multiply-adds below which a matmul stays on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// `out[i][j] = Σₖ a[i][k]·b[j][k]` summed in `k` order from `+0`, one multiply and one add per
/// step: the order every kernel here reproduces.
pub fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
	let mut out = vec![0f32; m * n];
	for i in 0..m {
		for j in 0..n {
			let mut acc = 0f32;
			for kk in 0..k {
				acc += a[i * k + kk] * b[j * k + kk];
			}
			out[i * n + j] = acc;
		}
	}
	out
}

/// A weight `b` (`n × k`, row-major: one row per output column) packed in `NR`-column panels.
#[derive(Clone, Debug)]
pub struct PackedPanels {
	n: usize,
	k: usize,
	data: Vec<f32>,
}

impl PackedPanels {
	pub fn new(rows: &[f32], n: usize, k: usize) -> Self {
		assert_eq!(rows.len(), n * k, "matrix data does not match its shape");
		let panels = n.div_ceil(NR);
		let mut data = vec![0f32; panels * k * NR];
		for (j, row) in rows.chunks_exact(k.max(1)).take(n).enumerate() {
			let (p, c) = (j / NR, j % NR);
			let panel = &mut data[p * k * NR..(p + 1) * k * NR];
			for (kk, &v) in row.iter().enumerate() {
				panel[kk * NR + c] = v;
			}
		}
		Self { n, k, data }
	}

	/// Output columns.
	pub fn n(&self) -> usize {
		self.n
	}

	/// Depth.
	pub fn k(&self) -> usize {
		self.k
	}

	fn panels(&self) -> usize {
		self.n.div_ceil(NR)
	}

	/// Panel `p`, depths `ks`.
	fn panel(&self, p: usize, ks: std::ops::Range<usize>) -> &[f32] {
		let base = p * self.k * NR;
		&self.data[base + ks.start * NR..base + ks.end * NR]
	}
}

/// `a` (`m × k`) packed in `mr`-row panels, `[panel][k][mr]`, zero rows past `m`.
fn pack_a(a: &[f32], m: usize, k: usize, mr: usize) -> Vec<f32> {
	let panels = m.div_ceil(mr);
	let mut data = vec![0f32; panels * k * mr];
	for (i, row) in a.chunks_exact(k).take(m).enumerate() {
		let (p, r) = (i / mr, i % mr);
		let panel = &mut data[p * k * mr..(p + 1) * k * mr];
		for (kk, &v) in row.iter().enumerate() {
			panel[kk * mr + r] = v;
		}
	}
	data
}

/// The output, shared by the tasks that each store a disjoint set of its columns.
#[derive(Clone, Copy)]
struct Output {
	ptr: *mut f32,
	m: usize,
	n: usize,
}

// SAFETY: tasks write disjoint columns (distinct `b` panels) of the output, which outlives them.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

/// Rows of the tallest tile any compilation uses.
const MAX_MR: usize = 8;

/// A tile's accumulators as they pass between the output and a micro-kernel.
type Tile = [[f32; NR]; MAX_MR];

/// A micro-kernel: adds the outer products of `a` (`[kc][MR]`, this compilation's `MR`) and `b`
/// (`[kc][NR]`) into the first `rows` rows of the tile, one `k` after another.
///
/// # Safety
/// `a` holds `kc · MR` values, `b` holds `kc · NR`, `rows ≤ MR`, and the CPU runs the
/// instructions the kernel was compiled for.
type MicroKernel = unsafe fn(a: &[f32], b: &[f32], tile: &mut Tile, rows: usize);

/// Where a tile sits in the output and how much of it is real.
#[derive(Clone, Copy)]
struct TileAt {
	rows: usize,
	cols: usize,
	row0: usize,
	col0: usize,
	/// The first depth block: accumulators start at `+0` instead of the stored partial sums.
	first: bool,
}

/// One tile over one depth block: the partial sums loaded from the output (exact), the block's
/// outer products added by the micro-kernel, the real rows and columns stored.
#[inline(always)]
fn tile(kernel: MicroKernel, a: &[f32], b: &[f32], out: Output, at: TileAt) {
	let TileAt { rows, cols, row0, col0, first } = at;
	let mut acc: Tile = [[0f32; NR]; MAX_MR];
	if !first {
		for (r, acc) in acc.iter_mut().enumerate().take(rows) {
			// SAFETY: row0 + r < m and col0 + cols ≤ n; this task owns these columns.
			let src = unsafe { std::slice::from_raw_parts(out.ptr.add((row0 + r) * out.n + col0), cols) };
			acc[..cols].copy_from_slice(src);
		}
	}
	// SAFETY: the caller passes blocks of matching depth and `rows` no taller than the
	// kernel's panels, and selected the kernel for this CPU.
	unsafe { kernel(a, b, &mut acc, rows) };
	for (r, acc) in acc.iter().enumerate().take(rows) {
		// SAFETY: as above.
		let dst = unsafe { std::slice::from_raw_parts_mut(out.ptr.add((row0 + r) * out.n + col0), cols) };
		dst.copy_from_slice(&acc[..cols]);
	}
}

/// Rows of `a` per L2 block: the `a` panels of one depth block that are run against every `b`
/// panel before the next rows are touched (144 × 256 × 4 B ≈ 144 KiB). A multiple of every `MR`.
const MC: usize = 144;

/// The columns of `b`'s panels `panels`, for every row of `a` packed in `mr`-row panels.
fn panels(variant: &Variant, a: &[f32], b: &PackedPanels, out: Output, panels: std::ops::Range<usize>) {
	let (k, mr) = (b.k, variant.rows);
	let a_panels: Vec<&[f32]> = a.chunks_exact(k * mr).collect();
	for k0 in (0..k).step_by(KC) {
		let ks = k0..(k0 + KC).min(k);
		for (block, a_block_panels) in a_panels.chunks(MC / mr).enumerate() {
			for p in panels.clone() {
				let b_panel = b.panel(p, ks.clone());
				let (col0, cols) = (p * NR, NR.min(b.n - p * NR));
				for (i, a_panel) in a_block_panels.iter().enumerate() {
					let row0 = (block * (MC / mr) + i) * mr;
					let a_block = &a_panel[ks.start * mr..ks.end * mr];
					let at = TileAt { rows: mr.min(out.m - row0), cols, row0, col0, first: k0 == 0 };
					tile(variant.kernel, a_block, b_panel, out, at);
				}
			}
		}
	}
}

/// One compilation of the micro-kernel: its name, its tile height and its entry point.
struct Variant {
	name: &'static str,
	rows: usize,
	kernel: MicroKernel,
}

/// The micro-kernels as plain Rust, for CPUs without the vector units below; the same
/// operations in the same order per output.
mod scalar {
	use super::{Tile, NR};

	pub const MR: usize = 4;

	/// # Safety
	/// See [`super::MicroKernel`].
	pub unsafe fn kernel(a: &[f32], b: &[f32], tile: &mut Tile, rows: usize) {
		for (x, y) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
			for (acc, &xr) in tile.iter_mut().zip(x).take(rows) {
				for (acc, &yc) in acc.iter_mut().zip(y) {
					*acc += xr * yc;
				}
			}
		}
	}
}

/// The micro-kernels in x86-64 vector instructions. Each lane of an accumulator register is one
/// output; a step broadcasts one `a` value, multiplies it by a row of the `b` panel and adds
/// the product (two roundings, as in [`super::reference`]).
#[cfg(target_arch = "x86_64")]
mod x86 {
	use super::{Tile, NR};
	use core::arch::x86_64::*;

	/// SSE2 (every x86-64 CPU): 4 rows × 4 registers of 4 lanes.
	pub mod sse2 {
		use super::*;
		pub const MR: usize = 4;

		#[inline(always)]
		unsafe fn tile_rows<const R: usize>(a: &[f32], b: &[f32], tile: &mut Tile) {
			let kc = b.len() / NR;
			let mut c = [[_mm_setzero_ps(); 4]; R];
			for (r, c) in c.iter_mut().enumerate() {
				for (q, c) in c.iter_mut().enumerate() {
					*c = _mm_loadu_ps(tile[r].as_ptr().add(4 * q));
				}
			}
			let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
			for _ in 0..kc {
				let bv = [_mm_loadu_ps(bp), _mm_loadu_ps(bp.add(4)), _mm_loadu_ps(bp.add(8)), _mm_loadu_ps(bp.add(12))];
				for (r, c) in c.iter_mut().enumerate() {
					let x = _mm_set1_ps(*ap.add(r));
					for (c, bv) in c.iter_mut().zip(bv) {
						*c = _mm_add_ps(*c, _mm_mul_ps(x, bv));
					}
				}
				ap = ap.add(MR);
				bp = bp.add(NR);
			}
			for (r, c) in c.iter().enumerate() {
				for (q, c) in c.iter().enumerate() {
					_mm_storeu_ps(tile[r].as_mut_ptr().add(4 * q), *c);
				}
			}
		}

		/// # Safety
		/// See [`super::super::MicroKernel`].
		pub unsafe fn kernel(a: &[f32], b: &[f32], tile: &mut Tile, rows: usize) {
			debug_assert!(rows <= MR && a.len() >= b.len() / NR * MR);
			match rows {
				1 => tile_rows::<1>(a, b, tile),
				2 => tile_rows::<2>(a, b, tile),
				3 => tile_rows::<3>(a, b, tile),
				_ => tile_rows::<4>(a, b, tile),
			}
		}
	}

	/// AVX2: 6 rows × 2 registers of 8 lanes (12 accumulators, 2 `b` registers, 1 broadcast).
	pub mod avx2 {
		use super::*;
		pub const MR: usize = 6;

		#[inline]
		#[target_feature(enable = "avx2")]
		unsafe fn tile_rows<const R: usize>(a: &[f32], b: &[f32], tile: &mut Tile) {
			let kc = b.len() / NR;
			let mut lo = [_mm256_setzero_ps(); R];
			let mut hi = [_mm256_setzero_ps(); R];
			for r in 0..R {
				lo[r] = _mm256_loadu_ps(tile[r].as_ptr());
				hi[r] = _mm256_loadu_ps(tile[r].as_ptr().add(8));
			}
			let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
			for _ in 0..kc {
				let (b0, b1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
				for r in 0..R {
					let x = _mm256_set1_ps(*ap.add(r));
					lo[r] = _mm256_add_ps(lo[r], _mm256_mul_ps(x, b0));
					hi[r] = _mm256_add_ps(hi[r], _mm256_mul_ps(x, b1));
				}
				ap = ap.add(MR);
				bp = bp.add(NR);
			}
			for r in 0..R {
				_mm256_storeu_ps(tile[r].as_mut_ptr(), lo[r]);
				_mm256_storeu_ps(tile[r].as_mut_ptr().add(8), hi[r]);
			}
		}

		/// # Safety
		/// See [`super::super::MicroKernel`]; the CPU has AVX2.
		#[target_feature(enable = "avx2")]
		pub unsafe fn kernel(a: &[f32], b: &[f32], tile: &mut Tile, rows: usize) {
			debug_assert!(rows <= MR && a.len() >= b.len() / NR * MR);
			match rows {
				1 => tile_rows::<1>(a, b, tile),
				2 => tile_rows::<2>(a, b, tile),
				3 => tile_rows::<3>(a, b, tile),
				4 => tile_rows::<4>(a, b, tile),
				5 => tile_rows::<5>(a, b, tile),
				_ => tile_rows::<6>(a, b, tile),
			}
		}
	}

	/// AVX-512: 8 rows × 1 register of 16 lanes.
	pub mod avx512 {
		use super::*;
		pub const MR: usize = 8;

		#[inline]
		#[target_feature(enable = "avx512f")]
		unsafe fn tile_rows<const R: usize>(a: &[f32], b: &[f32], tile: &mut Tile) {
			let kc = b.len() / NR;
			let mut c = [_mm512_setzero_ps(); R];
			for r in 0..R {
				c[r] = _mm512_loadu_ps(tile[r].as_ptr());
			}
			let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
			for _ in 0..kc {
				let bv = _mm512_loadu_ps(bp);
				for r in 0..R {
					c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(_mm512_set1_ps(*ap.add(r)), bv));
				}
				ap = ap.add(MR);
				bp = bp.add(NR);
			}
			for r in 0..R {
				_mm512_storeu_ps(tile[r].as_mut_ptr(), c[r]);
			}
		}

		/// # Safety
		/// See [`super::super::MicroKernel`]; the CPU has AVX-512F.
		#[target_feature(enable = "avx512f")]
		pub unsafe fn kernel(a: &[f32], b: &[f32], tile: &mut Tile, rows: usize) {
			debug_assert!(rows <= MR && a.len() >= b.len() / NR * MR);
			match rows {
				1 => tile_rows::<1>(a, b, tile),
				2 => tile_rows::<2>(a, b, tile),
				3 => tile_rows::<3>(a, b, tile),
				4 => tile_rows::<4>(a, b, tile),
				5 => tile_rows::<5>(a, b, tile),
				6 => tile_rows::<6>(a, b, tile),
				7 => tile_rows::<7>(a, b, tile),
				_ => tile_rows::<8>(a, b, tile),
			}
		}
	}
}

/// The compilations this CPU can run, widest first.
fn variants() -> Vec<Variant> {
	let mut v = Vec::new();
	#[cfg(target_arch = "x86_64")]
	{
		if std::is_x86_feature_detected!("avx512f") {
			v.push(Variant { name: "avx512", rows: x86::avx512::MR, kernel: x86::avx512::kernel });
		}
		if std::is_x86_feature_detected!("avx2") {
			v.push(Variant { name: "avx2", rows: x86::avx2::MR, kernel: x86::avx2::kernel });
		}
		v.push(Variant { name: "sse2", rows: x86::sse2::MR, kernel: x86::sse2::kernel });
	}
	v.push(Variant { name: "scalar", rows: scalar::MR, kernel: scalar::kernel });
	v
}

/// The compilation this CPU runs: the widest it supports, or the one `OPG_ENGINE_GEMM_KERNEL`
/// (`scalar`, `sse2`, `avx2`, `avx512`) names, if this CPU has it.
fn selected() -> &'static Variant {
	static SELECTED: std::sync::OnceLock<Variant> = std::sync::OnceLock::new();
	SELECTED.get_or_init(|| {
		let forced = std::env::var("OPG_ENGINE_GEMM_KERNEL").ok();
		let mut all = variants();
		let at = all.iter().position(|v| forced.as_deref().is_none_or(|f| f == v.name)).unwrap_or(all.len() - 1);
		all.swap_remove(at)
	})
}

/// Which compilation of the kernel this CPU runs (all give identical bits).
pub fn kernel_variant() -> &'static str {
	selected().name
}

/// `out[m × n] = a[m × k] · bᵀ`, in `k` order per output.
pub fn matmul(a: &[f32], m: usize, b: &PackedPanels) -> Vec<f32> {
	matmul_with(selected(), a, m, b)
}

fn matmul_with(variant: &Variant, a: &[f32], m: usize, b: &PackedPanels) -> Vec<f32> {
	let (k, n) = (b.k, b.n);
	assert!(a.len() >= m * k, "matmul operand too short");
	let mut out = vec![0f32; m * n];
	if m == 0 || n == 0 || k == 0 {
		return out;
	}
	let packed = pack_a(a, m, k, variant.rows);
	let target = Output { ptr: out.as_mut_ptr(), m, n };
	let total = b.panels();
	let threads = rayon::current_num_threads();
	if m * n * k < PARALLEL_MIN || threads == 1 || total == 1 {
		panels(variant, &packed, b, target, 0..total);
	} else {
		// Contiguous runs of panels per task, a few per thread so uneven cores even out.
		let per = total.div_ceil(threads * 2).max(1);
		let ranges: Vec<_> = (0..total).step_by(per).map(|s| s..(s + per).min(total)).collect();
		ranges.into_par_iter().for_each(|p| panels(variant, &packed, b, target, p));
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{Rng, SeedableRng};

	fn random(rng: &mut rand_chacha::ChaCha8Rng, len: usize) -> Vec<f32> {
		(0..len).map(|_| rng.gen_range(-2.0f32..2.0)).collect()
	}

	#[test]
	fn every_compilation_gives_the_reference_bits_on_ragged_sizes() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
		let variants = variants();
		for m in (1..=67).step_by(3).chain([8, 16, 64]) {
			for (k, n) in [(1, 1), (7, 17), (33, 31), (65, 47), (300, 19), (513, 33)] {
				let (a, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
				let expected = reference(&a, &w, m, k, n);
				let packed = PackedPanels::new(&w, n, k);
				for v in &variants {
					let got = matmul_with(v, &a, m, &packed);
					let same = got.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
					assert!(same, "{} differs from the reference at m={m} k={k} n={n}", v.name);
				}
			}
		}
	}

	#[test]
	fn thread_count_and_signed_zeros_do_not_change_bits() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
		// Over two row blocks (`MC`) and three depth blocks (`KC`), with ragged edges in each.
		let (m, k, n) = (301, 700, 203);
		let (a, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
		let packed = PackedPanels::new(&w, n, k);
		let runs: Vec<Vec<u32>> = [1, 2, 3]
			.iter()
			.map(|&t| {
				let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
				pool.install(|| matmul(&a, m, &packed)).iter().map(|x| x.to_bits()).collect()
			})
			.collect();
		assert!(runs.windows(2).all(|w| w[0] == w[1]));
		let expected: Vec<u32> = reference(&a, &w, m, k, n).iter().map(|x| x.to_bits()).collect();
		assert_eq!(runs[0], expected);
		// −0 products summed from +0 give +0, as in the reference.
		let out = matmul(&[-0.0, 1.0], 1, &PackedPanels::new(&[1.0, -0.0], 1, 2));
		assert_eq!(out[0].to_bits(), 0.0f32.to_bits());
	}
}
