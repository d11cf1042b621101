"""The chain every alias is built on: the members that are on, and PyTorch's ``maximize``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr._validation import check_bool
from optaxlr.transforms import add_decayed_weights, scale_by_learning_rate
from optaxlr.transforms._common import is_static_zero
from optaxlr.transforms._cpu_fusion import fused_step
from optaxlr.transforms._fused import scale_and_decouple


def chain(
    who: str,
    *parts: optax.GradientTransformation | None,
    maximize: bool = False,
    fused: bool = False,
) -> optax.GradientTransformation:
    """``optax.chain`` of the parts that are on, whose update names a state that doesn't fit.

    ``maximize`` negates the incoming gradients first, as PyTorch's ``maximize``
    (before the weight decay): no state of its own, and off it changes nothing.
    ``fused``: the whole step, ``maximize`` included, in the fused CPU form where
    it is active (``transforms._cpu_fusion.fused_step``), for elementwise rules.
    """
    members = [p for p in parts if p is not None]
    chained = optax.chain(*members)
    negate = check_bool("maximize", maximize)

    def update_fn(updates, state, params=None, **extra_args):
        if type(state) is not tuple or len(state) != len(members):
            raise TypeError(
                f"{who}: state must be the state its init returned (a tuple of "
                f"{len(members)}), got {type(state).__name__}"
                + (f" of {len(state)}" if isinstance(state, tuple) else "")
            )
        if negate:
            updates = jax.tree.map(jnp.negative, updates)
        return chained.update(updates, state, params, **extra_args)

    step = optax.GradientTransformationExtraArgs(chained.init, update_fn)
    return fused_step(step) if fused else step


def decay(weight_decay: Any, mask: Any = None) -> optax.GradientTransformation | None:
    return None if is_static_zero(weight_decay) else add_decayed_weights(weight_decay, mask)


def adam_family(
    who: str,
    preconditioner: optax.GradientTransformation,
    learning_rate: Hyperparam,
    weight_decay: Hyperparam,
    decoupled: bool,
    maximize: bool = False,
    fused: bool = False,
) -> optax.GradientTransformation:
    """Coupled L2 before the preconditioner, or decoupled decay after the learning rate."""
    if check_bool("decoupled_weight_decay", decoupled):
        return chain(
            who,
            preconditioner,
            scale_and_decouple(learning_rate, weight_decay),
            maximize=maximize,
            fused=fused,
        )
    return chain(
        who,
        decay(weight_decay),
        preconditioner,
        scale_by_learning_rate(learning_rate),
        maximize=maximize,
        fused=fused,
    )
