"""Schedules that hold a value between steps: constant, piecewise, step and multistep decay."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import FLOAT32_MAX, INT32_MAX, check_choice, check_int, check_sorted_ints
from optaxlr.schedules._base import number, schedule_factory
from optaxlr.schedules._numerics import as_float, concrete, exp_scaled, extremes, f64, log_split

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
    return (lambda t: as_float(value)), extent


def _count_reached(t: jax.Array, boundaries: Sequence[int], inclusive: bool) -> jax.Array:
    """How many ``boundaries`` the step has reached (``t >= b``, or ``t > b``)."""
    count = jnp.zeros(t.shape, jnp.int32)
    for b in boundaries:
        count = count + (t >= b if inclusive else t > b).astype(jnp.int32)
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
        table = jnp.stack([as_float(v) for v in values])
        return table[_count_reached(t, bounds, inclusive)]

    def extent(first, last):
        table = np.array([f64(v) for v in values])

        def value64(t):
            return table[np.searchsorted(bounds, t, side="right" if inclusive else "left")]

        return extremes(value64, [b + d for b in bounds for d in (-1, 0, 1)], first, last)

    return schedule, (extent if concrete(list(values)) else None)


def _decay_factor(count: jax.Array, gamma: Any) -> jax.Array:
    return exp_scaled(as_float(count), log_split(gamma))


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
    return (lambda t: as_float(init_value) * _decay_factor(t // size, gamma)), _geometric_extent(
        init_value, gamma, lambda t: t // size)


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
    return (lambda t: as_float(init_value) * _decay_factor(_count_reached(t, marks, True), gamma)
            ), _geometric_extent(init_value, gamma,
                                 lambda t: np.searchsorted(marks, t, side="right"))


def _geometric_extent(init_value, gamma, count):
    """Bounds of ``init * gamma ** count(t)``, ``count`` non-decreasing: at the range's ends."""
    if not concrete(init_value, gamma):
        return None
    init, g = f64(init_value), f64(gamma)

    def value64(t):
        return init * np.power(g, np.asarray(count(t), np.float64))

    return lambda first, last: extremes(value64, [], first, last)


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
