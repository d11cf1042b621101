"""Cyclical schedules: CLR triangles and the one-cycle policy (Smith, 2017-2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from optaxlr._validation import check_choice, check_int, check_number
from optaxlr.schedules._base import schedule_factory
from optaxlr.schedules._numerics import as_float, exp_scaled, half_cosine, log_split

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
    check_number("base_value", base_value, low=0.0)
    check_number("max_value", max_value, low=0.0)
    up = check_int("step_size_up", step_size_up, low=1)
    down = up if step_size_down is None else check_int("step_size_down", step_size_down, low=1)
    check_choice("mode", mode, _CYCLIC_MODES)
    check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
    period = up + down
    log_halving = log_split(0.5)
    log_gamma = log_split(gamma)

    def schedule(t):
        index = t // period
        r = t - index * period
        height = jnp.where(r <= up, as_float(r) / up, as_float(period - r) / down)
        if mode == "triangular2":
            height = height * exp_scaled(as_float(index), log_halving)
        elif mode == "exp_range":
            height = height * exp_scaled(as_float(t), log_gamma)
        return as_float(base_value) + (as_float(max_value) - as_float(base_value)) * height

    return schedule


_ANNEALS = ("cos", "linear")
_CONVENTIONS = ("torch", "fastai")


def _check_one_cycle(total_steps, pct_start, anneal, three_phase, convention) -> int:
    total = check_int("total_steps", total_steps, low=2)
    high = 0.5 if three_phase else 1.0
    check_number("pct_start", pct_start, low=0.0, high=high, low_open=True, high_open=True)
    check_choice("anneal", anneal, _ANNEALS)
    check_choice("convention", convention, _CONVENTIONS)
    return total


def _phases(t, total, pct_start, anneal, three_phase, convention, values: Sequence[Any]):
    """Piecewise annealing through ``values`` with one-cycle phase ends.

    torch ``OneCycleLR`` ends its phases at steps ``pct * total - 1``,
    ``2 * pct * total - 2`` (three-phase) and ``total - 1``; fastai's
    ``combined_cos`` at fractions ``pct`` (and ``2 * pct``) and 1 of ``total``.
    """
    lag = 1.0 if convention == "torch" else 0.0
    rise = as_float(pct_start) * total
    ends = [rise - lag, 2.0 * rise - 2.0 * lag, total - lag] if three_phase else [
        rise - lag, total - lag]
    tf = as_float(t)
    value = as_float(values[-1])
    # Walk the phases back to front so the first phase containing t wins, as in torch.
    starts = [0.0, *ends[:-1]]
    for k in reversed(range(len(ends))):
        begin, end = starts[k], as_float(ends[k])
        length = end - begin
        done = jnp.clip(tf - begin, 0.0, jnp.maximum(length, 0.0))
        a, b = as_float(values[k]), as_float(values[k + 1])
        # a * w + b * (1 - w) with both weights computed directly: no cancellation
        # when the phase rises from a small start value.
        if anneal == "cos":
            w_a, w_b = half_cosine(done, length), half_cosine(length - done, length)
        else:
            w_a, w_b = (length - done) / length, done / length
        phase_value = a * w_a + b * w_b
        # A phase of zero length (pct_start * total == 1 in torch) is at its end value.
        phase_value = jnp.where(length > 0, phase_value, b)
        inside = tf <= end if k < len(ends) - 1 else jnp.ones_like(tf, bool)
        value = jnp.where(inside, phase_value, value)
    return value


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

    Examples:
      >>> s = optaxlr.schedules.one_cycle(0.1, total_steps=100)
      >>> s(0), s(29), s(99)
      (Array(0.004, dtype=float32), Array(0.1, dtype=float32), Array(4.e-07, dtype=float32))
    """
    total = _check_one_cycle(total_steps, pct_start, anneal, three_phase, convention)
    check_number("max_value", max_value, low=0.0)
    check_number("div_factor", div_factor, low=0.0, low_open=True)
    check_number("final_div_factor", final_div_factor, low=0.0, low_open=True)

    def schedule(t):
        initial = as_float(max_value) / as_float(div_factor)
        # torch divides the start value by final_div_factor, fastai the peak.
        final = (initial if convention == "torch" else as_float(max_value)) / as_float(
            final_div_factor)
        values = [initial, max_value, initial, final] if three_phase else [
            initial, max_value, final]
        return _phases(t, total, pct_start, anneal, three_phase, convention, values)

    return schedule


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
    check_number("base_value", base_value, low=0.0, high=1.0)
    check_number("max_value", max_value, low=0.0, high=1.0)
    values = [max_value, base_value, max_value, max_value] if three_phase else [
        max_value, base_value, max_value]
    return lambda t: _phases(t, total, pct_start, anneal, three_phase, convention, values)
