"""Polynomial and hyperbolic-tangent decays with warm restarts (timm's ``PolyLRScheduler`` and
``TanhLRScheduler``), on `cosine_restarts`'s cycles."""

from __future__ import annotations

from typing import Any

import numpy as np

from optaxlr._validation import concrete_float
from optaxlr.schedules._base import number, schedule_factory
from optaxlr.schedules._cosine import progress, restarts
from optaxlr.schedules._numerics import as_float, namespace

__all__ = ["polynomial_restarts", "tanh_restarts"]


@schedule_factory
def polynomial_restarts(
    init_value: Any,
    first_cycle_steps: int,
    power: Any = 0.5,
    cycle_mult: Any = 1.0,
    cycle_decay: Any = 1.0,
    end_value: Any = 0.0,
    cycle_limit: int | None = None,
    k_decay: Any = 1.0,
):
    """Polynomial decay with warm restarts: timm ``PolyLRScheduler``.

    The cycles are `cosine_restarts`'s (cycle ``i`` lasts ``first_cycle_steps *
    cycle_mult ** i`` steps); within one, at ``position`` of ``length`` steps,

    .. math::

        v = e + (v_0 \\gamma^i - e) \\left(1 - (\\text{position} / \\text{length})^k\\right)^p

    with ``v_0 = init_value``, ``e = end_value``, ``gamma = cycle_decay``,
    ``k = k_decay`` and ``p = power``. After ``cycle_limit`` cycles (forever if
    None) the value stays at ``end_value``. timm's ``PolyLRScheduler(t_initial,
    power, lr_min, cycle_mul, cycle_decay, cycle_limit, k_decay)`` is
    ``polynomial_restarts(lr, t_initial, power, cycle_mul, cycle_decay, lr_min,
    cycle_limit, k_decay)``; timm's default ``cycle_limit`` is 1 and its warmup
    is `warmup` (see docs/schedules.md).

    Args:
      init_value: the value at the start of the first cycle.
      first_cycle_steps: the first cycle's length.
      power: the polynomial's exponent (timm's default 0.5), > 0.
      cycle_mult: each cycle is this many times longer than the last, >= 1.
      cycle_decay: each cycle's peak is this many times the last's, > 0.
      end_value: the value each cycle decays towards, and holds after the last.
      cycle_limit: the number of cycles, or None for no limit.
      k_decay: the exponent on the cycle's progress, > 0.

    Examples:
      >>> s = optaxlr.schedules.polynomial_restarts(1.0, 100, power=2.0, cycle_limit=1)
      >>> s(50), s(100)
      (Array(0.25, dtype=float32), Array(0., dtype=float32))
    """
    number("power", power, low=0.0, low_open=True)
    number("k_decay", k_decay, low=0.0, low_open=True)
    plain = concrete_float(k_decay) == 1.0

    def within(position, length):
        xp = namespace(position)
        if plain:
            f = as_float(position, xp) / length
            g = (length - as_float(position, xp)) / length
        else:
            f, g = progress(position, length, k_decay)
        # c = g ** power, and 1 - c without cancelling where c is near 1.
        with np.errstate(divide="ignore"):
            log_g = xp.where(f < 0.5, xp.log1p(-f), xp.log(g))
        scaled = as_float(power, xp) * log_g
        return xp.exp(scaled), -xp.expm1(scaled)

    return restarts(
        init_value,
        first_cycle_steps,
        cycle_mult,
        cycle_decay,
        end_value,
        cycle_limit,
        True,
        within,
        [power, k_decay],
    )


@schedule_factory
def tanh_restarts(
    init_value: Any,
    first_cycle_steps: int,
    lower: Any = -7.0,
    upper: Any = 3.0,
    cycle_mult: Any = 1.0,
    cycle_decay: Any = 1.0,
    end_value: Any = 0.0,
    cycle_limit: int | None = None,
):
    """Hyperbolic-tangent decay with warm restarts (Hsueh et al., 2019): timm ``TanhLRScheduler``.

    The cycles are `cosine_restarts`'s; within one, at ``r = position / length``,

    .. math::

        v = e + (v_0 \\gamma^i - e) \\, \\frac{1 - \\tanh(L (1 - r) + U r)}{2}

    with ``L = lower``, ``U = upper``. The weight never quite reaches 1 or 0:
    at a cycle's start it is ``(1 - tanh(L)) / 2`` (0.99999917 for timm's
    ``lb=-7``). It is computed as ``1 / (1 + exp(2 (L (1 - r) + U r)))``, the
    same number without the cancellation of ``1 - tanh`` near 1. timm's
    ``TanhLRScheduler(t_initial, lb, ub, lr_min, cycle_mul, cycle_decay,
    cycle_limit)`` is ``tanh_restarts(lr, t_initial, lb, ub, cycle_mul,
    cycle_decay, lr_min, cycle_limit)``; its warmup ramps to ``lr`` itself
    (``warmup(..., end_value=lr)``, see docs/schedules.md).

    Args:
      init_value: the peak of the first cycle, before the tanh's weight.
      first_cycle_steps: the first cycle's length.
      lower: the tanh's argument at a cycle's start.
      upper: the tanh's argument at a cycle's end; greater than ``lower``.
      cycle_mult: each cycle is this many times longer than the last, >= 1.
      cycle_decay: each cycle's peak is this many times the last's, > 0.
      end_value: the value each cycle decays towards, and holds after the last.
      cycle_limit: the number of cycles, or None for no limit.

    Examples:
      >>> s = optaxlr.schedules.tanh_restarts(1.0, 100, lower=-3.0, upper=3.0, cycle_limit=1)
      >>> s(50)
      Array(0.5, dtype=float32)
    """
    number("lower", lower)
    number("upper", upper)
    lo, hi = concrete_float(lower), concrete_float(upper)
    if lo is not None and hi is not None and not lo < hi:
        raise ValueError(f"upper must be greater than lower, got lower={lo!r}, upper={hi!r}")

    def within(position, length):
        xp = namespace(position)
        position = as_float(position, xp)
        x = (as_float(lower, xp) * (length - position) + as_float(upper, xp) * position) / length
        return 1.0 / (1.0 + xp.exp(2.0 * x)), 1.0 / (1.0 + xp.exp(-2.0 * x))

    return restarts(
        init_value,
        first_cycle_steps,
        cycle_mult,
        cycle_decay,
        end_value,
        cycle_limit,
        True,
        within,
        [lower, upper],
    )
