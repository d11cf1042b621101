"""Warmup around any schedule, warmup-stable-decay, and the LR range-test sweep."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from optaxlr._validation import FLOAT32_MAX, check_bool, check_choice, check_int, concrete_float
from optaxlr.schedules._base import Built, number, schedule_factory
from optaxlr.schedules._combinators import as_schedule, inner_bounds, interval_product, merge
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

__all__ = ["warmup", "warmup_stable_decay", "decay_from", "lr_range"]

_WARMUP_MODES = ("linear", "cosine", "constant")


def _blend(start, end, t, steps: int, mode: str):
    """``start`` at step 0 to ``end`` at ``steps``, shaped by ``mode``.

    Written as ``start * (1 - r) + end * r`` with both weights computed directly,
    so a warmup from 0 or a tiny start value loses no precision.
    """
    xp = namespace(t)
    done = xp.minimum(t, steps)
    if mode == "constant":
        return start * xp.ones(t.shape, dtype=float)
    if mode == "linear":
        left, gone = as_float(steps - done, xp) / steps, as_float(done, xp) / steps
    else:
        left, gone = half_cosine(done, steps, xp), half_cosine(steps - done, steps, xp)
    return start * left + end * gone


@schedule_factory
def warmup(
    schedule: Any,
    warmup_steps: int,
    start_value: Any = 0.0,
    mode: str = "linear",
    prefix: bool = True,
    combine: str = "multiply",
    end_value: Any = None,
):
    """Warmup for ``warmup_steps`` steps before, or on top of, ``schedule``.

    - ``prefix=True``: the value rises from ``start_value`` to ``schedule(0)``
      over ``warmup_steps``; then ``schedule`` runs from its own step 0
      (``value = schedule(step - warmup_steps)``), as optax's ``warmup_*``
      schedules and timm's ``warmup_prefix=True`` do.
    - ``prefix=False``: ``schedule`` runs from step 0, and during the warmup

      - ``combine="multiply"``: it is multiplied by a factor that rises from
        ``start_value`` (a factor here, Detectron's ``warmup_factor``) to 1, as
        Detectron's ``WarmupMultiStepLR``;
      - ``combine="replace"``: it is replaced by a rise from ``start_value`` to
        ``schedule(0)``, as timm's schedulers with ``warmup_prefix=False`` (their
        default): the value jumps to ``schedule(warmup_steps)`` when warmup ends.

    ``mode`` is the shape of the rise: ``"linear"``, ``"cosine"`` (half a cosine),
    or ``"constant"`` (hold ``start_value`` for ``warmup_steps``, then jump; the
    constant warmup of He et al.'s ResNet-110).

    ``end_value`` sets where a rise (``prefix=True`` or ``combine="replace"``)
    is heading instead of ``schedule(0)``: timm's ``TanhLRScheduler`` ramps to
    its base rate (``warmup_prefix=True``) or to its value at ``warmup_steps``
    (``warmup_prefix=False``), neither of which is the tanh curve's value at 0.

    Examples:
      >>> s = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 900), warmup_steps=100)
      >>> s(50), s(100)
      (Array(0.05, dtype=float32), Array(0.1, dtype=float32))
    """
    inner = as_schedule("schedule", schedule)
    steps = check_int("warmup_steps", warmup_steps, low=0)
    number("start_value", start_value)
    check_choice("mode", mode, _WARMUP_MODES)
    check_bool("prefix", prefix)
    check_choice("combine", combine, ("multiply", "replace"))
    if prefix and combine != "multiply":
        raise ValueError("combine only applies with prefix=False; leave it at 'multiply'")
    if end_value is not None:
        number("end_value", end_value)
        if not prefix and combine == "multiply":
            raise ValueError("end_value applies to a rise (prefix=True or combine='replace'), "
                             "not to a warmup factor (which rises to 1); leave it None")

    def target():
        return inner(0) if end_value is None else as_float(end_value)

    def evaluate(t):
        if steps == 0:
            return inner(t)
        start = as_float(start_value)
        if prefix:
            rising = _blend(start, target(), t, steps, mode)
            return jnp.where(t < steps, rising, inner(t - steps))
        if combine == "replace":
            return jnp.where(t < steps, _blend(start, target(), t, steps, mode), inner(t))
        factor = jnp.where(t < steps, _blend(start, 1.0, t, steps, mode), 1.0)
        return inner(t) * factor

    def extent(first, last):
        if steps == 0:
            return inner_bounds(inner, first, last)
        start = f64(start_value)
        pieces = []
        if first < steps:  # the warmup: monotone in the step, so its first and last steps
            a, b = first, min(last, steps - 1)
            if prefix or combine == "replace":
                at0 = inner_bounds(inner, 0, 0) if end_value is None else (f64(end_value),)
                if at0 is None:
                    return None
                pieces.append(extremes(lambda t: _blend(start, at0[0], t, steps, mode), [],
                                       a, b))
            else:
                factor = extremes(lambda t: _blend(start, 1.0, t, steps, mode), [], a, b)
                pieces.append(interval_product([inner_bounds(inner, a, b), factor]))
        if last >= steps:
            shift = steps if prefix else 0
            pieces.append(inner_bounds(inner, max(first, steps) - shift, last - shift))
        return merge(pieces)

    # Multiplying by start_value can leave float32: refuse that when built.
    return Built(evaluate, extent if concrete(start_value, end_value) else None,
                 check_range=not prefix)


_SHAPES = ("linear", "cosine", "1-sqrt")


def _cooldown_weights(done, length: int, shape: str):
    """The weights on the starting and the final value after ``done`` of ``length`` steps of
    a cooldown (1 and 0 at its start, 0 and 1 at its end; ``done`` within ``[0, length]``),
    each computed directly, so both ends are exact and neither cancels."""
    xp = namespace(done)
    if shape == "linear":
        return as_float(length - done, xp) / length, as_float(done, xp) / length
    if shape == "cosine":
        return half_cosine(done, length, xp), half_cosine(length - done, length, xp)
    root = xp.sqrt(as_float(done, xp) / length)
    # 1 - sqrt(y) as (1 - y) / (1 + sqrt(y)): no cancellation near the end.
    return (as_float(length - done, xp) / length) / (1.0 + root), root


def _rise(start, end, t, steps: int, shape: str):
    """``start`` at step 0 to ``end`` at ``steps``: `_blend`, and HF's ``"1-sqrt"`` warmup
    ``1 - sqrt(1 - t / steps)``."""
    if shape != "1-sqrt":
        return _blend(start, end, t, steps, shape)
    xp = namespace(t)
    done = xp.minimum(t, steps)
    left = xp.sqrt(as_float(steps - done, xp) / steps)
    # 1 - left as (done / steps) / (1 + left): no cancellation near the start.
    return start * left + end * ((as_float(done, xp) / steps) / (1.0 + left))


def _steps_or_ratio(
    steps_name: str, steps: Any, ratio_name: str, ratio: Any, low: int, of: int,
    rounding: str,
) -> int:
    """A phase's length, given in steps or as a fraction ``ratio`` of ``of`` steps."""
    if (steps is None) == (ratio is None):
        raise TypeError(f"give one of {steps_name} and {ratio_name}, got "
                        f"{steps_name}={steps!r}, {ratio_name}={ratio!r}")
    if steps is not None:
        return check_int(steps_name, steps, low=low)
    number(ratio_name, ratio, low=0.0, high=1.0, low_open=low > 0)
    exact = float(ratio) * of
    count = math.ceil(exact) if rounding == "ceil" else round(exact)
    if count < low:
        raise ValueError(
            f"{ratio_name}: {ratio_name} * {of} = {exact:g} rounds to {count} steps; "
            f"at least {low} are needed"
        )
    return count


@schedule_factory
def warmup_stable_decay(
    peak_value: Any,
    total_steps: int,
    warmup_steps: int | None = None,
    decay_steps: int | None = None,
    end_value: Any = 0.0,
    decay_shape: str = "linear",
    start_value: Any = 0.0,
    warmup_shape: str = "linear",
    warmup_ratio: Any = None,
    decay_ratio: Any = None,
):
    """Warmup-stable-decay (WSD): a warmup, a long plateau, a short final decay.

    Steps ``[0, warmup_steps)`` rise from ``start_value`` to ``peak_value``; the
    value holds at ``peak_value`` until ``total_steps - decay_steps``, then
    decays to ``end_value`` at ``total_steps`` and holds there. Both phases take
    the shapes ``"linear"``, ``"cosine"`` (half a cosine) or ``"1-sqrt"``: the
    decay ``1 - sqrt(fraction)`` (Hägele et al., 2024), the rise ``1 - sqrt(1 -
    fraction)``, as HF's ``get_wsd_schedule`` takes them.

    Each phase's length is given in steps or as a fraction of the run, the way
    HF and timm configs give them (the config keeps the fraction):

    - ``warmup_ratio``: ``warmup_steps = ceil(warmup_ratio * total_steps)``, HF
      ``TrainingArguments``'s ``warmup_ratio`` (``warmup_steps`` below 1 in HF 5);
    - ``decay_ratio``: ``decay_steps = round(decay_ratio * (total_steps -
      warmup_steps))``, timm's ``decay_epochs`` below 1 for ``sched="wsd"``: a
      fraction of the stable and decay phases (Python's ``round``, as timm).

    To branch a cooldown off the stable phase at any step, see `decay_from`.

    HF ``get_wsd_schedule(opt, W, D, num_training_steps=N, warmup_type,
    decay_type, min_lr_ratio=m)`` with ``lr`` is ``warmup_stable_decay(lr, N, W,
    D, end_value=m * lr, decay_shape=decay_type, start_value=m * lr,
    warmup_shape=warmup_type)`` (its ``num_cycles`` other than 0.5 is not
    covered). timm ``WSDLRScheduler(t_initial, decay_t, lr_min, warmup_t,
    warmup_lr_init, decay_fn)`` is ``warmup_stable_decay(lr, warmup_t +
    t_initial, warmup_t, decay_t, lr_min, decay_fn, warmup_lr_init)`` (its
    ``"power"`` and ``"exp"`` decays and ``rsqrt`` stable phase are not covered).

    Args:
      peak_value: the plateau's value.
      total_steps: the run's length: the decay ends here.
      warmup_steps: the rise's length (or give ``warmup_ratio``).
      decay_steps: the decay's length, >= 1 (or give ``decay_ratio``).
      end_value: the value at and after ``total_steps``.
      decay_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
      start_value: the value at step 0.
      warmup_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
      warmup_ratio: the rise's length as a fraction of ``total_steps``, in [0, 1].
      decay_ratio: the decay's length as a fraction of ``total_steps -
        warmup_steps``, in (0, 1].

    Examples:
      >>> s = optaxlr.schedules.warmup_stable_decay(1.0, 1000, warmup_steps=100, decay_steps=200)
      >>> s(50), s(500), s(900)
      (Array(0.5, dtype=float32), Array(1., dtype=float32), Array(0.5, dtype=float32))
      >>> s = optaxlr.schedules.warmup_stable_decay(1.0, 1000, warmup_ratio=0.1, decay_ratio=0.2)
      >>> s(99), s(910)  # warmup 100 steps, decay round(0.2 * 900) = 180 steps
      (Array(0.99, dtype=float32), Array(0.5, dtype=float32))
    """
    number("peak_value", peak_value)
    total = check_int("total_steps", total_steps, low=1)
    warm = _steps_or_ratio("warmup_steps", warmup_steps, "warmup_ratio", warmup_ratio, 0,
                           total, "ceil")
    decay = _steps_or_ratio("decay_steps", decay_steps, "decay_ratio", decay_ratio, 1,
                            total - warm, "round")
    number("end_value", end_value)
    check_choice("decay_shape", decay_shape, _SHAPES)
    number("start_value", start_value)
    check_choice("warmup_shape", warmup_shape, _SHAPES)
    check_span("peak_value", peak_value, "end_value", end_value)
    if warm + decay > total:
        raise ValueError(
            f"warmup_steps + decay_steps must be <= total_steps ({total}), "
            f"got {warm} + {decay} = {warm + decay}"
        )
    decay_begin = total - decay

    def schedule(t):
        xp = namespace(t)
        peak, end = as_float(peak_value, xp), as_float(end_value, xp)
        left, gone = _cooldown_weights(xp.clip(t - decay_begin, 0, decay), decay, decay_shape)
        value = peak * left + end * gone
        if warm:
            rise = _rise(as_float(start_value, xp), peak, t, warm, warmup_shape)
            value = xp.where(t < warm, rise, value)
        return value

    def extent(first, last):
        return extremes(schedule, [warm - 1, warm, decay_begin, total], first, last)

    return Built(schedule, extent if concrete(peak_value, end_value, start_value) else None)


@schedule_factory
def decay_from(
    schedule: Any,
    step: int,
    length: int,
    shape: str = "linear",
    end_value: Any = 0.0,
):
    """A cooldown branched off ``schedule`` at ``step``: WSD's decay, started at any step.

    Before ``step`` the value is ``schedule``'s. From ``step`` it decays from
    ``v = schedule(step)`` to ``end_value`` over ``length`` steps, with the
    shape of `warmup_stable_decay`'s decay, and holds ``end_value`` from
    ``step + length`` on:

    .. math::

        \\text{value}(t) = e + (v - e) \\, w(\\min(t - s, L) / L),
        \\quad w(x) = 1 - x, \\ \\frac{1 + \\cos \\pi x}{2} \\text{ or } 1 - \\sqrt{x}.

    The value decays from the one at ``step``, whatever ``schedule`` would have
    done after it (its own decay, later on, is dropped), so from the plateau of
    a `warmup_stable_decay` or a `warmup` of a constant it is the cooldown of a
    WSD run that ends at ``step + length``. To branch a checkpoint saved at
    step ``s`` of such a run, restore it with ``optaxlr.training.resume``
    into an optimizer built with ``decay_from(schedule, s, length)``: the
    restored state keeps its step count, so the next update uses the value at
    step ``s``, and the cooldown runs from there.

    Args:
      schedule: the run's schedule (or a number): values before ``step``.
      step: the first step of the cooldown (the number of updates already
        applied when it starts).
      length: the cooldown's length in steps, >= 1.
      shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
      end_value: the value at ``step + length`` and after.

    Examples:
      >>> run = optaxlr.schedules.warmup(1.0, warmup_steps=100)  # warm up, then hold
      >>> s = optaxlr.schedules.decay_from(run, step=5000, length=1000, shape="1-sqrt")
      >>> s(5000), s(5250), s(6000)
      (Array(1., dtype=float32), Array(0.5, dtype=float32), Array(0., dtype=float32))
    """
    inner = as_schedule("schedule", schedule)
    begin = check_int("step", step, low=0)
    steps = check_int("length", length, low=1)
    check_choice("shape", shape, _SHAPES)
    number("end_value", end_value)

    def cooldown(t, v, xp):
        left, gone = _cooldown_weights(xp.clip(t - begin, 0, steps), steps, shape)
        return v * left + as_float(end_value, xp) * gone

    def evaluate(t):
        v = jnp.asarray(inner(begin), dtype=float)
        return jnp.where(t < begin, inner(t), cooldown(t, v, jnp))

    def extent(first, last):
        pieces = []
        if first < begin:
            pieces.append(inner_bounds(inner, first, min(last, begin - 1)))
        if last >= begin:
            at = inner_bounds(inner, begin, begin)
            if at is None:
                return None
            pieces.append(extremes(lambda t: cooldown(t, at[0], np), [begin + steps],
                                   max(first, begin), last))
        return merge(pieces)

    if concrete(end_value):
        bounds_known = extent
    else:
        bounds_known = None
    return Built(evaluate, bounds_known)


@schedule_factory
def lr_range(min_value: Any, max_value: Any, num_steps: int, mode: str = "exp"):
    """The sweep of an LR range test: ``min_value`` at step 0 to ``max_value`` at ``num_steps - 1``.

    ``mode="exp"`` grows geometrically, ``min * (max / min) ** (step / (num_steps - 1))``
    (Smith 2017; fastai's ``lr_find``), ``"linear"`` arithmetically. The value
    holds at ``max_value`` after the last step.

    Examples:
      >>> s = optaxlr.schedules.lr_range(1e-6, 1.0, num_steps=7)
      >>> s(3)
      Array(0.001, dtype=float32)
    """
    check_choice("mode", mode, ("exp", "linear"))
    low = 0.0 if mode == "exp" else None
    number("min_value", min_value, low=low, low_open=mode == "exp")
    number("max_value", max_value, low=low, low_open=mode == "exp")
    last = check_int("num_steps", num_steps, low=2) - 1
    lo, hi = concrete_float(min_value), concrete_float(max_value)
    if lo is not None and hi is not None:
        if hi <= lo:
            raise ValueError(f"max_value must be greater than min_value, got {hi} <= {lo}")
        if hi - lo > FLOAT32_MAX:
            raise ValueError(f"max_value: max_value - min_value = {hi - lo:g} overflows float32")
        ratio = hi / lo if mode == "exp" else None
    else:
        ratio = as_float(max_value) / as_float(min_value)
    growth = log_scaled(ratio, 1.0 / last) if mode == "exp" else None

    def schedule(t):
        xp = namespace(t)
        done = xp.minimum(t, last)
        lo, hi = as_float(min_value, xp), as_float(max_value, xp)
        if growth is not None:  # mode "exp", exactly max_value at the last step
            return xp.where(done < last, lo * exp_scaled(done, growth, xp), hi)
        return lo + (hi - lo) * (as_float(done, xp) / last)

    def extent(first, last_step):
        return extremes(schedule, [last], first, last_step)

    return Built(schedule, extent if concrete(min_value, max_value) else None)
