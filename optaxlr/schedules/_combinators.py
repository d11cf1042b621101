"""Schedules built from schedules: sequences, products, and per-epoch functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from optaxlr._validation import (
    INT32_MAX,
    check_callable,
    check_int,
    check_schedule,
    check_sorted_ints,
)
from optaxlr.schedules._base import Built, Schedule, number, schedule_factory
from optaxlr.schedules._numerics import as_float, concrete, extremes, namespace
from optaxlr.schedules._piecewise import constant

__all__ = ["join", "product", "per_epoch", "as_schedule", "inner_bounds", "interval_product",
           "merge"]


def as_schedule(name: str, value: Any) -> Callable:
    """A schedule argument: a callable taking the step as it is, a number as a `constant`."""
    if callable(value):
        return check_schedule(name, value)
    number(name, value, allow_callable=True)
    return constant(value)


def inner_bounds(schedule: Callable, first: int, last: int) -> tuple[float, float] | None:
    """A nested schedule's bounds over ``first..last``; None for a foreign callable."""
    if isinstance(schedule, Schedule):
        return schedule.bounds(first, last)
    return None


def merge(pieces: Sequence[Any]) -> tuple[float, float] | None:
    """The range of a union of ranges (None if any is unknown)."""
    if any(p is None for p in pieces):
        return None
    return min(p[0] for p in pieces), max(p[1] for p in pieces)


def interval_product(ranges: Sequence[Any]) -> tuple[float, float] | None:
    """The range of a product of factors with the given ranges, over the same steps.

    Exact when at most one factor varies (its extremes, scaled by the constant
    ones); otherwise the product of the intervals, which holds every value but
    may not be reached.
    """
    if any(r is None for r in ranges):
        return None
    lo, hi = 1.0, 1.0
    for a, b in ranges:
        corners = [lo * a, lo * b, hi * a, hi * b]
        corners = [0.0 if np.isnan(c) else c for c in corners]  # 0 * inf: a zero factor
        lo, hi = min(corners), max(corners)
    return lo, hi


def _schedule_list(name: str, schedules: Any, min_len: int) -> list[Callable]:
    if isinstance(schedules, str) or not isinstance(schedules, Sequence):
        raise TypeError(f"{name} must be a list of schedules or numbers, got {schedules!r}")
    if len(schedules) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} schedule(s), got {len(schedules)}")
    return [as_schedule(f"{name}[{i}]", s) for i, s in enumerate(schedules)]


@schedule_factory
def join(schedules: Sequence[Any], boundaries: Sequence[int]):
    """Runs ``schedules[i]`` from ``boundaries[i-1]``, each restarted at its own step 0.

    ``value = schedules[i](step - boundaries[i-1])``: optax ``join_schedules``
    and torch ``SequentialLR(schedulers, milestones=boundaries)``.

    Examples:
      >>> s = optaxlr.schedules.join(
      ...     [optaxlr.schedules.linear(0.0, 0.1, 100), optaxlr.schedules.cosine(0.1, 900)],
      ...     boundaries=[100])
      >>> s(100)
      Array(0.1, dtype=float32)
    """
    parts = _schedule_list("schedules", schedules, 1)
    bounds = check_sorted_ints("boundaries", boundaries)
    if len(bounds) != len(parts) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(parts) - 1} entries, got {len(bounds)}"
        )

    def schedule(t):
        value = parts[0](t)
        for b, part in zip(bounds, parts[1:], strict=True):
            value = jnp.where(t < b, value, part(t - b))
        return value

    def extent(first, last):
        begins, ends = [0, *bounds], [b - 1 for b in bounds] + [INT32_MAX]
        pieces = []
        for part, begin, end in zip(parts, begins, ends, strict=True):
            a, b = max(first, begin), min(last, end)
            if a <= b:  # part i runs from its own step 0 at boundaries[i - 1]
                pieces.append(inner_bounds(part, a - begin, b - begin))
        return merge(pieces)

    return Built(schedule, extent)


@schedule_factory
def product(schedules: Sequence[Any]):
    """The product of schedules and numbers, step by step.

    The t5x-style ``constant * linear_warmup * rsqrt_decay``, or torch's
    ``ChainedScheduler`` of multiplicative schedulers (pass each as a factor
    schedule starting at 1). ``a * b`` and ``0.5 * a`` on schedules build this too.

    Examples:
      >>> s = optaxlr.schedules.product([0.1, optaxlr.schedules.step_decay(1.0, 10, 0.5)])
      >>> s(10)
      Array(0.05, dtype=float32)
    """
    parts = _schedule_list("schedules", schedules, 1)

    def schedule(t):
        value = parts[0](t)
        for part in parts[1:]:
            value = value * part(t)
        return value

    def extent(first, last):
        return interval_product([inner_bounds(part, first, last) for part in parts])

    return Built(schedule, extent, check_range=True)


@schedule_factory
def per_epoch(
    fn: Any,
    steps_per_epoch: int,
    num_epochs: int | None = None,
    init_value: Any = None,
):
    """A step schedule from a per-epoch one, constant within each epoch.

    ``value = fn(step // steps_per_epoch)``. ``fn`` is one of:

    - a sequence of per-epoch values (the last one holds afterwards);
    - a function of the (traced int32) epoch written with ``jax.numpy``;
    - any Python function, tabulated here when ``num_epochs`` is given:
      ``fn(epoch)``, or, with ``init_value``, Keras ``LearningRateScheduler``'s
      ``fn(epoch, lr)`` which receives the previous epoch's value (``init_value``
      for epoch 0). A tabulated schedule serializes with `to_config`.

    Examples:
      >>> def keras_style(epoch, lr):
      ...     return lr if epoch < 10 else lr * 0.9
      >>> s = optaxlr.schedules.per_epoch(keras_style, steps_per_epoch=100,
      ...                                 num_epochs=20, init_value=0.01)
    """
    spe = check_int("steps_per_epoch", steps_per_epoch, low=1)
    if num_epochs is not None:
        # The table is built here, in Python: at most 2**20 epochs.
        epochs = check_int("num_epochs", num_epochs, low=1, high=1 << 20)
        if not callable(fn):
            raise TypeError("fn must be a function when num_epochs is given")
        check_callable("fn", fn, num_args=1 if init_value is None else 2)
        if init_value is not None:
            number("init_value", init_value)
        table, lr = [], init_value
        for epoch in range(epochs):
            try:
                lr = fn(epoch) if init_value is None else fn(epoch, lr)
            except Exception as e:
                raise ValueError(f"fn({epoch}) raised {type(e).__name__}: {e}") from e
            table.append(float(number(f"fn({epoch})", lr)))
        # Recorded as the table, which a config can hold (the function it can't).
        arguments = {"fn": table, "steps_per_epoch": spe, "num_epochs": None, "init_value": None}
        return _table(table, spe)._replace(arguments=arguments)
    if init_value is not None:
        raise ValueError("init_value is only used with num_epochs (to tabulate fn(epoch, lr))")
    if isinstance(fn, Sequence) and not isinstance(fn, str):
        if not fn:
            raise ValueError("fn must not be an empty sequence")
        for i, v in enumerate(fn):
            number(f"fn[{i}]", v)
        return _table(fn, spe)
    if not callable(fn):
        raise TypeError(
            f"fn must be a sequence of values or a function of the epoch, got {fn!r}")
    check_schedule("fn", fn)
    if isinstance(fn, Schedule):  # a schedule of the epoch: its bounds over the epochs
        return Built(lambda t: fn(t // spe),
                     lambda first, last: inner_bounds(fn, first // spe, last // spe))
    return Built(lambda t: fn(t // spe))


def _table(values: Sequence[Any], spe: int) -> Built:
    """``values[epoch]`` (the last one afterwards), ``spe`` steps an epoch."""

    def from_table(t):
        xp = namespace(t)
        table = xp.stack([as_float(v, xp) for v in values])
        return table[xp.minimum(t // spe, len(values) - 1)]

    def extent(first, last):
        epochs = np.arange(first // spe, min(last // spe, len(values) - 1) + 1)
        return extremes(from_table, epochs * spe, first, last)

    return Built(from_table, extent if concrete(list(values)) else None)

