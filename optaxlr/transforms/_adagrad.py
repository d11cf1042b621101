"""Adagrad's preconditioner."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_number
from optaxlr.transforms._common import (
    NONNEGATIVE,
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

__all__ = ["ScaleByAdagradState", "scale_by_adagrad"]


class ScaleByAdagradState(NamedTuple):
    """State of `scale_by_adagrad`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # eps
    sum_of_squares: optax.Params  # in accumulator_dtype


def scale_by_adagrad(
    initial_accumulator_value: float = 0.0,
    eps: Hyperparam = 1e-10,
    accumulator_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Divides by the root of the sum of all squared gradients, as ``torch.optim.Adagrad``.

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad u_t = \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`s_0` = ``initial_accumulator_value``. Unlike optax's
    ``scale_by_rss``, ``eps`` is added outside the square root (PyTorch's
    convention) and a zero accumulator gives a zero update.

    Args:
      initial_accumulator_value: starting value of the accumulator, >= 0 (a
        number: it is used once, at init).
      eps: term added to the denominator, >= 0, or a schedule.
      accumulator_dtype: dtype of the sum of squares; ``None``: the
        parameters' dtypes, float32 for float16 parameters.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdagradState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_adagrad(), optaxlr.scale_by_learning_rate(0.01))
    """
    check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)
    spec = HyperparamSpec(eps=bounded("eps", eps, NONNEGATIVE))
    accumulator_dtype = check_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        check_params("scale_by_adagrad", params)
        sums = jax.tree.map(
            lambda p: jnp.full_like(
                p, initial_accumulator_value, dtype=moment_dtype(p, accumulator_dtype)
            ),
            params,
        )
        return ScaleByAdagradState(
            init_count() if spec.scheduled else None, spec.initial_record(), sums
        )

    def update_fn(updates, state, params=None):
        check_update("scale_by_adagrad", state, ScaleByAdagradState, updates, "sum_of_squares")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        eps_t = values["eps"]

        @real_view
        def leaf(g, s):
            g32 = upcast(g)
            new_s = upcast(s) + g32 * g32
            return (g32 / (jnp.sqrt(new_s) + eps_t)).astype(g.dtype), new_s.astype(s.dtype)

        out = jax.tree.map(leaf, updates, state.sum_of_squares)
        new_updates, sums = unzip(updates, out, 2)
        return new_updates, ScaleByAdagradState(next_count(state.count), spec.record(values), sums)

    return transformation(init_fn, update_fn)
