"""Rprop's sign-based step sizes, as ``torch.optim.Rprop``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord, is_constant
from optaxlr._validation import Interval
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    init_count,
    moment_dtype,
    next_count,
    pair,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = ["ScaleByRpropState", "scale_by_rprop"]

#: eta_minus: (0, 1); eta_plus: (1, inf), as ``torch.optim.Rprop`` checks them.
ETA_MINUS = Interval(low=0.0, high=1.0, low_open=True, high_open=True)
ETA_PLUS = Interval(low=1.0, low_open=True)


class ScaleByRpropState(NamedTuple):
    """State of `scale_by_rprop`."""

    count: jax.Array | None  # updates applied (int32) with a schedule, else None
    record: HyperparamRecord  # eta_minus, eta_plus, step_size_min, step_size_max, learning_rate
    prev: optax.Params  # the previous (masked) gradient (float32 for float16 parameters)
    step_size: optax.Params  # per-element step sizes, starting at learning_rate


def scale_by_rprop(
    learning_rate: Hyperparam = 1e-2,
    etas: tuple[Hyperparam, Hyperparam] = (0.5, 1.2),
    step_sizes: tuple[Hyperparam, Hyperparam] = (1e-6, 50.0),
) -> optax.GradientTransformation:
    r"""Rprop's whole step (the sign of the update included), as ``torch.optim.Rprop``.

    Each element keeps a step size :math:`s` (``learning_rate`` at first) and the
    previous gradient :math:`g'` (0 at first):

    .. math::
        s_t = \operatorname{clip}(s_{t-1} \cdot f_t,\ s_{\min},\ s_{\max}), \quad
        f_t = \begin{cases} \eta_+ & g_t g'_{t-1} > 0 \\ \eta_- & g_t g'_{t-1} < 0 \\
        1 & \text{otherwise} \end{cases}, \quad
        \Delta_t = -\operatorname{sign}(\tilde g_t)\, s_t, \quad g'_t = \tilde g_t

    where :math:`\tilde g_t` is :math:`g_t` set to 0 where the sign flipped (so the next
    step neither grows nor shrinks there), as PyTorch does. The output is the whole
    update (it is negative along the gradient): don't chain a learning rate after it.

    ``learning_rate`` is only the *initial* step size, as in PyTorch, which reads its
    ``lr`` once, when the state is created. A schedule for it is refused (there is
    no per-step rate to schedule); changing it after ``init`` (``set_hyperparams``
    under ``optax.inject_hyperparams``) changes what is reported, not the step sizes
    already in the state. The other four may be schedules.

    Complex parameters are updated as their real view, as PyTorch does (the
    imaginary parts start with the same step size).

    Args:
      learning_rate: the initial step size, >= 0 (a number or an array).
      etas: ``(eta_minus, eta_plus)``, with ``0 < eta_minus < 1 < eta_plus``; each a
        number, an array or a schedule.
      step_sizes: ``(step_size_min, step_size_max)``, ``0 <= min <= max``; each a
        number, an array or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByRpropState`.

    Example:
      >>> import optaxlr
      >>> tx = optaxlr.scale_by_rprop(1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0))
    """
    who = "scale_by_rprop"
    if callable(learning_rate):
        raise TypeError(
            f"{who}: learning_rate is Rprop's initial step size, read once at init as "
            "torch.optim.Rprop does; a schedule is refused (schedule etas or step_sizes, "
            "or scale the updates)"
        )
    eta_minus, eta_plus = pair(who, "etas", etas)
    step_min, step_max = pair(who, "step_sizes", step_sizes)
    spec = HyperparamSpec(
        eta_minus=bounded("etas[0] (eta_minus)", eta_minus, ETA_MINUS),
        eta_plus=bounded("etas[1] (eta_plus)", eta_plus, ETA_PLUS),
        step_size_min=bounded("step_sizes[0] (min)", step_min, NONNEGATIVE),
        step_size_max=bounded("step_sizes[1] (max)", step_max, NONNEGATIVE),
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE),
    )
    if is_constant(step_min) and is_constant(step_max) and float(step_min) > float(step_max):
        raise ValueError(
            f"{who}: step_sizes must be (min, max) with min <= max, got {tuple(step_sizes)!r}"
        )

    def init_fn(params):
        check_params(who, params)
        lr = jnp.asarray(spec.hparams["learning_rate"])  # never a schedule (refused above)

        def start(p):
            dtype = moment_dtype(p)
            value = lr * (1 + 1j) if jnp.iscomplexobj(p) else lr
            return jnp.full_like(p, value, dtype)  # like p: its shape and sharding

        prev = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        step_size = jax.tree.map(start, params)
        count = init_count() if spec.scheduled else None
        return ScaleByRpropState(count, spec.initial_record(), prev, step_size)

    def update_fn(updates, state, params=None):
        check_update(who, state, ScaleByRpropState, updates, "prev")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        e_minus, e_plus = values["eta_minus"], values["eta_plus"]
        s_min, s_max = values["step_size_min"], values["step_size_max"]

        @real_view
        def leaf(g, prev, s):
            g32 = upcast(g)
            sign = jnp.sign(g32 * upcast(prev))
            factor = jnp.where(sign > 0, e_plus, jnp.where(sign < 0, e_minus, 1.0))
            new_s = jnp.minimum(jnp.maximum(upcast(s) * factor.astype(g32.dtype), s_min), s_max)
            new_s = new_s.astype(g32.dtype)
            masked = jnp.where(sign < 0, jnp.zeros_like(g32), g32)
            step = -jnp.sign(masked) * new_s
            return step.astype(g.dtype), masked.astype(prev.dtype), new_s.astype(s.dtype)

        out = jax.tree.map(leaf, updates, state.prev, state.step_size)
        new_updates, prev, step_size = unzip(updates, out, 3)
        record = spec.record(values)
        return new_updates, ScaleByRpropState(next_count(state.count), record, prev, step_size)

    return transformation(init_fn, update_fn)
