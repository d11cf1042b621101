"""Optimizers with PyTorch's defaults and update rules, built from optaxlr transformations.

Every alias is an ``optax.chain`` of the transformations in
`optaxlr.transforms`, so its state is a tuple of their states and
`optaxlr.hyperparams` reads the values used in the last update. Arguments are
checked by the transformation that takes them, once; an alias checks only those
it names otherwise (``momentum``, which `trace` calls ``decay``). Every numeric
hyperparameter may be a number, a
JAX array or a schedule ``step -> value`` (``step`` = updates already applied,
as PyTorch's scheduler ``last_epoch`` after ``scheduler.step()`` calls).

Terms that are off (a weight decay or momentum given as the number 0) are left
out of the chain, so they cost nothing and are not reported; pass an array or a
schedule to keep them in.

Every alias that mirrors a ``torch.optim`` class takes its ``maximize``: the
gradients are negated before anything else (before the L2 weight decay), as
PyTorch does, with no state of its own.

Trajectories match ``torch.optim`` step for step (float32, rtol 1e-5 over 200
steps, see ``tests/test_optimizer_fixtures.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam, value_at
from optaxlr._validation import check_bool
from optaxlr.transforms import (
    add_decayed_weights,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_asgd,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rmsprop,
    scale_by_rprop,
    trace,
)
from optaxlr.transforms._asgd import ScaleByAsgdState
from optaxlr.transforms._common import check_hyperparam, is_static_zero
from optaxlr.transforms._fused import scale_and_decouple, trace_and_scale

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "lion",
    "nadam",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
]


def _chain(
    who: str, *parts: optax.GradientTransformation | None, maximize: bool = False
) -> optax.GradientTransformation:
    """``optax.chain`` of the parts that are on, whose update names a state that doesn't fit.

    ``maximize`` negates the incoming gradients first, as PyTorch's ``maximize``
    (before the weight decay): no state of its own, and off it changes nothing.
    """
    members = [p for p in parts if p is not None]
    chained = optax.chain(*members)
    negate = check_bool("maximize", maximize)

    def update_fn(updates, state, params=None, **extra_args):
        if type(state) is not tuple or len(state) != len(members):
            raise TypeError(
                f"{who}: state must be the state its init returned (a tuple of "
                f"{len(members)}), got {type(state).__name__}"
                + (f" of {len(state)}" if isinstance(state, tuple) else "")
            )
        if negate:
            updates = jax.tree.map(jnp.negative, updates)
        return chained.update(updates, state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(chained.init, update_fn)


def _decay(weight_decay: Any) -> optax.GradientTransformation | None:
    return None if is_static_zero(weight_decay) else add_decayed_weights(weight_decay)


def sgd(
    learning_rate: Hyperparam = 1e-3,
    momentum: Hyperparam = 0.0,
    dampening: Hyperparam = 0.0,
    nesterov: bool = False,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.SGD``: gradient descent with optional momentum and L2 weight decay.

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad
        b_t = \mu b_{t-1} + (1 - d) g_t \ (b_1 = g_1), \quad
        \theta_t = \theta_{t-1} - \eta_t \, (b_t \text{ or } g_t + \mu b_t)

    Chain: ``add_decayed_weights(weight_decay)`` (coupled, as PyTorch),
    ``trace(momentum, nesterov, dampening)`` (left out without momentum), then
    ``scale_by_learning_rate(learning_rate)``; the last two are one state.

    Args:
      learning_rate: >= 0 (1e-3 in PyTorch 2.13), or a schedule.
      momentum: in [0, 1], or a schedule (e.g. ``one_cycle_momentum``).
      dampening: in [0, 1], or a schedule.
      nesterov: Nesterov momentum; needs momentum > 0 and dampening 0.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.sgd(optaxlr.schedules.cosine(0.1, 1000), momentum=0.9, nesterov=True)
    """
    # Checked here under its own name: trace calls it decay.
    check_hyperparam("momentum", momentum, low=0.0, high=1.0)
    if is_static_zero(momentum):
        # Built for its checks of nesterov and dampening alone: as in PyTorch,
        # dampening without momentum has no effect.
        trace(momentum, nesterov, dampening)
        step = scale_by_learning_rate(learning_rate)
    else:
        step = trace_and_scale(momentum, nesterov, dampening, learning_rate)
    return _chain("sgd", _decay(weight_decay), step, maximize=maximize)


def _decayed_learning_rate(learning_rate: Hyperparam, lr_decay: Hyperparam) -> Callable:
    def schedule(count: jax.Array) -> jax.Array:
        lr = value_at(learning_rate, count)
        decay = value_at(lr_decay, count)
        return jnp.asarray(lr / (1.0 + jnp.asarray(count, float) * decay), float)

    return schedule


def adagrad(
    learning_rate: Hyperparam = 0.01,
    initial_accumulator_value: float = 0.0,
    eps: Hyperparam = 1e-10,
    weight_decay: Hyperparam = 0.0,
    lr_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adagrad``.

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad s_t = s_{t-1} + g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{\eta_t}{1 + (t-1)\kappa}
            \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`\kappa` = ``lr_decay``; the reported ``learning_rate`` is the
    decayed one.

    Args:
      learning_rate: >= 0, or a schedule.
      initial_accumulator_value: starting value of :math:`s`, >= 0.
      eps: >= 0, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      lr_decay: PyTorch's ``lr_decay`` >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adagrad(0.05, initial_accumulator_value=0.1)
    """
    check_hyperparam("lr_decay", lr_decay, low=0.0)
    lr = learning_rate
    if not is_static_zero(lr_decay):
        # Checked here: it reaches scale_by_learning_rate inside a schedule.
        check_hyperparam("learning_rate", learning_rate, low=0.0)
        lr = _decayed_learning_rate(learning_rate, lr_decay)
    return _chain(
        "adagrad",
        _decay(weight_decay),
        scale_by_adagrad(initial_accumulator_value, eps),
        scale_by_learning_rate(lr),
        maximize=maximize,
    )


def rmsprop(
    learning_rate: Hyperparam = 0.01,
    alpha: Hyperparam = 0.99,
    eps: Hyperparam = 1e-8,
    momentum: Hyperparam = 0.0,
    centered: bool = False,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RMSprop``.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
        u_t = \frac{g_t}{\sqrt{v_t} + \epsilon}, \quad
        b_t = \mu b_{t-1} + u_t, \quad \theta_t = \theta_{t-1} - \eta_t b_t

    ``eps`` is added outside the square root (optax's ``rmsprop`` adds it
    inside); ``centered`` subtracts the squared mean gradient from
    :math:`v_t`. Chain: ``add_decayed_weights`` (coupled),
    ``scale_by_rmsprop(alpha, eps, centered)``, ``trace(momentum)`` (left out
    without momentum), then ``scale_by_learning_rate``; the last two are one
    state. ``alpha`` is reported as ``decay``.

    Args:
      learning_rate: >= 0, or a schedule.
      alpha: smoothing constant in [0, 1], or a schedule.
      eps: >= 0, or a schedule.
      momentum: in [0, 1], or a schedule.
      centered: centered RMSprop.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.rmsprop(1e-3, momentum=0.9, centered=True)
    """
    # Checked here: the transformations call them decay, and trace is left out at 0.
    check_hyperparam("alpha", alpha, low=0.0, high=1.0)
    check_hyperparam("momentum", momentum, low=0.0, high=1.0)
    return _chain(
        "rmsprop",
        _decay(weight_decay),
        scale_by_rmsprop(alpha, eps, centered=centered, eps_in_sqrt=False),
        scale_by_learning_rate(learning_rate)
        if is_static_zero(momentum)
        else trace_and_scale(momentum, False, 0.0, learning_rate),
        maximize=maximize,
    )


def adam(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    amsgrad: bool = False,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adam``, whose ``weight_decay`` is coupled L2 (added to the gradient).

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1}, \quad
        \theta_t = \theta_{t-1} - \frac{\eta_t}{1 - \beta_1^t}
            \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    With ``decoupled_weight_decay=True`` it is `adamw` (PyTorch 2.13's ``Adam``
    flag: ``AdamW`` is that ``Adam``), with ``weight_decay`` still defaulting to 0.
    ``b1`` may be a schedule (one-cycle momentum cycling writes Adam's ``b1``).

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule; coupled L2 unless
        ``decoupled_weight_decay``.
      amsgrad: use the running maximum of the second moment.
      mu_dtype: dtype of the first moment (default: the parameters', float32
        for float16).
      nu_dtype: dtype of the second moment (default: the parameters', float32
        for float16).
      maximize: maximize the objective: negate the gradients first, as PyTorch.
      decoupled_weight_decay: decay the weights instead of the gradient (`adamw`).

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adam(optaxlr.schedules.one_cycle(1e-2, 1000),
      ...                    b1=optaxlr.schedules.one_cycle_momentum(1000))
    """
    return _adam_family(
        "adam",
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    )


def adamw(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 1e-2,
    amsgrad: bool = False,
    mask: Any = None,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.AdamW``: Adam with decoupled weight decay.

    .. math::
        \theta_t = \theta_{t-1} - \eta_t \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
            + \lambda \theta_{t-1}\right)

    (PyTorch's ``param.mul_(1 - lr * weight_decay)`` before the Adam step).
    Chain: ``scale_by_adam``, ``scale_by_learning_rate(learning_rate)``, then
    ``decoupled_weight_decay(learning_rate, weight_decay, mask)``, which applies
    PyTorch's factor :math:`\mathrm{fl}(1 - \eta\lambda)` exactly
    (``add_decayed_weights`` between the first two is the same update up to that
    rounding); the last two are one state. The decay follows a scheduled
    learning rate.

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      amsgrad: use the running maximum of the second moment.
      mask: where to decay (a pytree of booleans or a function of the params),
        as ``optax.adamw``'s.
      mu_dtype: dtype of the first moment (default: the parameters', float32
        for float16).
      nu_dtype: dtype of the second moment (default: the parameters', float32
        for float16).
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import jax, optaxlr
      >>> opt = optaxlr.adamw(3e-4, weight_decay=0.05,
      ...                     mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    """
    return _chain(
        "adamw",
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_and_decouple(learning_rate, weight_decay, mask),
        maximize=maximize,
    )


def adadelta(
    learning_rate: Hyperparam = 1.0,
    rho: Hyperparam = 0.9,
    eps: Hyperparam = 1e-6,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adadelta``.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \quad
        \Delta_t = \frac{\sqrt{a_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} g_t, \quad
        a_t = \rho a_{t-1} + (1-\rho) \Delta_t^2, \quad
        \theta_t = \theta_{t-1} - \eta_t \Delta_t

    Args:
      learning_rate: >= 0 (1.0 in PyTorch), or a schedule.
      rho: in [0, 1], or a schedule.
      eps: >= 0, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.adadelta()
    """
    return _chain(
        "adadelta",
        _decay(weight_decay),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(learning_rate),
        maximize=maximize,
    )


def _adam_family(
    who: str,
    preconditioner: optax.GradientTransformation,
    learning_rate: Hyperparam,
    weight_decay: Hyperparam,
    decoupled: bool,
    maximize: bool = False,
) -> optax.GradientTransformation:
    """Coupled L2 before the preconditioner, or decoupled decay after the learning rate."""
    if check_bool("decoupled_weight_decay", decoupled):
        return _chain(
            who, preconditioner, scale_and_decouple(learning_rate, weight_decay), maximize=maximize
        )
    return _chain(
        who,
        _decay(weight_decay),
        preconditioner,
        scale_by_learning_rate(learning_rate),
        maximize=maximize,
    )


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
    return _adam_family(
        "radam",
        scale_by_radam(b1, b2, eps),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    )


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
    return _adam_family(
        "nadam",
        scale_by_nadam(b1, b2, eps, momentum_decay),
        learning_rate,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    )


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
    return _adam_family(
        "adamax", scale_by_adamax(b1, b2, eps), learning_rate, weight_decay, False, maximize
    )


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
    return _chain(
        "lion", scale_by_lion(b1, b2), scale_and_decouple(learning_rate, weight_decay, mask)
    )


def rprop(
    learning_rate: Hyperparam = 1e-2,
    etas: tuple[Hyperparam, Hyperparam] = (0.5, 1.2),
    step_sizes: tuple[Hyperparam, Hyperparam] = (1e-6, 50.0),
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Rprop``: resilient backpropagation (see `scale_by_rprop`).

    Every element moves by its own step size against the sign of its gradient; the
    step size grows by ``eta_plus`` while the sign holds and shrinks by ``eta_minus``
    where it flips (that element then skips a step), within ``step_sizes``.

    ``learning_rate`` is the *initial* step size, read once at ``init`` as PyTorch
    reads ``lr``: a schedule is refused, and changing it after ``init`` changes only
    what ``optaxlr.hyperparams`` reports. ``etas`` and ``step_sizes`` are pairs as in
    PyTorch; each element may be a schedule. Rprop is meant for full-batch
    gradients: on noisy minibatches its signs flip at random. optax has no Rprop.

    Args:
      learning_rate: the initial step size, >= 0 (1e-2 in PyTorch).
      etas: ``(eta_minus, eta_plus)``, ``0 < eta_minus < 1 < eta_plus``.
      step_sizes: ``(step_size_min, step_size_max)``, ``0 <= min <= max``.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.rprop(1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0))
    """
    return _chain("rprop", scale_by_rprop(learning_rate, etas, step_sizes), maximize=maximize)


def asgd(
    learning_rate: Hyperparam = 1e-2,
    lambd: Hyperparam = 1e-4,
    alpha: Hyperparam = 0.75,
    t0: Hyperparam = 1e6,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.ASGD``: averaged SGD (see `scale_by_asgd`).

    .. math::
        \eta_t = \frac{\gamma}{(1 + \lambda \gamma (t - 1))^{\alpha}}, \quad
        \theta_t = \theta_{t-1} (1 - \lambda \eta_t) - \eta_t (g_t + w \theta_{t-1})

    and the average :math:`\bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t -
    \bar\theta_{t-1})` with :math:`\mu_t = 1 / \max(1, t - 1 - t_0)`, which is
    :math:`\theta_t` itself until ``t0`` updates have been made. Read the average
    with `asgd_average` (evaluate on it, keep training on the parameters).
    ``update`` needs ``params``. optax has no ASGD.

    Args:
      learning_rate: >= 0 (1e-2 in PyTorch), or a schedule.
      lambd: decay term >= 0, or a schedule.
      alpha: power of the rate's decay >= 0, or a schedule.
      t0: the update count from which the averaging starts, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.asgd(1e-2, t0=1000.0)
    """
    return _chain(
        "asgd", scale_by_asgd(learning_rate, lambd, alpha, t0, weight_decay), maximize=maximize
    )


def asgd_average(state: Any) -> Any:
    """The averaged parameters ``ax`` of `asgd` (or `scale_by_asgd`) in an optimizer state.

    ``state`` may be the alias's own state or any state holding it (a chain,
    ``optax.inject_hyperparams``, ``optaxlr.multi_tensor``, where the average is a
    `FlatParams`, or an ``nnx.Optimizer``'s ``opt_state``). The average has the
    parameters' structure (float32 leaves for float16 parameters); it equals the
    parameters until ``t0`` updates have been made, and is zeros before the first.

    Raises:
      ValueError: if ``state`` holds no ASGD state, or more than one.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> opt = optaxlr.asgd(0.1, lambd=0.0, t0=0.0)
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
      >>> optaxlr.asgd_average(state)["w"]
      Array([0.9, 0.9], dtype=float32)
    """
    found = [
        s
        for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, ScaleByAsgdState))
        if isinstance(s, ScaleByAsgdState)
    ]
    if len(found) != 1:
        raise ValueError(
            "asgd_average: the state must hold exactly one ASGD state (of optaxlr.asgd or "
            f"scale_by_asgd), found {len(found)}"
        )
    return found[0].ax
