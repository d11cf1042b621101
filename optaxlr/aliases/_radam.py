"""``torch.optim.RAdam``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import adam_family
from optaxlr.transforms import scale_by_radam


def radam(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RAdam``: Adam with the variance rectification of `scale_by_radam`.

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule; coupled L2 unless
        ``decoupled_weight_decay`` (then AdamW-style, as PyTorch's flag).
      decoupled_weight_decay: decay the weights instead of the gradient.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.radam(1e-3, weight_decay=1e-2, decoupled_weight_decay=True)
    """
    return adam_family(
        "radam",
        scale_by_radam(b1, b2, eps),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    )
