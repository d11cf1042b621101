"""LAMB, as ``pytorch_optimizer.Lamb`` 4.1.0."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_lamb


def lamb(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    weight_decay: Hyperparam = 0.0,
    weight_decouple: bool = True,
    fixed_decay: bool = False,
    grad_averaging: bool = True,
    max_grad_norm: Hyperparam = 1.0,
    adam: bool = False,
    pre_norm: bool = False,
    eps: Hyperparam = 1e-6,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``pytorch_optimizer.Lamb`` 4.1.0: Adam with a layer-wise trust ratio (You et al., 2019).

    .. math::
        r_t = \frac{m_t}{\sqrt{v_t} + \epsilon}, \quad
        \theta' = (1 - \eta_t \lambda)\, \theta_{t-1}, \quad
        \theta_t = \theta' - \frac{\eta_t}{1 - \beta_1^t}
            \frac{\min(\lVert \theta' \rVert, 10)}{\lVert r_t \rVert + \epsilon}\, r_t

    per parameter array (see `scale_by_lamb` for every option). The variant is
    version 3 of the paper (arXiv:1904.00962v3): no second-moment bias correction,
    ``eps`` outside the square root, the weight norm clamped at 10; as in
    ``pytorch_optimizer`` the step size divides by :math:`1 - \beta_1^t` and
    ``eps`` is added to the update's norm too. ``optax.lamb`` is another variant
    (both moments bias-corrected, ``eps`` 1e-6 inside the Adam step only, no clamp,
    its weight decay always inside the trust ratio): with ``weight_decouple=False``
    this alias puts the decay inside the ratio as optax does.

    Not offered: ``rectify``, ``degenerated_to_sgd`` and ``n_sma_threshold``
    (RAdam-style rectification, whose trust ratio ``pytorch_optimizer`` takes from
    the norm of :math:`\theta - \eta r`), the ``adanorm``/``adam_debias`` extra
    keywords, and ``foreach`` (an implementation switch).

    Args:
      learning_rate: >= 0 (1e-3 in ``pytorch_optimizer``), or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      weight_decay: >= 0, or a schedule.
      weight_decouple: decay the parameters (AdamW-like) rather than add
        :math:`\lambda \theta` to the update inside the trust ratio.
      fixed_decay: a decoupled decay not scaled by the learning rate.
      grad_averaging: weight the new gradient in the first moment by :math:`1 - \beta_1`.
      max_grad_norm: >= 0, the global norm ``pre_norm`` scales the gradients to
        (0: no scaling), or a schedule.
      adam: a trust ratio of 1.
      pre_norm: scale all gradients by :math:`\min(1, c / (\lVert g \rVert + \epsilon))`
        first.
      eps: >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.lamb(1e-3, weight_decay=1e-2)
    """
    return chain(
        "lamb",
        scale_by_lamb(
            learning_rate,
            b1,
            b2,
            eps,
            weight_decay,
            weight_decouple=weight_decouple,
            fixed_decay=fixed_decay,
            grad_averaging=grad_averaging,
            adam=adam,
            pre_norm=pre_norm,
            max_grad_norm=max_grad_norm,
        ),
        maximize=maximize,
    )
