"""LARS, as ``pytorch_optimizer.LARS`` 4.1.0."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_lars, scale_by_learning_rate


def lars(
    learning_rate: Hyperparam = 1e-3,
    weight_decay: Hyperparam = 0.0,
    momentum: Hyperparam = 0.9,
    dampening: Hyperparam = 0.0,
    trust_coefficient: Hyperparam = 1e-3,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``pytorch_optimizer.LARS`` 4.1.0: SGD with a layer-wise trust ratio (You et al., 2017).

    For each parameter array with more than one dimension:

    .. math::
        d_t = \frac{k \lVert \theta \rVert}{\lVert g_t \rVert + \lambda \lVert \theta \rVert}
            (g_t + \lambda \theta), \quad
        b_t = \mu b_{t-1} + (1 - \delta) d_t, \quad
        \theta_t = \theta_{t-1} - \eta_t b_t

    (Nesterov: :math:`\eta_t (d_t + \mu b_t)`; the buffer starts at zero). Scalars
    and vectors (biases, norm scales) take plain momentum SGD, without the ratio
    and without weight decay, as ``pytorch_optimizer`` does. Chain: `scale_by_lars`
    then `scale_by_learning_rate`. ``optax.lars`` differs: no
    :math:`\lambda \lVert \theta \rVert` in the ratio's denominator, decay and
    ratio on every array unless masked, the rate applied before the momentum, and
    its ``trust_coefficient`` 1e-3 with ``eps`` 0.

    Args:
      learning_rate: >= 0 (1e-3 in ``pytorch_optimizer``), or a schedule.
      weight_decay: >= 0, or a schedule.
      momentum: in [0, 1), or a schedule; the number 0 keeps no buffer.
      dampening: in [0, 1), or a schedule.
      trust_coefficient: :math:`k` >= 0, or a schedule.
      nesterov: Nesterov momentum (with any dampening, as ``pytorch_optimizer``).
      maximize: maximize the objective: negate the gradients first.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.lars(0.1, weight_decay=1e-4, trust_coefficient=1e-3)
    """
    return chain(
        "lars",
        scale_by_lars(weight_decay, momentum, dampening, trust_coefficient, nesterov),
        scale_by_learning_rate(learning_rate),
        maximize=maximize,
    )
