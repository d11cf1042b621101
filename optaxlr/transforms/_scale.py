"""Scaling by a (scheduled) learning rate."""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from optaxlr.transforms._common import (
    Hyperparam,
    check_bool,
    check_hyperparam,
    init_count,
    init_record,
    state_class_for,
    step,
    upcast,
)

__all__ = ["ScaleByLearningRateState", "scale_by_learning_rate"]


class ScaleByLearningRateState(NamedTuple):
    """State of `scale_by_learning_rate`: the count and the rate last used."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"learning_rate": float32}


def scale_by_learning_rate(
    learning_rate: Hyperparam, flip_sign: bool = True
) -> optax.GradientTransformation:
    r"""Multiplies updates by the learning rate (negated, for gradient descent).

    .. math::
        u_t = -\eta_t \, g_t

    where :math:`\eta_t` is ``learning_rate`` at step :math:`t` (the number of
    updates already applied; the first update uses step 0). This is the last
    step of every optaxlr alias, PyTorch's ``param.add_(update, alpha=-lr)``.

    Args:
      learning_rate: a number >= 0, an array, or a schedule ``step -> value``.
      flip_sign: multiply by ``-learning_rate`` (descent) rather than
        ``learning_rate``.

    Returns:
      An ``optax.GradientTransformation``; its state is
      `ScaleByLearningRateState`. Updates keep their dtype.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.trace(0.9), optaxlr.scale_by_learning_rate(0.1))
    """
    check_hyperparam("learning_rate", learning_rate, low=0.0)
    flip_sign = check_bool("flip_sign", flip_sign)
    hparams = {"learning_rate": learning_rate}

    new_state = state_class_for(ScaleByLearningRateState, hparams)

    def init_fn(params):
        del params
        return new_state(init_count(), init_record(hparams))

    def update_fn(updates, state, params=None):
        del params
        values, recorded, count = step(hparams, state.count)
        lr = values["learning_rate"]
        factor = -lr if flip_sign else lr
        updates = jax.tree.map(lambda g: (factor * upcast(g)).astype(g.dtype), updates)
        return updates, new_state(count, recorded)

    return optax.GradientTransformation(init_fn, update_fn)
