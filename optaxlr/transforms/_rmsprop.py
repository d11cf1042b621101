"""RMSprop's preconditioner, plain and centered."""

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
    check_bool,
    check_dtype,
    check_params,
    check_update,
    init_count,
    lerp,
    moment_dtype,
    next_count,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByRmspropState", "scale_by_rmsprop"]


class ScaleByRmspropState(NamedTuple):
    """State of `scale_by_rmsprop`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # decay, eps
    nu: optax.Params  # mean of squared gradients, in nu_dtype
    mu: optax.Params | None  # mean of gradients when centered, else None


def scale_by_rmsprop(
    decay: Hyperparam = 0.99,
    eps: Hyperparam = 1e-8,
    centered: bool = False,
    eps_in_sqrt: bool = False,
    nu_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Divides by the root mean square of recent gradients, as ``torch.optim.RMSprop``.

    With :math:`\alpha` = ``decay``:

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{v_t} + \epsilon}

    Centered: :math:`m_t = \alpha m_{t-1} + (1 - \alpha) g_t` and the denominator
    is :math:`\sqrt{v_t - m_t^2} + \epsilon`. With ``eps_in_sqrt=True`` the
    denominator is :math:`\sqrt{\cdot + \epsilon}` (optax's and Keras' default);
    PyTorch adds ``eps`` outside, the default here. Momentum is a separate
    `trace` after this transformation.

    Args:
      decay: smoothing constant (PyTorch's ``alpha``) in [0, 1], or a schedule.
      eps: term added to the denominator, >= 0, or a schedule.
      centered: normalise by the variance estimate instead of the raw second moment.
      eps_in_sqrt: add ``eps`` inside the square root.
      nu_dtype: dtype of the mean of squares; ``None``: the parameters'
        dtypes, float32 for float16 parameters.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByRmspropState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(
      ...     optaxlr.scale_by_rmsprop(centered=True), optaxlr.scale_by_learning_rate(0.01))
    """
    spec = HyperparamSpec(
        decay=bounded("decay", decay, UNIT, aliases=("alpha",)),
        eps=bounded("eps", eps, NONNEGATIVE),
    )
    centered = check_bool("centered", centered)
    eps_in_sqrt = check_bool("eps_in_sqrt", eps_in_sqrt)
    nu_dtype = check_dtype("nu_dtype", nu_dtype)

    def init_fn(params):
        check_params("scale_by_rmsprop", params)
        nu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p, nu_dtype)), params)
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByRmspropState(
            init_count() if spec.scheduled else None,
            spec.initial_record(),
            nu,
            mu if centered else None,
        )

    def update_fn(updates, state, params=None):
        check_update("scale_by_rmsprop", state, ScaleByRmspropState, updates, "nu")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        a, eps_t = values["decay"], values["eps"]

        def denominator(square):
            if eps_in_sqrt:
                return jnp.sqrt(square + eps_t)
            return jnp.sqrt(square) + eps_t

        @real_view
        def leaf(g, v, m):
            g32 = upcast(g)
            new_v = upcast(v) * a + (1 - a) * g32 * g32
            if not centered:
                return (g32 / denominator(new_v)).astype(g.dtype), new_v.astype(v.dtype)
            new_m = lerp(upcast(m), g32, 1 - a)
            u = g32 / denominator(new_v - new_m * new_m)
            return u.astype(g.dtype), new_v.astype(v.dtype), new_m.astype(m.dtype)

        if centered:
            out = jax.tree.map(leaf, updates, state.nu, state.mu)
            new_updates, nu, mu = unzip(updates, out, 3)
        else:
            out = jax.tree.map(lambda g, v: leaf(g, v, None), updates, state.nu)
            new_updates, nu = unzip(updates, out, 2)
            mu = None
        return new_updates, ScaleByRmspropState(
            next_count(state.count), spec.record(values), nu, mu
        )

    return transformation(init_fn, update_fn)
