"""Adadelta's preconditioner."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    NONNEGATIVE,
    UNIT,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_dtype,
    check_params,
    check_update,
    init_count,
    moment_dtype,
    next_count,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByAdadeltaState", "scale_by_adadelta"]


class ScaleByAdadeltaState(NamedTuple):
    """State of `scale_by_adadelta`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # rho, eps
    square_avg: optax.Params  # mean of squared gradients, in accumulator_dtype
    acc_delta: optax.Params  # mean of squared updates, in accumulator_dtype


def scale_by_adadelta(
    rho: Hyperparam = 0.9, eps: Hyperparam = 1e-6, accumulator_dtype: Any = None
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
      accumulator_dtype: dtype of both running averages of squares; ``None``:
        the parameters' dtypes, float32 for float16 parameters.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdadeltaState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_adadelta(), optaxlr.scale_by_learning_rate(1.0))
    """
    spec = HyperparamSpec(rho=bounded("rho", rho, UNIT), eps=bounded("eps", eps, NONNEGATIVE))
    accumulator_dtype = check_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        check_params("scale_by_adadelta", params)
        zeros = lambda: jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=moment_dtype(p, accumulator_dtype)), params
        )
        return ScaleByAdadeltaState(
            init_count() if spec.scheduled else None, spec.initial_record(), zeros(), zeros()
        )

    def update_fn(updates, state, params=None):
        check_update("scale_by_adadelta", state, ScaleByAdadeltaState, updates, "square_avg")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        r, eps_t = values["rho"], values["eps"]

        @real_view
        def leaf(g, v, a):
            g32, a32 = upcast(g), upcast(a)
            new_v = upcast(v) * r + (1 - r) * g32 * g32
            delta = jnp.sqrt(a32 + eps_t) / jnp.sqrt(new_v + eps_t) * g32
            new_a = a32 * r + (1 - r) * delta * delta
            return delta.astype(g.dtype), new_v.astype(v.dtype), new_a.astype(a.dtype)

        out = jax.tree.map(leaf, updates, state.square_avg, state.acc_delta)
        new_updates, square_avg, acc_delta = unzip(updates, out, 3)
        return new_updates, ScaleByAdadeltaState(
            next_count(state.count), spec.record(values), square_avg, acc_delta
        )

    return transformation(init_fn, update_fn)
