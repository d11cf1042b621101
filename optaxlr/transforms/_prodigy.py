"""Prodigy (Mishchenko and Defazio, 2023), as ``prodigyopt.Prodigy`` 1.1.2.

A D-Adaptation variant (see `optaxlr.transforms._dadapt` for ``d``, its
precision, and the steps that take no step) whose estimate weights recent
gradients more and grows faster.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_bool, check_int
from optaxlr.transforms._common import (
    BETA,
    NONNEGATIVE,
    POSITIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_update,
    compute_dtype,
    increment,
    init_count,
    moment_dtype,
    transformation,
    unzip,
    upcast,
)
from optaxlr.transforms._dadapt import (
    _d0,
    bias_correction,
    cast,
    check_real_params,
    decay_unless,
    growth,
    is_unlimited,
    observed,
    positive_constant,
    rate_is_positive,
    stat_dtype,
    tree_sum,
    unless,
)
from optaxlr.transforms._per_parameter import ParameterGroups

__all__ = ["ScaleByProdigyState", "scale_by_prodigy"]


class ScaleByProdigyState(NamedTuple):
    """State of `scale_by_prodigy`."""

    count: jax.Array  # updates applied (int32, saturating): the schedules' step
    record: HyperparamRecord  # learning_rate, b1, b2, [beta3], eps, weight_decay, d0, ...
    estimate: HyperparamRecord  # observed: d, effective_learning_rate of the last update
    k: jax.Array  # int32: steps taken (the reference's k; a step of no step leaves it)
    d: jax.Array  # the estimate d (float32, float64 under x64)
    d_max: jax.Array  # the largest estimate so far
    d_numerator: jax.Array  # the reference's d_numerator
    exp_avg: optax.Params  # first moment, scaled by d (float32 for float16)
    exp_avg_sq: optax.Params  # second moment, scaled by d^2 (float32 for float16)
    s: optax.Params  # the weighted sum of gradients (at least float32; sliced by slice_p)
    p0: optax.Params  # the initial parameters (sliced by slice_p)


def _sliced(x: jax.Array, slice_p: int) -> jax.Array:
    return x if slice_p == 1 else x.reshape(-1)[::slice_p]


def scale_by_prodigy(
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
    r"""Prodigy's whole step, as ``prodigyopt.Prodigy`` 1.1.2.

    With :math:`\gamma_k = d_k \eta_k c_k` (:math:`\eta` the learning rate,
    :math:`c_k = \sqrt{1 - \beta_2^{k+1}} / (1 - \beta_1^{k+1})` if
    ``use_bias_correction``, else 1) and :math:`\theta_0` the initial parameters:

    .. math::
        r_k &= \beta_3 r_{k-1} + \tfrac{d_k}{d_0} \gamma_k
              \textstyle\sum \langle g_k, \theta_0 - \theta_k \rangle, \quad
        s_k = \beta_3 s_{k-1} + \tfrac{d_k}{d_0} \gamma_k g_k \\
        m_k &= \beta_1 m_{k-1} + (1 - \beta_1) d_k g_k, \quad
        v_k = \beta_2 v_{k-1} + (1 - \beta_2) d_k^2 g_k^2 \\
        \hat d &= d_{\mathrm{coef}}\, r_k / \lVert s_k \rVert_1, \quad
        d_{k+1} = \min\bigl(\max(d_{\max}, \hat d),\, d_k \cdot \mathrm{growth\_rate}\bigr) \\
        \theta_{k+1} &= \theta_k - \gamma_k\, m_k / (\sqrt{v_k} + d_{k+1} \epsilon)

    with the sums over every parameter (:math:`d_{\max}` the largest estimate
    so far; the first growth from :math:`d_0` is not limited). With
    ``safeguard_warmup``, :math:`s` accumulates :math:`d_k^2/d_0\, g_k`
    (without the rate). With :math:`\beta_1 = 0` the step is
    :math:`\gamma_k d_{k+1} g_k / (\sqrt{v_k} + d_{k+1}\epsilon)`. ``weight_decay``
    is decoupled (:math:`\theta \leftarrow \theta - \lambda\gamma_k\theta`, the
    default, as the reference's ``decouple=True``) or L2 (added to the gradient).
    `optaxlr.hyperparams` reports ``d`` (:math:`d_k`, the one the last update
    used) and ``effective_learning_rate`` (:math:`\gamma_k`).

    Precision: ``prodigyopt`` and ``dadaptation`` keep ``d`` and its running sums as
    Python floats (float64) and sum each tensor's products in the tensor's dtype. Here
    they are float32, or float64 under ``jax_enable_x64`` whatever the parameters'
    dtype, and ``s`` and each leaf's sums are at least float32 (bfloat16 and float16
    parameters included). An update at a rate of 0 leaves every statistic as it is,
    and one whose sums are 0 takes no step (the reference returns early from both).

    With bfloat16 parameters, steps of ``d0`` (1e-6) are below their resolution: they do
    not move, so :math:`\langle g, \theta_0 - \theta \rangle` stays 0 and ``d`` stays
    ``d0``, as in the reference; raise ``d0`` or train float32 parameters.

    ``optax.contrib.prodigy`` differs: its bias correction is always on
    (``prodigyopt`` defaults to off), its decay always decoupled, it has no
    ``growth_rate`` nor ``slice_p``, names ``d0``/``d_coef``
    ``estim_lr0``/``estim_lr_coef``, keeps ``d`` in the parameters' lowest
    dtype, and does not report it. ``fsdp_in_use`` has no counterpart: under
    ``jit`` the sums run over every shard.

    Args:
      learning_rate: the multiplier of the adapted step, >= 0 (1 in the
        reference; 0 from a schedule takes no step), or a schedule.
      b1: decay of the first moment, in [0, 1), or a schedule.
      b2: decay of the second moment, in [0, 1), or a schedule.
      beta3: decay of the estimate's sums, in [0, 1), or a schedule; None
        (default): :math:`\sqrt{\beta_2}`.
      eps: added to the root of the second moment (times ``d``), >= 0, or a schedule.
      weight_decay: >= 0, or a schedule.
      decouple: AdamW-style decay (default), else L2.
      use_bias_correction: Adam's bias correction in the step size.
      safeguard_warmup: leave the rate out of ``s`` (for warmup schedules).
      d0: the initial estimate of ``d``, > 0 (a number or an array).
      d_coef: the multiplier of the estimate, > 0, or a schedule.
      growth_rate: the most ``d`` may grow by per step, > 0 or ``math.inf``
        (no limit), or a schedule.
      slice_p: estimate from every ``slice_p``-th element of each parameter
        (the flattened array), an integer >= 1. Not on `optaxlr.FlatParams`
        for ``slice_p > 1`` (a buffer's slices differ from its parameters').

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByProdigyState`;
      its ``update`` needs ``params``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, optaxlr
      >>> tx = optaxlr.scale_by_prodigy()
      >>> params = {"w": jnp.zeros(3)}
      >>> state = tx.init(params)
      >>> for _ in range(20):
      ...     grads = jax.grad(lambda p: jnp.sum((p["w"] - 1.0) ** 2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> h = optaxlr.hyperparams(state)
      >>> bool(h["d"] > 1e-3), bool(h["effective_learning_rate"] == h["d"])  # lr 1
      (True, True)
    """
    who = "scale_by_prodigy"
    decouple = check_bool("decouple", decouple)
    bias = check_bool("use_bias_correction", use_bias_correction)
    safeguard = check_bool("safeguard_warmup", safeguard_warmup)
    slice_p = check_int("slice_p", slice_p, low=1)
    hparams: dict[str, Any] = {
        "learning_rate": bounded("learning_rate", learning_rate, NONNEGATIVE),
        "b1": bounded("b1", b1, BETA),
        "b2": bounded("b2", b2, BETA),
    }
    if beta3 is not None:
        hparams["beta3"] = bounded("beta3", beta3, BETA)
    hparams.update(
        eps=bounded("eps", eps, NONNEGATIVE),
        weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE),
        d0=_d0(d0),
        d_coef=bounded("d_coef", d_coef, POSITIVE),
        growth_rate=growth("growth_rate", growth_rate),
    )
    spec = HyperparamSpec(**hparams)
    unlimited = is_unlimited(growth_rate)
    plain_step = not positive_constant(b1)  # b1 may be 0: the step is on the gradient

    def init_fn(params):
        check_real_params(who, params)
        if slice_p > 1 and isinstance(params, ParameterGroups):
            raise ValueError(
                f"{who}: slice_p={slice_p} slices each parameter array, which a FlatParams "
                "buffer does not keep apart; use slice_p=1 with multi_tensor"
            )
        dtype = stat_dtype()
        first = spec.values(init_count(), dtype)
        d = jnp.asarray(first["d0"], dtype)
        k = init_count()
        rate = d * jnp.asarray(first["learning_rate"], dtype)
        rate = rate * bias_correction(bias, first["b1"], first["b2"], k, dtype)
        return ScaleByProdigyState(
            count=init_count(),
            record=spec.initial_record(),
            estimate=observed(d, rate),
            k=k,
            d=d,
            d_max=jnp.array(d, copy=True),
            d_numerator=jnp.zeros([], dtype),
            exp_avg=jax.tree.map(lambda p: jnp.zeros_like(p, moment_dtype(p)), params),
            exp_avg_sq=jax.tree.map(lambda p: jnp.zeros_like(p, moment_dtype(p)), params),
            s=jax.tree.map(lambda p: jnp.zeros_like(_sliced(p, slice_p), compute_dtype(p)), params),
            p0=jax.tree.map(lambda p: jnp.array(_sliced(p, slice_p), copy=True), params),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{who} (optaxlr.prodigy): update needs params")
        check_update(who, state, ScaleByProdigyState, updates, "exp_avg", params)
        dtype = state.d.dtype
        v = spec.values(state.count, dtype)
        lr, beta1, beta2, eps, wd = (
            v[n] for n in ("learning_rate", "b1", "b2", "eps", "weight_decay")
        )
        beta3_ = v["beta3"] if beta3 is not None else beta2**0.5
        d, d0_ = state.d, v["d0"]
        dlr = d * jnp.asarray(lr, dtype) * bias_correction(bias, beta1, beta2, state.k, dtype)
        d_ratio = d / d0_
        s_coef = d_ratio * (d if safeguard else dlr)
        positive = rate_is_positive(learning_rate, lr)
        b1_, b2_, b3_ = (decay_unless(positive, b) for b in (beta1, beta2, beta3_))

        def first(g, p, m, nu, s, p0):
            g32, p32 = upcast(g), upcast(p)
            if not decouple:
                g32 = g32 + cast(wd, g32) * p32
            g32 = unless(positive, g32)
            dd = d.astype(g32.dtype)
            sliced = _sliced(g32, slice_p)
            dot = jnp.sum(sliced * (upcast(p0) - _sliced(p32, slice_p)))
            new_m = cast(b1_, g32) * upcast(m) + (dd * cast(1 - beta1, g32)) * g32
            new_nu = cast(b2_, g32) * upcast(nu) + (dd * dd * cast(1 - beta2, g32)) * g32 * g32
            new_s = cast(b3_, s) * s + s_coef.astype(s.dtype) * sliced.astype(s.dtype)
            out = (new_m.astype(m.dtype), new_nu.astype(nu.dtype), new_s)
            # the gradient itself only where b1 may be 0 (the step uses it, not exp_avg)
            return (dot, jnp.sum(jnp.abs(new_s)), *out, *((g32,) if plain_step else ()))

        out = jax.tree.map(
            first, updates, params, state.exp_avg, state.exp_avg_sq, state.s, state.p0
        )
        dots, l1, exp_avg, exp_avg_sq, s, *rest = unzip(updates, out, 6 if plain_step else 5)
        grads = rest[0] if plain_step else exp_avg
        delta = d_ratio * dlr * tree_sum(jax.tree.leaves(dots), dtype)
        d_denom = tree_sum(jax.tree.leaves(l1), dtype)
        numerator = beta3_ * state.d_numerator + delta
        active = (jnp.asarray(lr) > 0) & (d_denom > 0)
        d_hat = v["d_coef"] * numerator / jnp.where(active, d_denom, 1)
        grown = jnp.where(d == d0_, jnp.maximum(d, d_hat), d)
        d_max = jnp.maximum(state.d_max, d_hat)
        new_d = d_max if unlimited else jnp.minimum(d_max, grown * v["growth_rate"])

        def step(p, g32, m, nu):
            p32 = upcast(p)
            nd = new_d.astype(p32.dtype)
            denom = jnp.sqrt(upcast(nu)) + nd * cast(eps, p32)
            rate = dlr.astype(p32.dtype)
            # The reference: addcdiv(exp_avg, denom, -dlr), or (grad, denom, -dlr * d) at b1 = 0.
            momentum = jnp.asarray(beta1) > 0
            coef = jnp.where(momentum, rate, rate * nd)
            u = -coef * (jnp.where(momentum, upcast(m), g32) / denom)
            if decouple:
                u = u - (cast(wd, p32) * rate) * p32
            return jnp.where(active, u, 0).astype(p.dtype)

        new_updates = jax.tree.map(step, params, grads, exp_avg, exp_avg_sq)
        new_state = ScaleByProdigyState(
            count=increment(state.count),
            record=spec.record(v),
            estimate=observed(d, jnp.where(active, dlr, 0)),
            k=jnp.where(active, increment(state.k), state.k),
            d=jnp.where(active, new_d, d).astype(dtype),
            d_max=jnp.where(active, d_max, state.d_max).astype(dtype),
            d_numerator=jnp.where(active, numerator, state.d_numerator).astype(dtype),
            # As the reference: updated by a step of no step, unless at a rate of 0.
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            s=s,
            p0=state.p0,
        )
        return new_updates, new_state

    return transformation(init_fn, update_fn)
