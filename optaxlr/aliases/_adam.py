"""``torch.optim.Adam`` and ``torch.optim.AdamW``."""

from __future__ import annotations

from typing import Any

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import adam_family, chain
from optaxlr.transforms import scale_by_adam
from optaxlr.transforms._fused import scale_and_decouple


def adam(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    amsgrad: bool = False,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adam``, whose ``weight_decay`` is coupled L2 (added to the gradient).

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad
        \theta_t = \theta_{t-1} - \frac{\eta_t}{1 - \beta_1^t}
            \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    With ``decoupled_weight_decay=True`` it is `adamw` (PyTorch 2.13's ``Adam``
    flag: ``AdamW`` is that ``Adam``), with ``weight_decay`` still defaulting to 0.
    ``b1`` may be a schedule (one-cycle momentum cycling writes Adam's ``b1``).

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule; coupled L2 unless
        ``decoupled_weight_decay``.
      amsgrad: use the running maximum of the second moment.
      mu_dtype: dtype of the first moment (default: the parameters', float32
        for float16).
      nu_dtype: dtype of the second moment (default: the parameters', float32
        for float16).
      maximize: maximize the objective: negate the gradients first, as PyTorch.
      decoupled_weight_decay: decay the weights instead of the gradient (`adamw`).

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adam(optaxlr.schedules.one_cycle(1e-2, 1000),
      ...                    b1=optaxlr.schedules.one_cycle_momentum(1000))
    """
    return adam_family(
        "adam",
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
        fused=True,
    )


def adamw(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 1e-2,
    amsgrad: bool = False,
    mask: Any = None,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.AdamW``: Adam with decoupled weight decay.

    .. math::
        \theta_t = \theta_{t-1} - \eta_t \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
            + \lambda \theta_{t-1}\right)

    (PyTorch's ``param.mul_(1 - lr * weight_decay)`` before the Adam step).
    Chain: ``scale_by_adam``, ``scale_by_learning_rate(learning_rate)``, then
    ``decoupled_weight_decay(learning_rate, weight_decay, mask)``, which applies
    PyTorch's factor :math:`\mathrm{fl}(1 - \eta\lambda)` exactly
    (``add_decayed_weights`` between the first two is the same update up to that
    rounding); the last two are one state. The decay follows a scheduled
    learning rate.

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      amsgrad: use the running maximum of the second moment.
      mask: where to decay (a pytree of booleans or a function of the params),
        as ``optax.adamw``'s.
      mu_dtype: dtype of the first moment (default: the parameters', float32
        for float16).
      nu_dtype: dtype of the second moment (default: the parameters', float32
        for float16).
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import jax, optaxlr
      >>> opt = optaxlr.adamw(3e-4, weight_decay=0.05,
      ...                     mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    """
    return chain(
        "adamw",
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_and_decouple(learning_rate, weight_decay, mask),
        maximize=maximize,
        fused=True,
    )
