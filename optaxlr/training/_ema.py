"""An exponential moving average of the parameters, kept in the optimizer state."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam, HyperparamRecord, HyperparamSpec
from optaxlr.transforms._common import (
    UNIT,
    bounded,
    check_bool,
    check_params,
    compute_dtype,
    init_count,
    lerp,
    transformation,
    upcast,
)

__all__ = ["ParamEmaState", "ema_params", "param_ema"]


class ParamEmaState(NamedTuple):
    """State of `param_ema`."""

    count: jax.Array  # updates applied (int32, saturating)
    record: HyperparamRecord  # ema_decay
    ema: Any  # the average, shaped like the params (float32 for half-precision params)
    weight: jax.Array  # float32: 1 - prod(decays), the weight a zero-initialized EMA has


def param_ema(decay: Hyperparam = 0.999, debias: bool = True) -> optax.GradientTransformation:
    r"""Keeps an exponential moving average of the parameters in the optimizer state.

    Put it last in the chain: it sees the final updates and the current
    parameters, averages the parameters after the update,
    :math:`\theta_t = \theta_{t-1} + u_t` (computed as ``optax.apply_updates``
    does), and passes the updates through unchanged. Read the average with
    `ema_params` to evaluate with it, as Keras's ``use_ema=True`` or timm's
    ``ModelEmaV2``::

        opt = optax.chain(optaxlr.adamw(1e-3), optaxlr.training.param_ema(0.999))
        ...
        eval_params = optaxlr.training.ema_params(opt_state)

    With ``debias=True`` (the default) the average is bias-corrected as Adam's
    moments are: it is the zero-initialized average divided by its total
    weight :math:`1 - \prod_i \beta_i`,

    .. math::
        \bar\theta_t = \bar\theta_{t-1}
            + \frac{1 - \beta_t}{1 - \prod_{i \le t} \beta_i}(\theta_t - \bar\theta_{t-1}),

    so the first update copies the parameters and early averages are not
    dragged toward the initialization. With ``debias=False`` the first update
    copies the parameters and later ones use the plain weight :math:`1 - \beta_t`:
    exactly Keras's ``use_ema=True, ema_momentum=decay``. Before any update the
    average is the initial parameters.

    ``decay`` may be a schedule (an EMA warmup such as
    ``lambda t: jnp.minimum(0.9999, (1 + t) / (10 + t))``); it is reported as
    ``ema_decay`` by `optaxlr.hyperparams`. Inside `accumulate`, `skip_nonfinite`
    or anything else that holds updates back, put it inside the wrapper so that
    it averages real updates only.

    Memory: one copy of the parameters (float32 for bfloat16/float16
    parameters, so that increments of ``1 - decay`` are not rounded away).

    Args:
      decay: :math:`\beta`, in [0, 1], or a schedule.
      debias: divide by the average's total weight (see above).

    Returns:
      An ``optax.GradientTransformation`` with state `ParamEmaState`; its
      ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optax.chain(optaxlr.sgd(0.1), optaxlr.training.param_ema(0.9))
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
      >>> optaxlr.training.ema_params(state)["w"]
      Array([0.9, 0.9], dtype=float32)
    """
    spec = HyperparamSpec(ema_decay=bounded("decay", decay, UNIT))
    debias = check_bool("debias", debias)

    def init_fn(params):
        check_params("param_ema", params)
        ema = jax.tree.map(lambda p: jnp.array(p, dtype=compute_dtype(p), copy=True), params)
        return ParamEmaState(init_count(), spec.initial_record(), ema, jnp.zeros([], jnp.float32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("param_ema needs the parameters: call update(updates, state, params)")
        values = spec.values(state.count)
        d = jnp.asarray(values["ema_decay"], jnp.float32)
        weight = lerp(state.weight, 1.0, 1.0 - d)  # 1 - prod(decays)
        if debias:  # a zero weight (decay 1 so far) has averaged nothing: take the params
            w = jnp.where(weight > 0, (1.0 - d) / jnp.where(weight > 0, weight, 1.0), 1.0)
            keep = 1.0 - w
        else:  # Keras: momentum = decay, except 0 on the first update
            keep = jnp.where(state.count == 0, 0.0, d)
            w = 1.0 - keep

        def average(avg, p, u):
            new = jnp.asarray(p + u).astype(jnp.asarray(p).dtype)  # optax.apply_updates
            return (keep * avg + w * upcast(new)).astype(avg.dtype)

        ema = jax.tree.map(average, state.ema, params, updates)
        count = jnp.asarray(optax.safe_increment(state.count))
        next_state = ParamEmaState(count, spec.record(values), ema, weight)
        return updates, next_state

    return transformation(init_fn, update_fn)


def ema_params(opt_state: Any, like: Any = None) -> Any:
    """The parameter average kept by the `param_ema` in an optimizer state.

    Finds the one `ParamEmaState` anywhere in ``opt_state`` (inside chains and
    wrappers) and returns its average. It is kept in float32 for half-precision
    parameters; pass ``like`` (the parameters) to get their dtypes back.

    Raises:
      ValueError: if the state holds no `param_ema`, or more than one.
    """
    found = [
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, ParamEmaState))
        if isinstance(s, ParamEmaState)
    ]
    if len(found) != 1:
        what = "no param_ema state" if not found else f"{len(found)} param_ema states"
        raise ValueError(f"ema_params() needs exactly one param_ema in the optimizer; found {what}")
    ema = found[0].ema
    if like is None:
        return ema
    return jax.tree.map(lambda a, p: a.astype(jnp.asarray(p).dtype), ema, like)
