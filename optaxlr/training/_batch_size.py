"""Scaling a learning rate with the batch size."""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from optaxlr._hyperparams import Hyperparam, value_at
from optaxlr._validation import check_choice, check_int
from optaxlr.schedules import Schedule
from optaxlr.transforms._common import check_hyperparam

__all__ = ["scale_for_batch_size"]


def batch_size_factor(ratio: Any, rule: str) -> Any:
    """The factor on the rate for a batch ``ratio`` times the base one: ``ratio`` (linear)
    or its square root (sqrt); a float for a number, an array for an array."""
    if rule == "linear":
        return ratio
    return math.sqrt(ratio) if isinstance(ratio, numbers.Real) else jnp.sqrt(ratio)


def scale_for_batch_size(
    learning_rate: Hyperparam, batch_size: int, base_batch_size: int, rule: str = "linear"
) -> Hyperparam:
    r"""A learning rate tuned at ``base_batch_size``, scaled for ``batch_size``.

    .. math::
        \eta = \eta_{\text{base}} \cdot \frac{B}{B_{\text{base}}} \ \text{(linear)}
        \qquad
        \eta = \eta_{\text{base}} \cdot \sqrt{\frac{B}{B_{\text{base}}}} \ \text{(sqrt)}

    ``"linear"`` is Goyal et al. (2017), *Accurate, Large Minibatch SGD*:
    SGD's learning rate grows with the batch (0.1 at 256 becomes 3.2 at 8192),
    which they pair with a gradual warmup (`optaxlr.schedules.warmup`) over the
    first epochs. ``"sqrt"`` keeps the update's noise scale constant and is the
    usual rule for adaptive optimizers (Adam, LAMB; Krizhevsky 2014, Hoffer et
    al. 2017, Malladi et al. 2022). With `accumulate`, ``batch_size`` is the
    effective batch: micro-batch size times ``every_k_steps``.

    Args:
      learning_rate: the rate at ``base_batch_size``: a number >= 0, an array or
        a schedule.
      batch_size: the batch size to train with, an integer >= 1.
      base_batch_size: the batch size ``learning_rate`` was tuned for, >= 1.
      rule: ``"linear"`` or ``"sqrt"``.

    Returns:
      The scaled rate, of the kind given: a float for a number, an array for
      an array, and for a schedule a schedule (an optaxlr `Schedule` stays one,
      a product that `optaxlr.schedules.to_config` writes out).

    Example:
      >>> import optaxlr
      >>> optaxlr.training.scale_for_batch_size(0.1, batch_size=1024, base_batch_size=256)
      0.4
      >>> lr = optaxlr.training.scale_for_batch_size(
      ...     optaxlr.schedules.cosine(1e-3, 1000), 4096, 256, rule="sqrt")
      >>> round(float(lr(0)), 6)
      0.004
    """
    check_hyperparam("learning_rate", learning_rate, low=0.0)
    batch_size = check_int("batch_size", batch_size, low=1)
    base_batch_size = check_int("base_batch_size", base_batch_size, low=1)
    check_choice("rule", rule, ("linear", "sqrt"))
    factor = batch_size_factor(batch_size / base_batch_size, rule)
    if isinstance(learning_rate, Schedule):
        return factor * learning_rate
    if callable(learning_rate):
        schedule = learning_rate

        def scaled(count: Any) -> jax.Array:
            return jnp.asarray(value_at(schedule, count) * factor, jnp.float32)

        return scaled
    if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, jax.Array):
        return float(learning_rate) * factor
    return jnp.asarray(learning_rate) * factor
