"""D-Adaptation, as ``dadaptation.DAdaptAdam`` and ``dadaptation.DAdaptSGD``."""

from __future__ import annotations

import math

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_dadapt_adam, scale_by_dadapt_sgd


def dadapt_adam(
    learning_rate: Hyperparam = 1.0,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    decouple: bool = False,
    use_bias_correction: bool = False,
    d0: Hyperparam = 1e-6,
    growth_rate: Hyperparam = math.inf,
) -> optax.GradientTransformation:
    r"""``dadaptation.DAdaptAdam`` 3.2: Adam with a learning rate it estimates (Defazio and
    Mishchenko, 2023, "Learning-Rate-Free Learning by D-Adaptation").

    .. math::
        \theta_{k+1} = \theta_k - m_k / (\sqrt{v_k} + \epsilon), \quad
        m_k = \beta_1 m_{k-1} + (1 - \beta_1)\, d_k \eta_k g_k

    where ``d`` grows from ``d0``, estimated from sums over all the parameters
    (see `optaxlr.scale_by_dadapt_adam` for the whole rule, the precision of
    ``d`` and how it differs from ``optax.contrib.dadapt_adamw``, whose
    weight decay is decoupled and bias correction on). Leave
    ``learning_rate`` at 1 (or a schedule of multipliers). `optaxlr.hyperparams`
    reports ``d`` and ``effective_learning_rate`` (``d * learning_rate``, times
    the bias correction when on). ``betas`` are ``b1`` and ``b2`` here;
    ``log_every``, ``layer_scale`` and ``fsdp_in_use`` have no counterpart.

    Args:
      learning_rate: multiplier of the adapted step, >= 0, or a schedule.
      b1: decay of the first moment, in [0, 1), or a schedule.
      b2: decay of the second moment, in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      decouple: AdamW-style decay, else L2 (the default, as the reference).
      use_bias_correction: Adam's bias correction in the step size (off, as the reference).
      d0: the initial estimate of ``d``, > 0.
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.dadapt_adam(weight_decay=0.01, decouple=True)
    """
    return chain(
        "dadapt_adam",
        scale_by_dadapt_adam(
            learning_rate, b1, b2, eps, weight_decay, decouple, use_bias_correction, d0, growth_rate
        ),
    )


def dadapt_sgd(
    learning_rate: Hyperparam = 1.0,
    momentum: Hyperparam = 0.0,
    weight_decay: Hyperparam = 0.0,
    d0: Hyperparam = 1e-6,
    growth_rate: Hyperparam = math.inf,
) -> optax.GradientTransformation:
    r"""``dadaptation.DAdaptSGD`` 3.2: SGD with a learning rate it estimates.

    .. math::
        s_k = s_{k-1} + \frac{d_k \eta_k}{\lVert g_0 \rVert} g_k, \quad
        \theta_{k+1} = \mu\, \theta_k + (1 - \mu)(\theta_0 - s_k)

    (see `optaxlr.scale_by_dadapt_sgd` for the estimate of ``d`` and its
    precision). `optaxlr.hyperparams` reports ``d`` and
    ``effective_learning_rate`` (:math:`d \eta / \lVert g_0 \rVert`).
    ``log_every`` and ``fsdp_in_use`` have no counterpart; optax has no
    D-Adapted SGD.

    Args:
      learning_rate: multiplier of the adapted step, >= 0, or a schedule.
      momentum: in [0, 1), or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      d0: the initial estimate of ``d``, > 0.
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.dadapt_sgd(momentum=0.9)
    """
    return chain(
        "dadapt_sgd", scale_by_dadapt_sgd(learning_rate, momentum, weight_decay, d0, growth_rate)
    )
