"""Two transformations' work in one state: the fused forms, private to `optaxlr.aliases`.

Public transformations do one job each and compose with ``optax.chain``. An alias's
last steps are fused where that keeps a small model's step at optax's speed (each
state passes in and out of every jitted call, see ``docs/performance.md``):

- `trace_and_scale`: `trace` then `scale_by_learning_rate` (``sgd`` and ``rmsprop``
  with momentum), one `TraceState`;
- `scale_and_decouple`: `scale_by_learning_rate` then `decoupled_weight_decay` with
  the same rate (``adamw``; ``radam``/``nadam`` with ``decoupled_weight_decay``),
  one `ScaleByLearningRateState`: a scheduled rate is evaluated and counted once.

Each gives the chain's updates (to the bit, but for half precision, where the fused
form rounds once fewer) and a record holding both transformations' values, so
`optaxlr.hyperparams` reports what the chain would.
"""

from __future__ import annotations

import optax

from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    is_static_zero,
)
from optaxlr.transforms._momentum import trace_and_scale
from optaxlr.transforms._scale import rate_transformation, scale_by_learning_rate, scale_leaves
from optaxlr.transforms._weight_decay import Mask, check_mask, decay_mask, decouple

__all__ = ["scale_and_decouple", "trace_and_scale"]


def scale_and_decouple(
    learning_rate: Hyperparam, weight_decay: Hyperparam, mask: Mask = None
) -> optax.GradientTransformation:
    """``chain(scale_by_learning_rate(lr), decoupled_weight_decay(lr, wd, mask))``, fused."""
    decay = bounded("weight_decay", weight_decay, NONNEGATIVE)
    mask = check_mask(mask)
    if is_static_zero(weight_decay):
        return scale_by_learning_rate(learning_rate)
    spec = HyperparamSpec(
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE), weight_decay=decay
    )

    def apply(updates, values, params):
        lr = values["learning_rate"]
        return decouple(scale_leaves(updates, -lr), params, lr, values["weight_decay"], mask)

    # A mask that doesn't fit the parameters fails at init.
    return rate_transformation(spec, apply, lambda params: decay_mask(mask, params))
