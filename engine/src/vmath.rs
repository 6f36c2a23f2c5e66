//! `exp`, `erf`, `tanh` and GELU for the portable profile's version 2, written with plain
//! multiplies, adds, divides, compares and selects only.
//!
//! Every step is one correctly rounded IEEE-754 operation (Rust never fuses `a * b + c`) and no
//! branch depends on anything but the element itself, so a loop over a slice vectorises at any
//! SIMD width and gives the same bits as the scalar code on every CPU. The polynomials are
//! least-squares fits refined towards minimax (coefficients rounded to `f32`); measured against
//! `f64` references over the whole `f32` range: `exp` ≤ 1.4 ulp, `tanh` ≤ 1.9 ulp, `erf` ≤ 1.3e-7
//! absolute, GELU ≤ 1.3e-7 · `|x|` absolute (its fit: `engine/reference/fit_gelu.py`).

/// `1.5 · 2²³`: adding it rounds a float below `2²²` in magnitude to an integer (ties to even),
/// which then sits in the low bits of the sum's mantissa.
const ROUNDER: f32 = 12_582_912.0;
/// `log₂ e`.
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split so that `n · LN2_HI` is exact for every `|n| ≤ 256` (15 significant bits).
const LN2_HI: f32 = 0.69314575;
const LN2_LO: f32 = 1.4286068e-6;
/// `eʳ` on `|r| ≤ ln2 / 2`, lowest power first.
const EXP: [f32; 7] = [1.0, 1.0, 0.50000006, 0.16666412, 0.04166531, 0.0083754985, 0.0013990534];
/// `erf(x) / x` as a polynomial in `x²` on `|x| < ERF_SPLIT`.
const ERF_SPLIT: f32 = 0.875;
const ERF_SMALL: [f32; 6] = [1.1283791, -0.37612346, 0.11280973, -0.026747737, 0.0049755704, -0.00059362577];
/// `erfc(x) · e^(x²)` as a polynomial in `1/x` on `ERF_SPLIT ≤ x ≤ 4`; `erf` is 1 in `f32` beyond.
const ERF_LARGE: [f32; 8] =
	[0.0002534636, 0.55882853, 0.045991432, -0.49365723, 0.55856425, -0.34026682, 0.11464089, -0.016770918];
const ERF_SATURATED: f32 = 4.0;
/// `erfc(u) · e^(u²)` as a polynomial in `u` on `0 ≤ u ≤ GELU_SATURATED`, fitted for GELU (see
/// [`gelu`]).
const ERFCX: [f32; 13] = [
	1.,
	-1.1283778,
	0.99996436,
	-0.751891,
	0.4980971,
	-0.29493448,
	0.15455022,
	-0.069128506,
	0.024945723,
	-0.0067772055,
	0.0012727533,
	-1.4508913e-04,
	7.4886384e-06,
];
/// `|x|/√2` from which GELU takes `Φ(x)` as exactly 0 or 1 (its distance from them is below
/// 7.7e-9 there).
const GELU_SATURATED: f32 = 4.0;
/// `tanh(x) / x` as a polynomial in `x²` on `|x| < TANH_SPLIT`.
const TANH_SPLIT: f32 = 0.625;
const TANH_SMALL: [f32; 7] = [1.0, -0.3333332, 0.13332972, -0.05392635, 0.021613827, -0.007999869, 0.0020033943];
/// `tanh` is 1 in `f32` beyond this.
const TANH_SATURATED: f32 = 9.1;

#[inline(always)]
fn polynomial<const N: usize>(c: &[f32; N], t: f32) -> f32 {
	let mut acc = c[N - 1];
	for &ci in c[..N - 1].iter().rev() {
		acc = acc * t + ci;
	}
	acc
}

#[inline(always)]
fn select(take_first: bool, a: f32, b: f32) -> f32 {
	if take_first {
		a
	} else {
		b
	}
}

/// `2ⁿ` for `-126 ≤ n ≤ 128` (`2¹²⁸` is `+inf`).
#[inline(always)]
fn pow2(n: i32) -> f32 {
	f32::from_bits(((n + 127) as u32) << 23)
}

/// `eˣ`: `+inf` above ~88.72, `+0` below ~-103.97, NaN for NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
	// Clamping keeps `n` in [-150, 129], where the two-factor scaling below neither wraps nor
	// loses the subnormal results; past the clamps the true result rounds to 0 or overflows.
	let c = select(x < -104.0, -104.0, select(x > 89.0, 89.0, x));
	let (p, n) = exp_parts(c);
	let half = n >> 1;
	let y = p * pow2(half) * pow2(n - half);
	select(x.is_nan(), x, y)
}

/// [`exp`] for `-87 ≤ x ≤ 88`, where its result is a normal float: the same bits, without the
/// clamps, the NaN check and the two-step scaling that only other arguments need (a product by
/// a power of two is exact while it stays normal).
#[inline(always)]
fn exp_normal(x: f32) -> f32 {
	let (p, n) = exp_parts(x);
	p * pow2(n)
}

/// `eˣ` as `p · 2ⁿ`: `n` the nearest integer to `x · log₂ e`, `p` the polynomial of what remains
/// of `x` once `n · ln 2` is taken away.
#[inline(always)]
fn exp_parts(x: f32) -> (f32, i32) {
	let t = x * LOG2_E + ROUNDER;
	let n = t - ROUNDER;
	let r = (x - n * LN2_HI) - n * LN2_LO;
	(polynomial(&EXP, r), (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32))
}

/// GELU, `x · Φ(x)`, `Φ` being the standard normal distribution: `Φ(−|x|) = e^(−u²) ·
/// erfcx(u) / 2` with `u = |x|/√2`, `erfcx` a polynomial. One branch for every `x`, with no
/// division (where `0.5 · x · (1 + erf(x/√2))` computes both of `erf`'s branches and divides).
/// `Φ` is taken as exactly 0 or 1 from `u = 4` on, so `gelu(x) = x` there for positive `x` and `-0` for
/// negative; `gelu(±0) = ±0`, `gelu(+∞) = +∞`, `gelu(−∞)` and `gelu(NaN)` are NaN.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
	let u = x.abs() * core::f32::consts::FRAC_1_SQRT_2;
	let b = select(u < GELU_SATURATED, u, GELU_SATURATED);
	let tail = 0.5 * (exp_normal(-(b * b)) * polynomial(&ERFCX, b));
	let negative = x < 0.0;
	let phi = select(negative, tail, 1.0 - tail);
	let phi = select(u < GELU_SATURATED, phi, select(negative, 0.0, 1.0));
	x * phi
}

/// `erf(x)`, odd, exactly `±1` for `|x| ≥ 4`, NaN for NaN.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
	let a = x.abs();
	let small = a * polynomial(&ERF_SMALL, a * a);
	let b = select(a < ERF_SATURATED, a, ERF_SATURATED);
	let b = select(b < ERF_SPLIT, ERF_SPLIT, b);
	let large = 1.0 - exp(-(b * b)) * polynomial(&ERF_LARGE, 1.0 / b);
	let y = select(a < ERF_SPLIT, small, large);
	select(x.is_nan(), x, y.copysign(x))
}

/// `tanh(x)`, odd, NaN for NaN.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
	let a = x.abs();
	let small = a * polynomial(&TANH_SMALL, a * a);
	let b = select(a < TANH_SATURATED, a, TANH_SATURATED);
	let large = 1.0 - 2.0 / (exp(b + b) + 1.0);
	let y = select(a < TANH_SPLIT, small, large);
	select(x.is_nan(), x, y.copysign(x))
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Distance in units in the last place of `reference` (rounded to `f32`).
	fn ulps(got: f32, reference: f64) -> f64 {
		let r = reference as f32;
		let spacing = (f32::from_bits(r.abs().to_bits() + 1) - r.abs()) as f64;
		(got as f64 - reference).abs() / spacing
	}

	/// Every `step`-th `f32` between `lo` and `hi`, both signs.
	fn grid(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
		(lo.to_bits()..hi.to_bits()).step_by(step as usize).map(f32::from_bits).flat_map(|x| [x, -x])
	}

	#[test]
	fn exp_is_within_two_ulps_of_the_true_value() {
		let mut worst = 0f64;
		for x in grid(1e-10, 88.7, 97) {
			let reference = (x as f64).exp();
			if reference > f32::MIN_POSITIVE as f64 {
				worst = worst.max(ulps(exp(x), reference));
			}
		}
		assert!(worst < 2.0, "worst {worst} ulp");
		assert_eq!(exp(0.0), 1.0);
		assert_eq!(exp(-0.0), 1.0);
		assert_eq!(exp(f32::INFINITY), f32::INFINITY);
		assert_eq!(exp(89.0), f32::INFINITY);
		assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0);
		assert_eq!(exp(-200.0).to_bits(), 0);
		assert!(exp(f32::NAN).is_nan());
		// Subnormal results keep their value to within a unit of the smallest subnormal.
		for x in [-88.0f32, -95.5, -100.0, -103.0] {
			let want = (x as f64).exp();
			assert!((exp(x) as f64 - want).abs() <= 1.5e-45 + want * 1e-6, "exp({x})");
		}
	}

	#[test]
	fn erf_and_tanh_are_close_to_the_true_values() {
		let (mut erf_worst, mut tanh_worst) = (0f64, 0f64);
		for x in grid(1e-10, 12.0, 61) {
			erf_worst = erf_worst.max((erf(x) as f64 - libm::erf(x as f64)).abs());
			tanh_worst = tanh_worst.max(ulps(tanh(x), libm::tanh(x as f64)));
		}
		assert!(erf_worst < 1.5e-7, "erf worst {erf_worst}");
		assert!(tanh_worst < 2.0, "tanh worst {tanh_worst} ulp");
		for f in [erf, tanh] {
			assert_eq!(f(0.0).to_bits(), 0.0f32.to_bits());
			assert_eq!(f(-0.0).to_bits(), (-0.0f32).to_bits());
			assert_eq!(f(f32::INFINITY), 1.0);
			assert_eq!(f(f32::NEG_INFINITY), -1.0);
			assert!(f(f32::NAN).is_nan());
		}
		assert_eq!(erf(4.0), 1.0);
		assert_eq!(tanh(9.5), 1.0);
	}

	#[test]
	fn exp_normal_gives_the_bits_of_exp() {
		for x in grid(1e-8, 88.0, 211).filter(|x| (-87.0..=88.0).contains(x)) {
			assert_eq!(exp_normal(x).to_bits(), exp(x).to_bits(), "exp({x})");
		}
	}

	#[test]
	fn gelu_is_close_to_the_true_value() {
		let mut worst = 0f64;
		for x in grid(1e-12, 1e4, 37).chain([0.5, 1.0, 2.0, 5.65, 5.66, 5.7, 6.0]) {
			let reference = x as f64 * 0.5 * libm::erfc(-(x as f64) / std::f64::consts::SQRT_2);
			// `Φ`'s error times `|x|`, and the product's own rounding.
			let allowed = 1e-7 * (x as f64).abs() + (reference.abs() * 6e-8);
			let error = (gelu(x) as f64 - reference).abs();
			assert!(error <= allowed, "gelu({x}) = {}, want {reference}", gelu(x));
			worst = worst.max(error / (x as f64).abs());
		}
		assert!(worst < 1.5e-7, "worst {worst}");
		assert_eq!(gelu(0.0).to_bits(), 0.0f32.to_bits());
		assert_eq!(gelu(-0.0).to_bits(), (-0.0f32).to_bits());
		assert_eq!(gelu(7.0), 7.0);
		assert_eq!(gelu(-7.0).to_bits(), (-0.0f32).to_bits());
		assert_eq!(gelu(f32::INFINITY), f32::INFINITY);
		assert!(gelu(f32::NEG_INFINITY).is_nan());
		assert!(gelu(f32::NAN).is_nan());
	}

	#[test]
	fn a_vectorised_loop_gives_the_scalar_bits() {
		let xs: Vec<f32> = grid(1e-6, 20.0, 4099).collect();
		let scalar: Vec<u32> = xs.iter().map(|&x| std::hint::black_box(exp)(x).to_bits()).collect();
		let mut looped = xs.clone();
		looped.iter_mut().for_each(|v| *v = exp(*v));
		assert_eq!(looped.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), scalar);
	}
}
