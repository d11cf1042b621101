"""Averaged SGD, as ``torch.optim.ASGD``: its decaying rate and the running average ``ax``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import Interval
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    increment,
    init_count,
    is_static_zero,
    moment_dtype,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByAsgdState", "scale_by_asgd"]

#: Any real number (PyTorch does not check ``t0``).
REAL = Interval()


class ScaleByAsgdState(NamedTuple):
    """State of `scale_by_asgd`."""

    count: jax.Array  # updates applied (int32, saturating): PyTorch's ``step``
    record: HyperparamRecord  # lambd, alpha, t0, weight_decay, learning_rate
    ax: optax.Params  # the averaged parameters (float32 for float16 parameters)


def scale_by_asgd(
    learning_rate: Hyperparam = 1e-2,
    lambd: Hyperparam = 1e-4,
    alpha: Hyperparam = 0.75,
    t0: Hyperparam = 1e6,
    weight_decay: Hyperparam = 0.0,
) -> optax.GradientTransformation:
    r"""ASGD's whole step and its parameter average, as ``torch.optim.ASGD``.

    At the update :math:`t` (counting from 1, :math:`k = t - 1` updates before it):

    .. math::
        \eta_t = \frac{\gamma}{(1 + \lambda \gamma k)^{\alpha}}, \quad
        \mu_t = \frac{1}{\max(1, k - t_0)}, \quad
        \theta_t = \theta_{t-1} (1 - \lambda \eta_t) - \eta_t (g_t + w \theta_{t-1}), \quad
        \bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1})

    (:math:`\gamma` the learning rate, :math:`w` the L2 ``weight_decay``). The output
    is the whole update :math:`\theta_t - \theta_{t-1}`: this transformation is the
    last of a chain, since :math:`\bar\theta_t` (``ax``, read with
    `optaxlr.asgd_average`) is computed from the parameters after this update.
    ``update`` needs ``params``.

    PyTorch computes :math:`\eta` and :math:`\mu` at the end of a step for the next one;
    here they are computed from the count, the same numbers. A scheduled
    ``learning_rate`` (or ``lambd``, ``alpha``, ``t0``) is evaluated at :math:`k`,
    where a PyTorch LR scheduler's new rate would reach :math:`\eta` one step later.

    Complex parameters are updated as their real view, as PyTorch does.

    Args:
      learning_rate: >= 0 (1e-2 in PyTorch), or a schedule.
      lambd: the decay term :math:`\lambda`, >= 0, or a schedule.
      alpha: the power of the rate's decay, >= 0, or a schedule.
      t0: the update count from which the average starts, or a schedule.
      weight_decay: L2 coefficient >= 0 (added to the gradient), or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAsgdState`.

    Example:
      >>> import optaxlr
      >>> tx = optaxlr.scale_by_asgd(1e-2, t0=100.0)
    """
    who = "scale_by_asgd"
    spec = HyperparamSpec(
        lambd=bounded("lambd", lambd, NONNEGATIVE),
        alpha=bounded("alpha", alpha, NONNEGATIVE),
        t0=bounded("t0", t0, REAL),
        weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE),
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE),
    )
    decay = not is_static_zero(weight_decay)

    def init_fn(params):
        check_params(who, params)
        ax = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByAsgdState(init_count(), spec.initial_record(), ax)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                f"{who} (optaxlr.asgd): update needs params, since ASGD's decay term and "
                "its average ax are computed from them; call update(grads, state, params)"
            )
        check_update(who, state, ScaleByAsgdState, updates, "ax", params)
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        lr, lam, wd = values["learning_rate"], values["lambd"], values["weight_decay"]
        k = jnp.asarray(state.count, dtype)
        eta = (lr / (1 + lam * lr * k) ** values["alpha"]).astype(dtype)
        mu = (1 / jnp.maximum(1, k - values["t0"])).astype(dtype)
        decay_rate = (lam * eta).astype(dtype)

        @real_view
        def leaf(g, p, ax):
            g32, p32 = upcast(g), upcast(p)
            if decay:
                g32 = g32 + wd * p32
            # theta (1 - lambd eta) - eta g, as an update (one rounding fewer than torch).
            step = (-(p32 * decay_rate) - eta * g32).astype(g.dtype)
            # The parameters optax.apply_updates will produce, in their own dtype.
            applied = upcast((p + step).astype(p.dtype))
            ax32 = upcast(ax)
            new_ax = jnp.where(mu == 1, applied, ax32 + (applied - ax32) * mu)
            return step, new_ax.astype(ax.dtype)

        out = jax.tree.map(leaf, updates, params, state.ax)
        new_updates, ax = unzip(updates, out, 2)
        return new_updates, ScaleByAsgdState(increment(state.count), spec.record(values), ax)

    return transformation(init_fn, update_fn)
