"""The arithmetic every schedule formula shares, over an array namespace ``xp``.

A formula is written once, over ``xp``: with ``jax.numpy`` it is the schedule,
computed in the default float dtype (float32, or float64 under
``jax_enable_x64``); with ``numpy`` it is the float64 reference that the exact
bounds are taken from (`extremes`).

PyTorch and Keras evaluate schedules in float64; a naive float32 port loses up
to 1e-4 relative accuracy where ``1 + cos(x)`` cancels near the end of a cosine
and up to 1e-5 where ``gamma ** t`` amplifies the rounding of ``gamma``. These
helpers avoid both, so the fixtures match at rtol 1e-6 in float32 (and to
float64 rounding in float64).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import FLOAT32_MAX, is_traced

__all__ = ["half_cosine", "exp_scaled", "log_scaled", "as_float", "namespace"]

_HALF_PI = 0.5 * math.pi


def namespace(t: Any) -> Any:
    """``numpy`` for a NumPy step array (the float64 bounds), else ``jax.numpy``."""
    return np if isinstance(t, np.ndarray | np.generic) else jnp


def as_float(x: Any, xp: Any = jnp) -> jax.Array:
    """``x`` in the dtype a formula computes in: JAX's default float dtype (float32, float64
    under ``jax_enable_x64``) with ``xp=jax.numpy``, float64 with ``xp=numpy``."""
    return xp.asarray(x, dtype=float)


def half_cosine(num: Any, den: Any, xp: Any = jnp) -> Any:
    """``(1 + cos(pi * num / den)) / 2`` for ``num >= 0``, accurate near its zeros.

    The identity ``(1 + cos x) / 2 = cos(x / 2) ** 2`` removes the cancellation;
    reducing ``num`` into ``[0, den]`` with exact float operations and switching
    to ``sin`` of the complement past the middle keeps the argument small where
    the result is small. Exactly 0 at odd multiples of ``den`` and 1 at even ones.
    """
    num = as_float(num, xp)
    den = as_float(den, xp)
    period = 2.0 * den
    v = xp.mod(num, period)
    w = xp.minimum(v, period - v)  # in [0, den], the same point of the curve
    rising = xp.cos(_HALF_PI * (w / den))
    falling = xp.sin(_HALF_PI * ((den - w) / den))
    r = xp.where(w <= 0.5 * den, rising, falling)
    return r * r


def log_scaled(value: Any, scale: Any = 1.0) -> Any:
    """``log(value) * scale`` for `exp_scaled`: a Python float (float64) when both are
    concrete (``-inf`` for ``value <= 0``), else a traced array."""
    if is_traced(value) or is_traced(scale):
        return jnp.log(as_float(value)) * as_float(scale)
    v = float(np.asarray(value))
    return -math.inf if v <= 0.0 else math.log(v) * float(np.asarray(scale))


def _split(c: Any) -> tuple[Any, Any]:
    """A float64 constant as a float32 pair ``hi + lo`` (a traced one as ``(c, 0)``)."""
    if is_traced(c):
        return jnp.asarray(c, jnp.float32), np.float32(0.0)
    hi = np.float32(c)
    return hi, np.float32(c - float(hi)) if math.isfinite(c) else np.float32(0.0)


def _veltkamp(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    c = 4097.0 * a  # 2**12 + 1 splits a float32 mantissa in two halves
    hi = c - (c - a)
    return hi, a - hi


def exp_scaled(x: Any, c: Any, xp: Any = jnp) -> Any:
    """``exp(x * c)`` for a step count ``x`` and a constant ``c`` from `log_scaled`.

    In float64 that is the formula as written. In float32 the constant is kept
    as a pair ``hi + lo`` and the product ``x * hi`` is formed exactly (Dekker's
    two-product), so the only rounding left is that of ``exp`` itself:
    ``0.95 ** 300`` is within 2 ulp, where ``jnp.power(0.95, 300.)`` is off by 1e-5.
    """
    x = as_float(x, xp)
    if x.dtype != np.float32:
        return xp.exp(x * as_float(c, xp))
    hi, lo = _split(c)
    p = x * hi
    x_hi, x_lo = _veltkamp(x)
    h_hi, h_lo = _veltkamp(as_float(hi))
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


def check_span(init_name: str, init_value: Any, end_name: str, end_value: Any) -> None:
    """Refuses ends whose difference overflows float32 (formulas take ``init - end``)."""
    if concrete(init_value, end_value) and abs(f64(init_value) - f64(end_value)) > FLOAT32_MAX:
        raise ValueError(
            f"{end_name}: {init_name} - {end_name} = {f64(init_value) - f64(end_value):g} "
            f"overflows float32"
        )
