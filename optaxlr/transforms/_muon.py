"""Muon's orthogonalized momentum (Jordan et al., 2024), as ``torch.optim.Muon`` of torch 2.13."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._paths import path_to_str
from optaxlr._validation import Interval, check_choice, check_int
from optaxlr.transforms._common import (
    NONNEGATIVE,
    Hyperparam,
    HyperparamSpec,
    bounded,
    check_bool,
    check_dtype,
    check_params,
    check_update,
    compute_dtype,
    init_count,
    lerp,
    moment_dtype,
    next_count,
    scalar_dtype,
    transformation,
    unzip,
    upcast,
)
from optaxlr.transforms._per_parameter import ParameterGroups

__all__ = ["ScaleByMuonState", "newton_schulz", "scale_by_muon"]

#: Keller Jordan's quintic coefficients, torch's ``ns_coefficients`` default.
NS_COEFFICIENTS = (3.4445, -4.775, 2.0315)
#: ``adjust_lr_fn``'s values, as torch 2.13's ``Muon`` accepts them (None is "original").
ADJUST_LR_FNS = ("original", "match_rms_adamw")
#: Where the output axis of a kernel is: last in Flax (Dense ``(in, out)``, Conv ``HWIO``),
#: first in PyTorch (Linear ``(out, in)``, Conv ``OIHW``).
LAYOUTS = ("flax", "torch")
_ANY_REAL = Interval()
#: Why Muon cannot run on `optaxlr.FlatParams` (`optaxlr.multi_tensor`).
NOT_ON_FLAT_PARAMS = (
    "Muon orthogonalizes each matrix (Newton-Schulz on its rows and columns), and a "
    "FlatParams buffer is a 1-D concatenation of many parameters with no matrix in it; "
    "use the per-leaf optimizer"
)


class ScaleByMuonState(NamedTuple):
    """State of `scale_by_muon`."""

    count: jax.Array | None  # updates applied (int32) with a schedule, else None
    record: HyperparamRecord  # momentum, eps, ns_a, ns_b, ns_c
    mu: optax.Params  # momentum buffer (float32 for float16 parameters)


def newton_schulz(
    x: jax.Array,
    coefficients: Sequence[Any] = NS_COEFFICIENTS,
    steps: int = 5,
    eps: Any = 1e-7,
    dtype: Any = None,
) -> jax.Array:
    r"""Orthogonalizes a matrix by the quintic Newton-Schulz iteration, as torch's Muon.

    ``torch.optim._muon._zeropower_via_newtonschulz`` step for step: the matrix
    is transposed when it has more rows than columns, scaled to Frobenius norm 1
    (the norm clamped below at ``eps``), then iterated

    .. math::
        A = X X^\top, \qquad X \leftarrow a X + (b A + c A^2) X

    ``steps`` times, and transposed back. The result is close to :math:`U V^\top`
    for :math:`X = U S V^\top`, with singular values in about [0.7, 1.2] rather
    than exactly 1 (the coefficients trade accuracy for speed).

    Args:
      x: a 2-D array.
      coefficients: ``(a, b, c)``, numbers or scalar arrays.
      steps: iterations, an integer in [0, 99] (torch refuses 100 or more); a
        traced integer (``optax.inject_hyperparams``) runs them in a loop.
      eps: the norm's lower bound.
      dtype: the dtype the iteration runs in. ``None``: float32, or float64 for a
        float64 matrix. torch always runs it in bfloat16; pass ``jnp.bfloat16``
        for its numbers.

    Returns:
      The orthogonalized matrix, in ``x``'s dtype.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> o = optaxlr.transforms.newton_schulz(jnp.array([[3.0, 0.0], [0.0, 0.5]]))
      >>> tuple(round(float(v), 2) for v in jnp.diag(o))
      (0.71, 1.04)
    """
    if x.ndim != 2:
        raise ValueError(f"newton_schulz: x must be a 2-D matrix, got shape {x.shape}")
    steps = check_int("steps", steps, low=0, high=99)
    if len(coefficients) != 3:
        raise ValueError(f"coefficients must be (a, b, c), got {coefficients!r}")
    store = jnp.dtype(dtype) if dtype is not None else compute_dtype(x)
    # Each of torch's ops (norm, div_, matmul, addmm) computes in float32 at least and
    # rounds once to the storage dtype; so do these, which matters in bfloat16 only.
    acc = jnp.promote_types(store, jnp.float32)
    a, b, c = (v if isinstance(v, float | int) else jnp.asarray(v, acc) for v in coefficients)

    def mm(u, v):
        return jnp.matmul(u, v, preferred_element_type=acc)

    y, spec = _gathered(x.astype(store))
    tall = y.shape[0] > y.shape[1]
    if tall:
        y = y.T
    norm = jnp.linalg.norm(y.astype(acc)).astype(store).astype(acc)
    y = (y / jnp.maximum(norm, jnp.asarray(eps, store).astype(acc))).astype(store)

    def iterate(_, y):
        gram = mm(y, y.T).astype(store)
        update = (b * gram.astype(acc) + c * mm(gram, gram)).astype(store)
        return (a * y.astype(acc) + mm(update, y)).astype(store)

    if isinstance(steps, int):
        for i in range(steps):
            y = iterate(i, y)
    else:  # a traced count (optax.inject_hyperparams injects ns_steps)
        y = jax.lax.fori_loop(0, steps, iterate, y)
    y = (y.T if tall else y).astype(x.dtype)
    return y if spec is None else jax.sharding.reshard(y, spec)


def _gathered(x: jax.Array) -> tuple[jax.Array, Any]:
    """``x`` replicated if it is sharded over explicit mesh axes, and its sharding's spec.

    Newton-Schulz multiplies whole rows by whole columns; under explicit sharding JAX
    asks where such products go, so the iteration runs on the gathered matrix (every
    device computes the whole of it) and its result is sharded back.
    """
    spec = getattr(getattr(jax.typeof(x), "sharding", None), "spec", None)
    if spec is None or all(axis is None for axis in spec):
        return x, None
    return jax.sharding.reshard(x, jax.sharding.PartitionSpec()), spec


def _to_matrix(x: jax.Array, layout: str) -> jax.Array:
    """The ``(out, rest)`` matrix of a kernel (Keller Jordan's ``g.view(len(g), -1)``)."""
    if layout == "flax":
        x = jnp.moveaxis(x, -1, 0)
    return x.reshape(x.shape[0], -1)


def _from_matrix(m: jax.Array, shape: tuple[int, ...], layout: str) -> jax.Array:
    if layout == "flax":
        return jnp.moveaxis(m.reshape((shape[-1], *shape[:-1])), 0, -1)
    return m.reshape(shape)


def lr_ratio(adjust_lr_fn: str | None, rows: int, cols: int) -> float:
    """torch's ``_adjust_lr`` factor for an ``(out, rest)`` = ``(rows, cols)`` matrix."""
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1.0, rows / cols))
    return 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw"


def _check_matrices(params: Any) -> None:
    if isinstance(params, ParameterGroups):
        raise ValueError(f"scale_by_muon: {NOT_ON_FLAT_PARAMS}")
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        where = path_to_str(path) or "<root>"
        if jnp.iscomplexobj(leaf):
            raise TypeError(
                f"scale_by_muon: parameter {where!r} is complex; Muon updates real matrices "
                "only (torch.optim.Muon refuses complex parameters too)"
            )
        if jnp.ndim(leaf) < 2:
            raise ValueError(
                f"scale_by_muon: parameter {where!r} has shape {jnp.shape(leaf)}; Muon "
                "orthogonalizes matrices (ndim >= 2) only. optaxlr.muon sends the other "
                "parameters to AdamW (its mask); with this transformation, use optax.partition"
            )


def scale_by_muon(
    momentum: Hyperparam = 0.95,
    nesterov: bool = True,
    ns_coefficients: Sequence[Hyperparam] = NS_COEFFICIENTS,
    eps: Hyperparam = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    *,
    ns_dtype: Any = None,
    layout: str = "flax",
) -> optax.GradientTransformation:
    r"""Muon's update direction, as ``torch.optim.Muon`` of torch 2.13 (before the rate).

    .. math::
        B_t = \mu B_{t-1} + (1 - \mu) g_t, \qquad
        \tilde B_t = \begin{cases} \mu B_t + (1 - \mu) g_t & \text{nesterov} \\
            B_t & \text{otherwise} \end{cases}, \qquad
        \Delta_t = s(A, B)\, \mathrm{NS}(\tilde B_t)

    (:math:`B_0 = 0`; torch's ``lerp`` form of the momentum.) :math:`\mathrm{NS}`
    is `newton_schulz` and :math:`s` torch's ``_adjust_lr`` factor of the
    :math:`A \times B` matrix: :math:`\sqrt{\max(1, A/B)}` (``"original"``, the
    default ``None``) or :math:`0.2\sqrt{\max(A, B)}` (``"match_rms_adamw"``),
    where :math:`A` is the output dimension (fan-out) and :math:`B` the input
    dimension (fan-in). (torch 2.14's ``"spectral_unclamped"`` is not in 2.13.)

    Every parameter must have ndim >= 2 (torch's Muon takes 2-D ones only). A
    kernel is orthogonalized as the matrix ``(out, rest)``: its output axis
    first, the other axes flattened (Keller Jordan's rule for convolutions).
    ``layout`` says where the output axis is: ``"flax"`` (the default) the
    last, as in a Flax ``Dense`` kernel ``(in, out)`` or ``Conv`` kernel
    ``HWIO``; ``"torch"`` the first, as in ``nn.Linear`` ``(out, in)`` and
    ``nn.Conv2d`` ``OIHW``. A Flax ``Dense`` kernel is the transpose of the
    torch ``Linear`` weight, so both layouts give torch's update of the same
    layer. (The column order of a Flax conv matrix is ``(H, W, I)``, torch's
    ``(I, H, W)``; Newton-Schulz commutes with that permutation.)

    torch runs Newton-Schulz in bfloat16; here it runs in float32 (float64 for
    float64 parameters) unless ``ns_dtype`` says otherwise, so runs are
    reproducible and match torch to float32 rounding when torch's iteration is
    run in float32 too.

    Args:
      momentum: :math:`\mu` >= 0, or a schedule.
      nesterov: use Nesterov momentum (torch's default True).
      ns_coefficients: Newton-Schulz's ``(a, b, c)``, each a number, an array or
        a schedule (recorded as ``ns_a``, ``ns_b``, ``ns_c``).
      eps: lower bound of the norm Newton-Schulz divides by, >= 0, or a schedule.
      ns_steps: Newton-Schulz iterations, an integer in [0, 99].
      adjust_lr_fn: ``None``, ``"original"`` or ``"match_rms_adamw"``: the
        shape factor :math:`s`.
      ns_dtype: the dtype of the Newton-Schulz iteration (``jnp.bfloat16`` for
        torch's); ``None``: float32, or float64 for float64 parameters.
      layout: ``"flax"`` (output axis last) or ``"torch"`` (output axis first).

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByMuonState`.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(optaxlr.scale_by_muon(), optaxlr.scale_by_learning_rate(0.02))
    """
    nesterov = check_bool("nesterov", nesterov)
    if isinstance(ns_coefficients, str) or not isinstance(ns_coefficients, Sequence):
        raise TypeError(f"ns_coefficients must be a tuple (a, b, c), got {ns_coefficients!r}")
    if len(ns_coefficients) != 3:
        raise ValueError(
            f"ns_coefficients must be exactly three values (a, b, c), got {ns_coefficients!r}"
        )
    ns_steps = check_int("ns_steps", ns_steps, low=0, high=99)
    if adjust_lr_fn is not None:
        check_choice("adjust_lr_fn", adjust_lr_fn, ADJUST_LR_FNS)
    layout = check_choice("layout", layout, LAYOUTS)
    ns_dtype = check_dtype("ns_dtype", ns_dtype)
    spec = HyperparamSpec(
        momentum=bounded("momentum", momentum, NONNEGATIVE),
        eps=bounded("eps", eps, NONNEGATIVE),
        **{
            f"ns_{n}": bounded(f"ns_coefficients[{i}]", v, _ANY_REAL)
            for i, (n, v) in enumerate(zip("abc", ns_coefficients, strict=True))
        },
    )

    def init_fn(params):
        check_params("scale_by_muon", params)
        _check_matrices(params)
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=moment_dtype(p)), params)
        return ScaleByMuonState(init_count() if spec.scheduled else None, spec.initial_record(), mu)

    def update_fn(updates, state, params=None):
        check_update("scale_by_muon", state, ScaleByMuonState, updates, "mu")
        del params
        values = spec.values(state.count, scalar_dtype(updates))
        beta = values["momentum"]
        coefficients = (values["ns_a"], values["ns_b"], values["ns_c"])

        def leaf(g, m):
            g32, m32 = upcast(g), upcast(m)
            new_m = lerp(m32, g32, 1 - beta)  # torch: buf.lerp_(grad, 1 - momentum)
            direction = lerp(g32, new_m, beta) if nesterov else new_m
            direction, spec = _gathered(direction)  # before the reshapes, too
            matrix = _to_matrix(direction, layout)
            o = newton_schulz(matrix, coefficients, ns_steps, values["eps"], ns_dtype)
            o = _from_matrix(o * lr_ratio(adjust_lr_fn, *matrix.shape), g.shape, layout)
            if spec is not None:
                o = jax.sharding.reshard(o, spec)
            return o.astype(g.dtype), new_m.astype(m.dtype)

        out = jax.tree.map(leaf, updates, state.mu)
        new_updates, mu = unzip(updates, out, 2)
        return new_updates, ScaleByMuonState(next_count(state.count), spec.record(values), mu)

    return transformation(init_fn, update_fn)
