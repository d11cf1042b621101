"""Adam's preconditioner (with AMSGrad and Nesterov variants)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_bool,
    check_dtype,
    check_params,
    check_update,
    increment,
    init_count,
    is_static_zero,
    lerp,
    moment_dtype,
    moments,
    next_count,
    one_minus_pow,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByAdamState", "scale_by_adam"]


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam`."""

    count: jax.Array | None  # updates applied (int32); None without bias correction or schedule
    record: HyperparamRecord  # b1, b2, eps[, eps_root]
    mu: optax.Params  # first moment, in mu_dtype
    nu: optax.Params  # second moment, in nu_dtype
    nu_max: optax.Params | None  # running maximum of nu with amsgrad, else None


def scale_by_adam(
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    eps_root: Hyperparam = 0.0,
    bias_correction: bool = True,
    amsgrad: bool = False,
    nesterov: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Rescales updates by Adam's moment estimates, as ``torch.optim.Adam``.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    (:math:`t` counts from 1). With ``amsgrad`` the denominator uses
    :math:`\max_{s \le t} v_s` of the raw (uncorrected) second moment, as PyTorch
    does; with ``eps_root`` it is :math:`\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{root}}
    + \epsilon`; with ``nesterov`` the numerator is Dozat's
    :math:`\beta_1 \hat m_t + (1 - \beta_1) g_t / (1 - \beta_1^t)` (as optax).

    ``b1`` may follow a schedule: one-cycle policies that cycle momentum write
    Adam's ``b1`` (``torch.optim.lr_scheduler.OneCycleLR(cycle_momentum=True)``);
    the bias correction then uses the current :math:`\beta_1`, as PyTorch's.

    Args:
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: term added to the denominator outside the square root, >= 0.
      eps_root: term added inside the square root, >= 0 (0 in PyTorch).
      bias_correction: divide the moments by :math:`1 - \beta^t`.
      amsgrad: use the running maximum of the second moment.
      nesterov: use Nesterov momentum (NAdam without momentum decay).
      mu_dtype: dtype of the first moment (e.g. ``jnp.bfloat16`` to save
        memory); ``None``: the parameters' dtypes, float32 for float16.
      nu_dtype: dtype of the second moment (and of ``nu_max``); ``None``: the
        parameters' dtypes, float32 for float16 parameters, whose squared
        gradients underflow in float16 (see ``docs/design.md``).

    Complex parameters are updated as their real view, as PyTorch does.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdamState`.

    Example:
      >>> import optax, optaxlr
      >>> adam = optax.chain(optaxlr.scale_by_adam(), optaxlr.scale_by_learning_rate(1e-3))
    """
    hparams = moments(b1, b2, eps)
    eps_root_checked = bounded("eps_root", eps_root, NONNEGATIVE)
    bias_correction = check_bool("bias_correction", bias_correction)
    amsgrad = check_bool("amsgrad", amsgrad)
    nesterov = check_bool("nesterov", nesterov)
    mu_dtype = check_dtype("mu_dtype", mu_dtype)
    nu_dtype = check_dtype("nu_dtype", nu_dtype)
    use_eps_root = not is_static_zero(eps_root)
    spec = HyperparamSpec(**hparams, **({"eps_root": eps_root_checked} if use_eps_root else {}))
    counts = bias_correction or spec.scheduled

    def init_fn(params):
        check_params("scale_by_adam", params)
        zeros = lambda dtype: jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=moment_dtype(p, dtype)), params
        )
        return ScaleByAdamState(
            count=init_count() if counts else None,
            record=spec.initial_record(),
            mu=zeros(mu_dtype),
            nu=zeros(nu_dtype),
            nu_max=zeros(nu_dtype) if amsgrad else None,
        )

    def update_fn(updates, state, params=None):
        check_update("scale_by_adam", state, ScaleByAdamState, updates, "mu")
        del params
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        beta1, beta2, eps_t = values["b1"], values["b2"], values["eps"]
        count = next_count(state.count)
        if bias_correction:
            assert count is not None  # a bias correction keeps a count
            inv_bc1 = 1.0 / one_minus_pow(beta1, count, dtype)
            bc2 = one_minus_pow(beta2, count, dtype)
            # A product with a scalar, not `sqrt(v) / sqrt(bc2)`: XLA rewrites that
            # quotient into `sqrt(v) * rsqrt(bc2)` only where the scalar has one user,
            # so the rounding would depend on how many leaves share it (the
            # multi-tensor layout has one buffer, a tree many).
            inv_sqrt_bc2 = 1.0 / jnp.sqrt(bc2)
            inv_bc2 = 1.0 / bc2
            if nesterov:
                inv_bc1_next = 1.0 / one_minus_pow(beta1, increment(count), dtype)
        else:
            inv_bc1 = inv_bc1_next = inv_bc2 = inv_sqrt_bc2 = 1.0

        @real_view
        def leaf(g, m, v, v_max):
            g32 = upcast(g)
            new_m = lerp(upcast(m), g32, 1 - beta1)
            new_v = upcast(v) * beta2 + (1 - beta2) * g32 * g32
            second = new_v
            if amsgrad:
                second = new_v_max = jnp.maximum(upcast(v_max), new_v)
            if use_eps_root:
                denom = jnp.sqrt(second * inv_bc2 + values["eps_root"]) + eps_t
            else:
                denom = jnp.sqrt(second) * inv_sqrt_bc2 + eps_t
            if nesterov:
                u = (beta1 * inv_bc1_next * new_m + (1 - beta1) * inv_bc1 * g32) / denom
            else:
                u = new_m / denom * inv_bc1
            out = (u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype))
            if amsgrad:
                out += (new_v_max.astype(v_max.dtype),)
            return out

        if amsgrad:
            out = jax.tree.map(leaf, updates, state.mu, state.nu, state.nu_max)
            new_updates, mu, nu, nu_max = unzip(updates, out, 4)
        else:
            out = jax.tree.map(lambda g, m, v: leaf(g, m, v, None), updates, state.mu, state.nu)
            new_updates, mu, nu = unzip(updates, out, 3)
            nu_max = None
        return new_updates, ScaleByAdamState(count, spec.record(values), mu, nu, nu_max)

    return transformation(init_fn, update_fn)
