"""Weight decay: decoupled (after a preconditioner) or L2 (before it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from optaxlr.transforms._common import (
    Hyperparam,
    check_hyperparam,
    init_count,
    init_record,
    step,
    upcast,
)

__all__ = ["AddDecayedWeightsState", "add_decayed_weights"]


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights`."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array]  # {"weight_decay": float32}


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

    def init_fn(params):
        del params
        return AddDecayedWeightsState(init_count(), init_record(hparams))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters: call update(updates, state, params)"
            )
        values, recorded, count = step(hparams, state.count)
        wd = values["weight_decay"]
        updates = jax.tree.map(
            lambda g, p: None if g is None else (upcast(g) + wd * upcast(p)).astype(g.dtype),
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        return updates, AddDecayedWeightsState(count, recorded)

    tx = optax.GradientTransformation(init_fn, update_fn)
    return tx if mask is None else optax.masked(tx, mask)
