"""Scaling by a (scheduled) learning rate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_bool,
    check_params,
    check_update,
    init_count,
    next_count,
    scalar_dtype,
    transformation,
    upcast,
)

__all__ = [
    "ScaleByLearningRateState",
    "rate_transformation",
    "scale_by_learning_rate",
    "scale_leaves",
]


class ScaleByLearningRateState(NamedTuple):
    """State of `scale_by_learning_rate`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # learning_rate (the aliases' AdamW adds weight_decay)


def scale_leaves(updates: optax.Updates, factor: jax.Array | float) -> optax.Updates:
    """``factor * updates``, in float32 for half precision, each leaf keeping its dtype."""
    return jax.tree.map(lambda g: (factor * upcast(g)).astype(g.dtype), updates)


def scale_by_learning_rate(
    learning_rate: Hyperparam, flip_sign: bool = True
) -> optax.GradientTransformation:
    r"""Multiplies updates by the learning rate (negated, for gradient descent).

    .. math::
        u_t = -\eta_t \, g_t

    where :math:`\eta_t` is ``learning_rate`` at step :math:`t` (the number of
    updates already applied; the first update uses step 0): PyTorch's
    ``param.add_(update, alpha=-lr)``, the last step of every optaxlr alias.
    AdamW's decoupled weight decay is `decoupled_weight_decay`, placed after it.

    Args:
      learning_rate: a number >= 0, an array, or a schedule ``step -> value``.
      flip_sign: multiply by ``-learning_rate`` (descent) rather than
        ``learning_rate``.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByLearningRateState`.
      Updates keep their dtype.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.trace(0.9), optaxlr.scale_by_learning_rate(0.1))
    """
    spec = HyperparamSpec(learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE))
    flip_sign = check_bool("flip_sign", flip_sign)

    def apply(updates, values, params):
        del params
        lr = values["learning_rate"]
        return scale_leaves(updates, -lr if flip_sign else lr)

    return rate_transformation(spec, apply)


def rate_transformation(
    spec: HyperparamSpec,
    apply: Callable[[Any, dict[str, Any], Any], Any],
    check_init: Callable[[Any], object] = lambda params: None,
) -> optax.GradientTransformation:
    """A transformation with state `ScaleByLearningRateState`: ``apply(updates, values, params)``.

    ``values`` are ``spec``'s values for this update (``learning_rate`` and any
    other the record holds); ``check_init(params)`` runs in ``init``, to refuse
    what cannot work before the first update.
    """

    def init_fn(params):
        check_params("scale_by_learning_rate", params)
        check_init(params)
        return ScaleByLearningRateState(
            init_count() if spec.scheduled else None, spec.initial_record()
        )

    def update_fn(updates, state, params=None):
        check_update(
            "scale_by_learning_rate", state, ScaleByLearningRateState, updates, params=params
        )
        values = spec.values(state.count, scalar_dtype(updates))
        updates = apply(updates, values, params)
        return updates, ScaleByLearningRateState(next_count(state.count), spec.record(values))

    return transformation(init_fn, update_fn)
