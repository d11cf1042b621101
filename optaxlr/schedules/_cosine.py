"""Cosine decays: cosine annealing, linear-cosine, and SGDR warm restarts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from optaxlr._validation import (
    FLOAT32_MAX,
    INT32_MAX,
    check_bool,
    check_choice,
    check_int,
    concrete_float,
)
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._numerics import (
    as_float,
    check_span,
    concrete,
    exp_scaled,
    extremes,
    f64,
    half_cosine,
    log_scaled,
    namespace,
)

__all__ = ["cosine", "linear_cosine", "cosine_restarts", "restarts", "progress"]

#: At most this many cycles (cosine_restarts) or zeros (linear_cosine) are listed for bounds.
_DENSE = 1 << 16
_HALF_PI = 0.5 * math.pi


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
      Array(0.49999997, dtype=float32)
    """
    number("init_value", init_value)
    number("end_value", end_value)
    steps = check_int("decay_steps", decay_steps, low=1)
    number("exponent", exponent, low=0.0, low_open=True)
    check_bool("periodic", periodic)
    linear_mix = concrete_float(exponent) == 1.0
    if not linear_mix:
        check_span("init_value", init_value, "end_value", end_value)
    period = 2 * steps

    def schedule(t):
        xp = namespace(t)
        if periodic:
            # A period longer than the int32 range never wraps (and cannot be an int32).
            t = t % period if period <= INT32_MAX else t
        else:
            t = xp.minimum(t, steps)
        init, end = as_float(init_value, xp), as_float(end_value, xp)
        if linear_mix:  # init * c + end * (1 - c), both weights exact
            return init * half_cosine(t, steps, xp) + end * half_cosine(steps - t, steps, xp)
        shape = xp.power(half_cosine(t, steps, xp), as_float(exponent, xp))
        return end + (init - end) * shape

    def extent(first, last):
        k = -(-first // steps) * steps  # the first multiple of decay_steps in the range
        return extremes(schedule, [steps, k, k + steps], first, last)

    return Built(schedule, extent if concrete(init_value, end_value, exponent) else None)


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
    number("init_value", init_value)
    steps = check_int("decay_steps", decay_steps, low=1)
    number("num_periods", num_periods, low=0.0)
    number("alpha", alpha, low=0.0)
    number("beta", beta, low=0.0)

    def schedule(t):
        xp = namespace(t)
        shape = _linear_cosine_shape(xp.minimum(t, steps), steps, num_periods, alpha, beta)
        return as_float(init_value, xp) * shape

    def extent(first, last):
        init, n, a, b = f64(init_value), f64(num_periods), f64(alpha), f64(beta)
        g_lo, g_hi = _linear_cosine_shape_range(steps, n, a, b, min(first, steps),
                                                min(last, steps))
        pair = (init * g_lo, init * g_hi)
        return min(pair), max(pair)

    if not concrete(init_value, num_periods, alpha, beta):
        return Built(schedule)
    scale = abs(f64(init_value)) * (1.0 + f64(alpha) + f64(beta))
    if scale > FLOAT32_MAX:
        raise ValueError(
            f"alpha: init_value * (1 + alpha + beta) = {scale:g} overflows float32"
        )
    return Built(schedule, extent)


def _linear_cosine_shape(t, T: int, n: Any, a: Any, b: Any) -> Any:
    """``(a + (T - t) / T) * (1 + cos(2 pi n t / T)) / 2 + b``, for ``0 <= t <= T``."""
    xp = namespace(t)
    linear_left = as_float(T - t, xp) / T
    wave = half_cosine(2.0 * as_float(n, xp) * as_float(t, xp), T, xp)
    return (as_float(a, xp) + linear_left) * wave + as_float(b, xp)


def _linear_cosine_shape_range(T: int, n: float, a: float, b: float, lo: int, hi: int):
    """Exact min and max of ``(a + 1 - t/T) * cos(pi n t / T)**2 + b`` over integers lo..hi.

    Up to 65536 steps, every step. Beyond, between two zeros of the cosine (a
    "hump") both factors are positive and log-concave, so their product is
    unimodal: its smallest value over the integers of a hump is at one of the
    hump's ends (the integers next to its zeros, or the range's ends), and its
    largest at one of the two integers around the hump's continuous maximum.
    With more than 65536 humps in the range, the maximum given is the curve's
    supremum, and the minimum its infimum ``b``.
    """

    def shape(t):
        return _linear_cosine_shape(np.asarray(t, np.float64), T, n, a, b)

    if hi - lo <= _DENSE:
        values = shape(np.arange(lo, hi + 1))
        return float(values.min()), float(values.max())
    if n == 0.0:  # no cosine: the linear factor alone, falling
        return float(shape(hi)), float(shape(lo))
    half = T / (2.0 * n)  # hump j is centred on its peak 2 * j * half, between two zeros
    j0, j1 = math.floor(lo / (2 * half) + 0.5), math.floor(hi / (2 * half) + 0.5)
    if j1 - j0 > _DENSE:
        return b, a + (T - lo) / T + b
    j = np.arange(j0, j1 + 1, dtype=np.float64)
    inside = 1e-9 * half  # just inside the hump: at its zeros the log-derivative is infinite
    left = np.maximum((2 * j - 1) * half + inside, lo)
    right = np.minimum((2 * j + 1) * half - inside, hi)
    zeros = np.concatenate([np.floor(left), np.ceil(left), np.floor(right), np.ceil(right)])
    tops = _hump_maxima(T, n, a, left, right)
    lowest = shape(np.clip(zeros, lo, hi)).min()
    highest = shape(np.clip(np.concatenate([np.floor(tops), np.ceil(tops)]), lo, hi)).max()
    return float(lowest), float(highest)


def _hump_maxima(T: int, n: float, a: float, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Where ``(a + 1 - t/T) * cos(pi n t / T)**2`` peaks in each hump [left, right]: bisection
    on its log-derivative, which falls from +inf to -inf across a hump."""

    def slope(t):
        linear = a + (T - t) / T
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -1.0 / (T * linear) - 2.0 * (np.pi * n / T) * np.tan(np.pi * n * t / T)
        return np.where(linear > 0.0, out, -np.inf)

    lo, hi = left.copy(), right.copy()
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        rising = slope(mid) > 0.0
        lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
    return np.where(slope(left) <= 0.0, left, np.where(slope(right) >= 0.0, right, lo))


# --- cosine_restarts ---------------------------------------------------------------------

#: At most this many cycles in the int32 range are tabulated for exact restart steps.
_TABLE = 1 << 15


def _cycle_table(first: int, mult: float, limit: int | None, max_cycles: int):
    """Start (float64) and length of every cycle that starts at or before the int32 maximum.

    Cycle ``i`` starts at ``first * (mult**i - 1) / (mult - 1)``: with an integer
    ``mult`` an exact integer (torch's ``T_mult``, computed here in Python
    integers), otherwise its float64 value, and the cycle's first step is the
    ceiling. With ``cycle_limit``, cycles past the limit are not needed (one
    more is kept: the value there is ``end_value``). None if there are more
    than ``max_cycles``.
    """
    cap = None if limit is None else limit + 1
    starts, lengths = [], []
    if float(mult).is_integer():
        m, s, length = int(mult), 0, first
        while s <= INT32_MAX and (cap is None or len(starts) < cap):
            if len(starts) >= max_cycles:
                return None
            starts.append(s)
            lengths.append(length)
            s, length = s + length, length * m
        return np.array(starts, np.float64), np.array(lengths, np.float64)
    # Number of cycles starting at or before INT32_MAX, from the closed form, then exact.
    count = math.floor(math.log1p(INT32_MAX * (mult - 1.0) / first) / math.log(mult)) + 2
    if cap is not None:
        count = min(count, cap)
    if count > max_cycles:
        return None
    i = np.arange(count, dtype=np.float64)
    grow = np.power(mult, i)
    starts = first * (grow - 1.0) / (mult - 1.0)
    keep = np.ceil(starts) <= INT32_MAX
    return starts[keep], (first * grow)[keep]


def _cycle_position(t, first, mult):
    """Cycle index, position in the cycle and cycle length, in float32 (traced ``mult``)."""
    tf = as_float(t)
    mult = as_float(mult)

    def start(i):  # first step of cycle i: first * (mult**i - 1) / (mult - 1)
        return first * (jnp.power(mult, as_float(i)) - 1.0) / (mult - 1.0)

    guess = jnp.floor(jnp.log1p(tf * (mult - 1.0) / first) / jnp.log(mult))
    # log/log rounds either way at a restart; one correction each way.
    guess = jnp.where(tf < start(guess), guess - 1.0, guess)
    guess = jnp.where(tf >= start(guess + 1.0), guess + 1.0, guess)
    length = first * jnp.power(mult, guess)
    return guess.astype(jnp.int32), tf - start(guess), length


def _table_position(t, starts: np.ndarray, lengths: np.ndarray):
    """Cycle index, position and length from the cycle table: exact restart steps."""
    first_steps = np.ceil(starts).astype(np.int64)
    base = np.floor(starts)
    index = jnp.searchsorted(jnp.asarray(first_steps[1:], jnp.int32), t, side="right",
                             method="compare_all" if len(starts) <= 64 else "scan")
    index = index.astype(jnp.int32)
    # t - floor(start) in integers (exact), then the fraction of a start that is not one.
    offset = jnp.asarray(base.astype(np.int32))[index]
    frac = as_float(starts - base)[index]
    position = as_float(t - offset) - frac
    return index, position, as_float(lengths)[index]


@schedule_factory
def cosine_restarts(
    init_value: Any,
    first_cycle_steps: int,
    cycle_mult: Any = 1.0,
    cycle_decay: Any = 1.0,
    end_value: Any = 0.0,
    cycle_limit: int | None = None,
    convention: str = "keras",
    k_decay: Any = 1.0,
):
    """SGDR: cosine annealing with warm restarts (Loshchilov & Hutter, 2017).

    Cycle ``i`` lasts ``first_cycle_steps * cycle_mult ** i`` steps; within it,
    ``c = (1 + cos(pi * (position / length) ** k_decay)) / 2`` and

    - ``convention="keras"`` (Keras ``CosineDecayRestarts``: ``t_mul``, ``m_mul``,
      ``alpha = end_value / init_value``): ``end + (init - end) * cycle_decay**i * c``,
      the amplitude above a fixed floor decays;
    - ``convention="timm"`` (timm ``CosineLRScheduler``: ``cycle_mul``,
      ``cycle_decay``, ``lr_min``, ``k_decay``): ``end + (init * cycle_decay**i - end) * c``,
      the peak decays.

    With ``cycle_decay=1`` both equal torch ``CosineAnnealingWarmRestarts(T_0,
    T_mult, eta_min)``, and with an integer ``cycle_mult`` the restarts are at
    exactly torch's steps, ``first_cycle_steps * (cycle_mult**i - 1) /
    (cycle_mult - 1)``, up to the int32 maximum: the restart steps are computed
    in integers when the schedule is built, and a step is looked up among them.
    A non-integer ``cycle_mult`` restarts at the first step at or after that
    start (computed in float64; in float32 when ``cycle_mult`` is traced or
    makes more than 32768 cycles). Cycles repeat forever unless ``cycle_limit``
    is given, after which the value stays at ``end_value``. ``k_decay`` is the
    k-decay of Zhang & Li (2020), as timm takes it: above 1 the value holds
    near the peak longer, below 1 it falls sooner.

    Examples:
      >>> s = optaxlr.schedules.cosine_restarts(1.0, first_cycle_steps=10, cycle_mult=2.0)
      >>> s(10), s(30)  # restarts at 10 and 10 + 20
      (Array(1., dtype=float32), Array(1., dtype=float32))
    """
    check_choice("convention", convention, ("keras", "timm"))
    number("k_decay", k_decay, low=0.0, low_open=True)
    plain = concrete_float(k_decay) == 1.0

    def within(position, length):
        xp = namespace(position)
        if plain:
            return half_cosine(position, length, xp), half_cosine(length - position, length, xp)
        f, g = progress(position, length, k_decay)
        # cos(pi f / 2)**2 and its complement sin(pi f / 2)**2, each from the smaller of f and
        # g = 1 - f, so neither cancels near its zeros.
        near, far = xp.cos(_HALF_PI * f), xp.sin(_HALF_PI * g)
        c = xp.where(f <= 0.5, near * near, far * far)
        near, far = xp.sin(_HALF_PI * f), xp.cos(_HALF_PI * g)
        return c, xp.where(f <= 0.5, near * near, far * far)

    return restarts(init_value, first_cycle_steps, cycle_mult, cycle_decay, end_value,
                    cycle_limit, convention == "timm", within, [k_decay])


def progress(position: Any, length: Any, k: Any) -> tuple[Any, Any]:
    """``f = (position / length) ** k`` and ``g = 1 - f``, both to a few ulp (``0 <= position
    <= length``): from ``log(position / length)`` where that is below a half, else from
    ``log1p(-(length - position) / length)``, so neither cancels."""
    xp = namespace(position)
    position = as_float(position, xp)
    r, q = position / length, (length - position) / length
    with np.errstate(divide="ignore"):
        log_r = xp.where(r < 0.5, xp.log(r), xp.log1p(-q))
    scaled = as_float(k, xp) * log_r
    return xp.exp(scaled), -xp.expm1(scaled)


def restarts(
    init_value: Any,
    first_cycle_steps: int,
    cycle_mult: Any,
    cycle_decay: Any,
    end_value: Any,
    cycle_limit: int | None,
    peak_decays: bool,
    within: Callable[[Any, Any], Any],
    shape_args: list[Any],
) -> Built:
    """Cycles with warm restarts, whatever the curve within a cycle.

    ``within(position, length)`` is the curve's weight ``c`` at ``position`` of a
    cycle of ``length`` steps and its complement ``1 - c``, each computed directly
    (over ``jax.numpy`` or, for the bounds, ``numpy``): ``c`` is non-increasing
    in the position, between 0 and 1. Cycle ``i`` is then ``end * (1 - c) + init
    * cycle_decay**i * c`` (``peak_decays``, timm: ``end + (init * cycle_decay**i
    - end) * c`` without its cancellation where the peak has decayed below
    ``end``) or ``end + (init - end) * cycle_decay**i * c`` (Keras). ``shape_args`` are
    the curve's own arguments: traced ones leave the bounds unknown.
    """
    number("init_value", init_value)
    first = check_int("first_cycle_steps", first_cycle_steps, low=1)
    number("cycle_mult", cycle_mult, low=1.0)
    number("cycle_decay", cycle_decay, low=0.0, low_open=True)
    number("end_value", end_value)
    limit = None if cycle_limit is None else check_int("cycle_limit", cycle_limit, low=1)
    check_span("init_value", init_value, "end_value", end_value)
    log_decay = log_scaled(cycle_decay)
    m = concrete_float(cycle_mult)
    table = None if m is None or m == 1.0 else _cycle_table(first, m, limit, _TABLE)

    def schedule(t):
        if m == 1.0:
            index = t // first
            position, length = as_float(t - index * first), as_float(first)
        elif table is not None:
            index, position, length = _table_position(t, *table)
        else:
            index, position, length = _cycle_position(t, first, cycle_mult)
            # In float32 a position can round just outside its cycle: the curves take it inside.
            position = jnp.clip(position, 0.0, length)
        return restart_value(index, within(position, length))

    def restart_value(index, weights):
        """The value at the weights ``(c, 1 - c)`` (``within``) of cycle ``index``."""
        c, rest = weights
        xp = namespace(c)
        decay = exp_scaled(index, log_decay, xp)
        init, end = as_float(init_value, xp), as_float(end_value, xp)
        if peak_decays:
            value = end * rest + init * decay * c
        else:
            value = end + (init - end) * decay * c
        return value if limit is None else xp.where(index < limit, value, end)

    if m is None or not concrete(init_value, cycle_decay, end_value, shape_args):
        return Built(schedule)
    init, d, end = f64(init_value), f64(cycle_decay), f64(end_value)
    if d > 1.0:  # a growing amplitude: its last cycle must stay within float32
        last = _cycle_count(first, m) - 1 if limit is None else min(
            _cycle_count(first, m), limit) - 1
        amplitude = abs(init) if peak_decays else abs(init - end)
        if amplitude > 0 and math.log(amplitude) + last * math.log(d) > math.log(
                FLOAT32_MAX - abs(end)):
            raise ValueError(
                f"cycle_decay: with cycle_decay = {d!r} > 1, the amplitude of cycle {last} "
                f"({amplitude:g} * {d!r} ** {last}) passes the float32 range; use a "
                f"cycle_decay <= 1 or a cycle_limit"
            )
    # The curve's extreme weights: at a cycle's start, and at its end (never reached).
    with np.errstate(all="ignore"):
        weights = [tuple(np.float64(w) for w in within(np.float64(p), np.float64(1.0)))
                   for p in (0.0, 1.0)]
    return Built(schedule, _restarts_extent(restart_value, within, weights, first, m, end,
                                            limit))


def _cycle_count(first: int, m: float) -> int:
    """How many cycles start at or before the int32 maximum (closed form; exact for m = 1)."""
    if m == 1.0:
        return INT32_MAX // first + 1
    return math.floor(math.log1p(INT32_MAX * (m - 1.0) / first) / math.log(m)) + 1


def _restarts_extent(value_at, within, weights, first, m, end, limit):
    """Exact bounds of `restarts`; ``value_at(index, c)`` is its value in cycle
    ``index`` at weight ``c = within(position, length)``, here in float64, and
    ``weights`` the curve's weights at a cycle's start and end.

    The steps are placed in their cycles again, in int64 and float64 (the schedule
    does it in int32 and its float dtype).
    """
    if m == 1.0:
        def value64(t):
            return value_at(t // first, within(t % first, np.float64(first)))

        def candidates(first_step, last_step):
            # Within a cycle the value is monotone; across cycles, the values at the same
            # position are monotone in the index: the extremes are at the range's ends, or at
            # the first or last step of its first two or last two cycles (or where the limit
            # is reached).
            i0, i1 = first_step // first, last_step // first
            if limit is not None:
                i1 = min(i1, limit)
            out = []
            for i in {i0, i0 + 1, i1 - 1, i1}:
                out += [i * first, i * first + first - 1]
            return out

        return lambda a, b: extremes(value64, candidates(a, b), a, b)

    table = _cycle_table(first, m, limit, _DENSE)
    if table is None:  # too many cycles to list: the range between the curve's sup and inf
        count = _cycle_count(first, m)
        if limit is not None:
            count = min(count, limit)
        ends = [value_at(i, w) for i in (0, count - 1) for w in weights]
        if limit is not None and limit < count:
            ends.append(end)
        return lambda a, b: (float(min(ends)), float(max(ends)))
    starts, lengths = table
    first_steps = np.ceil(starts).astype(np.int64)

    def value64(t):
        index = np.searchsorted(first_steps, t, side="right") - 1
        return value_at(index, within(t - starts[index], lengths[index]))

    # Monotone within each cycle: its first and last steps are the candidates.
    cands = np.concatenate([first_steps, first_steps[1:] - 1])
    return lambda a, b: extremes(value64, cands[(cands >= a) & (cands <= b)], a, b)
