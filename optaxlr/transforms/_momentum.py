"""Heavy-ball and Nesterov momentum in PyTorch's convention."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import concrete_float
from optaxlr.transforms._common import (
    NONNEGATIVE,
    UNIT,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_bool,
    check_params,
    check_update,
    init_count,
    is_static_zero,
    moment_dtype,
    next_count,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["TraceState", "trace", "trace_and_scale"]


class TraceState(NamedTuple):
    """State of `trace`."""

    count: jax.Array | None  # updates applied (int32), with dampening or a schedule; else None
    record: HyperparamRecord  # momentum[, dampening][, learning_rate: in the aliases]
    trace: optax.Params  # the momentum buffer, in the parameters' dtypes (float16: float32)


def trace(
    decay: Hyperparam, nesterov: bool = False, dampening: Hyperparam = 0.0
) -> optax.GradientTransformation:
    r"""Momentum as in ``torch.optim.SGD``.

    With momentum :math:`\mu_t` (``decay``) and dampening :math:`d_t`:

    .. math::
        b_1 = g_1, \qquad b_t = \mu_t b_{t-1} + (1 - d_t)\, g_t \quad (t > 1)

    and the update is :math:`u_t = b_t`, or :math:`u_t = g_t + \mu_t b_t` with
    ``nesterov=True``. The buffer starts as the first gradient, undampened, as in
    PyTorch; without dampening this equals optax's ``trace`` (a buffer starting
    at zero). The decay may be a schedule such as
    ``optaxlr.schedules.one_cycle_momentum``; it is reported as ``momentum``.

    ``torch.optim.SGD``'s whole step is
    ``optax.chain(trace(...), scale_by_learning_rate(learning_rate))``.

    Args:
      decay: momentum coefficient in [0, 1], or a schedule.
      nesterov: use Nesterov momentum (requires a nonzero ``decay`` and no
        dampening, as in PyTorch).
      dampening: dampening in [0, 1], or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `TraceState`; the buffer has
      the parameters' dtype, half-precision leaves are updated in float32.

    Example:
      >>> import optax, optaxlr
      >>> sgd_nesterov = optax.chain(
      ...     optaxlr.trace(0.9, nesterov=True), optaxlr.scale_by_learning_rate(0.1))
    """
    return trace_and_scale(decay, nesterov, dampening, None)


def trace_and_scale(
    decay: Hyperparam, nesterov: bool, dampening: Hyperparam, learning_rate: Hyperparam | None
) -> optax.GradientTransformation:
    """`trace`, then ``scale_by_learning_rate(learning_rate)`` unless it is None, in one state.

    Private to the aliases (``transforms._fused``): `optaxlr.sgd` and `optaxlr.rmsprop`
    with momentum pass one state through each step instead of two, as PyTorch's step is
    one. The record holds ``learning_rate`` too, so `optaxlr.hyperparams` reports what
    the chain would.
    """
    momentum = bounded("decay", decay, UNIT)
    damping = bounded("dampening", dampening, UNIT)
    nesterov = check_bool("nesterov", nesterov)
    if nesterov:
        # The messages name momentum too: what optaxlr.sgd and PyTorch call decay.
        if is_static_zero(decay):
            raise ValueError("nesterov=True requires a nonzero momentum (decay), got 0")
        if not callable(dampening) and concrete_float(dampening) not in (None, 0.0):
            raise ValueError(f"nesterov=True requires dampening=0, got dampening={dampening!r}")
        # What set_hyperparams may write: Nesterov needs a momentum above 0.
        momentum = momentum._replace(interval=UNIT._replace(low_open=True))
    damped = not is_static_zero(dampening)
    hparams = {"momentum": momentum}
    if damped:
        hparams["dampening"] = damping
    if learning_rate is not None:
        hparams["learning_rate"] = bounded("learning_rate", learning_rate, NONNEGATIVE)
    spec = HyperparamSpec(**hparams)
    counts = damped or spec.scheduled

    def init_fn(params):
        check_params("trace", params)
        return TraceState(
            init_count() if counts else None,
            spec.initial_record(),
            jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params),
        )

    def update_fn(updates, state, params=None):
        check_update("trace", state, TraceState, updates, "trace")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        mu = values["momentum"]

        @real_view
        def leaf(g, b):
            g32, b32 = upcast(g), upcast(b)
            if damped:
                # PyTorch seeds the buffer with the undampened first gradient.
                first = state.count == 0
                new_b = jnp.where(first, g32, mu * b32 + (1.0 - values["dampening"]) * g32)
            else:
                new_b = mu * b32 + g32
            out = g32 + mu * new_b if nesterov else new_b
            if learning_rate is not None:
                out = -values["learning_rate"] * out
            return out.astype(g.dtype), new_b.astype(b.dtype)

        out = jax.tree.map(leaf, updates, state.trace)
        new_updates, new_trace = unzip(updates, out, 2)
        return new_updates, TraceState(next_count(state.count), spec.record(values), new_trace)

    return transformation(init_fn, update_fn)
