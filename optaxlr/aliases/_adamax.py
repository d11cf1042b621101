"""``torch.optim.Adamax``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import adam_family
from optaxlr.transforms import scale_by_adamax


def adamax(
    learning_rate: Hyperparam = 2e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adamax``: Adam with the infinity norm (see `scale_by_adamax`).

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \quad
        \theta_t = \theta_{t-1} - \frac{\eta_t}{1 - \beta_1^t} \frac{m_t}{u_t}

    ``eps`` sits inside the maximum, as in PyTorch and ``optax.adamax``; the weight
    decay is PyTorch's coupled L2 (added to the gradient), which ``optax.adamax``
    does not have.

    Args:
      learning_rate: >= 0 (2e-3 in PyTorch), or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the infinity norm in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adamax(2e-3, weight_decay=1e-4)
    """
    return adam_family(
        "adamax", scale_by_adamax(b1, b2, eps), learning_rate, weight_decay, False, maximize
    )
