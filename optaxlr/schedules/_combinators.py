"""Schedules built from schedules: sequences, products, and per-epoch functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp

from optaxlr._validation import check_int, check_number, check_sorted_ints
from optaxlr.schedules._base import schedule_factory
from optaxlr.schedules._numerics import as_float
from optaxlr.schedules._piecewise import constant

__all__ = ["join", "product", "per_epoch", "as_schedule"]


def as_schedule(name: str, value: Any) -> Callable:
    """A schedule argument: a callable as it is, a number as a `constant`."""
    if callable(value):
        return value
    check_number(name, value, allow_callable=True)
    return constant(value)


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

    return schedule


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

    return schedule


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
        epochs = check_int("num_epochs", num_epochs, low=1)
        if not callable(fn):
            raise TypeError("fn must be a function when num_epochs is given")
        table, lr = [], init_value
        for epoch in range(epochs):
            lr = fn(epoch) if init_value is None else fn(epoch, lr)
            table.append(float(check_number(f"fn({epoch})", lr)))
        return per_epoch(table, spe)
    if init_value is not None:
        raise ValueError("init_value is only used with num_epochs (to tabulate fn(epoch, lr))")
    if isinstance(fn, Sequence) and not isinstance(fn, str):
        if not fn:
            raise ValueError("fn must not be an empty sequence")
        for i, v in enumerate(fn):
            check_number(f"fn[{i}]", v)

        def from_table(t):
            table = jnp.stack([as_float(v) for v in fn])
            return table[jnp.minimum(t // spe, len(fn) - 1)]

        return from_table
    if not callable(fn):
        raise TypeError(f"fn must be a sequence of values or a function of the epoch, got {fn!r}")
    return lambda t: fn(t // spe)

