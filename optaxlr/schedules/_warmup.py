"""Warmup around any schedule, warmup-stable-decay, and the LR range-test sweep."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

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

__all__ = ["warmup", "warmup_stable_decay", "lr_range"]

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

    def evaluate(t):
        if steps == 0:
            return inner(t)
        start = as_float(start_value)
        if prefix:
            rising = _blend(start, inner(0), t, steps, mode)
            return jnp.where(t < steps, rising, inner(t - steps))
        if combine == "replace":
            return jnp.where(t < steps, _blend(start, inner(0), t, steps, mode), inner(t))
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
                at0 = inner_bounds(inner, 0, 0)
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
    return Built(evaluate, extent if concrete(start_value) else None, check_range=not prefix)


_DECAY_SHAPES = ("linear", "cosine", "1-sqrt")


@schedule_factory
def warmup_stable_decay(
    peak_value: Any,
    total_steps: int,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    decay_shape: str = "linear",
    start_value: Any = 0.0,
):
    """Warmup-stable-decay (WSD): a linear warmup, a long plateau, a short final decay.

    Steps ``[0, warmup_steps)`` rise linearly from ``start_value`` to
    ``peak_value``; the value holds at ``peak_value`` until
    ``total_steps - decay_steps``, then decays to ``end_value`` at ``total_steps``
    with the chosen shape (``"linear"``, ``"cosine"``, or ``"1-sqrt"``:
    ``1 - sqrt(fraction)``, Hägele et al., 2024).

    Examples:
      >>> s = optaxlr.schedules.warmup_stable_decay(1.0, 1000, warmup_steps=100, decay_steps=200)
      >>> s(50), s(500), s(900)
      (Array(0.5, dtype=float32), Array(1., dtype=float32), Array(0.5, dtype=float32))
    """
    number("peak_value", peak_value)
    total = check_int("total_steps", total_steps, low=1)
    warm = check_int("warmup_steps", warmup_steps, low=0)
    decay = check_int("decay_steps", decay_steps, low=1)
    number("end_value", end_value)
    check_choice("decay_shape", decay_shape, _DECAY_SHAPES)
    number("start_value", start_value)
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
        done = xp.clip(t - decay_begin, 0, decay)
        if decay_shape == "linear":
            left = as_float(decay - done, xp) / decay
        elif decay_shape == "cosine":
            left = half_cosine(done, decay, xp)
        else:
            left = 1.0 - xp.sqrt(as_float(done, xp) / decay)
        value = end + (peak - end) * left
        if warm:
            rise = _blend(as_float(start_value, xp), peak, t, warm, "linear")
            value = xp.where(t < warm, rise, value)
        return value

    def extent(first, last):
        return extremes(schedule, [warm - 1, warm, decay_begin, total], first, last)

    return Built(schedule, extent if concrete(peak_value, end_value, start_value) else None)


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
