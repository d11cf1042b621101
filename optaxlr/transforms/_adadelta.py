"""Adadelta's preconditioner."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr.transforms._common import (
    Hyperparam,
    check_hyperparam,
    init_count,
    init_record,
    state_class_for,
    step,
    unzip,
    upcast,
)

__all__ = ["ScaleByAdadeltaState", "scale_by_adadelta"]


class ScaleByAdadeltaState(NamedTuple):
    """State of `scale_by_adadelta`."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"rho", "eps": float32}
    square_avg: optax.Params  # mean of squared gradients, parameters' dtypes
    acc_delta: optax.Params  # mean of squared updates, parameters' dtypes


def scale_by_adadelta(
    rho: Hyperparam = 0.9, eps: Hyperparam = 1e-6
) -> optax.GradientTransformation:
    r"""Adadelta (Zeiler, 2012) as ``torch.optim.Adadelta``.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        u_t = \frac{\sqrt{a_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} g_t, \qquad
        a_t = \rho a_{t-1} + (1-\rho) u_t^2

    The learning rate (1.0 in PyTorch) is applied after, by
    `scale_by_learning_rate`.

    Args:
      rho: decay of both running averages in [0, 1], or a schedule.
      eps: term added inside both square roots, >= 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdadeltaState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_adadelta(), optaxlr.scale_by_learning_rate(1.0))
    """
    check_hyperparam("rho", rho, low=0.0, high=1.0)
    check_hyperparam("eps", eps, low=0.0)
    hparams = {"rho": rho, "eps": eps}

    new_state = state_class_for(ScaleByAdadeltaState, hparams)

    def init_fn(params):
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)
        return new_state(init_count(), init_record(hparams), zeros(), zeros())

    def update_fn(updates, state, params=None):
        del params
        values, recorded, count = step(hparams, state.count)
        r, eps_t = values["rho"], values["eps"]

        def leaf(g, v, a):
            g32, a32 = upcast(g), upcast(a)
            new_v = upcast(v) * r + (1 - r) * g32 * g32
            delta = jnp.sqrt(a32 + eps_t) / jnp.sqrt(new_v + eps_t) * g32
            new_a = a32 * r + (1 - r) * delta * delta
            return delta.astype(g.dtype), new_v.astype(v.dtype), new_a.astype(a.dtype)

        out = jax.tree.map(leaf, updates, state.square_avg, state.acc_delta)
        new_updates, square_avg, acc_delta = unzip(updates, out, 3)
        return new_updates, new_state(count, recorded, square_avg, acc_delta)

    return optax.GradientTransformation(init_fn, update_fn)
