"""Seeded multiplicative noise on a schedule: timm's lr noise, drawn from JAX's PRNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import INT32_MAX, check_choice, check_int
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._combinators import as_schedule, inner_bounds, interval_product, merge
from optaxlr.schedules._numerics import concrete, f64

__all__ = ["with_noise"]

#: Past every step: a range that starts or ends here holds every step from its start on.
_NEVER = INT32_MAX + 1


def _first_step(name: str, value: Any) -> int:
    """The first integer step ``t`` with ``t >= value``, at most just past the int32 range."""
    number(name, value, low=0.0)
    return min(math.ceil(f64(value)), _NEVER)


def _noise_range(noise_range_t: Any) -> tuple[int, int] | None:
    """timm's ``noise_range_t`` as the integer steps ``[start, end)`` it holds, or None."""
    if noise_range_t is None:
        return None
    if isinstance(noise_range_t, Sequence | np.ndarray) and not isinstance(noise_range_t, str):
        ends = list(noise_range_t)
        if len(ends) not in (1, 2):
            raise ValueError(
                f"noise_range_t must be a number or [start, end], got {len(ends)} entries"
            )
        start = _first_step("noise_range_t[0]", ends[0])
        if len(ends) == 1:
            return start, _NEVER
        end = _first_step("noise_range_t[1]", ends[1])
        if end <= start:
            raise ValueError(f"noise_range_t: [{ends[0]!r}, {ends[1]!r}) holds no step")
        return start, end
    return _first_step("noise_range_t", noise_range_t), _NEVER


@schedule_factory
def with_noise(
    schedule: Any,
    noise_range_t: Any,
    noise_pct: Any = 0.67,
    noise_std: Any = 1.0,
    noise_seed: int = 42,
    noise_type: str = "normal",
):
    """``schedule`` with seeded multiplicative noise over a range of steps: timm's lr noise.

    At a step ``t`` in ``noise_range_t`` the value is ``v + v * n`` with ``v =
    schedule(t)`` and ``n`` drawn afresh for that step:

    - ``noise_type="normal"``: ``n = noise_std * z``, ``z`` standard normal,
      redrawn until ``|n| < noise_pct``: the normal distribution truncated to
      ``(-noise_pct, noise_pct)``, which is drawn here in one go
      (``jax.random.truncated_normal``) rather than by rejection;
    - ``noise_type="uniform"``: ``n`` uniform in ``[-noise_pct, noise_pct)``.

    ``noise_range_t`` follows timm: a number ``a`` (every step ``t >= a``), a
    pair ``[a, b]`` (``a <= t < b``), or None (no noise). timm's training
    script gives it as fractions of the run times its length, so it may be a
    float. The draw comes from ``jax.random``, keyed by ``noise_seed`` and the
    step (``fold_in(key(noise_seed), t)``): the same seed gives the same values
    at every call, under ``jit`` and ``vmap``, after a restart, on any device.
    They are drawn in float32 whatever the schedule's dtype, so a run under
    ``jax_enable_x64`` gets the same noise. They are not torch's draws (timm
    seeds a ``torch.Generator`` with ``noise_seed + t``); their distribution is
    the same.

    `bounds` gives the range the noise can approach, ``v * (1 -
    noise_pct)`` to ``v * (1 + noise_pct)`` over the noisy steps: it holds, but
    no draw reaches it.

    Args:
      schedule: the schedule (or a number) to add noise to.
      noise_range_t: the steps with noise: a number, ``[start, end]``, or None.
      noise_pct: the noise's limit, ``|n| < noise_pct``; > 0.
      noise_std: the normal noise's standard deviation before truncation; > 0.
      noise_seed: the seed, an integer in ``[0, 2**32 - 1]``.
      noise_type: ``"normal"`` or ``"uniform"``.

    Examples:
      >>> base = optaxlr.schedules.cosine(0.1, 1000)
      >>> s = optaxlr.schedules.with_noise(base, noise_range_t=[100, 900], noise_pct=0.1)
      >>> bool(s(50) == base(50)), bool(abs(s(500) / base(500) - 1) < 0.1)
      (True, True)
    """
    inner = as_schedule("schedule", schedule)
    span = _noise_range(noise_range_t)
    number("noise_pct", noise_pct, low=0.0, low_open=True)
    number("noise_std", noise_std, low=0.0, low_open=True)
    seed = check_int("noise_seed", noise_seed, low=0, dtype=np.uint32)
    check_choice("noise_type", noise_type, ("normal", "uniform"))

    def draw(t):
        """The noise ``n`` at each step of ``t`` (any shape)."""
        key = jax.random.key(seed)
        pct = jnp.asarray(noise_pct, jnp.float32)
        keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(t.reshape(-1).astype(jnp.uint32))
        if noise_type == "uniform":
            u = jax.vmap(lambda k: jax.random.uniform(k, dtype=jnp.float32))(keys)
            n = (2.0 * u - 1.0) * pct
        else:
            std = jnp.asarray(noise_std, jnp.float32)
            limit = pct / std
            z = jax.vmap(
                lambda k: jax.random.truncated_normal(k, -limit, limit, dtype=jnp.float32)
            )(keys)
            # |z| < limit, but z * std may round onto the limit: keep strictly inside it.
            n = jnp.clip(z * std, -jnp.nextafter(pct, 0.0), jnp.nextafter(pct, 0.0))
        return n.reshape(t.shape).astype(float)

    def evaluate(t):
        value = jnp.asarray(inner(t), dtype=float)
        if span is None:
            return value
        start, end = span
        noisy = (t >= start) & (t < end) if end <= INT32_MAX else t >= start
        return jnp.where(noisy, value + value * draw(t), value)

    def extent(first, last):
        if span is None:
            return inner_bounds(inner, first, last)
        start, end = span
        pieces = []
        a, b = max(first, start), min(last, end - 1)
        if a <= b:
            p = f64(noise_pct)
            pieces.append(interval_product([inner_bounds(inner, a, b), (1.0 - p, 1.0 + p)]))
        if first < start:
            pieces.append(inner_bounds(inner, first, min(last, start - 1)))
        if last >= end:
            pieces.append(inner_bounds(inner, max(first, end), last))
        return merge(pieces)

    # v * (1 + noise_pct) can leave float32: refuse that when built.
    return Built(evaluate, extent if concrete(noise_pct) else None, check_range=True)
