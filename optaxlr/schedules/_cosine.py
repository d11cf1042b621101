"""Cosine decays: cosine annealing, linear-cosine, and SGDR warm restarts."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from optaxlr._validation import check_choice, check_int, check_number, concrete_float
from optaxlr.schedules._base import schedule_factory
from optaxlr.schedules._numerics import as_float, exp_scaled, half_cosine, log_split

__all__ = ["cosine", "linear_cosine", "cosine_restarts"]


@schedule_factory
def cosine(
    init_value: Any,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
    periodic: bool = False,
):
    """Cosine annealing from ``init_value`` to ``end_value`` over ``decay_steps``.

    ``value = end + (init - end) * ((1 + cos(pi * t / decay_steps)) / 2) ** exponent``
    with ``t = min(step, decay_steps)``: optax ``cosine_decay_schedule`` (whose
    ``alpha`` is ``end_value / init_value``) and Keras ``CosineDecay``.
    ``periodic=True`` leaves ``t`` unclamped, so the value rises again after
    ``decay_steps`` with period ``2 * decay_steps``, as torch
    ``CosineAnnealingLR(T_max=decay_steps, eta_min=end_value)`` does.

    Examples:
      >>> optaxlr.schedules.cosine(1.0, decay_steps=100)(50)
      Array(0.5, dtype=float32)
    """
    check_number("init_value", init_value)
    check_number("end_value", end_value)
    steps = check_int("decay_steps", decay_steps, low=1)
    check_number("exponent", exponent, low=0.0, low_open=True)

    def schedule(t):
        t = t % (2 * steps) if periodic else jnp.minimum(t, steps)
        if concrete_float(exponent) == 1.0:  # init * c + end * (1 - c), both weights exact
            return as_float(init_value) * half_cosine(t, steps) + as_float(
                end_value) * half_cosine(steps - t, steps)
        shape = jnp.power(half_cosine(t, steps), as_float(exponent))
        return as_float(end_value) + (as_float(init_value) - as_float(end_value)) * shape

    return schedule


@schedule_factory
def linear_cosine(
    init_value: Any,
    decay_steps: int,
    num_periods: Any = 0.5,
    alpha: Any = 0.0,
    beta: Any = 0.001,
):
    """TF ``linear_cosine_decay`` (Bello et al., 2017), clamped after ``decay_steps``.

    ``value = init * ((alpha + (1 - t / T)) * (1 + cos(2 pi num_periods t / T)) / 2 + beta)``.

    Examples:
      >>> optaxlr.schedules.linear_cosine(1.0, decay_steps=100)(100)
      Array(0.001, dtype=float32)
    """
    check_number("init_value", init_value)
    steps = check_int("decay_steps", decay_steps, low=1)
    check_number("num_periods", num_periods, low=0.0)
    check_number("alpha", alpha, low=0.0)
    check_number("beta", beta, low=0.0)

    def schedule(t):
        t = jnp.minimum(t, steps)
        linear_left = as_float(steps - t) / as_float(steps)
        wave = half_cosine(2.0 * as_float(num_periods) * as_float(t), steps)
        return as_float(init_value) * ((as_float(alpha) + linear_left) * wave + as_float(beta))

    return schedule


def _cycle_position(t, first, mult):
    """Cycle index, position in the cycle and cycle length for geometric cycle lengths."""
    m = concrete_float(mult)
    if m == 1.0:
        index = t // first
        return index, as_float(t - index * first), as_float(first)
    tf = as_float(t)
    mult = as_float(mult)
    integral = m is not None and float(m).is_integer()

    def start(i):  # first step of cycle i: first * (mult**i - 1) / (mult - 1)
        grow = jnp.power(mult, as_float(i))
        grow = jnp.round(grow) if integral else grow
        return first * (grow - 1.0) / (mult - 1.0)

    guess = jnp.floor(jnp.log1p(tf * (mult - 1.0) / first) / jnp.log(mult))
    # log/log rounds either way at a restart; one correction each way makes it exact.
    guess = jnp.where(tf < start(guess), guess - 1.0, guess)
    guess = jnp.where(tf >= start(guess + 1.0), guess + 1.0, guess)
    length = first * jnp.power(mult, guess)
    length = jnp.round(length) if integral else length
    return guess.astype(jnp.int32), tf - start(guess), length


@schedule_factory
def cosine_restarts(
    init_value: Any,
    first_cycle_steps: int,
    cycle_mult: Any = 1.0,
    cycle_decay: Any = 1.0,
    end_value: Any = 0.0,
    cycle_limit: int | None = None,
    convention: str = "keras",
):
    """SGDR: cosine annealing with warm restarts (Loshchilov & Hutter, 2017).

    Cycle ``i`` lasts ``first_cycle_steps * cycle_mult ** i`` steps; within it,
    ``c = (1 + cos(pi * position / length)) / 2`` and

    - ``convention="keras"`` (Keras ``CosineDecayRestarts``: ``t_mul``, ``m_mul``,
      ``alpha = end_value / init_value``): ``end + (init - end) * cycle_decay**i * c``,
      the amplitude above a fixed floor decays;
    - ``convention="timm"`` (timm ``CosineLRScheduler``: ``cycle_mul``,
      ``cycle_decay``, ``lr_min``): ``end + (init * cycle_decay**i - end) * c``,
      the peak decays.

    With ``cycle_decay=1`` both equal torch ``CosineAnnealingWarmRestarts(T_0,
    T_mult, eta_min)``. The cycle index has a closed form, so any step costs the
    same. Cycles repeat forever unless ``cycle_limit`` is given, after which the
    value stays at ``end_value``.

    Examples:
      >>> s = optaxlr.schedules.cosine_restarts(1.0, first_cycle_steps=10, cycle_mult=2.0)
      >>> s(10), s(30)  # restarts at 10 and 10 + 20
      (Array(1., dtype=float32), Array(1., dtype=float32))
    """
    check_number("init_value", init_value)
    first = check_int("first_cycle_steps", first_cycle_steps, low=1)
    check_number("cycle_mult", cycle_mult, low=1.0)
    check_number("cycle_decay", cycle_decay, low=0.0, low_open=True)
    check_number("end_value", end_value)
    limit = None if cycle_limit is None else check_int("cycle_limit", cycle_limit, low=1)
    check_choice("convention", convention, ("keras", "timm"))
    log_decay = log_split(cycle_decay)

    def schedule(t):
        index, position, length = _cycle_position(t, first, cycle_mult)
        c = half_cosine(position, length)
        decay = exp_scaled(as_float(index), log_decay)
        init, end = as_float(init_value), as_float(end_value)
        if convention == "keras":
            value = end + (init - end) * decay * c
        else:
            value = end + (init * decay - end) * c
        if limit is not None:
            value = jnp.where(index < limit, value, end)
        return value

    return schedule

