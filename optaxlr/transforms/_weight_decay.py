"""Weight decay: decoupled (after a preconditioner) or L2 (before it)."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import value_at
from optaxlr.fast._multi_tensor import flat_mask
from optaxlr.transforms._common import (
    Hyperparam,
    check_hyperparam,
    init_count,
    init_record,
    state_class_for,
    step,
    upcast,
)

__all__ = [
    "AddDecayedWeightsState",
    "DecoupledWeightDecayState",
    "add_decayed_weights",
    "decoupled_weight_decay",
]


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights`."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"weight_decay": float32}


def _add_scaled_params(updates: Any, params: Any, coef: Any) -> Any:
    """``updates + coef * params`` leaf by leaf, in float32 for half-precision leaves."""
    return jax.tree.map(
        lambda u, p: None if u is None else (upcast(u) + coef * upcast(p)).astype(u.dtype),
        updates,
        params,
        is_leaf=lambda x: x is None,
    )


def add_decayed_weights(
    weight_decay: Hyperparam, mask: Any | Callable[[optax.Params], Any] | None = None
) -> optax.GradientTransformation:
    r"""Adds ``weight_decay * params`` to the updates.

    .. math::
        u_t = g_t + \lambda_t \theta_{t-1}

    Where it sits in a chain decides what it is:

    * first, before the preconditioner, it is coupled L2 regularisation:
      ``torch.optim.SGD/Adam/RMSprop(weight_decay=...)``, whose gradient becomes
      ``grad + weight_decay * param``;
    * after the preconditioner and before `scale_by_learning_rate`, it is
      decoupled weight decay (AdamW): the parameters shrink by
      ``learning_rate * weight_decay`` each step, as ``torch.optim.AdamW``'s
      ``param.mul_(1 - lr * weight_decay)``.

    Args:
      weight_decay: coefficient >= 0, or a schedule.
      mask: optional pytree of booleans (or a function of the parameters
        returning one), ``True`` where to decay, as for ``optax.masked``; e.g.
        ``lambda p: jax.tree.map(lambda x: x.ndim > 1, p)`` leaves biases and
        norm scales alone.

    Returns:
      An ``optax.GradientTransformation`` with state `AddDecayedWeightsState`
      (wrapped in ``optax.MaskedState`` when a mask is given). Its ``update``
      needs ``params``.

    Example:
      >>> import optax, optaxlr
      >>> adamw = optax.chain(optaxlr.scale_by_adam(), optaxlr.add_decayed_weights(1e-2),
      ...                     optaxlr.scale_by_learning_rate(1e-3))
    """
    check_hyperparam("weight_decay", weight_decay, low=0.0)
    hparams = {"weight_decay": weight_decay}

    new_state = state_class_for(AddDecayedWeightsState, hparams)

    def init_fn(params):
        del params
        return new_state(init_count(), init_record(hparams))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters: call update(updates, state, params)"
            )
        values, recorded, count = step(hparams, state.count)
        updates = _add_scaled_params(updates, params, values["weight_decay"])
        return updates, new_state(count, recorded)

    tx = optax.GradientTransformation(init_fn, update_fn)
    return tx if mask is None else optax.masked(tx, flat_mask(mask))


class DecoupledWeightDecayState(NamedTuple):
    """State of `decoupled_weight_decay`."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"weight_decay": float32}


def _shrink_minus_one(learning_rate: Any, weight_decay: Any) -> Any:
    """``fl32(1 - lr * wd) - 1``: the multiplier PyTorch applies, minus one (exact)."""
    if isinstance(learning_rate, numbers.Real) and isinstance(weight_decay, numbers.Real):
        # PyTorch forms 1 - lr * wd in float64 and rounds it to float32 once.
        return float(np.float32(1.0 - float(learning_rate) * float(weight_decay))) - 1.0
    shrink = 1.0 - jnp.asarray(learning_rate, jnp.float32) * jnp.asarray(weight_decay, jnp.float32)
    return shrink - 1.0


def decoupled_weight_decay(
    learning_rate: Hyperparam,
    weight_decay: Hyperparam,
    mask: Any | Callable[[optax.Params], Any] | None = None,
) -> optax.GradientTransformation:
    r"""PyTorch's decoupled weight decay, ``param.mul_(1 - lr * weight_decay)``.

    .. math::
        u_t \leftarrow u_t + (\mathrm{fl}(1 - \eta_t \lambda_t) - 1)\, \theta_{t-1}

    so that ``params + updates`` shrinks the parameters by exactly the float32
    factor :math:`\mathrm{fl}(1 - \eta_t\lambda_t)` that ``torch.optim.AdamW``
    (and RAdam/NAdam with ``decoupled_weight_decay=True``) multiplies them by.
    Place it after `scale_by_learning_rate`, with the same learning rate.

    Mathematically this is `add_decayed_weights` between the preconditioner and
    the learning rate. The difference is float32 rounding: :math:`1 - \eta\lambda`
    (e.g. ``1 - 3e-5``) is rounded to the float32 grid near 1, whose spacing is
    ``6e-8``, so the decay PyTorch applies differs from :math:`\eta\lambda` by up
    to 0.2%, always in the same direction; over 200 steps that moves the
    parameters by ~1e-5 relative. The `adamw`, `radam` and `nadam` aliases use
    this form to follow PyTorch step for step.

    Args:
      learning_rate: the learning rate (>= 0, or a schedule), the one given to
        `scale_by_learning_rate`.
      weight_decay: coefficient >= 0, or a schedule.
      mask: where to decay, as for `add_decayed_weights`.

    Returns:
      An ``optax.GradientTransformation`` with state `DecoupledWeightDecayState`
      (in ``optax.MaskedState`` with a mask). It reports ``weight_decay``; the
      learning rate is reported by `scale_by_learning_rate`.

    Example:
      >>> import optax, optaxlr
      >>> adamw = optax.chain(optaxlr.scale_by_adam(), optaxlr.scale_by_learning_rate(1e-3),
      ...                     optaxlr.decoupled_weight_decay(1e-3, 1e-2))
    """
    check_hyperparam("learning_rate", learning_rate, low=0.0)
    check_hyperparam("weight_decay", weight_decay, low=0.0)
    hparams = {"weight_decay": weight_decay}

    new_state = state_class_for(DecoupledWeightDecayState, hparams)

    def init_fn(params):
        del params
        return new_state(init_count(), init_record(hparams))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "decoupled_weight_decay needs the parameters: call update(updates, state, params)"
            )
        values, recorded, count = step(hparams, state.count)
        factor = _shrink_minus_one(value_at(learning_rate, state.count), values["weight_decay"])
        updates = _add_scaled_params(updates, params, factor)
        return updates, new_state(count, recorded)

    tx = optax.GradientTransformation(init_fn, update_fn)
    return tx if mask is None else optax.masked(tx, flat_mask(mask))
