"""Lion, as ``lion_pytorch.Lion``."""

from __future__ import annotations

from typing import Any

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_lion
from optaxlr.transforms._fused import scale_and_decouple


def lion(
    learning_rate: Hyperparam = 1e-4,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.99,
    weight_decay: Hyperparam = 0.0,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""``lion_pytorch.Lion`` 0.2.5: Lion (Chen et al., 2023, "Symbolic Discovery of ...").

    .. math::
        \theta_t = (1 - \eta_t \lambda)\, \theta_{t-1}
            - \eta_t \operatorname{sign}(\beta_1 m_{t-1} + (1 - \beta_1) g_t), \quad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    The weight decay is decoupled and follows the (scheduled) rate:
    ``lion_pytorch``'s ``p.mul_(1 - lr * wd)`` before the sign step. This is
    ``optax.lion`` up to argument names (its ``weight_decay`` defaults to 1e-3,
    here to ``lion_pytorch``'s 0; its ``mu_dtype`` is not offered). Chain:
    `scale_by_lion`, then the learning rate and the decoupled decay in one state.

    Args:
      learning_rate: >= 0 (1e-4 in ``lion_pytorch``), or a schedule.
      b1: weight of the momentum in the update, in [0, 1), or a schedule.
      b2: decay of the momentum in [0, 1), or a schedule.
      weight_decay: decoupled decay >= 0, or a schedule.
      mask: where to decay (a pytree of booleans or a function of the params).

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.lion(3e-5, weight_decay=1.0)
    """
    return chain(
        "lion", scale_by_lion(b1, b2), scale_and_decouple(learning_rate, weight_decay, mask)
    )
