"""Scaling by a (scheduled) learning rate, with PyTorch's decoupled weight decay."""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    Hyperparam,
    HyperparamSpec,
    check_bool,
    check_hyperparam,
    check_params,
    check_update,
    init_count,
    is_static_zero,
    next_count,
    real_dtype,
    scalar_dtype,
    transformation,
    upcast,
)
from optaxlr.transforms._weight_decay import (
    Mask,
    add_scaled_params,
    check_mask,
    decay_mask,
    shrink_minus_one,
)

__all__ = ["ScaleByLearningRateState", "scale_by_learning_rate"]


class ScaleByLearningRateState(NamedTuple):
    """State of `scale_by_learning_rate`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # learning_rate[, weight_decay]


def scale_by_learning_rate(
    learning_rate: Hyperparam,
    flip_sign: bool = True,
    *,
    weight_decay: Hyperparam = 0.0,
    mask: Mask = None,
) -> optax.GradientTransformation:
    r"""Multiplies updates by the learning rate (negated, for gradient descent).

    .. math::
        u_t = -\eta_t \, g_t \;+\; (\mathrm{fl}(1 - \eta_t \lambda_t) - 1)\, \theta_{t-1}

    where :math:`\eta_t` is ``learning_rate`` at step :math:`t` (the number of
    updates already applied; the first update uses step 0): PyTorch's
    ``param.add_(update, alpha=-lr)``, the last step of every optaxlr alias.
    The second term, with ``weight_decay`` :math:`\lambda_t`, is the decoupled
    weight decay of ``torch.optim.AdamW`` (``param.mul_(1 - lr * weight_decay)``,
    see `decoupled_weight_decay`), applied with the same evaluation of the rate.

    Args:
      learning_rate: a number >= 0, an array, or a schedule ``step -> value``.
      flip_sign: multiply by ``-learning_rate`` (descent) rather than
        ``learning_rate``.
      weight_decay: decoupled weight decay >= 0, or a schedule (needs
        ``flip_sign=True`` and the parameters in ``update``).
      mask: where to decay, as for `add_decayed_weights`.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByLearningRateState`.
      Updates keep their dtype.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.trace(0.9), optaxlr.scale_by_learning_rate(0.1))
    """
    check_hyperparam("learning_rate", learning_rate, low=0.0)
    flip_sign = check_bool("flip_sign", flip_sign)
    check_hyperparam("weight_decay", weight_decay, low=0.0)
    mask = check_mask(mask)
    decays = not is_static_zero(weight_decay)
    if decays and not flip_sign:
        raise ValueError("weight_decay needs flip_sign=True (gradient descent)")
    hparams = {"learning_rate": learning_rate}
    if decays:
        hparams["weight_decay"] = weight_decay
    spec = HyperparamSpec(**hparams)

    def init_fn(params):
        check_params("scale_by_learning_rate", params)
        if decays:
            decay_mask(mask, params)  # a mask that doesn't fit fails here
        return ScaleByLearningRateState(
            init_count() if spec.scheduled else None, spec.initial_record()
        )

    def update_fn(updates, state, params=None):
        check_update(
            "scale_by_learning_rate", state, ScaleByLearningRateState, updates, params=params
        )
        values = spec.values(state.count, scalar_dtype(updates))
        lr = values["learning_rate"]
        factor = -lr if flip_sign else lr
        updates = jax.tree.map(lambda g: (factor * upcast(g)).astype(g.dtype), updates)
        if decays:
            wd = values["weight_decay"]
            coef = lambda p: shrink_minus_one(lr, wd, real_dtype(p))
            updates = add_scaled_params(updates, params, coef, mask)
        return updates, ScaleByLearningRateState(next_count(state.count), spec.record(values))

    return transformation(init_fn, update_fn)
