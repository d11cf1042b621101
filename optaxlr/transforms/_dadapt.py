"""D-Adaptation (Defazio and Mishchenko, 2023), as ``dadaptation.DAdaptAdam`` / ``DAdaptSGD`` 3.2.

The step size is ``d * lr``: ``lr`` a multiplier (1 by default, a schedule if
wanted) and ``d`` an estimate of the distance to the solution, grown from
``d0`` by statistics summed over *all* the parameters. ``d`` is one number for
the whole tree, unlike an elementwise optimizer's state.

Precision. The reference keeps ``d`` and the running numerators as Python
floats (float64) and sums each tensor's dot products and norms in the tensor's
dtype before adding them up in float64. Here the scalars (``d``, the
numerators, the sums over the tree) are float32, or float64 under
``jax_enable_x64`` whatever the parameters' dtype, and each leaf's sums and the
statistic ``s`` are at least float32 (bfloat16 and float16 parameters
included), so a long run does not stall on rounding.

Steps that take no step (a rate of 0, or gradients that leave the statistics
at zero, where the reference returns early) change nothing but ``count``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord, is_constant
from optaxlr._paths import path_to_str
from optaxlr._validation import check_bool
from optaxlr.transforms._common import (
    BETA,
    NONNEGATIVE,
    POSITIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    compute_dtype,
    increment,
    init_count,
    moment_dtype,
    one_minus_pow,
    transformation,
    unzip,
    upcast,
)

__all__ = [
    "ScaleByDadaptAdamState",
    "ScaleByDadaptSgdState",
    "scale_by_dadapt_adam",
    "scale_by_dadapt_sgd",
]

#: ``momentum`` of DAdaptSGD: [0, 1).
MOMENTUM = BETA


# --- shared by D-Adaptation and Prodigy ----------------------------------------------


def stat_dtype() -> Any:
    """The dtype of ``d`` and its statistics: float32, or float64 under ``jax_enable_x64``."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def is_unlimited(value: Any) -> bool:
    """``growth_rate`` given as the number ``inf``: no limit, and no term in the step."""
    return is_constant(value) and not isinstance(value, bool) and float(value) == math.inf


def growth(name: str, value: Hyperparam) -> Any:
    """``growth_rate``: > 0, or ``math.inf`` (the default: no limit), or a schedule."""
    if is_unlimited(value):
        return math.inf
    return bounded(name, value, POSITIVE)


def check_real_params(who: str, params: Any) -> None:
    """`check_params`, and complex parameters refused: the references' sums are real."""
    check_params(who, params)
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if jnp.iscomplexobj(leaf):
            raise TypeError(
                f"{who}: parameter {path_to_str(path) or '<root>'!r} is complex; D-Adaptation's "
                "estimate of d is a real sum (the reference's torch.dot and abs() do not "
                "treat complex tensors as their real view), so real parameters only"
            )


def tree_sum(values: list[jax.Array], dtype: Any) -> jax.Array:
    """The sum of per-leaf scalars, each cast to ``dtype`` first (the reference's ``.item()``)."""
    total = jnp.zeros([], dtype)
    for v in values:
        total = total + v.astype(dtype)
    return total


def positive_constant(value: Any) -> bool:
    """True for a number (not an array or a schedule) > 0."""
    return is_constant(value) and float(value) > 0


def rate_is_positive(learning_rate: Hyperparam, value: Any) -> Any:
    """``True`` for a constant rate > 0 (nothing to select), else a traced ``value > 0``.

    The references skip the statistics at a rate of 0 (a warmup from 0); `unless`
    and `decay_unless` then keep them as they are.
    """
    if positive_constant(learning_rate):
        return True
    return jnp.asarray(value) > 0


def unless(positive: Any, g: jax.Array) -> jax.Array:
    """``g``, or 0 where the rate is 0 (so a moment gains nothing)."""
    return g if positive is True else jnp.where(positive, g, 0)


def decay_unless(positive: Any, beta: Any) -> Any:
    """``beta``, or 1 where the rate is 0 (so a moment keeps its value)."""
    return beta if positive is True else jnp.where(positive, beta, 1)


def observed(d: jax.Array, effective: jax.Array) -> HyperparamRecord:
    """The record `optaxlr.hyperparams` reads: ``d`` and ``effective_learning_rate``.

    Copies, so that no buffer of the state is another's (a donated state may not hold
    one buffer twice).
    """
    return HyperparamRecord.of(
        {"d": jnp.array(d, copy=True), "effective_learning_rate": jnp.array(effective, copy=True)}
    )


def bias_correction(on: bool, b1: Any, b2: Any, k: jax.Array, dtype: Any) -> Any:
    """``sqrt(1 - b2^(k+1)) / (1 - b1^(k+1))`` (the references' form), or 1 when off."""
    if not on:
        return 1.0
    # 1 - b**t as expm1(t log b), the log of a number in float64 (one_minus_pow): 1 - 0.999
    # in float32 is 1.3e-5 off, which the step size would carry.
    t = k + 1
    return jnp.sqrt(one_minus_pow(b2, t, dtype)) / one_minus_pow(b1, t, dtype)


def cast(x: Any, like: jax.Array) -> Any:
    """A scalar coefficient in the dtype ``like``'s arithmetic runs in."""
    return x if isinstance(x, float | int) else jnp.asarray(x, compute_dtype(like))


# --- DAdaptAdam -------------------------------------------------------------------------


class ScaleByDadaptAdamState(NamedTuple):
    """State of `scale_by_dadapt_adam`."""

    count: jax.Array  # updates applied (int32, saturating): the schedules' step
    record: HyperparamRecord  # learning_rate, b1, b2, eps, weight_decay, d0, growth_rate
    estimate: HyperparamRecord  # observed: d, effective_learning_rate of the last update
    k: jax.Array  # int32: steps taken (the reference's k; a step of no step leaves it)
    d: jax.Array  # the estimate d (float32, float64 under x64)
    numerator_weighted: jax.Array  # the reference's numerator_weighted
    exp_avg: optax.Params  # first moment, scaled by the step size (float32 for float16)
    exp_avg_sq: optax.Params  # second moment (float32 for float16)
    s: optax.Params  # the weighted sum of gradients (at least float32)


def scale_by_dadapt_adam(
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
    r"""D-Adapted Adam's whole step, as ``dadaptation.DAdaptAdam`` 3.2.

    With :math:`\gamma_k = d_k \eta_k c_k` (:math:`\eta` the learning rate,
    :math:`c_k` Adam's bias correction :math:`\sqrt{1 - \beta_2^{k+1}} / (1 -
    \beta_1^{k+1})` if ``use_bias_correction``, else 1) and
    :math:`\beta = \sqrt{\beta_2}`:

    .. math::
        r_k &= \beta r_{k-1} + (1 - \beta)\, \gamma_k
              \textstyle\sum \langle g_k, s_{k-1} / (\sqrt{v_{k-1}} + \epsilon) \rangle \\
        m_k &= \beta_1 m_{k-1} + (1 - \beta_1) \gamma_k g_k, \quad
        v_k = \beta_2 v_{k-1} + (1 - \beta_2) g_k^2, \quad
        s_k = \beta s_{k-1} + (1 - \beta) \gamma_k g_k \\
        d_{k+1} &= \max\bigl(d_k, \min(\tfrac{r_k}{(1 - \beta) \lVert s_k \rVert_1},
              d_k \cdot \mathrm{growth\_rate})\bigr), \quad
        \theta_{k+1} = \theta_k - m_k / (\sqrt{v_k} + \epsilon)

    with :math:`\lVert s \rVert_1` and the inner products summed over every
    parameter. ``weight_decay`` is L2 (added to the gradient), or, with
    ``decouple``, :math:`\theta \leftarrow \theta - \lambda \gamma_k \theta`.
    `optaxlr.hyperparams` reports ``d`` (:math:`d_k`, the one the last update
    used) and ``effective_learning_rate`` (:math:`\gamma_k`).

    Precision: ``prodigyopt`` and ``dadaptation`` keep ``d`` and its running sums as
    Python floats (float64) and sum each tensor's products in the tensor's dtype. Here
    they are float32, or float64 under ``jax_enable_x64`` whatever the parameters'
    dtype, and ``s`` and each leaf's sums are at least float32 (bfloat16 and float16
    parameters included). An update at a rate of 0 leaves every statistic as it is,
    and one whose sums are 0 takes no step (the reference returns early from both).

    ``optax.contrib.dadapt_adamw`` differs: its bias correction is always on
    (``dadaptation`` defaults to off), its decay is always decoupled, it has no
    ``growth_rate``, and it keeps ``d`` in the parameters' lowest dtype.
    ``layer_scale`` (per parameter group in the reference) is not offered;
    ``log_every`` is replaced by `optaxlr.hyperparams`.

    Args:
      learning_rate: the multiplier of the D-adapted step, > 0 (1 in the
        reference; 0 from a schedule takes no step), or a schedule.
      b1: decay of the first moment, in [0, 1), or a schedule.
      b2: decay of the second moment, in [0, 1), or a schedule.
      eps: added to the root of the second moment, >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      decouple: AdamW-style decay (the reference's ``decouple``).
      use_bias_correction: Adam's bias correction in the step size.
      d0: the initial estimate of ``d``, > 0 (a number or an array).
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``
        (no limit), or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByDadaptAdamState`;
      its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> tx = optaxlr.scale_by_dadapt_adam()
      >>> params = {"w": jnp.ones(3)}
      >>> updates, state = tx.update({"w": jnp.ones(3)}, tx.init(params), params)
      >>> f"{float(optaxlr.hyperparams(state)['d']):.3g}"  # the d this first update used
      '1e-06'
    """
    who = "scale_by_dadapt_adam"
    decouple = check_bool("decouple", decouple)
    bias = check_bool("use_bias_correction", use_bias_correction)
    spec = HyperparamSpec(
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE),
        b1=bounded("b1", b1, BETA),
        b2=bounded("b2", b2, BETA),
        eps=bounded("eps", eps, NONNEGATIVE),
        weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE),
        d0=_d0(d0),
        growth_rate=growth("growth_rate", growth_rate),
    )
    unlimited = is_unlimited(growth_rate)

    def init_fn(params):
        check_real_params(who, params)
        dtype = stat_dtype()
        first = spec.values(init_count(), dtype)
        d = jnp.asarray(first["d0"], dtype)
        return ScaleByDadaptAdamState(
            count=init_count(),
            record=spec.initial_record(),
            estimate=observed(d, d * jnp.asarray(first["learning_rate"], dtype)),
            k=init_count(),
            d=d,
            numerator_weighted=jnp.zeros([], dtype),
            exp_avg=jax.tree.map(lambda p: jnp.zeros_like(p, moment_dtype(p)), params),
            exp_avg_sq=jax.tree.map(lambda p: jnp.zeros_like(p, moment_dtype(p)), params),
            s=jax.tree.map(lambda p: jnp.zeros_like(p, compute_dtype(p)), params),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{who} (optaxlr.dadapt_adam): update needs params")
        check_update(who, state, ScaleByDadaptAdamState, updates, "exp_avg", params)
        dtype = state.d.dtype
        v = spec.values(state.count, dtype)
        lr, beta1, beta2, eps, wd = (
            v[n] for n in ("learning_rate", "b1", "b2", "eps", "weight_decay")
        )
        sqrt_beta2 = beta2**0.5
        d = state.d
        dlr = d * jnp.asarray(lr, dtype) * bias_correction(bias, beta1, beta2, state.k, dtype)
        positive = rate_is_positive(learning_rate, lr)
        b1_, b2_, sb2_ = (decay_unless(positive, b) for b in (beta1, beta2, sqrt_beta2))

        def first(g, p, m, nu, s):
            g32, p32 = upcast(g), upcast(p)
            if not decouple:
                g32 = g32 + cast(wd, g32) * p32
            g32 = unless(positive, g32)
            c = dlr.astype(g32.dtype)
            denom = jnp.sqrt(upcast(nu)) + cast(eps, g32)
            acc = jnp.sum(g32 * (s / denom))
            new_m = cast(b1_, g32) * upcast(m) + (c * cast(1 - beta1, g32)) * g32
            new_nu = cast(b2_, g32) * upcast(nu) + cast(1 - beta2, g32) * g32 * g32
            new_s = cast(sb2_, g32) * s + (c * cast(1 - sqrt_beta2, g32)) * g32
            return (
                acc,
                new_m.astype(m.dtype),
                new_nu.astype(nu.dtype),
                new_s,
                jnp.sum(jnp.abs(new_s)),
            )

        out = jax.tree.map(first, updates, params, state.exp_avg, state.exp_avg_sq, state.s)
        acc, exp_avg, exp_avg_sq, s, l1 = unzip(updates, out, 5)
        numerator_acum = dlr * tree_sum(jax.tree.leaves(acc), dtype)
        sk_l1 = tree_sum(jax.tree.leaves(l1), dtype)
        numerator = sqrt_beta2 * state.numerator_weighted + (1 - sqrt_beta2) * numerator_acum
        active = (jnp.asarray(lr) > 0) & (sk_l1 > 0)
        d_hat = numerator / ((1 - sqrt_beta2) * jnp.where(active, sk_l1, 1))
        new_d = jnp.maximum(d, d_hat if unlimited else jnp.minimum(d_hat, d * v["growth_rate"]))

        def step(p, m, nu):
            p32 = upcast(p)
            u = -upcast(m) / (jnp.sqrt(upcast(nu)) + cast(eps, p32))
            if decouple:
                u = u - (cast(wd, p32) * dlr.astype(p32.dtype)) * p32
            return jnp.where(active, u, 0).astype(p.dtype)

        new_updates = jax.tree.map(step, params, exp_avg, exp_avg_sq)
        new_state = ScaleByDadaptAdamState(
            count=increment(state.count),
            record=spec.record(v),
            estimate=observed(d, jnp.where(active, dlr, 0)),
            k=jnp.where(active, increment(state.k), state.k),
            d=jnp.where(active, new_d, d).astype(dtype),
            numerator_weighted=jnp.where(active, numerator, state.numerator_weighted).astype(dtype),
            # As the reference: updated by a step of no step, unless at a rate of 0.
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            s=s,
        )
        return new_updates, new_state

    return transformation(init_fn, update_fn)


def _d0(value: Hyperparam) -> Any:
    """``d0``: > 0, a number or an array (it is where ``d`` starts)."""
    if callable(value) and not isinstance(value, jax.Array):
        raise TypeError(
            f"d0 must be a number or an array, got {value!r}: it is where d starts, so a "
            "schedule has no meaning; schedule learning_rate (the multiplier of d) instead"
        )
    return bounded("d0", value, POSITIVE)


# --- DAdaptSGD --------------------------------------------------------------------------


class ScaleByDadaptSgdState(NamedTuple):
    """State of `scale_by_dadapt_sgd`."""

    count: jax.Array  # updates applied (int32, saturating): the schedules' step
    record: HyperparamRecord  # learning_rate, momentum, weight_decay, d0, growth_rate
    estimate: HyperparamRecord  # observed: d, effective_learning_rate of the last update
    k: jax.Array  # int32: steps taken (the reference's k)
    d: jax.Array  # the estimate d (float32, float64 under x64)
    numerator_weighted: jax.Array  # the reference's numerator_weighted
    g0_norm: jax.Array  # the norm of the first gradient (0 before the first step)
    s: optax.Params  # the sum of the scaled gradients (at least float32)
    x0: optax.Params  # the initial parameters


def scale_by_dadapt_sgd(
    learning_rate: Hyperparam = 1.0,
    momentum: Hyperparam = 0.0,
    weight_decay: Hyperparam = 0.0,
    d0: Hyperparam = 1e-6,
    growth_rate: Hyperparam = math.inf,
) -> optax.GradientTransformation:
    r"""D-Adapted SGD's whole step, as ``dadaptation.DAdaptSGD`` 3.2.

    With :math:`\gamma_k = d_k \eta_k / \lVert g_0 \rVert` (:math:`\eta` the
    learning rate, :math:`g_0` the first gradient) and the gradient
    :math:`g_k` plus ``weight_decay`` :math:`\times\, \theta_k`:

    .. math::
        r_k &= r_{k-1} + \gamma_k \textstyle\sum \langle g_k, s_{k-1} \rangle, \quad
        s_k = s_{k-1} + \gamma_k g_k \\
        d_{k+1} &= \max\bigl(d_k, \min(2 r_k / \lVert s_k \rVert_2,
              d_k \cdot \mathrm{growth\_rate})\bigr), \quad
        \theta_{k+1} = \mu\, \theta_k + (1 - \mu) (\theta_0 - s_k)

    (:math:`\mu` the ``momentum``: the reference's ``z`` iterate averaged into
    the parameters). Sums and norms run over every parameter.
    :math:`\lVert g_0 \rVert` is the norm of the first gradient *without* the
    weight decay, as the reference computes it (its ``grad.add`` there is not
    in place). `optaxlr.hyperparams` reports ``d`` (the one the last update
    used) and ``effective_learning_rate`` (:math:`\gamma_k`). optax has no
    D-Adapted SGD.

    Precision: ``prodigyopt`` and ``dadaptation`` keep ``d`` and its running sums as
    Python floats (float64) and sum each tensor's products in the tensor's dtype. Here
    they are float32, or float64 under ``jax_enable_x64`` whatever the parameters'
    dtype, and ``s`` and each leaf's sums are at least float32 (bfloat16 and float16
    parameters included). An update at a rate of 0 leaves every statistic as it is,
    and one whose sums are 0 takes no step (the reference returns early from both).

    Where the reference fails (a first gradient of zero, or a rate of 0 at
    the first step: a division by zero), this takes no step and measures
    :math:`g_0` at the first step it takes.

    Args:
      learning_rate: the multiplier of the D-adapted step, >= 0 (1 in the
        reference), or a schedule.
      momentum: in [0, 1), or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      d0: the initial estimate of ``d``, > 0 (a number or an array).
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``
        (no limit), or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByDadaptSgdState`;
      its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> tx = optaxlr.scale_by_dadapt_sgd(momentum=0.9)
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> bool(optaxlr.hyperparams(state)["d"] > 1e-6)
      True
    """
    who = "scale_by_dadapt_sgd"
    spec = HyperparamSpec(
        learning_rate=bounded("learning_rate", learning_rate, NONNEGATIVE),
        momentum=bounded("momentum", momentum, MOMENTUM),
        weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE),
        d0=_d0(d0),
        growth_rate=growth("growth_rate", growth_rate),
    )
    unlimited = is_unlimited(growth_rate)

    def init_fn(params):
        check_real_params(who, params)
        dtype = stat_dtype()
        first = spec.values(init_count(), dtype)
        d = jnp.asarray(first["d0"], dtype)
        zero = jnp.zeros([], dtype)
        return ScaleByDadaptSgdState(
            count=init_count(),
            record=spec.initial_record(),
            estimate=observed(d, zero),
            k=init_count(),
            d=d,
            numerator_weighted=jnp.zeros([], dtype),
            g0_norm=jnp.zeros([], dtype),
            s=jax.tree.map(lambda p: jnp.zeros_like(p, compute_dtype(p)), params),
            x0=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{who} (optaxlr.dadapt_sgd): update needs params")
        check_update(who, state, ScaleByDadaptSgdState, updates, "x0", params)
        dtype = state.d.dtype
        v = spec.values(state.count, dtype)
        lr, mom, wd = v["learning_rate"], v["momentum"], v["weight_decay"]
        positive = jnp.asarray(lr) > 0  # traced: a first rate of 0 takes no step
        first_sq = tree_sum(
            [jnp.sum(jnp.square(upcast(g))) for g in jax.tree.leaves(updates)], dtype
        )
        g0 = jnp.where(state.k == 0, jnp.where(positive, jnp.sqrt(first_sq), 0), state.g0_norm)
        d = state.d
        dlr = jnp.where(g0 > 0, d * jnp.asarray(lr, dtype) / jnp.where(g0 > 0, g0, 1), 0)
        takes = positive & (g0 > 0)

        def first(g, p, s):
            g32, p32 = upcast(g), upcast(p)
            g32 = jnp.where(takes, g32 + cast(wd, g32) * p32, 0)
            dot = jnp.sum(g32 * s)
            new_s = s + dlr.astype(s.dtype) * g32
            return dot, new_s, jnp.sum(new_s * new_s)

        out = jax.tree.map(first, updates, params, state.s)
        dots, s, sq = unzip(updates, out, 3)
        numerator = state.numerator_weighted + dlr * tree_sum(jax.tree.leaves(dots), dtype)
        sk_sq = tree_sum(jax.tree.leaves(sq), dtype)
        active = positive & (g0 > 0) & (sk_sq > 0)
        d_hat = 2 * numerator / jnp.sqrt(jnp.where(active, sk_sq, 1))
        new_d = jnp.maximum(d, d_hat if unlimited else jnp.minimum(d_hat, d * v["growth_rate"]))
        ck = 1 - mom

        def step(p, s, x0):
            p32 = upcast(p)
            z = upcast(x0) - s
            new_p = p32 * cast(1 - ck, p32) + z * cast(ck, p32)
            return jnp.where(active, new_p - p32, 0).astype(p.dtype)

        new_updates = jax.tree.map(step, params, s, state.x0)
        new_state = ScaleByDadaptSgdState(
            count=increment(state.count),
            record=spec.record(v),
            estimate=observed(d, jnp.where(active, dlr, 0)),
            k=jnp.where(active, increment(state.k), state.k),
            d=jnp.where(active, new_d, d).astype(dtype),
            numerator_weighted=jnp.where(active, numerator, state.numerator_weighted).astype(dtype),
            g0_norm=jnp.where(active, g0, state.g0_norm).astype(dtype),
            s=s,  # unchanged at a rate of 0 (dlr and the gradient are 0 there)
            x0=state.x0,
        )
        return new_updates, new_state

    return transformation(init_fn, update_fn)
