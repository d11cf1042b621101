"""Float32 formulas that stay within a few ulps of the float64 references.

PyTorch and Keras evaluate schedules in float64; a naive float32 port loses up
to 1e-4 relative accuracy where ``1 + cos(x)`` cancels near the end of a cosine
and up to 1e-5 where ``gamma ** t`` amplifies the rounding of ``gamma``. These
helpers avoid both, so the fixtures match at rtol 1e-6.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import is_traced

__all__ = ["half_cosine", "split_float", "exp_scaled", "log_split", "as_float"]

_HALF_PI = 0.5 * math.pi


def as_float(x: Any) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float32)


def half_cosine(num: jax.Array, den: Any) -> jax.Array:
    """``(1 + cos(pi * num / den)) / 2`` for ``num >= 0``, accurate near its zeros.

    The identity ``(1 + cos x) / 2 = cos(x / 2) ** 2`` removes the cancellation;
    reducing ``num`` into ``[0, den]`` with exact float operations and switching
    to ``sin`` of the complement past the middle keeps the argument small where
    the result is small.
    """
    num = as_float(num)
    den = as_float(den)
    period = 2.0 * den
    v = jnp.mod(num, period)
    w = jnp.minimum(v, period - v)  # in [0, den], the same point of the curve
    rising = jnp.cos(_HALF_PI * (w / den))
    falling = jnp.sin(_HALF_PI * ((den - w) / den))
    r = jnp.where(w <= 0.5 * den, rising, falling)
    return r * r


def split_float(value: float) -> tuple[np.float32, np.float32]:
    """A float64 constant as a float32 pair ``hi + lo``."""
    hi = np.float32(value)
    lo = np.float32(value - float(hi))
    return hi, lo


def log_split(value: Any, scale: Any = 1.0) -> tuple[Any, Any]:
    """``log(value) * scale`` as an (hi, lo) float32 pair; traced inputs give (x, 0)."""
    if is_traced(value) or is_traced(scale):
        return jnp.log(as_float(value)) * as_float(scale), np.float32(0.0)
    v = float(np.asarray(value))
    if v <= 0.0:
        return np.float32(-np.inf), np.float32(0.0)
    return split_float(math.log(v) * float(np.asarray(scale)))


def _veltkamp(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    c = 4097.0 * a  # 2**12 + 1 splits a float32 mantissa in two halves
    hi = c - (c - a)
    return hi, a - hi


def exp_scaled(x: jax.Array, c: tuple[Any, Any]) -> jax.Array:
    """``exp(x * c)`` for a float32 ``x`` and a double-float constant ``c = (hi, lo)``.

    The product ``x * hi`` is formed exactly (Dekker's two-product), so the only
    rounding left is that of ``exp`` itself: ``0.95 ** 300`` is within 2 ulp,
    where ``jnp.power(0.95, 300.)`` is off by 1e-5.
    """
    x = as_float(x)
    hi, lo = as_float(c[0]), as_float(c[1])
    p = x * hi
    x_hi, x_lo = _veltkamp(x)
    h_hi, h_lo = _veltkamp(hi)
    err = ((x_hi * h_hi - p) + x_hi * h_lo + x_lo * h_hi) + x_lo * h_lo
    tail = err + x * lo
    # The tail is the (absolute) rounding error of p: it matters only where exp(p) is a
    # normal float32 number. Far beyond (|p| of 1e8 at step 2**31, where it can exceed 1 and
    # flip the sign of inf) or where p is infinite, exp(p) is 0 or inf by itself.
    # The Veltkamp split of a constant beyond 8e34 overflows (NaN): no correction there either.
    tail = jnp.where((jnp.abs(p) < 128.0) & jnp.isfinite(tail), tail, 0.0)
    return jnp.exp(p) * (1.0 + tail)


# --- exact bounds -------------------------------------------------------------------------


def concrete(*values: Any) -> bool:
    """True when no value (or element of a list of values) is a JAX tracer."""
    for v in values:
        if isinstance(v, list | tuple):
            if not concrete(*v):
                return False
        elif is_traced(v):
            return False
    return True


def f64(x: Any) -> float:
    return float(np.asarray(x, dtype=np.float64))


def extremes(value64, steps, first: int, last: int) -> tuple[float, float]:
    """Min and max of ``value64`` (a float64 NumPy version of the formula) over candidate steps.

    ``steps`` are the steps where the formula can have an extremum (phase edges,
    peaks); they are clipped into ``[first, last]``, whose ends are added, so
    the result is the exact range over ``first..last`` when the formula is
    monotone between consecutive candidates.
    """
    if not isinstance(steps, np.ndarray):
        steps = np.array([int(s) for s in steps], dtype=np.int64)
    ts = np.concatenate([np.asarray(steps, np.int64).ravel(), np.array([first, last], np.int64)])
    ts = np.clip(ts, first, last)  # repeats are harmless
    with np.errstate(all="ignore"):
        v = np.asarray(value64(ts), dtype=np.float64)
    v = np.broadcast_to(v, ts.shape)
    if np.isnan(v).any():
        return math.nan, math.nan
    return float(v.min()), float(v.max())


def cos_weight64(num, den):
    """Float64 ``(1 + cos(pi * num / den)) / 2`` for ``num >= 0``, computed as `half_cosine`.

    Exactly 0 at odd multiples of ``den`` and 1 at even ones (period ``2 * den``).
    """
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    v = np.mod(num, 2.0 * den)
    w = np.minimum(v, 2.0 * den - v)
    r = np.where(w <= 0.5 * den, np.cos(0.5 * np.pi * (w / den)),
                 np.sin(0.5 * np.pi * ((den - w) / den)))
    return r * r
