"""Monotone decays: linear, exponential, natural-exp, inverse-time, polynomial, rsqrt."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optaxlr._validation import FLOAT32_MAX, INT32_MAX, check_bool, check_int, is_traced
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._numerics import (
    as_float,
    check_span,
    concrete,
    exp_scaled,
    extremes,
    f64,
    log_scaled,
    namespace,
)

__all__ = ["linear", "exponential", "natural_exp", "inverse_time", "polynomial", "rsqrt"]


def _elapsed(t, begin: int, steps: int, staircase: bool):
    """``t - begin`` (at least 0) in the units an exponent needs: whole periods if staircase."""
    t = namespace(t).maximum(t - begin, 0)
    return t // steps if staircase else t


@schedule_factory
def linear(init_value: Any, end_value: Any, transition_steps: int, transition_begin: int = 0):
    """Linear interpolation from ``init_value`` to ``end_value``, then constant.

    ``value = init + (end - init) * clip(step - transition_begin, 0, transition_steps)
    / transition_steps``: optax ``linear_schedule``; torch ``LinearLR`` with
    ``init_value = base_lr * start_factor``, ``end_value = base_lr * end_factor``,
    ``transition_steps = total_iters``.

    Examples:
      >>> optaxlr.schedules.linear(0.0, 1.0, transition_steps=10)(5)
      Array(0.5, dtype=float32)
    """
    number("init_value", init_value)
    number("end_value", end_value)
    steps = check_int("transition_steps", transition_steps, low=1)
    begin = check_int("transition_begin", transition_begin, low=0)

    def schedule(t):
        xp = namespace(t)
        done = xp.clip(t - begin, 0, steps)
        # Two weights summing to 1 keep both ends exact, rising or falling.
        left, gone = as_float(steps - done, xp) / steps, as_float(done, xp) / steps
        return as_float(init_value, xp) * left + as_float(end_value, xp) * gone

    def extent(first, last):
        return extremes(schedule, [begin, begin + steps], first, last)

    return Built(schedule, extent if concrete(init_value, end_value) else None)


@schedule_factory
def exponential(
    init_value: Any,
    decay_rate: Any,
    decay_steps: int = 1,
    staircase: bool = False,
    end_value: Any = None,
    transition_begin: int = 0,
):
    """``init_value * decay_rate ** ((step - transition_begin) / decay_steps)``.

    torch ``ExponentialLR(gamma)`` is ``exponential(base_lr, gamma)``; Keras
    ``ExponentialDecay`` and optax ``exponential_decay`` take the same arguments
    (optax calls ``decay_steps`` ``transition_steps``). ``staircase`` floors the
    exponent; ``end_value`` bounds the value (a floor when decaying, a ceiling
    when ``decay_rate > 1``). Before ``transition_begin`` the value is ``init_value``.

    Examples:
      >>> optaxlr.schedules.exponential(1.0, decay_rate=0.5, decay_steps=10)(20)
      Array(0.25, dtype=float32)
    """
    number("init_value", init_value)
    number("decay_rate", decay_rate, low=0.0, low_open=True)
    steps = check_int("decay_steps", decay_steps, low=1)
    check_bool("staircase", staircase)
    if end_value is not None:
        number("end_value", end_value)
    begin = check_int("transition_begin", transition_begin, low=0)
    rate = log_scaled(decay_rate, 1.0 if staircase else 1.0 / steps)

    def schedule(t):
        xp = namespace(t)
        factor = exp_scaled(_elapsed(t, begin, steps, staircase), rate, xp)
        # The factor saturates at the dtype's maximum, so 0 * factor stays 0.
        value = as_float(init_value, xp) * xp.minimum(factor, xp.finfo(factor.dtype).max)
        if end_value is None:
            return value
        bound = as_float(end_value, xp)
        return xp.where(as_float(decay_rate, xp) < 1.0, xp.maximum(value, bound),
                        xp.minimum(value, bound))

    if not concrete(init_value, decay_rate, end_value):
        return Built(schedule)
    init, g = f64(init_value), f64(decay_rate)

    def extent(first, last):
        return extremes(schedule, [], first, last)

    lo, hi = extent(0, INT32_MAX)
    if not (abs(lo) <= FLOAT32_MAX and abs(hi) <= FLOAT32_MAX):
        room = (math.log(FLOAT32_MAX) - math.log(abs(init))) / math.log(g)
        at = begin + (math.floor(room) + 1) * steps if staircase else begin + math.ceil(
            room * steps)
        cap = ("pass end_value to cap it" if init > 0
               else "end_value caps only a positive init_value")
        raise ValueError(
            f"decay_rate: with decay_rate = {g!r} > 1, init_value * decay_rate ** (step / "
            f"decay_steps) passes the float32 range by step {at}; {cap}, or use a smaller "
            f"decay_rate"
        )
    return Built(schedule, extent)


def _check_decay(init_value: Any, decay_rate: Any, decay_steps: int, staircase: bool) -> int:
    """The arguments `natural_exp` and `inverse_time` share; returns ``decay_steps``."""
    number("init_value", init_value)
    number("decay_rate", decay_rate, low=0.0)
    check_bool("staircase", staircase)
    return check_int("decay_steps", decay_steps, low=1)


@schedule_factory
def natural_exp(init_value: Any, decay_rate: Any, decay_steps: int = 1, staircase: bool = False):
    """``init_value * exp(-decay_rate * step / decay_steps)``, TF ``natural_exp_decay``.

    Examples:
      >>> optaxlr.schedules.natural_exp(1.0, decay_rate=0.1, decay_steps=10)(10)
      Array(0.9048374, dtype=float32)
    """
    steps = _check_decay(init_value, decay_rate, decay_steps, staircase)
    scale = 1.0 if staircase else 1.0 / steps
    if is_traced(decay_rate):
        rate = -as_float(decay_rate) * scale
    else:
        rate = -float(np.asarray(decay_rate)) * scale

    def schedule(t):
        xp = namespace(t)
        return as_float(init_value, xp) * exp_scaled(_elapsed(t, 0, steps, staircase), rate, xp)

    def extent(first, last):
        return extremes(schedule, [], first, last)

    return Built(schedule, extent if concrete(init_value, decay_rate) else None)


@schedule_factory
def inverse_time(init_value: Any, decay_rate: Any, decay_steps: int = 1, staircase: bool = False):
    """``init_value / (1 + decay_rate * step / decay_steps)``, Keras ``InverseTimeDecay``.

    Examples:
      >>> optaxlr.schedules.inverse_time(1.0, decay_rate=1.0, decay_steps=10)(10)
      Array(0.5, dtype=float32)
    """
    steps = _check_decay(init_value, decay_rate, decay_steps, staircase)

    def schedule(t):
        xp = namespace(t)
        periods = as_float(_elapsed(t, 0, steps, staircase), xp)
        if not staircase:
            periods = periods / as_float(steps, xp)
        return as_float(init_value, xp) / (1.0 + as_float(decay_rate, xp) * periods)

    def extent(first, last):
        return extremes(schedule, [], first, last)

    return Built(schedule, extent if concrete(init_value, decay_rate) else None)


@schedule_factory
def polynomial(
    init_value: Any, end_value: Any, decay_steps: int, power: Any = 1.0, cycle: bool = False
):
    """``(init - end) * (1 - step / decay_steps) ** power + end``, then ``end_value``.

    Keras ``PolynomialDecay`` (``cycle=True`` restarts with a decay period
    stretched to the next multiple of ``decay_steps``, as Keras does); torch
    ``PolynomialLR(total_iters, power)`` is ``polynomial(base_lr, 0.0, total_iters, power)``.

    Examples:
      >>> optaxlr.schedules.polynomial(1.0, 0.0, decay_steps=10, power=2.0)(5)
      Array(0.25, dtype=float32)
    """
    number("init_value", init_value)
    number("end_value", end_value)
    steps = check_int("decay_steps", decay_steps, low=1)
    number("power", power, low=0.0, low_open=True)
    check_bool("cycle", cycle)
    check_span("init_value", init_value, "end_value", end_value)

    def schedule(t):
        xp = namespace(t)
        if cycle:
            # ceil(t / steps) (1 at step 0) and the steps left to that horizon, in integers
            # that cannot overflow near the int32 maximum.
            into = t % steps
            periods = xp.maximum(t // steps + (into > 0), 1)
            steps_left = xp.where((into == 0) & (t > 0), 0, steps - into)
            left = as_float(steps_left, xp) / (as_float(periods, xp) * steps)
        else:
            left = as_float(steps - xp.minimum(t, steps), xp) / as_float(steps, xp)
        end = as_float(end_value, xp)
        return (as_float(init_value, xp) - end) * xp.power(left, as_float(power, xp)) + end

    def extent(first, last):
        # Cycling: the value falls within each period (k * steps, (k + 1) * steps] to `end`
        # at its last step; the highest value in a range is at its start or a period's start.
        k = -(-first // steps) * steps
        return extremes(schedule, [steps, k, k + 1], first, last)

    return Built(schedule, extent if concrete(init_value, end_value, power) else None)


@schedule_factory
def rsqrt(init_value: Any, warmup_steps: int = 0, timescale: Any = None):
    """Inverse-square-root decay: ``init / sqrt(1 + max(step - warmup_steps, 0) / timescale)``.

    Constant at ``init_value`` until ``warmup_steps``, then decays like ``1/sqrt(step)``.
    ``timescale`` defaults to ``max(warmup_steps, 1)``, which makes the decay
    ``init_value * sqrt(warmup_steps / step)``. Combine with `warmup` for the ramp:

    - T5X ``constant * rsqrt_decay`` (``base / sqrt(max(step, W))``):
      ``rsqrt(base / sqrt(W), warmup_steps=W)``.
    - big_vision ``decay_type="rsqrt"``:
      ``warmup(rsqrt(base, W, timescale=ts), W, prefix=False)``.
    - Transformer (Vaswani et al.) ``d**-0.5 * min(s**-0.5, s * W**-1.5)``, 1-based ``s``:
      ``warmup(rsqrt(d**-0.5 * W**-0.5, W), W, prefix=False)`` up to that index shift.

    Examples:
      >>> optaxlr.schedules.rsqrt(1.0, warmup_steps=100)(400)
      Array(0.5, dtype=float32)
    """
    number("init_value", init_value)
    warm = check_int("warmup_steps", warmup_steps, low=0)
    if timescale is None:
        timescale = max(warm, 1)
    number("timescale", timescale, low=0.0, low_open=True)

    def schedule(t):
        xp = namespace(t)
        past = as_float(xp.maximum(t - warm, 0), xp)
        scale = as_float(timescale, xp)
        return as_float(init_value, xp) * xp.sqrt(scale / (scale + past))

    def extent(first, last):
        return extremes(schedule, [], first, last)

    return Built(schedule, extent if concrete(init_value, timescale) else None)

