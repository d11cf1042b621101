"""``torch.optim.RMSprop``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain, decay
from optaxlr.transforms import scale_by_learning_rate, scale_by_rmsprop
from optaxlr.transforms._common import check_hyperparam, is_static_zero
from optaxlr.transforms._fused import trace_and_scale


def rmsprop(
    learning_rate: Hyperparam = 0.01,
    alpha: Hyperparam = 0.99,
    eps: Hyperparam = 1e-8,
    momentum: Hyperparam = 0.0,
    centered: bool = False,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RMSprop``.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
        u_t = \frac{g_t}{\sqrt{v_t} + \epsilon}, \quad
        b_t = \mu b_{t-1} + u_t, \quad \theta_t = \theta_{t-1} - \eta_t b_t

    ``eps`` is added outside the square root (optax's ``rmsprop`` adds it
    inside); ``centered`` subtracts the squared mean gradient from
    :math:`v_t`. Chain: ``add_decayed_weights`` (coupled),
    ``scale_by_rmsprop(alpha, eps, centered)``, ``trace(momentum)`` (left out
    without momentum), then ``scale_by_learning_rate``; the last two are one
    state. ``alpha`` is reported as ``decay``.

    Args:
      learning_rate: >= 0, or a schedule.
      alpha: smoothing constant in [0, 1], or a schedule.
      eps: >= 0, or a schedule.
      momentum: in [0, 1], or a schedule.
      centered: centered RMSprop.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.rmsprop(1e-3, momentum=0.9, centered=True)
    """
    # Checked here: the transformations call them decay, and trace is left out at 0.
    check_hyperparam("alpha", alpha, low=0.0, high=1.0)
    check_hyperparam("momentum", momentum, low=0.0, high=1.0)
    return chain(
        "rmsprop",
        decay(weight_decay),
        scale_by_rmsprop(alpha, eps, centered=centered, eps_in_sqrt=False),
        scale_by_learning_rate(learning_rate)
        if is_static_zero(momentum)
        else trace_and_scale(momentum, False, 0.0, learning_rate),
        maximize=maximize,
    )
