"""``torch.optim.Adagrad``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam, value_at
from optaxlr.aliases._common import chain, decay
from optaxlr.transforms import scale_by_adagrad, scale_by_learning_rate
from optaxlr.transforms._common import check_hyperparam, is_static_zero


def _decayed_learning_rate(learning_rate: Hyperparam, lr_decay: Hyperparam) -> Callable:
    def schedule(count: jax.Array) -> jax.Array:
        lr = value_at(learning_rate, count)
        decay = value_at(lr_decay, count)
        return jnp.asarray(lr / (1.0 + jnp.asarray(count, float) * decay), float)

    return schedule


def adagrad(
    learning_rate: Hyperparam = 0.01,
    initial_accumulator_value: float = 0.0,
    eps: Hyperparam = 1e-10,
    weight_decay: Hyperparam = 0.0,
    lr_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adagrad``.

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad s_t = s_{t-1} + g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{\eta_t}{1 + (t-1)\kappa}
            \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`\kappa` = ``lr_decay``; the reported ``learning_rate`` is the
    decayed one.

    Args:
      learning_rate: >= 0, or a schedule.
      initial_accumulator_value: starting value of :math:`s`, >= 0.
      eps: >= 0, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      lr_decay: PyTorch's ``lr_decay`` >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adagrad(0.05, initial_accumulator_value=0.1)
    """
    check_hyperparam("lr_decay", lr_decay, low=0.0)
    lr = learning_rate
    if not is_static_zero(lr_decay):
        # Checked here: it reaches scale_by_learning_rate inside a schedule.
        check_hyperparam("learning_rate", learning_rate, low=0.0)
        lr = _decayed_learning_rate(learning_rate, lr_decay)
    return chain(
        "adagrad",
        decay(weight_decay),
        scale_by_adagrad(initial_accumulator_value, eps),
        scale_by_learning_rate(lr),
        maximize=maximize,
    )
