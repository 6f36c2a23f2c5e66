//! The matmul of the portable profile's version 2: bits that do not depend on how it is blocked.
//!
//! Every output is one lane summed in `k` order from `+0` by fused multiply-adds,
//! `acc = fma(a, b, acc)`: each step rounds once, as IEEE-754 `fusedMultiplyAdd` defines, so its
//! result is a function of its three inputs alone. Tile shape, SIMD width, k-blocking and the
//! split of the columns over threads only decide which lane of which register holds an output
//! and when it is stored and reloaded (exact), never the order of its sum; and a CPU without an
//! FMA unit computes the same correctly rounded step in software ([`fma`]). So every
//! compilation, CPU and thread count gives the bits of [`reference`].
//!
//! The layout is an outer-product micro-kernel: `b` (a layer's weight, `n × k`) is packed once
//! into panels of [`NR`] columns, `[panel][k][NR]`; `a` is read in place by the AVX2 and AVX-512
//! kernels (rows of a matrix, or a convolution's patches in its input: [`Gathered`]) and packed
//! into panels of `MR` rows, `[panel][k][MR]`, for the others (once per matmul; a convolution's
//! patches by each task, one L2 block at a time); the kernel broadcasts one element of `a`
//! against a row of a `b` panel and fuses it into an `MR × NR` tile of accumulators held in
//! registers (`MR` = 12 for AVX-512, 6 for AVX2 + FMA, 4 for the software-FMA SSE2 and plain
//! Rust kernels). Leftover rows run on a kernel for exactly that many rows (a convolution's
//! output row is shared evenly between its tiles); `b` panels are zero-padded to whole tiles,
//! and only the real columns of a tile are stored.
//!
//! A large matmul is split into tasks (runs of `b` panels × blocks of rows) for the
//! [`crate::team`]; an `a` packed whole goes into a buffer each thread keeps, and the output is
//! not zeroed before the first depth block stores it.

use crate::kernels::{Activation, Polynomials, Transcendentals};

/// Columns per `b` panel: one AVX-512 register, two AVX2 ones, four SSE ones.
pub const NR: usize = 16;
/// Most depth per block. Tiles sum the whole depth of every model here in one go: a tile's `b`
/// panels (≤ 4096 · 32 · 4 B = 512 KiB) stream from L2, and partial sums are never stored and
/// reloaded (measured faster than 256-deep blocks kept in L1: 32 × 1024 × 1024 at 290 GFLOP/s
/// on two cores against 265, 1024 × 1536 × 384 at 273 against ~210).
const KC: usize = 4096;
/// Multiply-adds below which a matmul stays on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;
/// Values of `a` below which it is packed on the calling thread (the team costs a microsecond
/// or two to start).
const PACK_PARALLEL_MIN: usize = 1 << 14;

/// `a·b + c` rounded once to the nearest `f32` (ties to even): IEEE-754 `fusedMultiplyAdd`,
/// in plain arithmetic for CPUs without an FMA unit.
///
/// The product of two `f32`s is exact in `f64` (48 of 53 bits) and the sum with `c` rounds once
/// there; its rounding error, recovered exactly by Knuth's two-sum, decides a round-to-odd
/// correction of the last bit, after which rounding to `f32` (29 bits narrower, more than the 2
/// that round-to-odd needs) gives the correctly rounded result with no double rounding. No `f64`
/// step over- or underflows for `f32` inputs; infinities and NaNs pass through unadjusted.
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
	let (p, c) = (a as f64 * b as f64, c as f64);
	let s = p + c;
	let virtual_c = s - p;
	let error = (p - (s - virtual_c)) + (c - virtual_c);
	let bits = s.to_bits();
	// `error` is NaN exactly when `s` is not finite; a nonzero error implies a nonzero `s`.
	let odd = if error != 0.0 && !error.is_nan() && bits & 1 == 0 {
		// One step towards the exact value, which lies beyond `s` when the signs agree.
		if (error > 0.0) == (s > 0.0) {
			f64::from_bits(bits + 1)
		} else {
			f64::from_bits(bits - 1)
		}
	} else {
		s
	};
	odd as f32
}

/// `out[i][j] = Σₖ a[i][k]·b[j][k]` summed in `k` order from `+0`, one fused multiply-add per
/// step: the order every kernel here reproduces.
pub fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
	let mut out = vec![0f32; m * n];
	for i in 0..m {
		for j in 0..n {
			let mut acc = 0f32;
			for kk in 0..k {
				acc = fma(a[i * k + kk], b[j * k + kk], acc);
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
	/// Each panel's depths, one line of `NR` columns per depth.
	data: Vec<Line>,
}

/// One depth of a panel: `NR` values on one 64-byte cache line, so that every vector load of
/// `b` reads one line (a load across two lines costs two).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([f32; NR]);

// `values` reads lines as plain `f32`s: a line must be exactly its values, with no padding.
const _: () = assert!(std::mem::size_of::<Line>() == NR * std::mem::size_of::<f32>());

/// The values of `lines`, in order.
fn values(lines: &[Line]) -> &[f32] {
	// SAFETY: `Line` is `repr(C)` around `[f32; NR]`, 64 bytes with no padding: the lines are
	// `lines.len() · NR` initialised `f32`s in a row, borrowed as long as `lines`.
	unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<f32>(), lines.len() * NR) }
}

/// [`values`], to write.
fn values_mut(lines: &mut [Line]) -> &mut [f32] {
	// SAFETY: as in `values`, borrowed mutably as long as `lines`.
	unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<f32>(), lines.len() * NR) }
}

impl PackedPanels {
	pub fn new(rows: &[f32], n: usize, k: usize) -> Self {
		assert_eq!(rows.len(), n * k, "matrix data does not match its shape");
		Self::from_rows(rows, k, n, k)
	}

	/// From `n` rows of `k` values that start `stride` values apart in `data` (one head's keys
	/// among a layer's queries, keys and values).
	pub fn from_rows(data: &[f32], stride: usize, n: usize, k: usize) -> Self {
		assert!(spans(data, n, stride, k), "matrix data does not match its shape");
		let panels = n.div_ceil(NR);
		let mut lines = vec![Line([0.0; NR]); panels * k];
		let packed = values_mut(&mut lines);
		for j in 0..n {
			let row = &data[j * stride..j * stride + k];
			let (p, c) = (j / NR, j % NR);
			let panel = &mut packed[p * k * NR..(p + 1) * k * NR];
			for (kk, &v) in row.iter().enumerate() {
				panel[kk * NR + c] = v;
			}
		}
		Self { n, k, data: lines }
	}

	/// The weight's `n` rows of `k` values, unpacked.
	pub fn rows(&self) -> Vec<f32> {
		let mut rows = vec![0f32; self.n * self.k];
		for (j, row) in rows.chunks_exact_mut(self.k.max(1)).take(self.n).enumerate() {
			let panel = &values(&self.data)[(j / NR) * self.k * NR..];
			for (kk, v) in row.iter_mut().enumerate() {
				*v = panel[kk * NR + j % NR];
			}
		}
		rows
	}

	/// From a `k × n` matrix whose `k` rows (one per depth) of `n` values start `stride` values
	/// apart in `data`, as `b` of `a · b` (one head's values among a layer's queries, keys and
	/// values).
	pub fn from_columns_strided(data: &[f32], stride: usize, k: usize, n: usize) -> Self {
		assert!(spans(data, k, stride, n), "matrix data does not match its shape");
		let mut lines = Vec::with_capacity(n.div_ceil(NR) * k);
		for first in (0..n).step_by(NR) {
			let width = NR.min(n - first);
			lines.extend((0..k).map(|kk| {
				let part = &data[kk * stride + first..][..width];
				match <[f32; NR]>::try_from(part) {
					Ok(full) => Line(full),
					Err(_) => {
						let mut line = Line([0.0; NR]);
						line.0[..width].copy_from_slice(part);
						line
					},
				}
			}));
		}
		Self { n, k, data: lines }
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
		&values(&self.data[p * self.k..(p + 1) * self.k])[ks.start * NR..ks.end * NR]
	}
}

/// Whether `data` holds `rows` rows of `len` values that start `stride` values apart (with no
/// overflow on the way).
fn spans(data: &[f32], rows: usize, stride: usize, len: usize) -> bool {
	rows == 0 || (rows - 1).checked_mul(stride).and_then(|s| s.checked_add(len)).is_some_and(|end| end <= data.len())
}

/// `a` (`m` rows of `k` values, `lda` apart) packed in `mr`-row panels, `[panel][k][mr]`, zero rows past `m` (exact
/// copies), into `buffer` (grown as needed, never shrunk: each thread keeps one, so a model's
/// matmuls do not allocate and fault in fresh pages for it every call). Returns the packed part.
fn pack_a<'b>(a: &[f32], lda: usize, m: usize, k: usize, mr: usize, buffer: &'b mut Vec<f32>) -> &'b [f32] {
	let len = m.div_ceil(mr) * k * mr;
	if buffer.len() < len {
		buffer.resize(len, 0.0);
	}
	let packed = &mut buffer[..len];
	let pack = |p: usize, panel: &mut [f32]| match mr {
		4 => pack_panel::<4>(a, lda, k, p * 4, m, panel),
		6 => pack_panel::<6>(a, lda, k, p * 6, m, panel),
		8 => pack_panel::<8>(a, lda, k, p * 8, m, panel),
		12 => pack_panel::<12>(a, lda, k, p * 12, m, panel),
		_ => unreachable!("no kernel has {mr} rows"),
	};
	crate::team::for_each_piece(packed, k * mr, m * k >= PACK_PARALLEL_MIN, pack);
	packed
}

/// Rows `row0..row0 + MR` of `a` (`m` rows of `k` values, `lda` apart; zeros past `m`) as one
/// `[k][MR]` panel, written in order.
#[inline(always)]
fn pack_panel<const MR: usize>(a: &[f32], lda: usize, k: usize, row0: usize, m: usize, panel: &mut [f32]) {
	let rows: [&[f32]; MR] = std::array::from_fn(|r| {
		let start = (row0 + r) * lda;
		a.get(start..start + k).filter(|_| row0 + r < m).unwrap_or(&[])
	});
	if rows.iter().all(|r| r.len() == k) {
		for (kk, out) in panel.chunks_exact_mut(MR).enumerate() {
			for (o, row) in out.iter_mut().zip(&rows) {
				*o = row[kk];
			}
		}
	} else {
		for (kk, out) in panel.chunks_exact_mut(MR).enumerate() {
			for (o, row) in out.iter_mut().zip(&rows) {
				*o = row.get(kk).copied().unwrap_or(0.0);
			}
		}
	}
}

/// The output, shared by the tasks that each store a disjoint set of its columns.
#[derive(Clone, Copy)]
struct Output {
	ptr: *mut f32,
	m: usize,
	n: usize,
	layout: Layout,
}

/// How an `m × n` output is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
	/// Row after row: `[m][n]`.
	Rows,
	/// Column after column, `[n][m]`: a convolution's output planes, one per channel.
	Columns,
}

impl Output {
	/// Where output `(row, col)` is stored.
	#[inline(always)]
	fn index(&self, row: usize, col: usize) -> usize {
		match self.layout {
			Layout::Rows => row * self.n + col,
			Layout::Columns => col * self.m + row,
		}
	}
}

// SAFETY: tasks write disjoint blocks (distinct row panels × distinct `b` panels) of the output,
// which outlives them.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

/// Rows of the tallest tile any compilation uses.
const MAX_MR: usize = 12;

/// A tile's accumulators as they pass between the output and a micro-kernel: up to two
/// adjacent panels' columns per row (a one-panel kernel uses the first [`NR`]).
type Tile = [[f32; 2 * NR]; MAX_MR];

/// Where a micro-kernel reads a tile's `a` values over one depth block of `kc`.
#[derive(Clone, Copy)]
enum A<'a> {
	/// Packed, `[kc][MR]` (this compilation's `MR`).
	Packed(&'a [f32]),
	/// In place: row `r`'s `kc` values from `data[r · lda]` on.
	Strided(&'a [f32], usize),
	/// Gathered: row `r`'s value at depth `d` is `data[r · step + depths[d]]` (a convolution's
	/// patch values, read from its input).
	Gathered(&'a [f32], usize, &'a [usize]),
}

/// A micro-kernel: adds the outer products of `a` and `b` (`[kc][NR]`) into the first `rows`
/// rows of the tile (or, with `zero`, into `+0`: what the tile holds is not read), one `k` after
/// another. Only compilations with [`Variant::direct`] take `a`
/// in a form other than [`A::Packed`].
///
/// # Safety
/// `a` holds `kc · MR` values (packed), `(rows − 1) · lda + kc` (strided), or points at
/// readable values for every real row and depth (gathered); `b` holds `kc · NR`, `rows ≤ MR`,
/// and the CPU runs the instructions the kernel was compiled for.
type MicroKernel = unsafe fn(a: A, b: &[f32], tile: &mut Tile, rows: usize, zero: bool);

/// Stores a finished tile's first `rows` rows and `cols` columns column after column: column
/// `c`'s values at `dst + c · stride` on, in row order (a transpose in registers).
///
/// # Safety
/// `dst` is writable for every value stored, `rows ≤ MAX_MR`, `cols ≤ 2 · NR`, and the CPU runs
/// the instructions it was compiled for.
type ColumnStore = unsafe fn(tile: &Tile, rows: usize, cols: usize, dst: *mut f32, stride: usize);

/// A micro-kernel over two adjacent `b` panels at once (`b0` the tile's first [`NR`] columns,
/// `b1` the next): twice the multiply-adds per `a` value loaded.
///
/// # Safety
/// As [`MicroKernel`], for both panels.
type PairKernel = unsafe fn(a: A, b0: &[f32], b1: &[f32], ahead: &[f32], tile: &mut Tile, rows: usize, zero: bool);

/// The `b` side of one tile: one panel, or two adjacent ones.
#[derive(Clone, Copy)]
enum Panels<'a> {
	One(MicroKernel, &'a [f32]),
	/// With the lines of later panels to prefetch into L2 along the way.
	Two(PairKernel, &'a [f32], &'a [f32], &'a [f32]),
}

/// Where a tile sits in the output and how much of it is real.
#[derive(Clone, Copy)]
struct TileAt {
	rows: usize,
	cols: usize,
	row0: usize,
	col0: usize,
	/// The first depth block: accumulators start at `+0` instead of the stored partial sums.
	first: bool,
	/// The last depth block: the sums are complete and go through the epilogue before the store.
	last: bool,
}

/// What a finished output goes through before it is stored, while its tile is still in
/// registers and L1: `activation(norm(sum + bias[column]) + shortcut[row][column]) +
/// residual[row][column]`, each step
/// rounded as the separate operation would be, so fusing it changes no bit. The activation
/// takes its transcendentals from [`crate::vmath`].
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
	/// One value per output column.
	pub bias: Option<&'a [f32]>,
	/// Inference batch normalisation per output column.
	pub norm: Option<ColumnNorm<'a>>,
	/// `m × n` in the output's layout, added before the activation (a ResNet shortcut).
	pub shortcut: Option<&'a [f32]>,
	pub activation: Option<Activation>,
	/// `m × n` in the output's layout, added last.
	pub residual: Option<&'a [f32]>,
}

/// `(x − mean) / std · scale + shift` per column, in that order (ONNX `BatchNormalization` in
/// inference, `std` being `√(var + ε)` rounded once).
#[derive(Clone, Copy)]
pub struct ColumnNorm<'a> {
	pub mean: &'a [f32],
	pub std: &'a [f32],
	pub scale: &'a [f32],
	pub shift: &'a [f32],
}

impl ColumnNorm<'_> {
	/// Columns from `col0` on.
	#[inline(always)]
	pub fn apply(&self, values: &mut [f32], col0: usize) {
		let params = self.mean[col0..].iter().zip(&self.std[col0..]).zip(&self.scale[col0..]).zip(&self.shift[col0..]);
		for (v, (((mean, std), scale), shift)) in values.iter_mut().zip(params) {
			*v = (*v - mean) / std * scale + shift;
		}
	}
}

impl Epilogue<'_> {
	/// Row `row`'s columns from `col0` on, of `out`.
	#[inline(always)]
	fn apply(&self, values: &mut [f32], row: usize, col0: usize, out: &Output) {
		self.before_activation(values, row, col0, out);
		if let Some(a) = self.activation {
			Polynomials::activate(values, a);
		}
		self.after_activation(values, row, col0, out);
	}

	/// The first `rows` rows and `cols` columns of a finished tile at `(row0, col0)`: the same
	/// steps per output as [`Epilogue::apply`], the activation over the whole tile at once
	/// where its rows are contiguous (many independent vectors keep the polynomial's
	/// multiply-add chains overlapped).
	#[inline(always)]
	fn apply_tile(&self, tile: &mut Tile, (rows, cols): (usize, usize), (row0, col0): (usize, usize), out: &Output) {
		for (r, values) in tile.iter_mut().enumerate().take(rows) {
			self.before_activation(&mut values[..cols], row0 + r, col0, out);
		}
		if let Some(a) = self.activation {
			if cols == 2 * NR {
				Polynomials::activate(tile[..rows].as_flattened_mut(), a);
			} else {
				tile.iter_mut().take(rows).for_each(|values| Polynomials::activate(&mut values[..cols], a));
			}
		}
		for (r, values) in tile.iter_mut().enumerate().take(rows) {
			self.after_activation(&mut values[..cols], row0 + r, col0, out);
		}
	}

	#[inline(always)]
	fn before_activation(&self, values: &mut [f32], row: usize, col0: usize, out: &Output) {
		if let Some(bias) = self.bias {
			values.iter_mut().zip(&bias[col0..]).for_each(|(v, b)| *v += b);
		}
		if let Some(norm) = &self.norm {
			norm.apply(values, col0);
		}
		if let Some(shortcut) = self.shortcut {
			add_from(values, shortcut, row, col0, out);
		}
	}

	#[inline(always)]
	fn after_activation(&self, values: &mut [f32], row: usize, col0: usize, out: &Output) {
		if let Some(residual) = self.residual {
			add_from(values, residual, row, col0, out);
		}
	}

	fn check(&self, m: usize, n: usize) {
		assert!(self.bias.is_none_or(|b| b.len() == n), "bias does not match the output columns");
		assert!(
			self.norm.is_none_or(|c| [c.mean, c.std, c.scale, c.shift].iter().all(|p| p.len() == n)),
			"normalisation does not match the output columns"
		);
		assert!(self.shortcut.is_none_or(|r| r.len() == m * n), "shortcut does not match the output");
		assert!(self.residual.is_none_or(|r| r.len() == m * n), "residual does not match the output");
	}
}

/// `values += other` for row `row`'s columns from `col0` on, `other` being laid out as `out`.
#[inline(always)]
fn add_from(values: &mut [f32], other: &[f32], row: usize, col0: usize, out: &Output) {
	match out.layout {
		Layout::Rows => values.iter_mut().zip(&other[out.index(row, col0)..]).for_each(|(v, r)| *v += r),
		Layout::Columns => values.iter_mut().enumerate().for_each(|(j, v)| *v += other[out.index(row, col0 + j)]),
	}
}

/// One tile over one depth block: the partial sums loaded from the output (exact), the block's
/// outer products added by the micro-kernel, the real rows and columns stored.
#[inline(always)]
fn tile(a: A, b: Panels, acc: &mut Tile, out: Output, at: TileAt, epilogue: &Epilogue, store: Option<ColumnStore>) {
	let TileAt { rows, cols, row0, col0, first, last } = at;
	if !first {
		for (r, acc) in acc.iter_mut().enumerate().take(rows) {
			match out.layout {
				Layout::Rows => {
					// SAFETY: row0 + r < m and col0 + cols ≤ n; this task owns these rows and columns.
					let src = unsafe { std::slice::from_raw_parts(out.ptr.add(out.index(row0 + r, col0)), cols) };
					copy_row(&mut acc[..cols], src);
				},
				Layout::Columns => {
					for (c, acc) in acc.iter_mut().enumerate().take(cols) {
						// SAFETY: as above.
						*acc = unsafe { *out.ptr.add(out.index(row0 + r, col0 + c)) };
					}
				},
			}
		}
	}
	// SAFETY: the caller passes blocks of matching depth and `rows` no taller than the
	// kernel's panels, and selected the kernel for this CPU.
	unsafe {
		match b {
			Panels::One(kernel, b) => kernel(a, b, acc, rows, first),
			Panels::Two(kernel, b0, b1, ahead) => kernel(a, b0, b1, ahead, acc, rows, first),
		}
	};
	if last {
		epilogue.apply_tile(acc, (rows, cols), (row0, col0), &out);
	}
	match out.layout {
		Layout::Rows => {
			for (r, acc) in acc.iter().enumerate().take(rows) {
				// SAFETY: as above.
				let dst = unsafe { std::slice::from_raw_parts_mut(out.ptr.add(out.index(row0 + r, col0)), cols) };
				copy_row(dst, &acc[..cols]);
			}
		},
		Layout::Columns => {
			if let Some(store) = store {
				// SAFETY: the output holds rows `row0..row0 + rows` of columns `col0..col0 + cols`,
				// which this task owns; the variant offering `store` runs on this CPU.
				return unsafe { store(acc, rows, cols, out.ptr.add(out.index(row0, col0)), out.m) };
			}
			// Column by column: each a run of `rows` consecutive values.
			for c in 0..cols {
				// SAFETY: as above.
				let dst = unsafe { std::slice::from_raw_parts_mut(out.ptr.add(out.index(row0, col0 + c)), rows) };
				dst.iter_mut().zip(&acc[..rows]).for_each(|(d, acc)| *d = acc[c]);
			}
		},
	}
}

/// A tile row's copy: full one- and two-panel rows as fixed-size moves (vector loads and
/// stores) rather than a call to `memmove`.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
	match (<&mut [f32; 2 * NR]>::try_from(&mut *dst), <&[f32; 2 * NR]>::try_from(src)) {
		(Ok(d), Ok(s)) => *d = *s,
		_ => match (<&mut [f32; NR]>::try_from(&mut *dst), <&[f32; NR]>::try_from(src)) {
			(Ok(d), Ok(s)) => *d = *s,
			_ => dst.copy_from_slice(src),
		},
	}
}

/// Rows of `a` per L2 block: the `a` panels of one depth block that are run against every `b`
/// panel before the next rows are touched (144 × 256 × 4 B ≈ 144 KiB). A multiple of every `MR`.
const MC: usize = 144;

/// The left operand: packed whole before the matmul, read in place (row-major, or gathered, by
/// a compilation with [`Variant::direct`]), or packed an L2 block at a time by the task that
/// runs it (gathered rows on the other compilations).
#[derive(Clone, Copy)]
enum Rows<'a> {
	Packed(&'a [f32]),
	/// Row `i` at `data[i · lda..][..k]`.
	InPlace {
		data: &'a [f32],
		lda: usize,
	},
	/// Rows in runs, each value at an offset into the data (see [`Gathered`]).
	Gathered(Gathered<'a>),
	Fill(&'a (dyn Fn(usize, &mut [f32]) + Sync)),
}

/// A left operand read where its values are. Its `m` rows come in runs of `run` (a
/// convolution's output rows): row `j` of run `t` starts at `t · run_stride + j · step` in
/// `data`, and its value at depth `d` is `depths[d]` further on. A convolution's patches are
/// such rows over its (padded) input, so they are never copied out. Tiles never cross a run,
/// so the rows of each are evenly spaced.
#[derive(Clone, Copy)]
pub struct Gathered<'a> {
	data: &'a [f32],
	m: usize,
	run: usize,
	run_stride: usize,
	step: usize,
	depths: &'a [usize],
}

impl<'a> Gathered<'a> {
	/// `runs` runs of `run` rows; `None` where some row and depth would read past `data`.
	pub fn new(
		data: &'a [f32],
		(runs, run): (usize, usize),
		(run_stride, step): (usize, usize),
		depths: &'a [usize],
	) -> Option<Self> {
		let m = runs.checked_mul(run)?;
		let this = Self { data, m, run, run_stride, step, depths };
		if m == 0 || depths.is_empty() {
			return Some(this);
		}
		let last_row = (runs - 1).checked_mul(run_stride)?.checked_add((run - 1).checked_mul(step)?)?;
		let end = last_row.checked_add(*depths.iter().max()?)?;
		(end < data.len()).then_some(this)
	}

	/// Where row `row` starts.
	fn offset(&self, row: usize) -> usize {
		(row / self.run) * self.run_stride + (row % self.run) * self.step
	}

	/// Row panels of at most `mr` rows, none crossing a run.
	fn panels(&self, mr: usize) -> usize {
		match self.run {
			0 => 0,
			run => self.m / run * run.div_ceil(mr),
		}
	}

	/// Panel `p`'s first row and row count. A run's panels share its rows evenly (14 rows are
	/// two tiles of 7, not 12 and 2): a tile of a few rows loads a `b` row for few multiply-adds
	/// and has too few accumulators to cover the multiply-add latency.
	fn panel(&self, p: usize, mr: usize) -> (usize, usize) {
		let per = self.run.div_ceil(mr);
		let (j, base, longer) = (p % per, self.run / per, self.run % per);
		((p / per) * self.run + j * base + j.min(longer), base + usize::from(j < longer))
	}
}

/// One L2 block of `a`'s rows as a sweep reads them: packed row panels, rows in place, or
/// gathered rows' panels.
#[derive(Clone, Copy)]
enum Block<'a> {
	Packed(&'a [f32]),
	/// From the block's first row on; rows `lda` apart.
	InPlace {
		data: &'a [f32],
		lda: usize,
	},
	/// All the rows; the block is this many of their panels.
	Gathered(Gathered<'a>, usize),
}

/// A task: row panels × `b` panels.
type Task = (std::ops::Range<usize>, std::ops::Range<usize>);

/// [`panels_body`] compiled for one set of instructions.
///
/// # Safety
/// The CPU runs the instructions it was compiled for.
type Driver = unsafe fn(&Variant, Rows, &PackedPanels, Output, Task, &Epilogue);

/// The columns of `b`'s panels `panels`, for the rows of `a` in row panels `row_panels`, by
/// `variant`'s compilation of the loops, copies and epilogue around its micro-kernel.
fn panels(variant: &Variant, a: Rows, b: &PackedPanels, out: Output, task: Task, epilogue: &Epilogue) {
	// SAFETY: a variant is only offered when the CPU runs its instructions (`variants`).
	unsafe { (variant.driver)(variant, a, b, out, task, epilogue) }
}

/// [`panels_body`] for any x86-64 CPU, or any other architecture.
///
/// # Safety
/// None beyond the function's own: safe on every CPU.
unsafe fn panels_baseline(variant: &Variant, a: Rows, b: &PackedPanels, out: Output, task: Task, epilogue: &Epilogue) {
	panels_body(variant, a, b, out, task, epilogue)
}

/// The glue around the micro-kernels compiled for wider vector units: only the instructions
/// differ (elementwise IEEE operations, never fused), so the bits are the baseline's.
#[cfg(target_arch = "x86_64")]
mod drivers {
	use super::*;

	#[target_feature(enable = "avx2")]
	pub unsafe fn avx2(variant: &Variant, a: Rows, b: &PackedPanels, out: Output, task: Task, epilogue: &Epilogue) {
		panels_body(variant, a, b, out, task, epilogue)
	}

	#[target_feature(enable = "avx512f")]
	pub unsafe fn avx512(variant: &Variant, a: Rows, b: &PackedPanels, out: Output, task: Task, epilogue: &Epilogue) {
		panels_body(variant, a, b, out, task, epilogue)
	}
}

#[inline(always)]
fn panels_body(
	variant: &Variant,
	a: Rows,
	b: &PackedPanels,
	out: Output,
	(row_panels, panels): Task,
	epilogue: &Epilogue,
) {
	let (k, mr) = (b.k, variant.rows);
	// Depth blocks of equal size, at most `KC`: no short last block.
	let kc = k.div_ceil(k.div_ceil(KC).max(1)).max(1);
	let depth_blocks = (0..k).step_by(kc).map(|k0| k0..(k0 + kc).min(k));
	let blocks = row_panels.clone().step_by(MC / mr).map(|p| p..(p + MC / mr).min(row_panels.end));
	match a {
		Rows::Packed(a) => {
			// Each depth block of `b` stays in cache while every row block runs against it.
			for ks in depth_blocks {
				for block in blocks.clone() {
					let a_block = Block::Packed(&a[block.start * k * mr..block.end * k * mr]);
					sweep(variant, a_block, block.start, b, out, (ks.clone(), panels.clone()), epilogue);
				}
			}
		},
		Rows::InPlace { data, lda } => {
			for ks in depth_blocks {
				for block in blocks.clone() {
					let rows = block.start * mr..(block.end * mr).min(out.m);
					let a_block = Block::InPlace { data: &data[rows.start * lda..(rows.end - 1) * lda + k], lda };
					sweep(variant, a_block, block.start, b, out, (ks.clone(), panels.clone()), epilogue);
				}
			}
		},
		Rows::Gathered(gathered) => {
			for ks in depth_blocks {
				for block in blocks.clone() {
					let a_block = Block::Gathered(gathered, block.len());
					sweep(variant, a_block, block.start, b, out, (ks.clone(), panels.clone()), epilogue);
				}
			}
		},
		Rows::Fill(fill) => {
			// Each row block is packed into this buffer, kept in cache while it runs against all
			// of `b`, then the next: the packed rows never go to memory.
			let mut buffer = Vec::new();
			for block in blocks {
				buffer.clear();
				buffer.resize(block.len() * k * mr, 0.0);
				for (i, panel) in buffer.chunks_exact_mut(k * mr).enumerate() {
					fill((block.start + i) * mr, panel);
				}
				// Whole depth per tile: its sums never leave registers until they are done.
				sweep(variant, Block::Packed(&buffer), block.start, b, out, (0..k, panels.clone()), epilogue);
			}
		},
	}
}

/// One depth block `ks` of the row panels in `a_block` (full depth, the first being row panel
/// `first_panel`) against `b`'s panels `panels`.
#[inline(always)]
fn sweep(
	variant: &Variant,
	a_block: Block,
	first_panel: usize,
	b: &PackedPanels,
	out: Output,
	(ks, panels): (std::ops::Range<usize>, std::ops::Range<usize>),
	epilogue: &Epilogue,
) {
	let (k, mr) = (b.k, variant.rows);
	let (first, last) = (ks.start == 0, ks.end == k);
	// The tiles' accumulators between the output and the kernel, reused: a first depth block's
	// kernel starts from zero registers, so it is never cleared.
	let mut acc: Tile = [[0f32; 2 * NR]; MAX_MR];
	let mut p = panels.start;
	while p < panels.end {
		// Two panels at a time where the compilation has a pair kernel.
		let (step, b_side) = match variant.pair {
			Some(pair) if p + 1 < panels.end => {
				(2, Panels::Two(pair, b.panel(p, ks.clone()), b.panel(p + 1, ks.clone()), &[]))
			},
			_ => (1, Panels::One(variant.kernel, b.panel(p, ks.clone()))),
		};
		let (col0, cols) = (p * NR, (step * NR).min(b.n - p * NR));
		let row_panels = match a_block {
			Block::Packed(a) => a.len() / (k * mr),
			Block::InPlace { data, lda } => (data.len() - k) / lda.max(1) / mr + 1,
			Block::Gathered(_, panels) => panels,
		};
		for i in 0..row_panels {
			let b_side = match b_side {
				Panels::Two(kernel, b0, b1, _) => {
					Panels::Two(kernel, b0, b1, ahead(b, p, &panels, &ks, (i, row_panels)))
				},
				one => one,
			};
			let (row0, rows) = match a_block {
				Block::Gathered(g, _) => g.panel(first_panel + i, mr),
				_ => ((first_panel + i) * mr, mr.min(out.m - (first_panel + i) * mr)),
			};
			let a_side = match a_block {
				Block::Packed(a) => A::Packed(&a[i * k * mr + ks.start * mr..i * k * mr + ks.end * mr]),
				Block::InPlace { data, lda } => {
					let first = i * mr * lda;
					A::Strided(&data[first + ks.start..first + (rows - 1) * lda + ks.end], lda)
				},
				// In bounds for every row and depth (`Gathered::new`).
				Block::Gathered(g, _) => A::Gathered(&g.data[g.offset(row0)..], g.step, &g.depths[ks.clone()]),
			};
			let at = TileAt { rows, cols, row0, col0, first, last };
			tile(a_side, b_side, &mut acc, out, at, epilogue, variant.store_columns);
		}
		p += step;
	}
}

/// Weights (`b`) at least this large stream from memory (L3 or DRAM) every matmul rather than
/// stay in a core's L2.
const STREAMED_MIN: usize = 1 << 20;

/// The lines tile `i` of `row_panels` over the pair of panels at `p` prefetches: a share of the
/// next pair's, so that memory is read while the current pair runs from L2 instead of in a
/// burst when the next pair starts (weights too large for L2 are read once per matmul, and a
/// narrow output reuses each pair for few tiles). None for weights that stay in L2.
#[inline(always)]
fn ahead<'a>(
	b: &'a PackedPanels,
	p: usize,
	panels: &std::ops::Range<usize>,
	ks: &std::ops::Range<usize>,
	(i, row_panels): (usize, usize),
) -> &'a [f32] {
	// Fewer tiles per pair: too little time on the current pair to hide the next one's.
	let half = if row_panels >= 4 { row_panels / 2 } else { 0 };
	if half == 0 || b.data.len() * std::mem::size_of::<Line>() < STREAMED_MIN || i >= 2 * half {
		return &[];
	}
	let panel = p + 2 + i / half;
	if panel >= panels.end {
		return &[];
	}
	let lines = b.panel(panel, ks.clone());
	let share = ks.len().div_ceil(half) * NR;
	let start = (i % half) * share;
	lines.get(start..).map_or(&[], |rest| &rest[..share.min(rest.len())])
}

/// One compilation of the micro-kernel: its name, its tile height and its entry point.
struct Variant {
	name: &'static str,
	rows: usize,
	kernel: MicroKernel,
	/// Its two-panel form, if it has one.
	pair: Option<PairKernel>,
	/// Its store of a tile as columns ([`Layout::Columns`]), if it has one of its own.
	store_columns: Option<ColumnStore>,
	/// Whether its kernels also read `a` in place: strided rows and gathered ones
	/// ([`A::Strided`], [`A::Gathered`]), not only packed panels.
	direct: bool,
	/// The loops around it.
	driver: Driver,
}

/// The micro-kernel as plain Rust with the software FMA: the same steps in the same order per
/// output, on any CPU.
mod scalar {
	use super::{fma, Tile, NR};

	pub const MR: usize = 4;

	/// # Safety
	/// See [`super::MicroKernel`].
	pub unsafe fn kernel(a: super::A, b: &[f32], tile: &mut Tile, rows: usize, zero: bool) {
		let super::A::Packed(a) = a else { unreachable!("packed `a` only") };
		if zero {
			tile.iter_mut().take(rows).for_each(|row| row.fill(0.0));
		}
		for (x, y) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
			for (acc, &xr) in tile.iter_mut().zip(x).take(rows) {
				for (acc, &yc) in acc.iter_mut().zip(y) {
					*acc = fma(xr, yc, *acc);
				}
			}
		}
	}
}

/// The micro-kernels in x86-64 vector instructions. Each lane of an accumulator register is one
/// output; a step broadcasts one `a` value and fuses its product with a row of the `b` panel
/// into the accumulators (one rounding, as in [`super::reference`]).
#[cfg(target_arch = "x86_64")]
mod x86 {
	use super::{Tile, A, NR};
	use core::arch::x86_64::*;

	/// `a` as the loops read it: its first value, the distance between rows, and (gathered)
	/// the depths' offsets.
	#[derive(Clone, Copy)]
	pub(super) struct Reader {
		at: *const f32,
		lda: usize,
		depths: *const usize,
	}

	/// How the reader steps: 0 packed, 1 strided, 2 gathered.
	pub(super) const PACKED: u8 = 0;
	pub(super) const STRIDED: u8 = 1;
	pub(super) const GATHERED: u8 = 2;

	impl Reader {
		#[inline(always)]
		pub(super) fn new(a: A) -> Self {
			match a {
				A::Packed(a) => Self { at: a.as_ptr(), lda: 0, depths: std::ptr::null() },
				A::Strided(a, lda) => Self { at: a.as_ptr(), lda, depths: std::ptr::null() },
				A::Gathered(a, step, depths) => Self { at: a.as_ptr(), lda: step, depths: depths.as_ptr() },
			}
		}

		/// Where row 0's value at depth step `d` (counted from the block's first) is; the
		/// other rows' follow by [`Reader::next_row`]. `MR` is the packed panels' height.
		#[inline(always)]
		pub(super) unsafe fn depth<const FORM: u8, const MR: usize>(&self, d: usize) -> *const f32 {
			match FORM {
				PACKED => self.at.add(d * MR),
				STRIDED => self.at.add(d),
				_ => self.at.add(*self.depths.add(d)),
			}
		}

		/// The next row's value at the same depth. (A chain of additions rather than
		/// `r · lda` per row: that would hold eleven offsets in registers, and the
		/// compiler then spills the accumulators.) Wrapping: after a tile's last row it
		/// points past `a`, and is not read.
		#[inline(always)]
		pub(super) fn next_row<const FORM: u8>(&self, at: *const f32) -> *const f32 {
			match FORM {
				PACKED => at.wrapping_add(1),
				_ => at.wrapping_add(self.lda),
			}
		}
	}

	/// `f::<R, FORM>(args)` for a tile of `rows` rows (one of the `R`s listed, the last for any
	/// other count) and `a`'s form.
	macro_rules! by_rows {
		($f:ident, $rows:expr, $a:expr, [$($r:literal),* ; $last:literal], $args:tt) => {{
			macro_rules! form {
				($form:expr) => {
					match $rows {
						$($r => $f::<$r, $form> $args,)*
						_ => $f::<$last, $form> $args,
					}
				};
			}
			match $a {
				A::Packed(_) => form!(PACKED),
				A::Strided(..) => form!(STRIDED),
				A::Gathered(..) => form!(GATHERED),
			}
		}};
	}

	/// Whether `a` holds what a tile of `rows` rows over `kc` depths reads (`mr`: the packed
	/// panels' height).
	pub(super) fn covers(a: A, rows: usize, kc: usize, mr: usize) -> bool {
		match a {
			A::Packed(a) => a.len() >= kc * mr,
			A::Strided(a, lda) => a.len() >= (rows - 1) * lda + kc,
			A::Gathered(a, step, depths) => {
				depths.len() >= kc && depths[..kc].iter().all(|d| (rows - 1) * step + d < a.len())
			},
		}
	}

	/// SSE2 (every x86-64 CPU, for those without an FMA unit): 4 rows × 16 columns, each step
	/// the software FMA of [`super::fma`] on two `f64` lanes at a time.
	pub mod sse2 {
		use super::*;
		pub const MR: usize = 4;

		/// [`super::super::fma`] on two lanes: `p` exact products, `c` accumulators (as `f64`).
		#[inline(always)]
		unsafe fn fma_pd(p: __m128d, c: __m128d) -> __m128d {
			let s = _mm_add_pd(p, c);
			let virtual_c = _mm_sub_pd(s, p);
			let error = _mm_add_pd(_mm_sub_pd(p, _mm_sub_pd(s, virtual_c)), _mm_sub_pd(c, virtual_c));
			let zero = _mm_setzero_pd();
			// Nonzero and not NaN (a NaN error means `s` is not finite).
			let inexact = _mm_and_pd(_mm_cmpneq_pd(error, zero), _mm_cmpord_pd(error, error));
			let bits = _mm_castpd_si128(s);
			let one = _mm_set_epi64x(1, 1);
			// Even last bit: the low dword of `bits & 1` is zero; copied to the lane's high dword.
			let even =
				_mm_shuffle_epi32::<0b10_10_00_00>(_mm_cmpeq_epi32(_mm_and_si128(bits, one), _mm_setzero_si128()));
			// +1 when the error has the sign of `s` (away from zero), −1 otherwise.
			let opposite = _mm_srli_epi64::<63>(_mm_xor_si128(_mm_castpd_si128(error), bits));
			let step = _mm_sub_epi64(one, _mm_add_epi64(opposite, opposite));
			let adjust = _mm_and_si128(_mm_and_si128(step, even), _mm_castpd_si128(inexact));
			_mm_castsi128_pd(_mm_add_epi64(bits, adjust))
		}

		/// `fma(x, y, acc)` on four lanes, rounded to `f32`.
		#[inline(always)]
		unsafe fn fma_ps(x: __m128d, y: __m128, acc: __m128) -> __m128 {
			let (y_lo, y_hi) = (_mm_cvtps_pd(y), _mm_cvtps_pd(_mm_movehl_ps(y, y)));
			let (c_lo, c_hi) = (_mm_cvtps_pd(acc), _mm_cvtps_pd(_mm_movehl_ps(acc, acc)));
			let lo = _mm_cvtpd_ps(fma_pd(_mm_mul_pd(x, y_lo), c_lo));
			let hi = _mm_cvtpd_ps(fma_pd(_mm_mul_pd(x, y_hi), c_hi));
			_mm_movelh_ps(lo, hi)
		}

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
					let x = _mm_set1_pd(*ap.add(r) as f64);
					for (c, bv) in c.iter_mut().zip(bv) {
						*c = fma_ps(x, bv, *c);
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
		pub unsafe fn kernel(a: super::super::A, b: &[f32], tile: &mut Tile, rows: usize, zero: bool) {
			let super::super::A::Packed(a) = a else { unreachable!("packed `a` only") };
			if zero {
				tile.iter_mut().take(rows).for_each(|row| row.fill(0.0));
			}
			debug_assert!(rows <= MR && a.len() >= b.len() / NR * MR);
			match rows {
				1 => tile_rows::<1>(a, b, tile),
				2 => tile_rows::<2>(a, b, tile),
				3 => tile_rows::<3>(a, b, tile),
				_ => tile_rows::<4>(a, b, tile),
			}
		}
	}

	/// AVX2 and FMA: 6 rows × 2 registers of 8 lanes (12 accumulators, 2 `b` registers, 1
	/// broadcast).
	pub mod avx2 {
		use super::*;
		pub const MR: usize = 6;

		#[inline]
		#[target_feature(enable = "avx2,fma")]
		unsafe fn tile_rows<const R: usize, const FORM: u8>(a: A, b: &[f32], tile: &mut Tile, zero: bool) {
			let kc = b.len() / NR;
			let mut lo = [_mm256_setzero_ps(); R];
			let mut hi = [_mm256_setzero_ps(); R];
			if !zero {
				for r in 0..R {
					lo[r] = _mm256_loadu_ps(tile[r].as_ptr());
					hi[r] = _mm256_loadu_ps(tile[r].as_ptr().add(8));
				}
			}
			let a = Reader::new(a);
			let mut bp = b.as_ptr();
			for d in 0..kc {
				let (b0, b1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
				let mut at = a.depth::<FORM, MR>(d);
				for r in 0..R {
					let x = _mm256_set1_ps(*at);
					at = a.next_row::<FORM>(at);
					lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
					hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
				}
				bp = bp.add(NR);
			}
			for r in 0..R {
				_mm256_storeu_ps(tile[r].as_mut_ptr(), lo[r]);
				_mm256_storeu_ps(tile[r].as_mut_ptr().add(8), hi[r]);
			}
		}

		/// # Safety
		/// See [`super::super::MicroKernel`]; the CPU has AVX2 and FMA.
		#[target_feature(enable = "avx2,fma")]
		pub unsafe fn kernel(a: A, b: &[f32], tile: &mut Tile, rows: usize, zero: bool) {
			debug_assert!(rows <= MR && covers(a, rows, b.len() / NR, MR));
			by_rows!(tile_rows, rows, a, [1, 2, 3, 4, 5; 6], (a, b, tile, zero))
		}
	}

	/// AVX-512: 12 rows × 1 register of 16 lanes, or 12 rows × 2 registers over two panels (24
	/// accumulators: two FMAs per broadcast `a` value, so loads do not limit the FMA ports).
	/// Reads `a` in any of its forms: the broadcasts load from memory either way, so only
	/// their addresses differ.
	pub mod avx512 {
		use super::*;
		pub const MR: usize = 12;

		/// See [`super::super::ColumnStore`]: sixteen columns at a time, each a masked store of
		/// the real rows; the CPU has AVX-512F.
		#[target_feature(enable = "avx512f")]
		pub unsafe fn store_columns(tile: &Tile, rows: usize, cols: usize, dst: *mut f32, stride: usize) {
			debug_assert!(rows <= MR && rows <= NR && cols <= 2 * NR);
			let real: __mmask16 = ((1u32 << rows) - 1) as u16;
			for half in 0..cols.div_ceil(NR) {
				let mut v = [_mm512_setzero_ps(); NR];
				for (r, v) in v.iter_mut().enumerate().take(MR) {
					*v = _mm512_loadu_ps(tile[r].as_ptr().add(half * NR));
				}
				transpose(&mut v);
				for (c, v) in v.iter().enumerate().take(cols - half * NR) {
					_mm512_mask_storeu_ps(dst.add((half * NR + c) * stride), real, *v);
				}
			}
		}

		/// A 16 × 16 transpose: `v[r]`'s lane `c` ends in `v[c]`'s lane `r`. Pairs of rows
		/// interleaved, then pairs of pairs, then 128-bit lanes twice (64 shuffles).
		#[inline]
		#[target_feature(enable = "avx512f")]
		unsafe fn transpose(v: &mut [__m512; NR]) {
			let mut t = [_mm512_setzero_ps(); NR];
			for i in 0..8 {
				t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
				t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
			}
			// Lane `L` of `v[4i + q]`: column `4L + q`, rows `4i..4i + 4`.
			for i in 0..4 {
				let pd = |x: __m512| _mm512_castps_pd(x);
				let (a0, a1, b0, b1) = (pd(t[4 * i]), pd(t[4 * i + 1]), pd(t[4 * i + 2]), pd(t[4 * i + 3]));
				v[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, b0));
				v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, b0));
				v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, b1));
				v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, b1));
			}
			for i in 0..2 {
				for j in 0..4 {
					t[8 * i + j] = _mm512_shuffle_f32x4::<0x88>(v[8 * i + j], v[8 * i + 4 + j]);
					t[8 * i + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(v[8 * i + j], v[8 * i + 4 + j]);
				}
			}
			for j in 0..8 {
				v[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
				v[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
			}
		}

		#[inline]
		#[target_feature(enable = "avx512f")]
		unsafe fn tile_rows<const R: usize, const FORM: u8>(a: A, b: &[f32], tile: &mut Tile, zero: bool) {
			let kc = b.len() / NR;
			let mut c = [_mm512_setzero_ps(); R];
			if !zero {
				for r in 0..R {
					c[r] = _mm512_loadu_ps(tile[r].as_ptr());
				}
			}
			let a = Reader::new(a);
			let mut bp = b.as_ptr();
			for d in 0..kc {
				let bv = _mm512_loadu_ps(bp);
				let mut at = a.depth::<FORM, MR>(d);
				for r in 0..R {
					c[r] = _mm512_fmadd_ps(_mm512_set1_ps(*at), bv, c[r]);
					at = a.next_row::<FORM>(at);
				}
				bp = bp.add(NR);
			}
			for r in 0..R {
				_mm512_storeu_ps(tile[r].as_mut_ptr(), c[r]);
			}
		}

		#[inline]
		#[target_feature(enable = "avx512f")]
		unsafe fn pair_rows<const R: usize, const FORM: u8>(
			a: A,
			b0: &[f32],
			b1: &[f32],
			ahead: &[f32],
			tile: &mut Tile,
			zero: bool,
		) {
			let kc = b0.len() / NR;
			// One line of `ahead` every `every` steps, from the first.
			let lines = ahead.len() / NR;
			let every = if lines == 0 { usize::MAX } else { (kc / lines).max(1) };
			let (mut fetch, mut fetch_at, fetch_end) = (ahead.as_ptr(), 0, ahead.as_ptr().wrapping_add(lines * NR));
			let mut lo = [_mm512_setzero_ps(); R];
			let mut hi = [_mm512_setzero_ps(); R];
			if !zero {
				for r in 0..R {
					lo[r] = _mm512_loadu_ps(tile[r].as_ptr());
					hi[r] = _mm512_loadu_ps(tile[r].as_ptr().add(NR));
				}
			}
			let a = Reader::new(a);
			let (mut p0, mut p1) = (b0.as_ptr(), b1.as_ptr());
			for d in 0..kc {
				if d == fetch_at && fetch < fetch_end {
					_mm_prefetch::<_MM_HINT_T1>(fetch.cast());
					fetch = fetch.add(NR);
					fetch_at += every;
				}
				let (y0, y1) = (_mm512_loadu_ps(p0), _mm512_loadu_ps(p1));
				let mut at = a.depth::<FORM, MR>(d);
				for r in 0..R {
					let x = _mm512_set1_ps(*at);
					at = a.next_row::<FORM>(at);
					lo[r] = _mm512_fmadd_ps(x, y0, lo[r]);
					hi[r] = _mm512_fmadd_ps(x, y1, hi[r]);
				}
				p0 = p0.add(NR);
				p1 = p1.add(NR);
			}
			for r in 0..R {
				_mm512_storeu_ps(tile[r].as_mut_ptr(), lo[r]);
				_mm512_storeu_ps(tile[r].as_mut_ptr().add(NR), hi[r]);
			}
		}

		/// # Safety
		/// See [`super::super::PairKernel`]; the CPU has AVX-512F.
		#[target_feature(enable = "avx512f")]
		pub unsafe fn pair(a: A, b0: &[f32], b1: &[f32], ahead: &[f32], tile: &mut Tile, rows: usize, zero: bool) {
			debug_assert!(rows <= MR && b0.len() == b1.len() && covers(a, rows, b0.len() / NR, MR));
			by_rows!(pair_rows, rows, a, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11; 12], (a, b0, b1, ahead, tile, zero))
		}

		/// # Safety
		/// See [`super::super::MicroKernel`]; the CPU has AVX-512F.
		#[target_feature(enable = "avx512f")]
		pub unsafe fn kernel(a: A, b: &[f32], tile: &mut Tile, rows: usize, zero: bool) {
			debug_assert!(rows <= MR && covers(a, rows, b.len() / NR, MR));
			by_rows!(tile_rows, rows, a, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11; 12], (a, b, tile, zero))
		}
	}
}

/// The compilations this CPU can run, widest first (AVX-512F includes its FMA instructions).
fn variants() -> Vec<Variant> {
	let mut v = Vec::new();
	#[cfg(target_arch = "x86_64")]
	{
		if std::is_x86_feature_detected!("avx512f") {
			let pair = Some(x86::avx512::pair as PairKernel);
			v.push(Variant {
				name: "avx512",
				rows: x86::avx512::MR,
				kernel: x86::avx512::kernel,
				pair,
				store_columns: Some(x86::avx512::store_columns),
				direct: true,
				driver: drivers::avx512,
			});
		}
		if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
			v.push(Variant {
				name: "avx2",
				rows: x86::avx2::MR,
				kernel: x86::avx2::kernel,
				pair: None,
				store_columns: None,
				direct: true,
				driver: drivers::avx2,
			});
		}
		v.push(Variant {
			name: "sse2",
			rows: x86::sse2::MR,
			kernel: x86::sse2::kernel,
			pair: None,
			store_columns: None,
			direct: false,
			driver: panels_baseline,
		});
	}
	v.push(Variant {
		name: "scalar",
		rows: scalar::MR,
		kernel: scalar::kernel,
		pair: None,
		store_columns: None,
		direct: false,
		driver: panels_baseline,
	});
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
	matmul_fused(a, m, b, &Epilogue::default())
}

/// [`matmul`] of the `m` rows of `b.k()` values that start `lda` values apart in `a` (one
/// head's queries among a layer's queries, keys and values), read where they are.
pub fn matmul_strided(a: &[f32], lda: usize, m: usize, b: &PackedPanels) -> Vec<f32> {
	let variant = selected();
	matmul_reading(variant, (a, lda), m, b, &Epilogue::default(), variant.direct)
}

/// [`matmul`] with `epilogue` applied to each output as its sum completes.
pub fn matmul_fused(a: &[f32], m: usize, b: &PackedPanels, epilogue: &Epilogue) -> Vec<f32> {
	matmul_with(selected(), a, m, b, epilogue)
}

/// [`matmul_fused`] of rows read where they are ([`Gathered`]: a convolution's patches over
/// its input), stored in `layout`. Compilations without [`Variant::direct`] have each task pack
/// the rows it multiplies instead: the same values, so the same bits.
pub fn matmul_fused_gathered(a: Gathered, b: &PackedPanels, epilogue: &Epilogue, layout: Layout) -> Vec<f32> {
	matmul_gathered_on(selected(), a, b, epilogue, layout)
}

fn matmul_gathered_on(
	variant: &Variant,
	a: Gathered,
	b: &PackedPanels,
	epilogue: &Epilogue,
	layout: Layout,
) -> Vec<f32> {
	assert_eq!(a.depths.len(), b.k, "gathered rows do not match the depth");
	if variant.direct {
		return run(variant, a.m, b, epilogue, Rows::Gathered(a), layout);
	}
	let fill = |row0: usize, panel: &mut [f32]| {
		let mr = panel.len() / b.k.max(1);
		for (r, row) in (row0..a.m.min(row0 + mr)).enumerate() {
			let start = &a.data[a.offset(row)..];
			for (kk, &depth) in a.depths.iter().enumerate() {
				panel[kk * mr + r] = start[depth];
			}
		}
	};
	run(variant, a.m, b, epilogue, Rows::Fill(&fill), layout)
}

fn matmul_with(variant: &Variant, a: &[f32], m: usize, b: &PackedPanels, epilogue: &Epilogue) -> Vec<f32> {
	// In place where the kernel can: packing costs a pass over `a` (and for small `m` a team job
	// of its own), and the tiles' broadcasts load from memory either way.
	matmul_reading(variant, (a, b.k), m, b, epilogue, variant.direct)
}

/// [`matmul_with`] of the `m` rows of `a` that start `lda` values apart, reading them in place
/// (`in_place`, for a compilation with [`Variant::direct`]) or packed first.
fn matmul_reading(
	variant: &Variant,
	(a, lda): (&[f32], usize),
	m: usize,
	b: &PackedPanels,
	epilogue: &Epilogue,
	in_place: bool,
) -> Vec<f32> {
	assert!(lda >= b.k && spans(a, m, lda, b.k), "matmul operand too short");
	if m == 0 || b.n == 0 || b.k == 0 {
		return run(variant, m, b, epilogue, Rows::Packed(&[]), Layout::Rows);
	}
	if in_place {
		return run(variant, m, b, epilogue, Rows::InPlace { data: a, lda }, Layout::Rows);
	}
	thread_local! {
		static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
	}
	PACKED_A.with(|cell| {
		// Taken rather than borrowed, so a matmul nested in this one (none today) would simply
		// allocate its own.
		let mut buffer = cell.take();
		let out =
			run(variant, m, b, epilogue, Rows::Packed(pack_a(a, lda, m, b.k, variant.rows, &mut buffer)), Layout::Rows);
		cell.replace(buffer);
		out
	})
}

/// The matmul of the rows `a` with `b` on `variant`'s kernels.
fn run(variant: &Variant, m: usize, b: &PackedPanels, epilogue: &Epilogue, a: Rows, layout: Layout) -> Vec<f32> {
	let (k, n) = (b.k, b.n);
	epilogue.check(m, n);
	if m == 0 || n == 0 || k == 0 {
		return empty_sums(m, n, epilogue, layout);
	}
	// Not zeroed first: the first depth block's tiles store every output before any is read.
	let mut out = Vec::with_capacity(m * n);
	let target = Output { ptr: out.as_mut_ptr(), m, n, layout };
	compute(variant, a, b, target, epilogue);
	// SAFETY: `compute` has stored all `m · n` outputs (each tile its real rows and columns).
	unsafe { out.set_len(m * n) };
	out
}

/// An output of empty sums: `+0` through the epilogue.
fn empty_sums(m: usize, n: usize, epilogue: &Epilogue, layout: Layout) -> Vec<f32> {
	let mut out = vec![0f32; m * n];
	let target = Output { ptr: out.as_mut_ptr(), m, n, layout };
	let mut values = vec![0f32; n];
	for row in 0..m {
		values.fill(0.0);
		epilogue.apply(&mut values, row, 0, &target);
		for (col, v) in values.iter().enumerate() {
			out[target.index(row, col)] = *v;
		}
	}
	out
}

/// Threads a matmul is split for: the team's, or one inside a team or rayon task (attention
/// heads in parallel), whose job already keeps every thread busy.
fn split_threads() -> usize {
	#[cfg(test)]
	if let Some(threads) = tests::SPLIT_THREADS.with(|t| t.get()) {
		return threads;
	}
	if rayon::current_thread_index().is_some() || crate::team::in_job() {
		1
	} else {
		crate::team::global().size()
	}
}

/// Every tile of `target`, split into tasks for the team when the matmul is large enough.
fn compute(variant: &Variant, a: Rows, b: &PackedPanels, target: Output, epilogue: &Epilogue) {
	let (m, k, n) = (target.m, b.k, b.n);
	let total = b.panels();
	let threads = split_threads();
	let row_panels = match a {
		Rows::Gathered(g) => g.panels(variant.rows),
		_ => m.div_ceil(variant.rows),
	};
	let block = MC / variant.rows;
	if m * n * k < PARALLEL_MIN || threads == 1 || (total == 1 && row_panels <= block) {
		return panels(variant, a, b, target, (0..row_panels, 0..total), epilogue);
	}
	let row_blocks = row_panels.div_ceil(block);
	let (column_tasks, row_tasks) = match a {
		// Rows packed by the tasks: split the rows first, so each is packed once where there
		// are enough row blocks.
		Rows::Fill(_) => {
			let row_tasks = (threads * 2).min(row_blocks);
			((threads * 2).div_ceil(row_tasks).min(total.div_ceil(2)).max(1), row_tasks)
		},
		// Contiguous runs of panels per task, a few per thread so uneven cores even out; with
		// few column tasks (a narrow `b`), the rows split too, in whole row blocks.
		Rows::Packed(_) | Rows::InPlace { .. } | Rows::Gathered(_) => {
			let column_tasks = total.div_ceil(total.div_ceil(threads * 2).max(1).next_multiple_of(2));
			(column_tasks, (threads * 2).div_ceil(column_tasks).min(row_blocks).max(1))
		},
	};
	// An even count of panels per task, so pair kernels are not split across tasks.
	let per = total.div_ceil(column_tasks).next_multiple_of(2);
	let columns: Vec<_> = (0..total).step_by(per).map(|s| s..(s + per).min(total)).collect();
	let per_rows = row_panels.div_ceil(row_tasks).next_multiple_of(block);
	let tasks: Vec<_> = (0..row_panels)
		.step_by(per_rows)
		.flat_map(|r| columns.iter().map(move |c| (r..(r + per_rows).min(row_panels), c.clone())))
		.collect();
	crate::team::global().run(tasks.len(), &|i| panels(variant, a, b, target, tasks[i].clone(), epilogue));
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::kernels;

	thread_local! {
		/// The thread count a test has a matmul on this thread split for.
		pub static SPLIT_THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
	}
	use rand::{Rng, SeedableRng};

	fn random(rng: &mut rand_chacha::ChaCha8Rng, len: usize) -> Vec<f32> {
		(0..len).map(|_| rng.gen_range(-2.0f32..2.0)).collect()
	}

	fn same(x: f32, y: f32) -> bool {
		x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
	}

	/// Against the C library's `fmaf` (correctly rounded; the FMA instruction where there is one).
	#[test]
	fn software_fma_is_correctly_rounded() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
		let specials = [
			0.0,
			-0.0,
			1.0,
			-1.0,
			f32::INFINITY,
			f32::NEG_INFINITY,
			f32::NAN,
			f32::MAX,
			f32::MIN_POSITIVE,
			1e-45,
			-3e-39,
		];
		for &a in &specials {
			for &b in &specials {
				for &c in &specials {
					assert!(same(fma(a, b, c), a.mul_add(b, c)), "fma({a:e}, {b:e}, {c:e})");
				}
			}
		}
		// Random triples, many with `c` close to `-a·b` (cancellation) or far apart in scale.
		for i in 0..2_000_000 {
			let a = f32::from_bits(rng.gen::<u32>() & 0x807f_ffff | (rng.gen_range(100u32..156) << 23));
			let b = f32::from_bits(rng.gen::<u32>() & 0x807f_ffff | (rng.gen_range(100u32..156) << 23));
			let c = match i % 3 {
				0 => -(a * b) * (1.0 + rng.gen_range(-1e-6f32..1e-6)),
				1 => f32::from_bits(rng.gen::<u32>() & 0x807f_ffff | (rng.gen_range(60u32..200) << 23)),
				_ => f32::from_bits(rng.gen::<u32>()),
			};
			assert!(same(fma(a, b, c), a.mul_add(b, c)), "fma({a:e}, {b:e}, {c:e})");
		}
		// Double-rounding traps: `a·b = 2ᴺ ± 1` exactly (N ≥ 30), scaled to half an ulp of `c`, so
		// the sum rounded to `f64` lands on an `f32` tie that the exact sum is just off.
		let mut traps = 0;
		for n in 30..=46u32 {
			for sign in [1i64, -1] {
				let target = (1i64 << n) + sign;
				for m in (65..1i64 << 12).step_by(2) {
					let q = target / m;
					if target % m != 0 || q >= 1 << 24 {
						continue;
					}
					for (c_mant, c_exp) in [(0x40_0002u32, 127u32), (0x40_0001, 127), (0x7f_fffe, 130), (0x00_0004, 90)]
					{
						let c = f32::from_bits(c_mant | c_exp << 23);
						// a·b = (2ᴺ ± 1)·2^(e − 24 − N): half an ulp of `c` plus or minus a sliver.
						let scale = c_exp as i32 - 127 - 24 - n as i32;
						let a = m as f32;
						let b = q as f32 * 2f32.powi(scale);
						for (a, b, c) in [(a, b, c), (-a, b, -c), (a, -b, c)] {
							let naive = ((a as f64) * (b as f64) + c as f64) as f32;
							traps += usize::from(!same(naive, a.mul_add(b, c)));
							assert!(same(fma(a, b, c), a.mul_add(b, c)), "fma({a:e}, {b:e}, {c:e})");
						}
					}
				}
			}
		}
		assert!(traps > 10, "only {traps} cases where rounding twice differs");
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
				// The same rows 3 values apart, NaN between them: a read past a row would show.
				let wide: Vec<f32> = a.chunks_exact(k).flat_map(|r| r.iter().copied().chain([f32::NAN; 3])).collect();
				// Every compilation with `a` packed, and those that can with `a` read in place.
				for (v, in_place) in
					variants.iter().flat_map(|v| [(v, false), (v, true)]).filter(|(v, i)| v.direct || !i)
				{
					for (rows, lda) in [(&a, k), (&wide, k + 3)] {
						let got = matmul_reading(v, (rows, lda), m, &packed, &Epilogue::default(), in_place);
						let same = got.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
						assert!(same, "{} (in place: {in_place}, lda {lda}) differs at m={m} k={k} n={n}", v.name);
					}
				}
			}
		}
	}

	#[test]
	fn weights_streamed_with_prefetching_give_the_reference_bits() {
		// Weights over `STREAMED_MIN`, so tiles prefetch the next pair's lines: an odd panel
		// count (the last pair is one panel), enough rows for every share of the next pair and
		// a row count no share divides; a depth over `KC`, so the shares are of depth blocks.
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
		for (m, k, n) in [(53, 1100, 270), (100, 4100, 70)] {
			let (a, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
			let packed = PackedPanels::new(&w, n, k);
			assert!(packed.data.len() * std::mem::size_of::<Line>() >= STREAMED_MIN);
			let expected = reference(&a, &w, m, k, n);
			// One thread: every pair after the first is prefetched; two: tasks of a few pairs.
			for (v, threads) in variants().iter().flat_map(|v| [(v, 1), (v, 2)]) {
				SPLIT_THREADS.with(|s| s.set(Some(threads)));
				let got = matmul_with(v, &a, m, &packed, &Epilogue::default());
				SPLIT_THREADS.with(|s| s.set(None));
				let same = got.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
				assert!(same, "{} on {threads} threads differs at m={m} k={k} n={n}", v.name);
			}
		}
	}

	#[test]
	fn gathered_rows_give_the_bits_of_the_same_rows_stored() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
		// Runs × rows per run, depth, columns.
		for ((runs, run), k, n) in
			[((1, 1), 1, 1), ((1, 13), 9, 33), ((5, 10), 27, 64), ((3, 23), 300, 20), ((7, 1), 5, 17)]
		{
			// Row `j` of run `t` at `40·t + 2·j`, depth `d` at `3·d` on: rows overlap, as patches do.
			let m = runs * run;
			let depths: Vec<usize> = (0..k).map(|d| 3 * d).collect();
			let data = random(&mut rng, 40 * runs + 2 * run + 3 * k);
			let a: Vec<f32> =
				(0..m * k).map(|x| data[40 * (x / k / run) + 2 * (x / k % run) + depths[x % k]]).collect();
			let w = random(&mut rng, n * k);
			let (packed, expected) = (PackedPanels::new(&w, n, k), reference(&a, &w, m, k, n));
			let gathered = Gathered::new(&data, (runs, run), (40, 2), &depths).expect("in bounds");
			// Stored as columns too (a convolution's planes): `expected` transposed.
			let expected_columns: Vec<f32> = (0..m * n).map(|i| expected[(i % m) * n + i / m]).collect();
			for v in &variants() {
				let got = matmul_gathered_on(v, gathered, &packed, &Epilogue::default(), Layout::Rows);
				let same = got.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
				assert!(same, "{} differs at m={m} k={k} n={n}", v.name);
				let got = matmul_gathered_on(v, gathered, &packed, &Epilogue::default(), Layout::Columns);
				let same = got.iter().zip(&expected_columns).all(|(x, y)| x.to_bits() == y.to_bits());
				assert!(same, "{} differs in columns at m={m} k={k} n={n}", v.name);
			}
		}
		// Last row at 5, last depth at 5 or 4.
		assert!(Gathered::new(&[0.0; 10], (2, 1), (5, 1), &[0, 5]).is_none(), "a read past the data is refused");
		assert!(Gathered::new(&[0.0; 10], (2, 1), (5, 1), &[0, 4]).is_some());
	}

	#[test]
	fn panels_from_strided_rows_are_the_panels_of_the_rows() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(18);
		for (rows, cols) in [(1, 1), (17, 5), (33, 40)] {
			let matrix = random(&mut rng, rows * cols);
			let wide: Vec<f32> =
				matrix.chunks_exact(cols).flat_map(|r| r.iter().copied().chain([f32::NAN; 2])).collect();
			let (dense, strided) =
				(PackedPanels::new(&matrix, rows, cols), PackedPanels::from_rows(&wide, cols + 2, rows, cols));
			assert_eq!((dense.n, dense.k), (strided.n, strided.k));
			assert_eq!(values(&dense.data).len(), values(&strided.data).len());
			assert!(values(&dense.data).iter().zip(values(&strided.data)).all(|(x, y)| x.to_bits() == y.to_bits()));
			assert_eq!(dense.data.as_ptr() as usize % 64, 0, "panels start on a cache line");
			// Columns of a `rows × cols` matrix as `b`: the panels of its transpose's rows.
			let transposed: Vec<f32> = (0..cols * rows).map(|i| matrix[(i % rows) * cols + i / rows]).collect();
			let dense = PackedPanels::new(&transposed, cols, rows);
			let strided = PackedPanels::from_columns_strided(&wide, cols + 2, rows, cols);
			assert_eq!((dense.n, dense.k), (strided.n, strided.k));
			assert_eq!(values(&dense.data).len(), values(&strided.data).len());
			assert!(values(&dense.data).iter().zip(values(&strided.data)).all(|(x, y)| x.to_bits() == y.to_bits()));
			assert_eq!(strided.data.as_ptr() as usize % 64, 0, "panels start on a cache line");
		}
	}

	#[test]
	fn a_fused_epilogue_gives_the_bits_of_separate_passes() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
		for (m, k, n) in [(1, 5, 3), (9, 300, 37), (70, 513, 20), (3, 0, 5), (400, 150, 70)] {
			let (a, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
			let (bias, residual, shortcut) = (random(&mut rng, n), random(&mut rng, m * n), random(&mut rng, m * n));
			let (mean, scale, shift) = (random(&mut rng, n), random(&mut rng, n), random(&mut rng, n));
			let std: Vec<f32> = random(&mut rng, n).iter().map(|v| (v * v + 1e-5).sqrt()).collect();
			let norm = ColumnNorm { mean: &mean, std: &std, scale: &scale, shift: &shift };
			let packed = PackedPanels::new(&w, n, k);
			for activation in [None, Some(Activation::GeluErf), Some(Activation::Tanh), Some(Activation::Relu)] {
				let mut expected = reference(&a, &w, m, k, n);
				for (row, values) in expected.chunks_exact_mut(n).enumerate() {
					values.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
					for (j, v) in values.iter_mut().enumerate() {
						*v = (*v - mean[j]) / std[j] * scale[j] + shift[j];
						*v += shortcut[row * n + j];
					}
					if let Some(act) = activation {
						kernels::activate_in_place_with::<Polynomials>(values, act);
					}
					values.iter_mut().zip(&residual[row * n..]).for_each(|(v, r)| *v += r);
				}
				let epilogue = Epilogue {
					bias: Some(&bias),
					norm: Some(norm),
					shortcut: Some(&shortcut),
					activation,
					residual: Some(&residual),
				};
				// The same, packed by a fill and stored column after column (the residual too).
				let transpose = |rows: &[f32]| -> Vec<f32> { (0..m * n).map(|i| rows[(i % m) * n + i / m]).collect() };
				let residual_columns = transpose(&residual);
				let expected_columns = transpose(&expected);
				let shortcut_columns = transpose(&shortcut);
				let epilogue_columns =
					Epilogue { shortcut: Some(&shortcut_columns), residual: Some(&residual_columns), ..epilogue };
				for v in &variants() {
					for in_place in [false, v.direct] {
						let got = matmul_reading(v, (&a, k), m, &packed, &epilogue, in_place);
						let same = got.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
						assert!(
							same,
							"{} with {activation:?} (in place: {in_place}) differs at m={m} k={k} n={n}",
							v.name
						);
					}
					let fill = |row0: usize, panel: &mut [f32]| {
						for (r, row) in a.chunks_exact(k).skip(row0).take(v.rows).enumerate() {
							row.iter().enumerate().for_each(|(kk, x)| panel[kk * v.rows + r] = *x);
						}
					};
					let got = run(v, m, &packed, &epilogue_columns, Rows::Fill(&fill), Layout::Columns);
					let same = got.iter().zip(&expected_columns).all(|(x, y)| x.to_bits() == y.to_bits());
					assert!(same, "{} with {activation:?} in columns differs at m={m} k={k} n={n}", v.name);
				}
			}
		}
	}

	#[test]
	fn thread_count_and_signed_zeros_do_not_change_bits() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
		// Over three row blocks (`MC`), and over three depth blocks (`KC`), with ragged edges.
		for (m, k, n) in [(301, 700, 203), (45, 2 * KC + 3, 37)] {
			let (a, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
			let packed = PackedPanels::new(&w, n, k);
			// Split for 1, 2 and 3 threads, with `a` packed and (where the kernel can) in place.
			let variant = selected();
			let runs: Vec<Vec<u32>> = [(1, false), (2, false), (3, false), (1, true), (2, true), (3, true)]
				.into_iter()
				.filter(|&(_, in_place)| variant.direct || !in_place)
				.map(|(t, in_place)| {
					SPLIT_THREADS.with(|s| s.set(Some(t)));
					let out = matmul_reading(variant, (&a, k), m, &packed, &Epilogue::default(), in_place);
					SPLIT_THREADS.with(|s| s.set(None));
					out.iter().map(|x| x.to_bits()).collect()
				})
				.collect();
			assert!(runs.windows(2).all(|w| w[0] == w[1]), "{m}×{k}×{n}");
			let expected: Vec<u32> = reference(&a, &w, m, k, n).iter().map(|x| x.to_bits()).collect();
			assert_eq!(runs[0], expected, "{m}×{k}×{n}");
		}
		// −0 products summed from +0 give +0, as in the reference.
		let out = matmul(&[-0.0, 1.0], 1, &PackedPanels::new(&[1.0, -0.0], 1, 2));
		assert_eq!(out[0].to_bits(), 0.0f32.to_bits());
	}
}
