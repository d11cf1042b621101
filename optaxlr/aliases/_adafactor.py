"""``torch.optim.Adafactor``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import decoupled_weight_decay, scale_by_adafactor
from optaxlr.transforms._common import is_static_zero


def adafactor(
    learning_rate: Hyperparam = 1e-2,
    beta2_decay: Hyperparam = -0.8,
    eps: tuple[Hyperparam | None, Hyperparam] = (None, 1e-3),
    d: Hyperparam = 1.0,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adafactor``: a factored second moment and a relative step.

    .. math::
        \theta_t = \theta_{t-1} (1 - \gamma_t \lambda)
        - \frac{\max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))
        \min(\gamma_t, 1/\sqrt{t})}{\max(1, \operatorname{RMS}(U_t) / d)}\, U_t,
        \quad U_t = \frac{G_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}

    where :math:`\hat V_t` is the second moment, factored into row and column means
    over the last two dimensions of every parameter of two or more dimensions (see
    `scale_by_adafactor`), with the weight :math:`t^{\tau}` (``beta2_decay``) on the
    new statistics. The learning rate :math:`\gamma_t` caps the relative step and
    scales the decoupled weight decay, ``param.mul_(1 - lr * weight_decay)`` as in
    PyTorch (`decoupled_weight_decay`); the step itself is relative to each
    parameter's root mean square. ``update`` needs ``params``. Complex parameters are
    refused, as PyTorch refuses them.

    How it differs from the other Adafactors (same paper, different algorithms):

    * ``optax.adafactor`` is the T5 variant: ``learning_rate`` multiplies the step
      (no :math:`\min(\gamma, 1/\sqrt t)` relative step; ``None`` means no rate at
      all), ``eps=1e-30`` is added to :math:`G^2` instead of PyTorch's two floors
      :math:`\epsilon_1`, it factors the two *largest* dimensions and only when the
      second largest has ``min_dim_size_to_factor=128`` or more elements (PyTorch
      always factors the last two of every >= 2-D parameter), ``decay_rate=0.8`` is
      :math:`-\tau` (the same schedule), ``clipping_threshold`` is ``d``,
      ``multiply_by_parameter_scale`` is the :math:`\max(10^{-3},
      \operatorname{RMS}(\theta))` factor (always on here), it has an optional
      ``momentum`` (none here), and its ``weight_decay_rate`` is subtracted without
      the rate (:math:`\theta \lambda`, not :math:`\gamma \lambda \theta`).
    * HF ``transformers.optimization.Adafactor`` defaults to ``relative_step=True``
      with a fixed cap of ``1e-2`` (``lr`` must be ``None``; here the cap is
      ``learning_rate``) or, with ``warmup_init=True``, ``min(1e-6 t, 1/sqrt(t))``;
      ``scale_parameter`` is the parameter-scale factor (always on here);
      ``clip_threshold`` is ``d``; its ``eps=(1e-30, 1e-3)`` adds ``eps[0]`` to
      :math:`G^2` (as optax) where PyTorch floors the estimate; ``beta1`` adds
      momentum; its weight decay is scaled by the relative step times the parameter
      scale, not by ``lr``. With ``relative_step=False`` and an ``lr`` it is
      ``optax.adafactor(lr)``'s form (a plain rate), up to the factored dimensions.

    Args:
      learning_rate: the cap of the relative step and the decay's rate, >= 0 (1e-2 in
        PyTorch), or a schedule.
      beta2_decay: :math:`\tau <= 0`, or a schedule.
      eps: ``(eps1, eps2)``: ``eps1`` >= 0 or ``None`` (the machine epsilon of each
        parameter's dtype, as PyTorch), ``eps2`` >= 0; each may be a schedule.
      d: the update's clipping threshold, >= 1, or a schedule.
      weight_decay: decoupled decay coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optaxlr.adafactor(weight_decay=1e-2)
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> state = opt.init(params)
      >>> grads = {"w": jnp.full((2, 3), 0.5), "b": jnp.full(3, -2.0)}
      >>> updates, state = opt.update(grads, state, params)
      >>> optax.apply_updates(params, updates)["w"]  # 1 - 1e-2 * (1e-2 + 1)
      Array([[0.9899, 0.9899, 0.9899],
             [0.9899, 0.9899, 0.9899]], dtype=float32)
    """
    decay = None
    if not is_static_zero(weight_decay):
        decay = decoupled_weight_decay(learning_rate, weight_decay)
    return chain(
        "adafactor",
        scale_by_adafactor(learning_rate, beta2_decay, eps, d),
        decay,
        maximize=maximize,
    )
