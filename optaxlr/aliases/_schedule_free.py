"""``schedulefree.SGDScheduleFree`` and ``AdamWScheduleFree`` 1.4.1, and their evaluation point."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr._paths import path_to_str
from optaxlr.aliases._common import chain, decay
from optaxlr.transforms._common import check_hyperparam, find_states, upcast
from optaxlr.transforms._schedule_free import (
    ScaleByScheduleFreeState,
    scale_by_schedule_free,
    scale_by_schedule_free_adam,
)


def schedule_free_sgd(
    learning_rate: Hyperparam = 1.0,
    momentum: Hyperparam = 0.9,
    weight_decay: Hyperparam = 0.0,
    warmup_steps: Hyperparam = 0,
    r: Hyperparam = 0.0,
    weight_lr_power: Hyperparam = 2.0,
    mask: Any = None,
    *,
    z_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""``schedulefree.SGDScheduleFree`` 1.4.1: schedule-free SGD (Defazio et al., 2024).

    No decay schedule: the model is trained at :math:`y` and evaluated at
    :math:`x`, a running average of the SGD iterates :math:`z`:

    .. math::
        g_t \leftarrow g_t + \lambda y_{t-1}, \quad
        z_t = z_{t-1} - \gamma_t g_t, \quad
        x_t = (1 - c_t) x_{t-1} + c_t z_t, \quad
        y_t = (1 - \mu) z_t + \mu x_t

    with the warmup-scaled rate :math:`\gamma_t = \gamma \min(1, t / W)` and the
    averaging weight :math:`c_t \propto t^r \max_{i \le t}\gamma_i^{p}` (see
    `scale_by_schedule_free`, which takes the step as the reference does, never
    storing :math:`x`). The parameters the optimizer updates are :math:`y`;
    evaluate (and export) :math:`x`, `schedule_free_eval_params` — the
    reference's ``optimizer.eval()``, with no mode to switch. The weight decay is
    L2 at :math:`y`, added to the gradient, as the reference. `optaxlr.hyperparams`
    reports ``effective_learning_rate`` (:math:`\gamma_t`) and ``averaging_weight``
    (:math:`c_t`).

    ``optax.contrib.schedule_free_sgd`` takes ``b1`` for ``momentum``, has no
    ``r``, and warms up with ``warmup_constant_schedule(0, lr, W)`` evaluated at the
    base SGD's count from 0 (its first step has rate 0; here :math:`1/W` of it, as
    the reference); it keeps the weight sum in the parameters' dtype (bfloat16 for
    bfloat16 parameters; float32 here).

    Args:
      learning_rate: :math:`\gamma` >= 0 (1.0 in ``schedulefree``), or a schedule.
      momentum: the interpolation :math:`\mu` in (0, 1) (as the reference
        checks), or a schedule; reported as ``b1``.
      weight_decay: L2 coefficient :math:`\lambda` >= 0, or a schedule.
      warmup_steps: :math:`W` >= 0, linear warmup of the rate (0: none), or a schedule.
      r: power of the polynomial weighting of the average, >= 0, or a schedule.
      weight_lr_power: :math:`p` >= 0, power of the rate in the averaging weights,
        or a schedule.
      mask: where to decay (a pytree of booleans or a function of the params); the
        reference uses parameter groups.
      z_dtype: dtype of :math:`z` (default: the parameters', float32 for float16).

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optaxlr.schedule_free_sgd(0.5, warmup_steps=2)
      >>> params = {"w": jnp.array([1.0, -2.0])}
      >>> state = opt.init(params)
      >>> for _ in range(3):
      ...     updates, state = opt.update(params, state, params)  # grad of |w|^2 / 2
      ...     params = optax.apply_updates(params, updates)
      >>> optaxlr.schedule_free_eval_params(state, params)["w"]
      Array([ 0.31833333, -0.63666666], dtype=float32)
    """
    check_hyperparam("momentum", momentum, low=0.0, high=1.0, low_open=True, high_open=True)
    return chain(
        "schedule_free_sgd",
        decay(weight_decay, mask),
        scale_by_schedule_free(
            learning_rate, momentum, warmup_steps, r, weight_lr_power, z_dtype=z_dtype
        ),
    )


def schedule_free_adamw(
    learning_rate: Hyperparam = 2.5e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    warmup_steps: Hyperparam = 0,
    r: Hyperparam = 0.0,
    weight_lr_power: Hyperparam = 2.0,
    mask: Any = None,
    *,
    z_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""``schedulefree.AdamWScheduleFree`` 1.4.1: schedule-free AdamW (Defazio et al., 2024).

    Schedule-free SGD (`schedule_free_sgd`) on Adam's normalized gradient,
    with the weight decay added after the normalization, at :math:`y`:

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
        d_t = \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda y_{t-1}, \quad
        z_t = z_{t-1} - \gamma_t d_t, \quad
        x_t = (1 - c_t) x_{t-1} + c_t z_t, \quad
        y_t = (1 - \beta_1) z_t + \beta_1 x_t

    :math:`\beta_1` is the interpolation between :math:`z` and :math:`x`, not a
    moment's decay; there is no first moment. The warmup
    :math:`\gamma_t = \gamma \min(1, t / W)` multiplies the whole step (the decay
    too, as the reference); the bias correction is the reference's,
    :math:`1 - \beta_2^t` inside the root. Train on :math:`y` (the parameters),
    evaluate :math:`x` with `schedule_free_eval_params`. `optaxlr.hyperparams`
    reports ``effective_learning_rate`` (:math:`\gamma_t`) and
    ``averaging_weight`` (:math:`c_t`). Chain: `scale_by_schedule_free_adam`,
    `add_decayed_weights` (left out at 0), `scale_by_schedule_free`.

    ``optax.contrib.schedule_free_adamw`` has the same defaults and update, but no
    ``r``; its warmup is ``warmup_constant_schedule(0, lr, W)`` at the base
    optimizer's count from 0 (a first step of rate 0, where the reference takes
    :math:`1/W` of the rate), and it keeps the weight sum in the parameters' dtype.

    Args:
      learning_rate: :math:`\gamma` >= 0 (2.5e-3 in ``schedulefree``), or a schedule.
      b1: the interpolation :math:`\beta_1` in (0, 1], or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: added to the denominator outside the root, >= 0, or a schedule.
      weight_decay: :math:`\lambda` >= 0, or a schedule.
      warmup_steps: :math:`W` >= 0, linear warmup of the rate (0: none), or a schedule.
      r: power of the polynomial weighting of the average, >= 0, or a schedule.
      weight_lr_power: :math:`p` >= 0, power of the rate in the averaging weights,
        or a schedule.
      mask: where to decay (a pytree of booleans or a function of the params).
      z_dtype: dtype of :math:`z` (default: the parameters', float32 for float16).

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.schedule_free_adamw(1e-3, warmup_steps=1000, weight_decay=0.05)
    """
    return chain(
        "schedule_free_adamw",
        scale_by_schedule_free_adam(b2, eps),
        decay(weight_decay, mask),
        scale_by_schedule_free(
            learning_rate, b1, warmup_steps, r, weight_lr_power, z_dtype=z_dtype
        ),
    )


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The evaluation point :math:`x` of a schedule-free optimizer, from the parameters :math:`y`.

    :math:`x = y + (1 - 1/\beta_1)(z - y)`, the ``lerp`` of the reference's
    ``optimizer.eval()``, with the :math:`\beta_1` the last update used. Pass
    the parameters the optimizer trains (:math:`y`); they are not changed, so
    there is no train/eval mode to switch: evaluate, export or checkpoint
    ``x``, keep training ``params``. A pure function: it runs inside ``jit``,
    and sharded parameters give an ``x`` with their shardings.

    ``state`` may be the alias's state or any state holding it (a chain,
    ``optax.inject_hyperparams``, ``optax.MultiSteps``, an ``nnx.Optimizer``'s
    ``opt_state``). ``params`` may be any tree with the parameters' leaves in
    their order (an ``nnx.State`` of the model's ``nnx.Param``\ s, a
    `FlatParams`); ``x`` has its structure and dtypes. Before the first update
    :math:`x = y`.

    Raises:
      ValueError: if ``state`` holds no schedule-free state or more than one, or
        ``params`` doesn't match it.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optaxlr.schedule_free_adamw(0.1)
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> for g in (1.0, -1.0):  # z: 1 -> 0.9 -> 1.0; x averages them; y in between
      ...     updates, state = opt.update({"w": jnp.full(2, g)}, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> params["w"]  # y
      Array([0.95500004, 0.95500004], dtype=float32)
      >>> optaxlr.schedule_free_eval_params(state, params)["w"]  # x
      Array([0.95000005, 0.95000005], dtype=float32)
    """
    found = find_states(state, ScaleByScheduleFreeState)
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params: the state must hold exactly one schedule-free state "
            f"(of schedule_free_sgd, schedule_free_adamw or scale_by_schedule_free), found "
            f"{len(found)}"
        )
    sf = found[0]
    constants = dict(sf.record.constants)
    if "b1" in constants:  # a number: 1 - 1/b1 in float64, rounded once, as the reference
        w: Any = 1.0 - 1.0 / constants["b1"]
    else:
        w = 1.0 - 1.0 / jax.tree.leaves(sf.record.values["b1"])[0]
    ys, treedef = jax.tree_util.tree_flatten_with_path(params)
    zs = jax.tree.leaves(sf.z)
    if len(zs) != len(ys):
        raise ValueError(
            f"schedule_free_eval_params: params has {len(ys)} leaves, the optimizer state "
            f"{len(zs)}: pass the parameters the optimizer was initialized with"
        )
    out = []
    for (path, y), z in zip(ys, zs, strict=True):
        if jnp.shape(y) != jnp.shape(z):
            raise ValueError(
                f"schedule_free_eval_params: params at {path_to_str(path) or '<root>'!r} has "
                f"shape {jnp.shape(y)}, the optimizer's z {jnp.shape(z)}"
            )
        y32 = upcast(jnp.asarray(y))
        out.append((y32 + w * (upcast(z) - y32)).astype(jnp.asarray(y).dtype))
    return jax.tree.unflatten(treedef, out)
