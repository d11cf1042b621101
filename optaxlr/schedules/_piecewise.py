"""Schedules that hold a value between steps: constant, piecewise, step and multistep decay."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from optaxlr._validation import FLOAT32_MAX, INT32_MAX, check_choice, check_int, check_sorted_ints
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._numerics import (
    as_float,
    concrete,
    exp_scaled,
    extremes,
    f64,
    log_scaled,
    namespace,
)

__all__ = ["constant", "piecewise_constant", "step_decay", "multistep"]


@schedule_factory
def constant(value: Any):
    """A schedule that always returns ``value``.

    Examples:
      >>> optaxlr.schedules.constant(0.1)(5)
      Array(0.1, dtype=float32)
    """
    number("value", value)
    extent = (lambda first, last: (f64(value), f64(value))) if concrete(value) else None
    return Built(lambda t: as_float(value), extent)


def _count_reached(t: Any, boundaries: Sequence[int], inclusive: bool) -> Any:
    """How many ``boundaries`` the step has reached (``t >= b``, or ``t > b``)."""
    xp = namespace(t)
    count = xp.zeros(t.shape, xp.int32)
    for b in boundaries:
        count = count + (t >= b if inclusive else t > b).astype(xp.int32)
    return count


@schedule_factory
def piecewise_constant(boundaries: Sequence[int], values: Sequence[Any], convention: str = "optax"):
    """``values[i]`` between ``boundaries[i-1]`` and ``boundaries[i]``.

    With ``convention="optax"`` (also ``"torch"``) the value switches at the step
    equal to a boundary, as optax's ``piecewise_constant_schedule`` and torch's
    ``ConstantLR``/``MultiStepLR`` do: ``values[i]`` for
    ``boundaries[i-1] <= step < boundaries[i]``. With ``convention="keras"`` it
    switches one step later, as Keras ``PiecewiseConstantDecay``:
    ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``.

    Args:
      boundaries: increasing non-negative step numbers.
      values: ``len(boundaries) + 1`` values.
      convention: ``"optax"``, ``"torch"`` (the same) or ``"keras"``.

    Examples:
      >>> s = optaxlr.schedules.piecewise_constant([10, 20], [0.1, 0.01, 0.001])
      >>> s(10)
      Array(0.01, dtype=float32)
    """
    bounds = check_sorted_ints("boundaries", boundaries, strict=True)
    check_choice("convention", convention, ("optax", "torch", "keras"))
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a sequence of numbers, got {values!r}")
    if len(values) != len(bounds) + 1:
        raise ValueError(
            f"values must have len(boundaries) + 1 = {len(bounds) + 1} entries, got {len(values)}"
        )
    for i, v in enumerate(values):
        number(f"values[{i}]", v)
    inclusive = convention != "keras"

    def schedule(t):
        xp = namespace(t)
        table = xp.stack([as_float(v, xp) for v in values])
        return table[_count_reached(t, bounds, inclusive)]

    def extent(first, last):
        return extremes(schedule, [b + d for b in bounds for d in (-1, 0, 1)], first, last)

    return Built(schedule, extent if concrete(list(values)) else None)


def _geometric(init_value: Any, gamma: Any, count: Callable[[Any], Any]) -> Built:
    """``init * gamma ** count(t)``, ``count`` non-decreasing: bounds at the range's ends."""
    rate = log_scaled(gamma)

    def schedule(t):
        xp = namespace(t)
        return as_float(init_value, xp) * exp_scaled(count(t), rate, xp)

    if not concrete(init_value, gamma):
        return Built(schedule)
    return Built(schedule, lambda first, last: extremes(schedule, [], first, last))


@schedule_factory
def step_decay(init_value: Any, step_size: int, gamma: Any = 0.1):
    """``init_value * gamma ** (step // step_size)``, torch ``StepLR``.

    Examples:
      >>> s = optaxlr.schedules.step_decay(0.1, step_size=30, gamma=0.1)
      >>> s(30)  # the 31st update uses the decayed value
      Array(0.01, dtype=float32)
    """
    number("init_value", init_value, low=0.0)
    size = check_int("step_size", step_size, low=1)
    number("gamma", gamma, low=0.0, low_open=True)
    _check_growth(init_value, gamma, INT32_MAX // size, "gamma ** (step // step_size)", size)
    return _geometric(init_value, gamma, lambda t: t // size)


@schedule_factory
def multistep(init_value: Any, milestones: Sequence[int], gamma: Any = 0.1):
    """``init_value * gamma ** (number of milestones <= step)``, torch ``MultiStepLR``.

    A milestone listed twice decays twice, as in torch.

    Examples:
      >>> s = optaxlr.schedules.multistep(0.1, milestones=[30, 80])
      >>> s(80)
      Array(0.001, dtype=float32)
    """
    number("init_value", init_value, low=0.0)
    marks = check_sorted_ints("milestones", milestones)
    number("gamma", gamma, low=0.0, low_open=True)
    _check_growth(init_value, gamma, len(marks), "gamma ** len(milestones)", None)
    return _geometric(init_value, gamma, lambda t: _count_reached(t, marks, True))


def _check_growth(init_value, gamma, count: int, formula: str, size: int | None) -> None:
    """Refuses a ``gamma > 1`` that makes ``init * gamma ** count`` overflow float32."""
    if not concrete(init_value, gamma):
        return
    init, g = f64(init_value), f64(gamma)
    if g <= 1.0 or init == 0.0:
        return
    room = (math.log(FLOAT32_MAX) - math.log(abs(init))) / math.log(g)
    if count > room:
        where = f" by step {(math.floor(room) + 1) * size}" if size else ""
        raise ValueError(
            f"gamma: with gamma = {g!r} > 1, init_value * {formula} passes the float32 maximum"
            f"{where}; use a gamma <= 1 (a decay) or fewer decays"
        )
