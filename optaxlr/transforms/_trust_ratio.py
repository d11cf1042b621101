"""Layer-wise trust ratios: LAMB and LARS, as ``pytorch_optimizer`` 4.1.0 computes them.

Both scale each parameter array's step by a ratio of norms of that array, so the
rule is per parameter array. On a container that packs several arrays into one
leaf (`optaxlr.FlatParams`) the ratio would silently be one per buffer; the
transformations here refuse such a leaf instead (`ParameterGroups`).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr.transforms._clipping import _squared_norm
from optaxlr.transforms._common import (
    BETA,
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_bool,
    check_params,
    check_update,
    increment,
    init_count,
    is_static_zero,
    moment_dtype,
    moments,
    next_count,
    one_minus_pow,
    real_view,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)
from optaxlr.transforms._per_parameter import per_parameter

__all__ = ["ScaleByLambState", "ScaleByLarsState", "scale_by_lamb", "scale_by_lars"]

#: ``pytorch_optimizer.Lamb.clamp``: the bound on the weight norm in the trust ratio.
LAMB_CLAMP = 10.0


def _ndims(who: str, tree: Any) -> list[int]:
    """Each leaf's number of dimensions as a parameter array; refuses a leaf holding several.

    On `optaxlr.FlatParams` a buffer is one parameter array only where ``group_by``
    gave that array a label of its own; its dimensions are the array's, not the
    buffer's.
    """
    ids = itertools.count()
    hint = (
        f"{who} takes a trust ratio per parameter array (norms of that array alone), which "
        "a buffer holding several arrays would replace by one ratio per buffer; use the "
        "per-leaf optimizer, or give every array its own buffer "
        "(FlatParams.from_tree(params, group_by=<one label per array>))."
    )
    per_parameter(
        tree, lambda p: jax.tree.map(lambda _: next(ids), p), f"{who}'s per-array trust ratio", hint
    )
    return per_parameter(tree, lambda p: jax.tree.map(lambda x: len(x.shape), p), "ndim", hint)


def _norm(x: jax.Array) -> jax.Array:
    """The L2 norm of all of ``x`` (a complex array as its real view, as PyTorch)."""
    return jnp.sqrt(_squared_norm(x))


def _need_params(who: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{who}: update needs params, since the trust ratio is computed from the "
            "parameters' norms; call update(grads, state, params)"
        )


# --- LAMB --------------------------------------------------------------------------------


class ScaleByLambState(NamedTuple):
    """State of `scale_by_lamb`."""

    count: jax.Array  # updates applied (int32): the step size's first-moment bias correction
    record: HyperparamRecord  # b1, b2, eps, learning_rate[, weight_decay][, max_grad_norm]
    mu: optax.Params  # first moment (float32 for float16 parameters)
    nu: optax.Params  # second moment (float32 for float16 parameters)


def scale_by_lamb(
    learning_rate: Hyperparam = 1e-3,
    b1: Hyperparam = 0.9,
    b2: Hyperparam = 0.999,
    eps: Hyperparam = 1e-6,
    weight_decay: Hyperparam = 0.0,
    *,
    weight_decouple: bool = True,
    fixed_decay: bool = False,
    grad_averaging: bool = True,
    adam: bool = False,
    pre_norm: bool = False,
    max_grad_norm: Hyperparam = 1.0,
) -> optax.GradientTransformation:
    r"""LAMB's whole step, as ``pytorch_optimizer.Lamb`` 4.1.0 (the update to add to the params).

    With :math:`\beta_3 = 1 - \beta_1` (``grad_averaging``, else 1), per parameter
    array :math:`\theta`:

    .. math::
        m_t = \beta_1 m_{t-1} + \beta_3 g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        r_t = \frac{m_t}{\sqrt{v_t} + \epsilon}\ (+\, \lambda \theta_{t-1}
        \text{ if not decoupled})

    .. math::
        \theta' = (1 - \eta_t \lambda)\, \theta_{t-1} \text{ (decoupled; } 1 - \lambda
        \text{ with fixed\_decay)}, \qquad
        \phi = \frac{\min(\lVert \theta' \rVert, 10)}{\lVert r_t \rVert + \epsilon}, \qquad
        \theta_t = \theta' - \frac{\eta_t}{1 - \beta_1^t} \phi\, r_t

    (:math:`\phi = 1` where either norm is 0, or with ``adam=True``). The learning
    rate is part of this transformation, not chained after it, because the trust
    ratio reads the parameters after the rate-scaled decoupled decay.

    This is LAMB as in version 3 of You et al. (arXiv:1904.00962): no bias
    correction of the second moment, ``eps`` outside the square root, the weight
    norm clipped at 10. Unlike the paper's v3 the step size carries the first
    moment's bias correction :math:`1/(1 - \beta_1^t)` (``pytorch_optimizer``'s
    default ``adam_debias=False``), and ``eps`` is also added to the update's norm.
    ``optax.lamb`` differs: both moments bias-corrected, no clamp, no ``eps`` in
    the ratio, decay (coupled after the preconditioner) always inside the ratio;
    ``optax.scale_by_trust_ratio`` (:math:`\lVert \theta \rVert / \lVert u \rVert`)
    is therefore not used.

    ``pre_norm`` first scales all gradients by
    :math:`\min(1, c / (\lVert g \rVert_{\text{global}} + \epsilon))` (``c`` is
    ``max_grad_norm``; 0 turns it off). Complex parameters are updated as their
    real view, as ``pytorch_optimizer`` does.

    Args:
      learning_rate: >= 0, or a schedule.
      b1: decay of the first moment in [0, 1), or a schedule.
      b2: decay of the second moment in [0, 1), or a schedule.
      eps: >= 0, added to :math:`\sqrt{v_t}` and to the update's norm, or a schedule.
      weight_decay: >= 0, or a schedule.
      weight_decouple: decay the parameters (AdamW-like) rather than add
        :math:`\lambda \theta` to the update before the trust ratio.
      fixed_decay: a decoupled decay not scaled by the learning rate.
      grad_averaging: weight the new gradient in :math:`m_t` by :math:`1 - \beta_1`.
      adam: a trust ratio of 1 (Adam with LAMB's other choices).
      pre_norm: scale the gradients by their global norm first.
      max_grad_norm: >= 0, the norm ``pre_norm`` scales to, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByLambState`; its update
      needs ``params``.

    Example:
      >>> import optaxlr
      >>> tx = optaxlr.scale_by_lamb(1e-3, weight_decay=1e-2)
    """
    who = "scale_by_lamb"
    hparams = {
        **moments(b1, b2, eps),
        "learning_rate": bounded("learning_rate", learning_rate, NONNEGATIVE),
    }
    decay = bounded("weight_decay", weight_decay, NONNEGATIVE)
    clip = bounded("max_grad_norm", max_grad_norm, NONNEGATIVE)
    decoupled = check_bool("weight_decouple", weight_decouple)
    fixed = check_bool("fixed_decay", fixed_decay)
    averaging = check_bool("grad_averaging", grad_averaging)
    no_ratio = check_bool("adam", adam)
    normed = check_bool("pre_norm", pre_norm)
    decays = not is_static_zero(weight_decay)
    if decays:
        hparams["weight_decay"] = decay
    if normed:
        hparams["max_grad_norm"] = clip
    spec = HyperparamSpec(**hparams)

    def init_fn(params):
        check_params(who, params)
        _ndims(who, params)
        zeros = lambda: jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByLambState(init_count(), spec.initial_record(), zeros(), zeros())

    def update_fn(updates, state, params=None):
        check_update(who, state, ScaleByLambState, updates, "mu", params)
        _need_params(who, params)
        _ndims(who, updates)
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        beta1, beta2, eps_t, lr = (values[k] for k in ("b1", "b2", "eps", "learning_rate"))
        wd = values.get("weight_decay", 0.0)
        count = increment(state.count)
        step_size = lr / one_minus_pow(beta1, count, dtype)
        beta3 = 1.0 - beta1 if averaging else 1.0
        # The decoupled decay's share of theta: theta' = (1 - shrink) theta.
        shrink = (wd if fixed else lr * wd) if decoupled and decays else None

        scale = None
        if normed:
            c = values["max_grad_norm"]
            total = jnp.sqrt(sum(_squared_norm(g) for g in jax.tree.leaves(updates)))
            scale = jnp.where(c == 0, 1.0, jnp.minimum(c / (total + eps_t), 1.0))

        @real_view
        def moments_and_direction(g, m, v):
            g32 = upcast(g) if scale is None else upcast(g) * scale.astype(upcast(g).dtype)
            new_m = upcast(m) * beta1 + beta3 * g32
            new_v = upcast(v) * beta2 + (1 - beta2) * (g32 * g32)
            return new_m / (jnp.sqrt(new_v) + eps_t), new_m, new_v

        def leaf(g, m, v, p):
            r, new_m, new_v = moments_and_direction(g, m, v)
            p32 = upcast(p)
            decayed = p32 if shrink is None else p32 * (1.0 - shrink)
            if decays and not decoupled:
                r = r + wd * p32
            if no_ratio:
                ratio = 1.0
            else:
                w_norm = jnp.minimum(_norm(decayed), LAMB_CLAMP)
                r_norm = _norm(r)
                ratio = jnp.where(
                    (w_norm != 0) & (r_norm != 0), w_norm / (r_norm + eps_t), jnp.ones_like(w_norm)
                )
            step = -(step_size * ratio) * r
            if shrink is not None:
                step = step - shrink * p32
            return step.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        out = jax.tree.map(leaf, updates, state.mu, state.nu, params)
        new_updates, mu, nu = unzip(updates, out, 3)
        return new_updates, ScaleByLambState(count, spec.record(values), mu, nu)

    return transformation(init_fn, update_fn)


# --- LARS --------------------------------------------------------------------------------


class ScaleByLarsState(NamedTuple):
    """State of `scale_by_lars`."""

    count: jax.Array | None  # updates applied (int32) with a schedule, else None
    record: HyperparamRecord  # weight_decay, trust_coefficient[, momentum][, dampening]
    trace: optax.Params | None  # momentum buffer (float32 for float16); None without momentum


def scale_by_lars(
    weight_decay: Hyperparam = 0.0,
    momentum: Hyperparam = 0.9,
    dampening: Hyperparam = 0.0,
    trust_coefficient: Hyperparam = 1e-3,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""LARS's direction, as ``pytorch_optimizer.LARS`` 4.1.0 (chain a learning rate after it).

    For a parameter array :math:`\theta` with more than one dimension:

    .. math::
        \phi = \frac{k \lVert \theta \rVert}{\lVert g_t \rVert + \lambda \lVert \theta \rVert},
        \qquad d_t = \phi\, (g_t + \lambda \theta)

    (:math:`\phi = 1` where :math:`\lVert \theta \rVert` or the denominator is 0;
    :math:`k` is ``trust_coefficient``). Scalars and vectors (biases, norms) get
    :math:`d_t = g_t`: neither the ratio nor the weight decay, as
    ``pytorch_optimizer`` does. Then the momentum, with a buffer that starts at
    zero (not at the first gradient, as ``torch.optim.SGD``'s):

    .. math::
        b_t = \mu b_{t-1} + (1 - \delta) d_t, \qquad u_t = b_t \text{ or, Nesterov, }
        d_t + \mu b_t

    and :math:`u_t = d_t` at a step whose momentum is 0. ``optax.lars`` differs,
    so ``optax.scale_by_trust_ratio`` is not used here: its ratio is
    :math:`k \lVert \theta \rVert / \lVert g_t + \lambda \theta \rVert` (the norm of
    the sum, not the sum of the norms), on every array unless masked; it applies
    the learning rate before the momentum and has no dampening.

    Args:
      weight_decay: >= 0, or a schedule.
      momentum: in [0, 1), or a schedule; 0 keeps no buffer.
      dampening: in [0, 1), or a schedule.
      trust_coefficient: :math:`k` >= 0, or a schedule.
      nesterov: use Nesterov momentum.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByLarsState`; its update
      needs ``params``.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_lars(1e-4), optaxlr.scale_by_learning_rate(0.1))
    """
    who = "scale_by_lars"
    spec = HyperparamSpec(
        weight_decay=bounded("weight_decay", weight_decay, NONNEGATIVE),
        trust_coefficient=bounded("trust_coefficient", trust_coefficient, NONNEGATIVE),
        momentum=bounded("momentum", momentum, BETA),
        dampening=bounded("dampening", dampening, BETA),
    )
    nesterov = check_bool("nesterov", nesterov)
    has_buffer = not is_static_zero(momentum)
    # A momentum that may reach 0 (a schedule, an array) switches the buffer off there.
    switched = has_buffer and not isinstance(momentum, int | float)

    def init_fn(params):
        check_params(who, params)
        _ndims(who, params)
        trace = None
        if has_buffer:
            trace = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByLarsState(
            init_count() if spec.scheduled else None, spec.initial_record(), trace
        )

    def update_fn(updates, state, params=None):
        check_update(who, state, ScaleByLarsState, updates, None, params)
        _need_params(who, params)
        ndims = _ndims(who, updates)
        values = spec.values(state.count, scalar_dtype(updates))
        wd, k = values["weight_decay"], values["trust_coefficient"]
        mu, damp = values["momentum"], values["dampening"]

        def direction(g, p, ndim):
            g32 = upcast(g)
            if ndim <= 1:
                return g32
            p32 = upcast(p)
            p_norm, g_norm = _norm(p32), _norm(g32)
            denominator = g_norm + wd * p_norm
            one = jnp.ones_like(p_norm)
            ratio = jnp.where(
                p_norm > 0, jnp.where(denominator > 0, k * p_norm / denominator, one), one
            )
            return (g32 + wd * p32) * ratio

        leaves, treedef = jax.tree.flatten(updates)
        d = [
            direction(g, p, n)
            for g, p, n in zip(leaves, treedef.flatten_up_to(params), ndims, strict=True)
        ]
        if not has_buffer:
            new_updates = treedef.unflatten(
                [x.astype(g.dtype) for x, g in zip(d, leaves, strict=True)]
            )
            return new_updates, state._replace(
                count=next_count(state.count), record=spec.record(values)
            )

        def leaf(g, d, b):
            b32 = upcast(b)
            new_b = b32 * mu + (1.0 - damp) * d
            out = d + mu * new_b if nesterov else new_b
            if switched:
                on = mu > 0
                new_b, out = jnp.where(on, new_b, b32), jnp.where(on, out, d)
            return out.astype(g.dtype), new_b.astype(b.dtype)

        buffers = treedef.flatten_up_to(state.trace)
        out = treedef.unflatten([leaf(*a) for a in zip(leaves, d, buffers, strict=True)])
        new_updates, trace = unzip(updates, out, 2)
        return new_updates, ScaleByLarsState(next_count(state.count), spec.record(values), trace)

    return transformation(init_fn, update_fn)
