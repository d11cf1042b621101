"""Rectified Adam's preconditioner."""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import is_traced
from optaxlr.transforms._common import (
    Hyperparam,
    HyperparamSpec,
    check_dtype,
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

__all__ = ["ScaleByRadamState", "scale_by_radam"]

# PyTorch rectifies once the length of the approximated SMA exceeds 5.
_RHO_THRESHOLD = 5.0


class ScaleByRadamState(NamedTuple):
    """State of `scale_by_radam`."""

    count: jax.Array  # updates applied (int32, saturating)
    record: HyperparamRecord  # b1, b2, eps
    mu: optax.Params  # first moment, in the parameters' dtypes (float32 for float16)
    nu: optax.Params  # second moment, in nu_dtype


def _rho_constants(b2: Any, dtype: Any) -> tuple[Any, Any, Any]:
    """(rho_inf, c - 1, log b2) with c = 2 / (1 - b2) + 2 / log(b2); see `_rho`."""
    if isinstance(b2, numbers.Real) and not is_traced(b2):
        delta = 1.0 - float(b2)
        log_b2 = math.log1p(-delta) if delta < 1.0 else -math.inf
        rho_inf = 2.0 / delta - 1.0
        c = 2.0 / delta + (2.0 / log_b2 if delta < 1.0 else 0.0)
        return rho_inf, c - 1.0, log_b2
    delta = 1.0 - jnp.asarray(b2, dtype)
    log_b2 = jnp.log1p(-delta)
    return 2.0 / delta - 1.0, 2.0 / delta + 2.0 / log_b2 - 1.0, log_b2


def _one_over_y_minus_one_over_expm1(y: jax.Array) -> jax.Array:
    """``1/y - 1/expm1(y)`` for ``y > 0`` without cancellation (Bernoulli series below 0.5)."""
    y2 = y * y
    series = 0.5 - y * (1.0 / 12.0 - y2 * (1.0 / 720.0 - y2 * (1.0 / 30240.0 - y2 / 1209600.0)))
    safe = jnp.maximum(y, 0.5)
    return jnp.where(y < 0.5, series, 1.0 / safe - 1.0 / jnp.expm1(safe))


def _rho(t: jax.Array, c_minus_one: Any, log_b2: Any, dtype: Any) -> jax.Array:
    r"""Length of the approximated SMA, :math:`\rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)`.

    The two terms nearly cancel for small ``t`` (1999 - 1998 at ``t = 1`` with
    ``b2 = 0.999``), losing 4 digits in float32. With :math:`y = -t \log\beta_2`
    it equals :math:`(c - 1) + 2 t f(y)` where :math:`f(y) = 1/y - 1/(e^y - 1)`
    is smooth and :math:`c - 1 = 2/(1-\beta_2) + 2/\log\beta_2 - 1` is a
    constant, computed in float64 for a constant ``b2``.
    """
    t = jnp.asarray(t, dtype)
    y = -t * log_b2
    return c_minus_one + 2.0 * t * _one_over_y_minus_one_over_expm1(y)


def scale_by_radam(
    b1: Hyperparam = 0.9, b2: Hyperparam = 0.999, eps: Hyperparam = 1e-8, nu_dtype: Any = None
) -> optax.GradientTransformation:
    r"""Rectified Adam (Liu et al., 2020) as ``torch.optim.RAdam``.

    Moments as in `scale_by_adam`. With
    :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`:

    .. math::
        u_t = \begin{cases}
          \hat m_t \, r_t \, \dfrac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}
            & \rho_t > 5 \\
          \hat m_t & \text{otherwise}
        \end{cases}, \quad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                         {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}

    with :math:`\hat m_t = m_t / (1 - \beta_1^t)`.

    Args:
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: term added to the denominator, >= 0, or a schedule.
      nu_dtype: dtype of the second moment; ``None``: the parameters' dtypes,
        float32 for float16 parameters.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByRadamState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_radam(), optaxlr.scale_by_learning_rate(1e-3))
    """
    spec = HyperparamSpec(**moments(b1, b2, eps))
    nu_dtype = check_dtype("nu_dtype", nu_dtype)

    def init_fn(params):
        check_params("scale_by_radam", params)
        zeros = lambda dtype: jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=moment_dtype(p, dtype)), params
        )
        return ScaleByRadamState(init_count(), spec.initial_record(), zeros(None), zeros(nu_dtype))

    def update_fn(updates, state, params=None):
        check_update("scale_by_radam", state, ScaleByRadamState, updates, "mu")
        del params
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        count = increment(state.count)
        beta1, beta2, eps_t = values["b1"], values["b2"], values["eps"]
        # Products with scalar reciprocals, not quotients by scalars: XLA rewrites
        # those only where the scalar has one user (see scale_by_adam).
        inv_bc1 = 1.0 / one_minus_pow(beta1, count, dtype)
        sqrt_bc2 = jnp.sqrt(one_minus_pow(beta2, count, dtype))
        rho_inf, c_minus_one, log_b2 = _rho_constants(beta2, dtype)
        rho_t = _rho(count, c_minus_one, log_b2, dtype)
        rectify = rho_t > _RHO_THRESHOLD
        rect = jnp.sqrt(
            jnp.where(rectify, (rho_t - 4.0) * (rho_t - 2.0), 1.0)
            * (rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0)))
            / jnp.where(rectify, rho_t, 1.0)
        )

        @real_view
        def leaf(g, m, v):
            g32 = upcast(g)
            new_m = lerp(upcast(m), g32, 1 - beta1)
            new_v = upcast(v) * beta2 + (1 - beta2) * g32 * g32
            m_hat = new_m * inv_bc1
            adaptive = sqrt_bc2 / (jnp.sqrt(new_v) + eps_t)
            u = jnp.where(rectify, m_hat * adaptive * rect, m_hat)
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        out = jax.tree.map(leaf, updates, state.mu, state.nu)
        new_updates, mu, nu = unzip(updates, out, 3)
        return new_updates, ScaleByRadamState(count, spec.record(values), mu, nu)

    return transformation(init_fn, update_fn)
