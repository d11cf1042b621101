"""Prodigy, as ``prodigyopt.Prodigy``."""

from __future__ import annotations

import math

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_prodigy


def prodigy(
    learning_rate: Hyperparam = 1.0,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    beta3: Hyperparam | None = None,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    d0: Hyperparam = 1e-6,
    d_coef: Hyperparam = 1.0,
    growth_rate: Hyperparam = math.inf,
    slice_p: int = 1,
) -> optax.GradientTransformation:
    r"""``prodigyopt.Prodigy`` 1.1.2: Adam with a learning rate it estimates (Mishchenko
    and Defazio, 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner").

    .. math::
        \theta_{k+1} = \theta_k - d_k \eta_k\, m_k / (\sqrt{v_k} + d_{k+1}\epsilon)

    where ``d`` grows from ``d0`` towards the distance to the solution, estimated
    from sums over all the parameters (see `optaxlr.scale_by_prodigy` for the
    whole rule, the precision of ``d`` and how it differs from
    ``optax.contrib.prodigy``). Leave ``learning_rate`` at 1 (a schedule of
    multipliers, such as a cosine decay from 1, is the intended use) and tune
    ``d_coef`` if anything. `optaxlr.hyperparams` reports ``d`` and
    ``effective_learning_rate`` (``d * learning_rate`` times the bias
    correction when on), the step size each update took. ``betas`` are ``b1``
    and ``b2`` here; ``fsdp_in_use`` has no counterpart (``jit`` sums over
    every shard). A range test (`optaxlr.find_lr`) does not apply.

    Args:
      learning_rate: multiplier of the adapted step, >= 0, or a schedule.
      b1: decay of the first moment, in [0, 1), or a schedule.
      b2: decay of the second moment, in [0, 1), or a schedule.
      beta3: decay of the estimate's sums in [0, 1), a schedule, or None for sqrt(b2).
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      decouple: AdamW-style decay (default), else L2.
      use_bias_correction: Adam's bias correction in the step size (off, as the reference).
      safeguard_warmup: leave the rate out of the estimate's denominator (for warmup).
      d0: the initial estimate of ``d``, > 0.
      d_coef: multiplier of the estimate, > 0, or a schedule.
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``.
      slice_p: estimate ``d`` from every ``slice_p``-th element, an integer >= 1.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.prodigy(optaxlr.schedules.cosine(1.0, 1000), weight_decay=0.01)
    """
    return chain(
        "prodigy",
        scale_by_prodigy(
            learning_rate,
            b1,
            b2,
            beta3,
            eps,
            weight_decay,
            decouple,
            use_bias_correction,
            safeguard_warmup,
            d0,
            d_coef,
            growth_rate,
            slice_p,
        ),
    )
