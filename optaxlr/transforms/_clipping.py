"""Clipping by value, by per-leaf norm and by global norm."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._validation import check_number
from optaxlr.fast._multi_tensor import current_layout
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
    "ClipState",
    "clip_by_value",
    "clip_by_norm",
    "clip_by_global_norm",
]


class ClipState(NamedTuple):
    """State of the clipping transformations: the count and the threshold last used."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"max_delta"} or {"max_norm"}: float32


def _stateless(name: str, value: Hyperparam, apply: Any) -> optax.GradientTransformation:
    hparams = {name: value}

    new_state = state_class_for(ClipState, hparams)

    def init_fn(params):
        del params
        return new_state(init_count(), init_record(hparams))

    def update_fn(updates, state, params=None):
        del params
        values, recorded, count = step(hparams, state.count)
        return apply(updates, values[name]), new_state(count, recorded)

    return optax.GradientTransformation(init_fn, update_fn)


def clip_by_value(max_delta: Hyperparam) -> optax.GradientTransformation:
    r"""Clips every update element to :math:`[-c_t, c_t]`.

    Keras' ``clipvalue``; ``torch.nn.utils.clip_grad_value_``.

    Args:
      max_delta: the bound :math:`c_t` >= 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ClipState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.clip_by_value(1.0), optaxlr.sgd(0.1))
    """
    check_hyperparam("max_delta", max_delta, low=0.0)

    def apply(updates, c):
        return jax.tree.map(lambda g: jnp.clip(upcast(g), -c, c).astype(g.dtype), updates)

    return _stateless("max_delta", max_delta, apply)


def _norm(g: jax.Array) -> jax.Array:
    g32 = upcast(g)
    return jnp.sqrt(jnp.sum(g32 * g32))


def clip_by_norm(max_norm: Hyperparam) -> optax.GradientTransformation:
    r"""Rescales each leaf whose L2 norm exceeds :math:`c_t` to norm :math:`c_t`.

    .. math::
        u = g \, \frac{c_t}{\max(\lVert g \rVert_2, c_t)}

    per parameter array: Keras' ``clipnorm``. For one norm over all leaves see
    `clip_by_global_norm`.

    Args:
      max_norm: the bound :math:`c_t` > 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ClipState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.clip_by_norm(1.0), optaxlr.adam(1e-3))
    """
    check_hyperparam("max_norm", max_norm, low=0.0, low_open=True)

    def apply(updates, c):
        _refuse_multi_tensor(updates)

        def leaf(g):
            factor = c / jnp.maximum(_norm(g), c)
            return (upcast(g) * factor).astype(g.dtype)

        return jax.tree.map(leaf, updates)

    tx = _stateless("max_norm", max_norm, apply)

    def init_fn(params):
        _refuse_multi_tensor(params)
        return tx.init(params)

    return optax.GradientTransformation(init_fn, tx.update)


def _refuse_multi_tensor(tree: Any) -> None:
    if current_layout(tree) is not None:
        raise ValueError(
            "clip_by_norm clips each parameter array by its own norm, which the multi-tensor "
            "layout (optaxlr.FlatParams) doesn't keep apart; use clip_by_global_norm, or the "
            "per-leaf optimizer"
        )


def clip_by_global_norm(max_norm: Hyperparam, eps: float = 1e-6) -> optax.GradientTransformation:
    r"""Rescales all updates together when their global L2 norm exceeds :math:`c_t`.

    .. math::
        u = g \cdot \min\!\left(1, \frac{c_t}{\lVert g \rVert_2 + \epsilon}\right)

    with :math:`\lVert g \rVert_2` the norm of all leaves together:
    ``torch.nn.utils.clip_grad_norm_`` (whose :math:`\epsilon` is ``1e-6``, the
    default); ``eps=0`` gives Keras' ``global_clipnorm`` and optax's
    ``clip_by_global_norm``.

    Args:
      max_norm: the bound :math:`c_t` > 0, or a schedule.
      eps: added to the norm before dividing, >= 0.

    Returns:
      An ``optax.GradientTransformation`` with state `ClipState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(1e-3))
    """
    check_hyperparam("max_norm", max_norm, low=0.0, low_open=True)
    check_number("eps", eps, low=0.0)

    def apply(updates, c):
        norms = [_norm(g) for g in jax.tree.leaves(updates)]
        if not norms:
            return updates
        # The norm of the per-leaf norms, as PyTorch; one stacked reduction rather than
        # a chain of N scalar additions, which XLA compiles 2-3x slower on 1000 leaves.
        total = jnp.sqrt(jnp.sum(jnp.square(jnp.stack(norms))))
        factor = jnp.minimum(c / (total + eps), 1.0)
        return jax.tree.map(lambda g: (upcast(g) * factor).astype(g.dtype), updates)

    return _stateless("max_norm", max_norm, apply)
