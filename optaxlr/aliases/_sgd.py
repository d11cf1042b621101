"""``torch.optim.SGD``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain, decay
from optaxlr.transforms import scale_by_learning_rate, trace
from optaxlr.transforms._common import check_hyperparam, is_static_zero
from optaxlr.transforms._fused import trace_and_scale


def sgd(
    learning_rate: Hyperparam = 1e-3,
    momentum: Hyperparam = 0.0,
    dampening: Hyperparam = 0.0,
    nesterov: bool = False,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.SGD``: gradient descent with optional momentum and L2 weight decay.

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad
        b_t = \mu b_{t-1} + (1 - d) g_t \ (b_1 = g_1), \quad
        \theta_t = \theta_{t-1} - \eta_t \, (b_t \text{ or } g_t + \mu b_t)

    Chain: ``add_decayed_weights(weight_decay)`` (coupled, as PyTorch),
    ``trace(momentum, nesterov, dampening)`` (left out without momentum), then
    ``scale_by_learning_rate(learning_rate)``; the last two are one state.

    Args:
      learning_rate: >= 0 (1e-3 in PyTorch 2.13), or a schedule.
      momentum: in [0, 1], or a schedule (e.g. ``one_cycle_momentum``).
      dampening: in [0, 1], or a schedule.
      nesterov: Nesterov momentum; needs momentum > 0 and dampening 0.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.sgd(optaxlr.schedules.cosine(0.1, 1000), momentum=0.9, nesterov=True)
    """
    # Checked here under its own name: trace calls it decay.
    check_hyperparam("momentum", momentum, low=0.0, high=1.0)
    if is_static_zero(momentum):
        # Built for its checks of nesterov and dampening alone: as in PyTorch,
        # dampening without momentum has no effect.
        trace(momentum, nesterov, dampening)
        step = scale_by_learning_rate(learning_rate)
    else:
        step = trace_and_scale(momentum, nesterov, dampening, learning_rate)
    # Without momentum the step keeps no state: one loop per leaf already.
    fused = not is_static_zero(momentum)
    return chain("sgd", decay(weight_decay), step, maximize=maximize, fused=fused)
