"""Adamax's preconditioner: Adam with the infinity norm, as ``torch.optim.Adamax``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    Hyperparam,
    HyperparamSpec,
    check_params,
    check_update,
    increment,
    init_count,
    lerp,
    moment_dtype,
    moments,
    one_minus_pow,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByAdamaxState", "scale_by_adamax"]


class ScaleByAdamaxState(NamedTuple):
    """State of `scale_by_adamax`."""

    count: jax.Array  # updates applied (int32, saturating)
    record: HyperparamRecord  # b1, b2, eps
    mu: optax.Params  # first moment (float32 for float16 parameters)
    nu: optax.Params  # exponentially weighted infinity norm (float32 for float16)


def scale_by_adamax(
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
) -> optax.GradientTransformation:
    r"""Rescales updates by Adamax's moments, as ``torch.optim.Adamax``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \qquad
        \Delta_t = \frac{m_t}{(1 - \beta_1^t)\, u_t}

    (:math:`t` counts from 1): ``eps`` is added inside the maximum and only the
    first moment is bias-corrected, as PyTorch does and as
    ``optax.scale_by_adamax`` does too.

    Complex parameters are updated as their real view, as PyTorch does.

    Args:
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the infinity norm in [0, 1), or a schedule.
      eps: term added to :math:`|g_t|` inside the maximum, >= 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdamaxState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_adamax(), optaxlr.scale_by_learning_rate(2e-3))
    """
    spec = HyperparamSpec(**moments(b1, b2, eps))

    def init_fn(params):
        check_params("scale_by_adamax", params)
        zeros = lambda: jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByAdamaxState(init_count(), spec.initial_record(), zeros(), zeros())

    def update_fn(updates, state, params=None):
        check_update("scale_by_adamax", state, ScaleByAdamaxState, updates, "mu")
        del params
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        beta1, beta2, eps_t = values["b1"], values["b2"], values["eps"]
        count = increment(state.count)
        # A product with the scalar reciprocal (see scale_by_adam).
        inv_bc1 = 1.0 / one_minus_pow(beta1, count, dtype)

        @real_view
        def leaf(g, m, u):
            g32 = upcast(g)
            new_m = lerp(upcast(m), g32, 1 - beta1)
            new_u = jnp.maximum(upcast(u) * beta2, jnp.abs(g32) + eps_t)
            step = new_m / new_u * inv_bc1
            return step.astype(g.dtype), new_m.astype(m.dtype), new_u.astype(u.dtype)

        out = jax.tree.map(leaf, updates, state.mu, state.nu)
        new_updates, mu, nu = unzip(updates, out, 3)
        return new_updates, ScaleByAdamaxState(count, spec.record(values), mu, nu)

    return transformation(init_fn, update_fn)
