"""Adafactor's factored second moment and relative step, as ``torch.optim.Adafactor``."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._paths import path_to_str
from optaxlr._validation import Interval
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_params,
    check_update,
    increment,
    init_count,
    moment_dtype,
    pair,
    scalar_dtype,
    transformation,
    upcast,
)

__all__ = ["ScaleByAdafactorState", "scale_by_adafactor"]

#: ``beta2_decay <= 0`` and ``d >= 1``, as ``torch.optim.Adafactor`` checks them.
NONPOSITIVE = Interval(high=0.0)
AT_LEAST_ONE = Interval(low=1.0)


class ScaleByAdafactorState(NamedTuple):
    """State of `scale_by_adafactor`.

    ``row_var`` and ``col_var`` hold a leaf for each parameter of two or more
    dimensions (shapes ``(..., m, 1)`` and ``(..., 1, n)`` for a ``(..., m, n)``
    parameter) and ``None`` for the others; ``variance`` the reverse (a buffer of
    the parameter's shape for scalars and vectors). Moments are float32 for
    float16 parameters.
    """

    count: jax.Array  # updates applied (int32, saturating): PyTorch's ``step``
    record: HyperparamRecord  # learning_rate, beta2_decay, eps1 (if given), eps2, d
    row_var: optax.Params  # row means of the squared gradients (>= 2-D parameters)
    col_var: optax.Params  # column means of the squared gradients (>= 2-D parameters)
    variance: optax.Params  # squared gradients (scalars and vectors)


def _reduced_zeros(p: jax.Array, axis: int) -> jax.Array:
    """Zeros of ``p``'s shape with ``axis`` of size 1, in the moment dtype, sharded as the
    reduction of ``p`` over ``axis`` is (computing it once is what gives the sharding of
    a sharded ``p`` outside ``jit``, where ``jax.eval_shape`` knows none)."""
    return jnp.zeros_like(jnp.mean(p, axis=axis, keepdims=True), dtype=moment_dtype(p))


def _rms(x: jax.Array) -> jax.Array:
    """``x.norm(2) / sqrt(x.numel())``, PyTorch's root mean square of a whole tensor."""
    return jnp.sqrt(jnp.sum(x * x)) / math.sqrt(x.size)


def scale_by_adafactor(
    learning_rate: Hyperparam = 1e-2,
    beta2_decay: Hyperparam = -0.8,
    eps: tuple[Hyperparam | None, Hyperparam] = (None, 1e-3),
    d: Hyperparam = 1.0,
) -> optax.GradientTransformation:
    r"""Adafactor's whole step (the sign included), as ``torch.optim.Adafactor``.

    At the update :math:`t` (counting from 1), with :math:`G_t` the gradient:

    .. math::
        \hat\beta_{2,t} = 1 - t^{\tau}, \quad
        \rho_t = \min(\gamma, 1 / \sqrt{t}), \quad
        \alpha_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))\, \rho_t

    For a parameter of two or more dimensions, the second moment is factored over its
    last two (a ``(..., m, n)`` parameter keeps ``(..., m, 1)`` row and ``(..., 1, n)``
    column means of :math:`G_t^2`, one pair per matrix of the leading dimensions):

    .. math::
        R_t = \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t})\, \operatorname{mean}_n(G_t^2),
        \quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t})\, \operatorname{mean}_m(G_t^2),
        \quad
        \hat V_t = \frac{R_t C_t}{\max(\operatorname{mean}_m(R_t), \epsilon_1)}

    and for scalars and vectors :math:`\hat V_t = \hat\beta_{2,t} \hat V_{t-1} +
    (1 - \hat\beta_{2,t}) G_t^2`. Then

    .. math::
        U_t = \frac{G_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \quad
        \Delta_t = -\frac{\alpha_t}{\max(1, \operatorname{RMS}(U_t) / d)}\, U_t

    with :math:`\gamma` the learning rate, :math:`\tau` ``beta2_decay``, and RMS the
    root mean square over the whole parameter. The learning rate only caps the
    relative step :math:`\rho_t`: it is :math:`\gamma` until :math:`t = 1/\gamma^2`
    (10,000 updates at the default 1e-2), and :math:`1/\sqrt t` after. The output is the
    whole update: don't chain a learning rate after it. ``update`` needs ``params``.

    ``eps1`` given as ``None`` is the machine epsilon of each parameter's dtype
    (``jnp.finfo(p.dtype).eps``), as PyTorch takes it; it is then not reported by
    `optaxlr.hyperparams`. (PyTorch takes the first parameter's dtype for the whole
    group; the two differ only for a tree mixing parameter dtypes.) Half-precision
    parameters are updated in float32, their epsilon still their own dtype's.

    Complex parameters are refused, as PyTorch refuses them.

    Args:
      learning_rate: the cap of the relative step, >= 0 (1e-2 in PyTorch), or a schedule.
      beta2_decay: :math:`\tau <= 0`, the exponent of the second moment's decay, or a
        schedule.
      eps: ``(eps1, eps2)``: ``eps1`` >= 0 or ``None`` (the dtype's epsilon) floors the
        variance estimate; ``eps2`` >= 0 floors the parameter scale. Each a number, an
        array or a schedule.
      d: the clipping threshold of the update's RMS, >= 1, or a schedule.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByAdafactorState`.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> tx = optaxlr.scale_by_adafactor()
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> state = tx.init(params)
      >>> state.row_var["w"].shape, state.col_var["w"].shape, state.variance["b"].shape
      ((2, 1), (1, 3), (3,))
    """
    who = "scale_by_adafactor"
    eps1, eps2 = pair(who, "eps", eps)
    hparams: dict[str, Any] = {
        "learning_rate": bounded("learning_rate", learning_rate, NONNEGATIVE),
        "beta2_decay": bounded("beta2_decay", beta2_decay, NONPOSITIVE),
    }
    if eps1 is not None:
        hparams["eps1"] = bounded("eps[0] (eps1)", eps1, NONNEGATIVE)
    hparams["eps2"] = bounded("eps[1] (eps2)", eps2, NONNEGATIVE)
    hparams["d"] = bounded("d", d, AT_LEAST_ONE)
    spec = HyperparamSpec(**hparams)

    def refuse_complex(tree: Any, what: str) -> None:
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            if jnp.iscomplexobj(leaf):
                raise TypeError(
                    f"{who} (optaxlr.adafactor): {what} {path_to_str(path) or '<root>'!r} is "
                    f"complex ({leaf.dtype}); Adafactor does not support complex parameters, "
                    "as torch.optim.Adafactor refuses them (its factored moments are real)"
                )

    def init_fn(params):
        check_params(who, params)
        refuse_complex(params, "parameter")

        def fields(p):
            if p.ndim > 1:
                return _reduced_zeros(p, -1), _reduced_zeros(p, -2), None
            return None, None, jnp.zeros_like(p, dtype=moment_dtype(p))

        leaves, treedef = jax.tree.flatten(params)
        row, col, var = zip(*map(fields, leaves), strict=True) if leaves else ((), (), ())
        row, col, var = (treedef.unflatten(list(x)) for x in (row, col, var))
        return ScaleByAdafactorState(init_count(), spec.initial_record(), row, col, var)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                f"{who} (optaxlr.adafactor): update needs params, since the step is scaled by "
                "each parameter's root mean square; call update(grads, state, params)"
            )
        check_update(who, state, ScaleByAdafactorState, updates, params=params)
        refuse_complex(updates, "the update at")
        leaves, treedef = jax.tree.flatten(updates)
        moments = _moments_like(who, leaves, treedef, state)
        dtype = scalar_dtype(updates)
        values = spec.values(state.count, dtype)
        count = increment(state.count)
        t = jnp.asarray(count, dtype)
        # PyTorch's weight of the new statistics, 1 - beta2_t = t ** beta2_decay.
        weight = t ** jnp.asarray(values["beta2_decay"], dtype)
        rho = jnp.minimum(jnp.asarray(values["learning_rate"], dtype), 1 / jnp.sqrt(t))
        eps2_t, d_t = values["eps2"], values["d"]

        def leaf(g, p, row, col, var):
            if g.size == 0:
                return g, row, col, var
            g32, p32 = upcast(g), upcast(p)
            e1 = values["eps1"] if eps1 is not None else float(jnp.finfo(p.dtype).eps)
            e1 = jnp.asarray(e1, g32.dtype)
            g2 = g32 * g32
            if g.ndim > 1:
                new_row = _lerp(upcast(row), jnp.mean(g2, axis=-1, keepdims=True), weight)
                new_col = _lerp(upcast(col), jnp.mean(g2, axis=-2, keepdims=True), weight)
                row_mean = jnp.maximum(jnp.mean(new_row, axis=-2, keepdims=True), e1)
                estimate = new_row * new_col / row_mean
                row, col = new_row.astype(row.dtype), new_col.astype(col.dtype)
            else:
                estimate = _lerp(upcast(var), g2, weight)
                var = estimate.astype(var.dtype)
            u = g32 * jax.lax.rsqrt(jnp.maximum(estimate, e1 * e1))
            alpha = jnp.maximum(eps2_t, _rms(p32)) * rho
            denom = jnp.maximum(1.0, _rms(u) / d_t)
            step = u * (-alpha / denom).astype(g32.dtype)
            return step.astype(g.dtype), row, col, var

        p_leaves = treedef.flatten_up_to(params)
        out = [leaf(g, p, *m) for g, p, m in zip(leaves, p_leaves, moments, strict=True)]
        new_updates, row, col, var = (treedef.unflatten([o[i] for o in out]) for i in range(4))
        record = spec.record(values)
        return new_updates, ScaleByAdafactorState(count, record, row, col, var)

    return transformation(init_fn, update_fn)


def _fits(g: Any, row: Any, col: Any, var: Any) -> bool:
    """Whether a leaf's moments are those `scale_by_adafactor`'s init gives a ``g``-shaped
    parameter."""
    if g.ndim <= 1:
        return row is None and col is None and var is not None and var.shape == g.shape
    if row is None or col is None or var is not None:
        return False
    return row.shape == (*g.shape[:-1], 1) and col.shape == (*g.shape[:-2], 1, g.shape[-1])


def _moments_like(who: str, leaves: list, treedef: Any, state: ScaleByAdafactorState) -> list:
    """``(row_var, col_var, variance)`` for each leaf of the updates, checked against it."""
    try:
        fields = [treedef.flatten_up_to(f) for f in (state.row_var, state.col_var, state.variance)]
        moments = list(zip(*fields, strict=True))
    except (ValueError, TypeError):
        moments = None
    if moments is None or not all(_fits(g, *m) for g, m in zip(leaves, moments, strict=True)):
        raise ValueError(
            f"{who}: the updates do not fit the state's moments (the state of other "
            "parameters?); pass the gradients of the parameters the optimizer was "
            "initialised with"
        )
    return moments


def _lerp(a: jax.Array, b: jax.Array, w: jax.Array) -> jax.Array:
    """``torch.lerp(a, b, w)`` for a traced scalar weight: the form PyTorch picks.

    PyTorch computes ``b - (b - a) * (1 - w)`` for ``w >= 0.5`` (Adafactor's weight
    ``t ** beta2_decay`` is 1 at the first update and above 0.5 for the next few).
    """
    w = w.astype(a.dtype)
    return jnp.where(w < 0.5, a + w * (b - a), b - (b - a) * (1 - w))
