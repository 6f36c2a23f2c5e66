#!/usr/bin/env python3
"""Fit the polynomial of portable v2's GELU (`engine/src/vmath.rs`, `ERFCX`).

GELU is `x · Φ(x)`, and `Φ(−|x|) = erfc(u)/2 = e^(−u²) · erfcx(u)/2` with `u = |x|/√2`. The
engine computes `erfcx(u)` on `0 ≤ u ≤ 4` as a degree-12 polynomial in `u`. The error that
reaches `Φ` is the polynomial's error times `e^(−u²)/2`, so the fit is weighted by `e^(−u²)`:
weighted least squares, reweighted towards minimax. Coefficients are rounded to `f32` and
checked by Horner's rule in `f32`, as the engine evaluates them.

    python3 engine/reference/fit_gelu.py
"""
import numpy as np
from scipy.special import erfcx

DEGREE = 12
u = np.linspace(0.0, 4.0, 40001)
target = erfcx(u)
weight = np.exp(-u * u)

powers = np.vander(u, DEGREE + 1, increasing=True)
w = weight.copy()
for _ in range(40):
    coefficients, *_ = np.linalg.lstsq(powers * w[:, None], target * w, rcond=None)
    error = (powers @ coefficients - target) * weight
    w = w * (np.abs(error) / np.abs(error).max() + 1e-3) ** 0.5

c32 = coefficients.astype(np.float32)
x = u.astype(np.float32)
horner = np.full_like(x, c32[-1])
for c in c32[-2::-1]:
    horner = (horner * x + c).astype(np.float32)
worst = np.abs((horner.astype(np.float64) - target) * weight * 0.5).max()

print("const ERFCX: [f32; %d] = [%s];" % (DEGREE + 1, ", ".join(np.format_float_scientific(c, unique=True) if abs(c) < 1e-3 else np.format_float_positional(c, unique=True) for c in c32)))
print("worst error the polynomial adds to Phi: %.2e" % worst)
