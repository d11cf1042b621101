"""Cyclical schedules: CLR triangles and the one-cycle policy (Smith, 2017-2018)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from optaxlr._validation import FLOAT32_MAX, check_bool, check_choice, check_int
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._numerics import (
    as_float,
    concrete,
    exp_scaled,
    extremes,
    f64,
    half_cosine,
    log_scaled,
    namespace,
)

__all__ = ["cyclic", "one_cycle", "one_cycle_momentum"]

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@schedule_factory
def cyclic(
    base_value: Any,
    max_value: Any,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: Any = 1.0,
):
    """Cyclical learning rate, torch ``CyclicLR``.

    A triangle from ``base_value`` up to ``max_value`` in ``step_size_up`` steps
    and back in ``step_size_down`` (default: the same). The triangle's height is
    scaled by 1 (``"triangular"``), halved every cycle (``"triangular2"``), or
    by ``gamma ** step`` (``"exp_range"``).

    Examples:
      >>> s = optaxlr.schedules.cyclic(0.001, 0.006, step_size_up=2000)
      >>> s(2000)
      Array(0.006, dtype=float32)
    """
    number("base_value", base_value, low=0.0)
    number("max_value", max_value, low=0.0)
    up = check_int("step_size_up", step_size_up, low=1)
    down = up if step_size_down is None else check_int("step_size_down", step_size_down, low=1)
    check_choice("mode", mode, _CYCLIC_MODES)
    number("gamma", gamma, low=0.0, high=1.0, low_open=True)
    period = up + down  # up to 2**32 - 2: the step arithmetic is in uint32
    log_halving = log_scaled(0.5)
    log_gamma = log_scaled(gamma)

    def schedule(t):
        xp = namespace(t)
        tu = t.astype(xp.uint32)
        p = np.uint32(period)
        index = tu // p
        r = tu - index * p
        height = xp.where(r <= up, as_float(r, xp) / up, as_float(p - r, xp) / down)
        if mode == "triangular2":
            height = height * exp_scaled(index, log_halving, xp)
        elif mode == "exp_range":
            height = height * exp_scaled(t, log_gamma, xp)
        base = as_float(base_value, xp)
        return base + (as_float(max_value, xp) - base) * height

    def extent(first, last):
        g = f64(gamma)
        # Troughs, peaks, and (exp_range) the top of r * gamma**r, in the range's first two
        # cycles: later cycles repeat them, no higher.
        tops = [up]
        if mode == "exp_range" and g < 1.0:
            r_star = min(-1.0 / math.log(g), up)
            tops += [math.floor(r_star), math.ceil(r_star)]
        k = first // period
        steps = [c * period + r for c in (k, k + 1) for r in (0, *tops)]
        return extremes(schedule, steps, first, last)

    return Built(schedule, extent if concrete(base_value, max_value, gamma) else None)


_ANNEALS = ("cos", "linear")
_CONVENTIONS = ("torch", "fastai")


def _check_one_cycle(total_steps, pct_start, anneal, three_phase, convention) -> int:
    total = check_int("total_steps", total_steps, low=1)
    number("pct_start", pct_start, low=0.0, high=1.0)
    check_choice("anneal", anneal, _ANNEALS)
    check_bool("three_phase", three_phase)
    check_choice("convention", convention, _CONVENTIONS)
    return total


def _phase_ends(total: int, pct: float, three_phase: bool, convention: str) -> list[float]:
    """The steps where the phases end, in float64 as torch and fastai compute them.

    torch ``OneCycleLR``: ``float(pct_start * total_steps) - 1``,
    ``float(2 * pct_start * total_steps) - 2`` (three-phase) and
    ``total_steps - 1``; fastai ``combined_cos``: fractions ``pct`` (and
    ``2 * pct``) and 1 of ``total_steps``.
    """
    if convention == "torch":
        ends = [float(pct * total) - 1, float(2 * pct * total) - 2, total - 1.0]
    else:
        ends = [pct * total, 2 * pct * total, float(total)]
    return ends if three_phase else [ends[0], ends[2]]


def _phases_traced(t, total, pct_start, anneal, three_phase, convention, values):
    """`_phases` for a traced ``pct_start``: the phase ends in the float dtype, traced."""
    lag = 1.0 if convention == "torch" else 0.0
    rise = as_float(pct_start) * total
    ends = [rise - lag, 2.0 * rise - 2.0 * lag, total - lag] if three_phase else [
        rise - lag, total - lag]
    tf = as_float(t)
    value = as_float(values[-1])
    starts = [0.0, *ends[:-1]]
    for k in reversed(range(len(ends))):
        begin, end = starts[k], as_float(ends[k])
        length = end - begin
        done = jnp.clip(tf - begin, 0.0, jnp.maximum(length, 0.0))
        a, b = as_float(values[k]), as_float(values[k + 1])
        if anneal == "cos":
            w_a, w_b = half_cosine(done, length), half_cosine(length - done, length)
        else:
            w_a, w_b = (length - done) / length, done / length
        phase_value = jnp.where(length > 0, a * w_a + b * w_b, b)
        inside = tf <= end if k < len(ends) - 1 else jnp.ones_like(tf, bool)
        value = jnp.where(inside, phase_value, value)
    return value


def _phases(t, total, pct_start, anneal, three_phase, convention, values: Sequence[Any]):
    """Piecewise annealing through ``values`` with one-cycle phase ends.

    A step belongs to the first phase whose end it has not passed (the last
    phase takes every later step), and within phase ``k`` (from the previous
    phase's end ``s`` to its own end ``e``) the value anneals from
    ``values[k]`` to ``values[k + 1]`` by ``(step - s) / (e - s)``, as torch's
    ``get_lr`` does. The phase ends are computed on the host in float64 as torch
    does, and a step's phase is decided in integers (``step <= floor(end)``),
    so the phase edges are torch's at every step. A phase of zero length (where
    torch divides by zero) is at its end value, and after the last phase the
    value stays at its final value (torch raises).
    """
    if not concrete(pct_start):
        return _phases_traced(t, total, pct_start, anneal, three_phase, convention, values)
    xp = namespace(t)
    ends = _phase_ends(total, f64(pct_start), three_phase, convention)
    starts = [0.0, *ends[:-1]]
    ones = xp.ones(t.shape, dtype=float)
    value = as_float(values[-1], xp) * ones
    for k in reversed(range(len(ends))):
        a, b = as_float(values[k], xp), as_float(values[k + 1], xp)
        begin, length = starts[k], ends[k] - starts[k]
        if length > 0:
            # step - begin, exactly: an integer part in int32 (never overflowing), then the rest.
            offset = max(math.floor(begin), 0)
            done = xp.clip(as_float(t - offset, xp) - as_float(begin - offset, xp), 0.0, length)
            if anneal == "cos":
                w_a, w_b = half_cosine(done, length, xp), half_cosine(length - done, length, xp)
            else:
                den = as_float(length, xp)
                w_a, w_b = (length - done) / den, done / den
            # a * w_a + b * w_b with both weights computed directly: no cancellation when a
            # phase rises from a small start value.
            phase_value = a * w_a + b * w_b
        else:
            phase_value = b * ones
        if k < len(ends) - 1:
            value = xp.where(t <= math.floor(ends[k]), phase_value, value)
        else:
            value = phase_value
    return value


def _phases_extent(total, pct_start, anneal, three_phase, convention, values):
    """Exact bounds of `_phases` (here in float64, from float64 ``values``): each phase
    is monotone, so at its first and last steps."""
    if not concrete(pct_start, list(values)):
        return None
    ends = _phase_ends(total, f64(pct_start), three_phase, convention)
    vals = [f64(v) for v in values]

    def value64(t):
        return _phases(t, total, pct_start, anneal, three_phase, convention, vals)

    edges = [math.floor(e) + d for e in ends for d in (0, 1)]
    return lambda first, last: extremes(value64, edges, first, last)


@schedule_factory
def one_cycle(
    max_value: Any,
    total_steps: int,
    pct_start: Any = 0.3,
    div_factor: Any = 25.0,
    final_div_factor: Any = 1e4,
    anneal: str = "cos",
    three_phase: bool = False,
    convention: str = "torch",
):
    """The one-cycle learning rate, torch ``OneCycleLR`` (Smith & Topin, 2018).

    Rises from ``max_value / div_factor`` to ``max_value`` over the first
    ``pct_start`` of ``total_steps``, then anneals to
    ``max_value / div_factor / final_div_factor``. ``three_phase=True`` comes back
    down to the start value symmetrically before the final annealing.
    ``convention="torch"`` reproduces torch's step indices exactly (phase ends at
    ``pct_start * total_steps - 1`` and ``total_steps - 1``); ``"fastai"``
    reproduces ``fit_one_cycle`` (phase ends at ``pct_start * total_steps`` and
    ``total_steps``, final value ``max_value / final_div_factor``, fastai's
    ``div_final``; fastai's defaults are ``pct_start=0.25, final_div_factor=1e5``).
    After the last phase the value stays at its final value (torch raises).

    Accepts what torch accepts: any ``total_steps >= 1`` and ``pct_start`` in
    ``[0, 1]``, with or without ``three_phase`` (``three_phase=True,
    pct_start=0.5`` comes back down exactly at the last step but one), with
    torch's values at every step. ``total_steps=1`` is one step at the final
    value, as in torch (its only phase ends before step 0). Where torch divides
    by zero (a phase of zero length, e.g. ``pct_start * total_steps == 1``),
    the value is that phase's end value.

    Examples:
      >>> s = optaxlr.schedules.one_cycle(0.1, total_steps=100)
      >>> s(0), s(29), s(99)
      (Array(0.004, dtype=float32), Array(0.1, dtype=float32), Array(4.0000003e-07, dtype=float32))
    """
    total = _check_one_cycle(total_steps, pct_start, anneal, three_phase, convention)
    number("max_value", max_value, low=0.0)
    number("div_factor", div_factor, low=0.0, low_open=True)
    number("final_div_factor", final_div_factor, low=0.0, low_open=True)

    def phase_values(initial, final):
        return [initial, max_value, initial, final] if three_phase else [
            initial, max_value, final]

    def schedule(t):
        initial = as_float(max_value) / as_float(div_factor)
        # torch divides the start value by final_div_factor, fastai the peak.
        final = (initial if convention == "torch" else as_float(max_value)) / as_float(
            final_div_factor)
        return _phases(t, total, pct_start, anneal, three_phase, convention,
                       phase_values(initial, final))

    if not concrete(max_value, div_factor, final_div_factor, pct_start):
        return Built(schedule)
    initial = f64(max_value) / f64(div_factor)
    final = (initial if convention == "torch" else f64(max_value)) / f64(final_div_factor)
    if initial > FLOAT32_MAX:
        raise ValueError(f"div_factor: max_value / div_factor = {initial:g} overflows float32")
    if final > FLOAT32_MAX:
        raise ValueError(f"final_div_factor: the final value {final:g} overflows float32")
    return Built(schedule, _phases_extent(total, pct_start, anneal, three_phase, convention,
                                          phase_values(initial, final)))


@schedule_factory
def one_cycle_momentum(
    total_steps: int,
    base_value: Any = 0.85,
    max_value: Any = 0.95,
    pct_start: Any = 0.3,
    anneal: str = "cos",
    three_phase: bool = False,
    convention: str = "torch",
):
    """The momentum (or Adam ``b1``) that torch ``OneCycleLR(cycle_momentum=True)`` writes.

    Moves opposite to `one_cycle`'s learning rate over the same phases: from
    ``max_value`` down to ``base_value`` while the learning rate rises, then back
    up to ``max_value`` (three-phase: down, up, then held at ``max_value``).

    Examples:
      >>> m = optaxlr.schedules.one_cycle_momentum(total_steps=100)
      >>> m(0), m(29), m(99)
      (Array(0.95, dtype=float32), Array(0.85, dtype=float32), Array(0.95, dtype=float32))
    """
    total = _check_one_cycle(total_steps, pct_start, anneal, three_phase, convention)
    number("base_value", base_value, low=0.0, high=1.0)
    number("max_value", max_value, low=0.0, high=1.0)
    values = [max_value, base_value, max_value, max_value] if three_phase else [
        max_value, base_value, max_value]
    return Built(lambda t: _phases(t, total, pct_start, anneal, three_phase, convention, values),
                 _phases_extent(total, pct_start, anneal, three_phase, convention, values))
