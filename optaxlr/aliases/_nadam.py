"""``torch.optim.NAdam``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import adam_family
from optaxlr.transforms import scale_by_nadam


def nadam(
    learning_rate: Hyperparam = 2e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    momentum_decay: Hyperparam = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.NAdam`` (with its momentum decay, see `scale_by_nadam`).

    Args:
      learning_rate: >= 0 (2e-3 in PyTorch), or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule; coupled L2 unless
        ``decoupled_weight_decay``.
      momentum_decay: >= 0, or a schedule.
      decoupled_weight_decay: decay the weights instead of the gradient.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.nadam()
    """
    return adam_family(
        "nadam",
        scale_by_nadam(b1, b2, eps, momentum_decay),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    )
