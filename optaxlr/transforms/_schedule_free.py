"""Schedule-free learning (Defazio et al., 2024), as ``schedulefree`` 1.4.1's optimizers."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import Interval
from optaxlr.transforms._common import (
    BETA,
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_dtype,
    check_params,
    check_update,
    increment,
    init_count,
    moment_dtype,
    one_minus_pow,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)

__all__ = [
    "ScaleByScheduleFreeAdamState",
    "ScaleByScheduleFreeState",
    "scale_by_schedule_free",
    "scale_by_schedule_free_adam",
]

#: The interpolation weight b1: y = (1 - b1) z + b1 x. At 0, y = z and x can't be recovered.
INTERPOLATION = Interval(low=0.0, high=1.0, low_open=True)


class ScaleByScheduleFreeState(NamedTuple):
    """State of `scale_by_schedule_free`."""

    count: jax.Array  # updates applied (int32, saturating): the reference's k
    record: HyperparamRecord  # learning_rate, b1, warmup_steps, r, weight_lr_power
    observed: HyperparamRecord  # effective_learning_rate, averaging_weight of the last update
    weight_sum: jax.Array  # sum of the averaging weights so far (float32, float64 under x64)
    weight_sum_error: jax.Array  # what rounding took from weight_sum (compensated summation)
    lr_max: jax.Array  # the largest warmup-scaled rate so far
    z: optax.Params  # the base (SGD) sequence; x is recovered from y and z


class ScaleByScheduleFreeAdamState(NamedTuple):
    """State of `scale_by_schedule_free_adam`."""

    count: jax.Array  # updates applied (int32, saturating)
    record: HyperparamRecord  # b2, eps
    nu: optax.Params  # the second moment (float32 for float16 parameters)


def _step_scalars(values: dict, count: Any, sums: tuple, lr_max: Any, dtype: Any) -> tuple:
    """(rate, averaging weight c, new weight sums, new lr_max) of the update at ``count``.

    The reference's ``sched``, ``lr``, ``lr_max``, ``weight`` and ``ckp1``, in ``dtype``.
    The weight sum is a compensated (Neumaier) sum ``(sum, error)``: a plain float32
    sum of n equal weights is off by ~n ulp, 1e-6 of it after a hundred steps, and
    stops growing after 2**24 of them, where the reference's float64 sum does not.
    """
    k = jnp.asarray(count, dtype)
    warmup = values["warmup_steps"]
    ramp = (k + 1) / jnp.where(jnp.asarray(warmup, dtype) > 0, warmup, 1)
    lr = (values["learning_rate"] * jnp.where(k < warmup, ramp, 1)).astype(dtype)
    lr_max = jnp.maximum(lr_max, lr).astype(dtype)
    weight = ((k + 1) ** values["r"] * lr_max ** values["weight_lr_power"]).astype(dtype)
    old_sum, error = sums
    new_sum = (old_sum + weight).astype(dtype)
    lost = jnp.where(old_sum >= weight, (old_sum - new_sum) + weight, (weight - new_sum) + old_sum)
    error = jnp.where(jnp.isfinite(new_sum), error + lost, 0).astype(dtype)
    weight_sum = new_sum + error
    # The reference's ZeroDivisionError (a rate of 0 so far) gives 0; an overflowing
    # weight (r or the rate far out) puts all of it on the newest point, not NaN.
    safe_sum = jnp.where(weight_sum > 0, weight_sum, 1)
    c = jnp.where(jnp.isinf(weight), 1, jnp.where(weight_sum > 0, weight / safe_sum, 0))
    return lr, c.astype(dtype), (new_sum, error), lr_max


def _observed(lr: Any, c: Any) -> HyperparamRecord:
    return HyperparamRecord.of({"effective_learning_rate": lr, "averaging_weight": c})


def scale_by_schedule_free(
    learning_rate: Hyperparam = 1.0,
    b1: Hyperparam = 0.9,
    warmup_steps: Hyperparam = 0,
    r: Hyperparam = 0.0,
    weight_lr_power: Hyperparam = 2.0,
    *,
    z_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-free interpolation and averaging, the step ``schedulefree`` 1.4.1 takes.

    The parameters it updates are :math:`y`, where the gradients are taken. It
    keeps :math:`z`, the plain step sequence, and the evaluation point :math:`x`,
    a weighted average of the :math:`z`'s, follows from
    :math:`y = (1 - \beta_1) z + \beta_1 x` (read it with
    `optaxlr.schedule_free_eval_params`). With :math:`d_t` the incoming update
    (the gradient, or AdamW's normalized one, weight decay included) and
    :math:`k = t - 1` updates before this one:

    .. math::
        \gamma_t = \gamma \min\left(1, \frac{k + 1}{W}\right), \quad
        \gamma_{\max} = \max_{i \le t} \gamma_i, \quad
        w_t = (k + 1)^r \gamma_{\max}^{p}, \quad
        c_t = \frac{w_t}{\sum_{i \le t} w_i}

    .. math::
        y_t = y_{t-1} + c_t (z_{t-1} - y_{t-1})
            + \gamma_t (\beta_1 (1 - c_t) - 1)\, d_t, \qquad
        z_t = z_{t-1} - \gamma_t d_t

    (:math:`W` = ``warmup_steps``, :math:`p` = ``weight_lr_power``), which is
    :math:`x_t = (1 - c_t) x_{t-1} + c_t z_t` with :math:`x` never stored, as
    the reference computes it (here from :math:`z_t`, the same sum:
    :math:`y_t = y_{t-1} + c_t (z_t - y_{t-1}) - \gamma_t (1 - \beta_1)(1 - c_t) d_t`,
    so that :math:`z` is updated in place). The output is the whole update
    :math:`y_t - y_{t-1}`: put this transformation last in a chain. ``update``
    needs ``params``.

    `optaxlr.hyperparams` reports, besides the arguments, the warmup-scaled
    rate :math:`\gamma_t` (``effective_learning_rate``) and :math:`c_t`
    (``averaging_weight``) of the last update. The weight sum and
    :math:`\gamma_{\max}` are kept in float32 (float64 for float64 parameters
    under x64); the reference keeps them as Python floats (float64).

    Complex parameters are updated as complex numbers, as the reference does
    (every operation here is linear).

    Args:
      learning_rate: :math:`\gamma` >= 0, or a schedule (of the base rate; the warmup
        multiplies it).
      b1: the interpolation weight :math:`\beta_1` in (0, 1] (``momentum`` of
        ``SGDScheduleFree``, ``betas[0]`` of ``AdamWScheduleFree``), or a schedule.
      warmup_steps: :math:`W` >= 0, the length of the linear warmup of the rate
        (0: none), or a schedule.
      r: the power of the polynomial weighting of the average, >= 0, or a schedule.
      weight_lr_power: :math:`p` >= 0: the weights follow the largest rate so far to
        this power (0: uniform), or a schedule.
      z_dtype: dtype of :math:`z` (default: the parameters', float32 for float16).

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByScheduleFreeState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.add_decayed_weights(1e-4),
      ...                  optaxlr.scale_by_schedule_free(1.0, warmup_steps=100))
    """
    who = "scale_by_schedule_free"
    spec = HyperparamSpec(
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE),
        b1=bounded("b1", b1, INTERPOLATION, aliases=("momentum",)),
        warmup_steps=bounded("warmup_steps", warmup_steps, NONNEGATIVE),
        r=bounded("r", r, NONNEGATIVE),
        weight_lr_power=bounded("weight_lr_power", weight_lr_power, NONNEGATIVE),
    )
    z_dtype = check_dtype("z_dtype", z_dtype)

    def init_fn(params):
        check_params(who, params)
        dtype = scalar_dtype(params)
        z = jax.tree.map(lambda p: jnp.array(p, moment_dtype(p, z_dtype), copy=True), params)
        count, zero = init_count(), jnp.zeros([], dtype)
        # Before any update, report what the first one will use.
        lr, c, _, _ = _step_scalars(spec.values(count, dtype), count, (zero, zero), zero, dtype)
        return ScaleByScheduleFreeState(
            count, spec.initial_record(), _observed(lr, c), zero, zero, zero, z
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                f"{who}: update needs params (the point y the gradients were taken at); "
                "call update(grads, state, params)"
            )
        check_update(who, state, ScaleByScheduleFreeState, updates, "z", params)
        dtype = state.weight_sum.dtype
        values = spec.values(state.count, dtype)
        lr, c, (weight_sum, error), lr_max = _step_scalars(
            values, state.count, (state.weight_sum, state.weight_sum_error), state.lr_max, dtype
        )
        # The reference's lr * (b1 (1 - c) - 1) on the old z is -lr (1 - b1)(1 - c) on the
        # new one: y then reads z_t, not z_{t-1}, so z is updated in place without a copy.
        coef = (-lr * (1 - values["b1"]) * (1 - c)).astype(dtype)

        def leaf(d, y, z):
            d32, y32 = upcast(d), upcast(y)
            new_z = (upcast(z) - lr * d32).astype(z.dtype)
            step = c * (upcast(new_z) - y32) + coef * d32
            return step.astype(d.dtype), new_z

        out = jax.tree.map(leaf, updates, params, state.z)
        new_updates, z = unzip(updates, out, 2)
        return new_updates, ScaleByScheduleFreeState(
            increment(state.count),
            spec.record(values),
            _observed(lr, c),
            weight_sum,
            error,
            lr_max,
            z,
        )

    return transformation(init_fn, update_fn)


def scale_by_schedule_free_adam(
    b2: Hyperparam = 0.999, eps: Hyperparam = 1e-8
) -> optax.GradientTransformation:
    r"""``AdamWScheduleFree``'s normalization: Adam's second moment, no first moment.

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        d_t = \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

    (``optax.scale_by_rms(eps_in_sqrt=False, bias_correction=True)``). The
    momentum is schedule-free's interpolation (`scale_by_schedule_free`).

    For a complex parameter :math:`g_t^2` is the complex square and the root the
    principal complex one, as ``schedulefree`` 1.4.1 computes them
    (``addcmul_(grad, grad)`` and ``sqrt`` on complex tensors): not
    ``torch.optim.Adam``'s real view, nor optax's :math:`|g_t|^2`.

    Args:
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: term added to the denominator outside the root, >= 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByScheduleFreeAdamState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_schedule_free_adam(),
      ...                  optaxlr.scale_by_schedule_free(2.5e-3))
    """
    who = "scale_by_schedule_free_adam"
    spec = HyperparamSpec(b2=bounded("b2", b2, BETA), eps=bounded("eps", eps, NONNEGATIVE))

    def init_fn(params):
        check_params(who, params)
        nu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByScheduleFreeAdamState(init_count(), spec.initial_record(), nu)

    def update_fn(updates, state, params=None):
        check_update(who, state, ScaleByScheduleFreeAdamState, updates, "nu")
        del params
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        beta2, eps_t = values["b2"], values["eps"]
        correction = one_minus_pow(beta2, increment(state.count), dtype)

        def leaf(g, v):
            g32 = upcast(g)
            new_v = upcast(v) * beta2 + (1 - beta2) * g32 * g32
            return (g32 / (jnp.sqrt(new_v / correction) + eps_t)).astype(g.dtype), new_v.astype(
                v.dtype
            )

        out = jax.tree.map(leaf, updates, state.nu)
        new_updates, nu = unzip(updates, out, 2)
        return new_updates, ScaleByScheduleFreeAdamState(
            increment(state.count), spec.record(values), nu
        )

    return transformation(init_fn, update_fn)
