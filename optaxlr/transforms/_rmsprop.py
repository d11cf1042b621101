"""RMSprop's preconditioner, plain and centered."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr.transforms._common import (
    Hyperparam,
    check_bool,
    check_hyperparam,
    init_count,
    init_record,
    lerp,
    state_class_for,
    step,
    unzip,
    upcast,
)

__all__ = ["ScaleByRmspropState", "scale_by_rmsprop"]


class ScaleByRmspropState(NamedTuple):
    """State of `scale_by_rmsprop`."""

    count: jax.Array  # int32 scalar, saturating
    hyperparams: dict[str, jax.Array] | None  # {"decay", "eps": float32}
    nu: optax.Params  # mean of squared gradients, parameters' dtypes
    mu: optax.Params | None  # mean of gradients when centered, else None


def scale_by_rmsprop(
    decay: Hyperparam = 0.99,
    eps: Hyperparam = 1e-8,
    centered: bool = False,
    eps_in_sqrt: bool = False,
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

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByRmspropState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(
      ...     optaxlr.scale_by_rmsprop(centered=True), optaxlr.scale_by_learning_rate(0.01))
    """
    check_hyperparam("decay", decay, low=0.0, high=1.0)
    check_hyperparam("eps", eps, low=0.0)
    centered = check_bool("centered", centered)
    eps_in_sqrt = check_bool("eps_in_sqrt", eps_in_sqrt)
    hparams = {"decay": decay, "eps": eps}

    new_state = state_class_for(ScaleByRmspropState, hparams)

    def init_fn(params):
        nu = jax.tree.map(jnp.zeros_like, params)
        mu = jax.tree.map(jnp.zeros_like, params) if centered else None
        return new_state(init_count(), init_record(hparams), nu, mu)

    def update_fn(updates, state, params=None):
        del params
        values, recorded, count = step(hparams, state.count)
        a, eps_t = values["decay"], values["eps"]

        def denominator(square):
            if eps_in_sqrt:
                return jnp.sqrt(square + eps_t)
            return jnp.sqrt(square) + eps_t

        if centered:

            def leaf(g, v, m):
                g32 = upcast(g)
                new_v = upcast(v) * a + (1 - a) * g32 * g32
                new_m = lerp(upcast(m), g32, 1 - a)
                u = g32 / denominator(new_v - new_m * new_m)
                return u.astype(g.dtype), new_v.astype(v.dtype), new_m.astype(m.dtype)

            out = jax.tree.map(leaf, updates, state.nu, state.mu)
            new_updates, nu, mu = unzip(updates, out, 3)
        else:

            def leaf(g, v):
                g32 = upcast(g)
                new_v = upcast(v) * a + (1 - a) * g32 * g32
                return (g32 / denominator(new_v)).astype(g.dtype), new_v.astype(v.dtype)

            out = jax.tree.map(leaf, updates, state.nu)
            new_updates, nu = unzip(updates, out, 2)
            mu = None
        return new_updates, new_state(count, recorded, nu, mu)

    return optax.GradientTransformation(init_fn, update_fn)
