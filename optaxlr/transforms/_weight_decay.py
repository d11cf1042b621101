"""Weight decay: L2 (before a preconditioner) or decoupled (after it)."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_callable
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    init_count,
    next_count,
    real_dtype,
    scalar_dtype,
    transformation,
    upcast,
)
from optaxlr.transforms._per_parameter import per_parameter

__all__ = [
    "AddDecayedWeightsState",
    "DecoupledWeightDecayState",
    "Mask",
    "add_decayed_weights",
    "add_scaled_params",
    "check_mask",
    "decay_mask",
    "decouple",
    "decoupled_weight_decay",
    "shrink_minus_one",
]

Mask = Any | Callable[[optax.Params], Any] | None


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool | np.bool_)


def check_mask(mask: Mask) -> Mask:
    """``None``, a function of the parameters, or a tree of booleans."""
    if mask is None:
        return mask
    if callable(mask):
        return check_callable("mask", mask, num_args=1)
    leaves = jax.tree.leaves(mask)
    if not leaves or not all(_is_bool(m) for m in leaves):
        raise TypeError(
            "mask must be None, a tree of booleans with the parameters' structure, or a "
            f"function of the parameters returning one; got {mask!r}"
        )
    return mask


def decay_mask(mask: Mask, params: Any) -> list[bool]:
    """The mask as one boolean per leaf of ``params`` (all True without a mask)."""
    if mask is None:
        return [True] * len(jax.tree.leaves(params))
    def rule(tree: Any) -> Any:
        if not callable(mask):
            return mask
        try:
            return mask(tree)
        except (TypeError, ValueError) as e:  # a schedule, or a function of something else
            raise TypeError(
                "mask must be a function of the parameters returning a tree of booleans; "
                f"calling {mask!r} on them raised {type(e).__name__}: {e}"
            ) from None

    hint = (
        "Flatten with FlatParams.from_tree(params, group_by=mask) so that masked and "
        "unmasked parameters get separate buffers."
    )
    values = per_parameter(params, rule, "the mask", hint)
    for m in values:
        if not _is_bool(m):
            raise TypeError(f"mask: every entry must be a bool, got {m!r}")
    return [bool(m) for m in values]


def add_scaled_params(updates: Any, params: Any, coef: Callable, mask: Mask) -> Any:
    """``updates + coef(leaf) * params`` where the mask is True, in float32 for half precision."""
    if params is None:
        raise ValueError("weight decay needs the parameters: call update(updates, state, params)")
    leaves, treedef = jax.tree.flatten(updates)
    p_leaves = treedef.flatten_up_to(params)
    decayed = decay_mask(mask, params)
    out = [
        (upcast(u) + coef(p) * upcast(p)).astype(u.dtype) if m else u
        for u, p, m in zip(leaves, p_leaves, decayed, strict=True)
    ]
    return treedef.unflatten(out)


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights`."""

    count: jax.Array | None  # updates applied (int32), with a scheduled weight_decay; else None
    record: HyperparamRecord  # weight_decay


def add_decayed_weights(
    weight_decay: Hyperparam, mask: Mask = None
) -> optax.GradientTransformation:
    r"""Adds ``weight_decay * params`` to the updates.

    .. math::
        u_t = g_t + \lambda_t \theta_{t-1}

    Where it sits in a chain decides what it is:

    * first, before the preconditioner, it is coupled L2 regularisation:
      ``torch.optim.SGD/Adam/RMSprop(weight_decay=...)``, whose gradient becomes
      ``grad + weight_decay * param``;
    * after the preconditioner and before `scale_by_learning_rate`, it is
      decoupled weight decay: the parameters shrink by
      ``learning_rate * weight_decay`` each step (see `decoupled_weight_decay`
      for PyTorch's exact rounding).

    Args:
      weight_decay: coefficient >= 0, or a schedule.
      mask: optional tree of booleans with the parameters' structure (or a
        function of the parameters returning one), ``True`` where to decay,
        as for ``optax.masked``; e.g.
        ``lambda p: jax.tree.map(lambda x: x.ndim > 1, p)`` leaves biases and
        norm scales alone.

    ``optax.add_decayed_weights`` computes the same sum; this one also records the
    value it used, computes half-precision leaves in float32, checks the mask
    against the parameters at ``init`` and applies it per buffer on
    `optaxlr.FlatParams`.

    Returns:
      An ``optax.GradientTransformation`` with state `AddDecayedWeightsState`.
      Its ``update`` needs ``params``.

    Example:
      >>> import optax, optaxlr
      >>> adamw = optax.chain(optaxlr.scale_by_adam(), optaxlr.add_decayed_weights(1e-2),
      ...                     optaxlr.scale_by_learning_rate(1e-3))
    """
    spec = HyperparamSpec(weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE))
    mask = check_mask(mask)

    def init_fn(params):
        check_params("add_decayed_weights", params)
        decay_mask(mask, params)  # a mask that doesn't fit fails here, not at the first update
        return AddDecayedWeightsState(
            init_count() if spec.scheduled else None, spec.initial_record()
        )

    def update_fn(updates, state, params=None):
        check_update("add_decayed_weights", state, AddDecayedWeightsState, updates, params=params)
        values = spec.values(state.count, scalar_dtype(updates))
        wd = values["weight_decay"]
        updates = add_scaled_params(updates, params, lambda _: wd, mask)
        return updates, AddDecayedWeightsState(next_count(state.count), spec.record(values))

    return transformation(init_fn, update_fn)


def shrink_minus_one(learning_rate: Any, weight_decay: Any, dtype: Any) -> Any:
    """``fl(1 - lr * wd) - 1`` in ``dtype``: the multiplier PyTorch applies, minus one.

    For numbers PyTorch forms ``1 - lr * wd`` in float64 and rounds it once to
    the parameters' dtype (float32 for half precision, which it updates in
    float32); so does this.
    """
    if isinstance(learning_rate, numbers.Real) and isinstance(weight_decay, numbers.Real):
        return float(np.asarray(1.0 - float(learning_rate) * float(weight_decay), dtype)) - 1.0
    shrink = 1.0 - jnp.asarray(learning_rate, dtype) * jnp.asarray(weight_decay, dtype)
    return shrink - 1.0


def decouple(updates: Any, params: Any, learning_rate: Any, weight_decay: Any, mask: Mask) -> Any:
    """``updates + (fl(1 - lr * wd) - 1) * params`` where the mask is True: PyTorch's shrink."""
    coef = lambda p: shrink_minus_one(learning_rate, weight_decay, real_dtype(p))
    return add_scaled_params(updates, params, coef, mask)


class DecoupledWeightDecayState(NamedTuple):
    """State of `decoupled_weight_decay`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # weight_decay (the rate is reported by scale_by_learning_rate)


def decoupled_weight_decay(
    learning_rate: Hyperparam, weight_decay: Hyperparam, mask: Mask = None
) -> optax.GradientTransformation:
    r"""PyTorch's decoupled weight decay, ``param.mul_(1 - lr * weight_decay)``.

    .. math::
        u_t \leftarrow u_t + (\mathrm{fl}(1 - \eta_t \lambda_t) - 1)\, \theta_{t-1}

    so that ``params + updates`` shrinks the parameters by exactly the factor
    :math:`\mathrm{fl}(1 - \eta_t\lambda_t)` that ``torch.optim.AdamW`` (and
    RAdam/NAdam with ``decoupled_weight_decay=True``) multiplies them by. Place
    it after `scale_by_learning_rate`, with the same learning rate.

    Mathematically this is `add_decayed_weights` between the preconditioner and
    the learning rate. The difference is rounding: :math:`1 - \eta\lambda`
    (e.g. ``1 - 3e-5``) is rounded to the float32 grid near 1, whose spacing is
    ``6e-8``, so the decay PyTorch applies differs from :math:`\eta\lambda` by up
    to 0.2%, always in the same direction; over 200 steps that moves the
    parameters by ~1e-5 relative.

    Args:
      learning_rate: the learning rate (>= 0, or a schedule), the one given to
        `scale_by_learning_rate`.
      weight_decay: coefficient >= 0, or a schedule.
      mask: where to decay, as for `add_decayed_weights`.

    Returns:
      An ``optax.GradientTransformation`` with state `DecoupledWeightDecayState`.
      It reports ``weight_decay``.

    Example:
      >>> import optax, optaxlr
      >>> adamw = optax.chain(optaxlr.scale_by_adam(), optaxlr.scale_by_learning_rate(1e-3),
      ...                     optaxlr.decoupled_weight_decay(1e-3, 1e-2))
    """
    rate = HyperparamSpec(learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE))
    spec = HyperparamSpec(weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE))
    mask = check_mask(mask)
    counts = spec.scheduled or rate.scheduled

    def init_fn(params):
        check_params("decoupled_weight_decay", params)
        decay_mask(mask, params)
        return DecoupledWeightDecayState(init_count() if counts else None, spec.initial_record())

    def update_fn(updates, state, params=None):
        check_update(
            "decoupled_weight_decay", state, DecoupledWeightDecayState, updates, params=params
        )
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        lr = rate.values(state.count, dtype)["learning_rate"]
        updates = decouple(updates, params, lr, values["weight_decay"], mask)
        return updates, DecoupledWeightDecayState(next_count(state.count), spec.record(values))

    return transformation(init_fn, update_fn)
