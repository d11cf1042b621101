"""Lion's sign update (Chen et al., 2023), as ``lion_pytorch.Lion``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    BETA,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    init_count,
    moment_dtype,
    next_count,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByLionState", "scale_by_lion"]


class ScaleByLionState(NamedTuple):
    """State of `scale_by_lion`."""

    count: jax.Array | None  # updates applied (int32) with a schedule, else None
    record: HyperparamRecord  # b1, b2
    mu: optax.Params  # momentum (float32 for float16 parameters)


def scale_by_lion(b1: Hyperparam = 0.9, b2: Hyperparam = 0.99) -> optax.GradientTransformation:
    r"""Lion's update direction, as ``lion_pytorch.Lion`` 0.2.5 (and ``optax.scale_by_lion``).

    .. math::
        \Delta_t = \operatorname{sign}(\beta_1 m_{t-1} + (1 - \beta_1) g_t), \qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    (:math:`m_0 = 0`). For a complex parameter the sign is PyTorch's ``sgn``,
    :math:`z / |z|` (0 at 0), as ``lion_pytorch`` computes it on complex tensors;
    it is not the real view's sign of each part.

    Args:
      b1: interpolation weight of the momentum in the update, in [0, 1), or a schedule.
      b2: decay of the momentum in [0, 1), or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByLionState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_lion(), optaxlr.scale_by_learning_rate(1e-4))
    """
    spec = HyperparamSpec(b1=bounded("b1", b1, BETA), b2=bounded("b2", b2, BETA))

    def init_fn(params):
        check_params("scale_by_lion", params)
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByLionState(init_count() if spec.scheduled else None, spec.initial_record(), mu)

    def update_fn(updates, state, params=None):
        check_update("scale_by_lion", state, ScaleByLionState, updates, "mu")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        beta1, beta2 = values["b1"], values["b2"]

        def leaf(g, m):
            g32, m32 = upcast(g), upcast(m)
            direction = jnp.sign(m32 * beta1 + (1 - beta1) * g32)
            new_m = m32 * beta2 + (1 - beta2) * g32
            return direction.astype(g.dtype), new_m.astype(m.dtype)

        out = jax.tree.map(leaf, updates, state.mu)
        new_updates, mu = unzip(updates, out, 2)
        return new_updates, ScaleByLionState(next_count(state.count), spec.record(values), mu)

    return transformation(init_fn, update_fn)
