"""Pieces every transformation shares: argument checks, dtypes, counts, bias corrections."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import Bounded, Hyperparam, HyperparamSpec, bounded, is_constant
from optaxlr._paths import path_to_str
from optaxlr._validation import (
    BETA,
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    check_bool,
    check_number,
    is_traced,
)

__all__ = [
    "BETA",
    "NONNEGATIVE",
    "POSITIVE",
    "UNIT",
    "Hyperparam",
    "HyperparamSpec",
    "bounded",
    "check_bool",
    "check_dtype",
    "check_hyperparam",
    "check_like_params",
    "check_params",
    "check_update",
    "compute_dtype",
    "find_states",
    "increment",
    "init_count",
    "is_static_zero",
    "lerp",
    "moment_dtype",
    "moments",
    "next_count",
    "one_minus_pow",
    "pair",
    "real_dtype",
    "real_view",
    "scalar_dtype",
    "transformation",
    "unzip",
    "upcast",
]


def transformation(
    init_fn: Callable[..., Any], update_fn: Callable[..., Any], extra_args: bool = False
) -> Any:
    """``optax.GradientTransformation(init_fn, update_fn)`` (``...ExtraArgs`` if asked).

    Typed loosely on purpose: optax's ``OptState`` annotation (an array tree) does not
    admit a state holding a `HyperparamRecord` or a ``None`` count, which JAX handles.
    Python numbers among the parameters and updates (``{"w": 1.0}``, which optax
    accepts) become arrays before ``init_fn`` and ``update_fn`` see them.
    """

    def init(params):
        return init_fn(_numbers_as_arrays(params))

    def update(updates, state, params=None, **extra):
        return update_fn(_numbers_as_arrays(updates), state, _numbers_as_arrays(params), **extra)

    if extra_args:
        return optax.GradientTransformationExtraArgs(init, update)  # pyright: ignore
    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]


def _numbers_as_arrays(tree: Any) -> Any:
    """``tree`` with its Python-number leaves as arrays of JAX's default dtypes.

    The tree itself when it has none (an array tree, a container such as
    ``FlatParams``, ``None``), so nothing is rebuilt. An integer or a bool becomes
    an integer or bool array, which `check_params` then refuses by name.
    """
    leaves, treedef = jax.tree.flatten(tree)
    if not any(type(x) in (float, int, complex, bool) for x in leaves):
        return tree
    return treedef.unflatten(
        [
            jnp.asarray(x, jnp.result_type(x)) if type(x) in (float, int, complex, bool) else x
            for x in leaves
        ]
    )


# --- arguments ---------------------------------------------------------------------


def check_hyperparam(name: str, value: Any, **bounds: Any) -> Any:
    """`check_number` for an argument that may be a schedule."""
    return check_number(name, value, allow_callable=True, **bounds)


def moments(b1: Any, b2: Any, eps: Any) -> dict[str, Bounded]:
    """The hyperparameters every Adam-family preconditioner shares: betas in [0, 1), eps >= 0."""
    return {
        "b1": bounded("b1", b1, BETA),
        "b2": bounded("b2", b2, BETA),
        "eps": bounded("eps", eps, NONNEGATIVE),
    }


def pair(who: str, name: str, value: Any) -> tuple[Any, Any]:
    """The two elements of a PyTorch pair argument (Rprop's ``etas``, Adafactor's ``eps``)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{who}: {name} must be a pair (a tuple of two), got {value!r}")
    return value[0], value[1]


def check_dtype(name: str, value: Any) -> Any:
    """``None`` or a floating-point dtype, for the ``*_dtype`` arguments."""
    if value is None:
        return None
    if not isinstance(value, np.dtype | type | str):
        raise TypeError(f"{name} must be None or a floating-point dtype, got {value!r}")
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be None or a floating-point dtype, got {value!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be None or a floating-point dtype, got {dtype}")
    return dtype


def is_static_zero(value: Any) -> bool:
    """True for a constant (`is_constant`) equal to 0: a term that can be left out.

    A bool is no zero here: it is refused as a hyperparameter, and must not be
    taken for an absent term before its check runs.
    """
    if is_constant(value) and not isinstance(value, bool | np.bool_):
        return float(value) == 0.0
    return False


def check_params(who: str, params: Any) -> None:
    """Refuses integer and boolean parameters, naming the first such leaf.

    An update of an integer parameter would be truncated to zero, so training
    would silently do nothing (PyTorch refuses them too).
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{who}: parameter {path_to_str(path) or '<root>'!r} has dtype {dtype}; "
                "optimizers update floating-point or complex parameters only"
            )


def _first_difference(a: Any, b: Any) -> str:
    paths_a = [path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(a)[0]]
    paths_b = [path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(b)[0]]
    for x, y in zip(paths_a, paths_b, strict=False):
        if x != y:
            return f"{x!r} against {y!r}"
    if len(paths_a) != len(paths_b):
        longer = paths_a if len(paths_a) > len(paths_b) else paths_b
        return f"{longer[min(len(paths_a), len(paths_b))]!r} has no counterpart"
    return "the containers differ"


def _check_like(who: str, name: str, tree: Any, other_name: str, other: Any) -> None:
    if jax.tree.structure(tree) != jax.tree.structure(other):
        raise ValueError(
            f"{who}: {name} and {other_name} have different tree structures "
            f"({_first_difference(tree, other)}); pass the gradients of the parameters "
            "the optimizer was initialised with"
        )
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for (path, x), y in zip(leaves, jax.tree.leaves(other), strict=True):
        if getattr(x, "shape", None) != getattr(y, "shape", None):
            raise ValueError(
                f"{who}: {name} at {path_to_str(path) or '<root>'!r} has shape {x.shape}, "
                f"{other_name} has {y.shape} (no broadcasting)"
            )


def check_like_params(who: str, updates: Any, params: Any) -> None:
    """Refuses updates whose structure or shapes differ from the parameters', naming where.

    For a transformation whose own checks would see the updates only after a rule
    computed from them (``optax.partition``'s labels), so would report a consequence.
    """
    _check_like(who, "updates", updates, "params", params)


def check_update(
    who: str,
    state: Any,
    state_type: type,
    updates: Any,
    like: str | None = None,
    params: Any = None,
) -> None:
    """Checks ``update``'s arguments before any arithmetic, naming what differs.

    The state must be the ``state_type`` that ``init`` returned; the updates must have
    the structure and shapes of the state's field ``like`` (a buffer shaped like the
    parameters) and of ``params`` when given, and a floating or complex dtype.
    Runs while tracing: a compiled step pays nothing for it.
    """
    if not isinstance(state, state_type):
        raise TypeError(
            f"{who}: state must be the {state_type.__name__} that its init returned, got "
            f"{type(state).__name__} (a state of another optimizer, or None?)"
        )
    for path, g in jax.tree_util.tree_flatten_with_path(updates)[0]:
        dtype = getattr(g, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{who}: updates at {path_to_str(path) or '<root>'!r} must be a floating-point "
                f"or complex array, got {type(g).__name__} of dtype {dtype}"
            )
    if like is not None:
        _check_like(who, "updates", updates, f"the state's {like}", getattr(state, like))
    if params is not None:
        _check_like(who, "updates", updates, "params", params)


# --- counts --------------------------------------------------------------------------


def init_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def increment(count: jax.Array) -> jax.Array:
    """The count after one more update, saturating at the int32 maximum."""
    return jnp.asarray(optax.safe_increment(count))


def next_count(count: jax.Array | None) -> jax.Array | None:
    """The count after one more update (saturating), or ``None`` for a state without one."""
    return None if count is None else increment(count)


# --- dtypes ----------------------------------------------------------------------------


def compute_dtype(x: Any) -> Any:
    """float32 for half-precision leaves; the leaf's own dtype otherwise.

    bfloat16 and float16 leaves are updated in float32 and rounded once on the
    way out: ``0.999`` is ``1.0`` in bfloat16, which would freeze a second moment
    whose decay was applied in the parameter dtype.
    """
    return jnp.promote_types(x.dtype, jnp.float32)


def upcast(x: jax.Array) -> jax.Array:
    return x.astype(compute_dtype(x))


def real_dtype(x: Any) -> Any:
    """The real dtype the arithmetic on leaf ``x`` runs in (float32 for half precision)."""
    return jnp.finfo(compute_dtype(x)).dtype


def scalar_dtype(tree: Any) -> Any:
    """The dtype for a transformation's scalar arithmetic (bias corrections, schedules).

    float32, or float64 when a leaf is float64 or complex128 (under
    ``jax_enable_x64``), so that a float64 model is updated in float64 throughout.
    """
    dtype = jnp.dtype(jnp.float32)
    for leaf in jax.tree.leaves(tree):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact):
            dtype = jnp.promote_types(dtype, real_dtype(leaf))
    return dtype


def moment_dtype(param: Any, dtype: Any = None) -> Any:
    """The dtype of a moment buffer of ``param``: ``dtype`` if given, else its default.

    The default is the parameter's dtype, except float16, whose squares
    underflow below ``|g| ~ 1e-4`` (float16's smallest normal is 6e-5): its
    moments are float32, as PyTorch's ``GradScaler`` users and mixed-precision
    optimizers keep them. bfloat16 has float32's range and keeps its dtype. A
    complex parameter's moments are complex (real and imaginary parts kept apart).
    """
    if dtype is None:
        dtype = jnp.float32 if param.dtype == jnp.float16 else param.dtype
    if jnp.issubdtype(param.dtype, jnp.complexfloating):
        dtype = jnp.promote_types(dtype, jnp.complex64)
    return jnp.dtype(dtype)


def real_view(leaf_fn: Callable[..., tuple]) -> Callable[..., tuple]:
    """``leaf_fn`` (elementwise, real) applied to complex leaves as PyTorch does.

    PyTorch's optimizers update a complex parameter as its real view
    (``torch.view_as_real``): the real and imaginary parts are two independent
    real parameters, with their own second moments. ``leaf_fn`` is run on the
    real parts and on the imaginary parts, and each output recombined. (optax
    instead squares ``|g|``, one second moment per complex number.) Arguments
    that are ``None`` pass through.
    """

    def wrapped(*args: Any) -> tuple:
        if not any(a is not None and jnp.iscomplexobj(a) for a in args):
            return leaf_fn(*args)
        re = leaf_fn(*(None if a is None else jnp.real(a) for a in args))
        im = leaf_fn(*(None if a is None else jnp.imag(a) for a in args))
        return tuple(jax.lax.complex(r, i) for r, i in zip(re, im, strict=True))

    return wrapped


# --- arithmetic --------------------------------------------------------------------------


def _log(b: Any, dtype: Any) -> Any:
    if isinstance(b, numbers.Real) and not is_traced(b):
        # log in float64, then one rounding: log(0.999) has 7 correct digits where
        # float32(1 - 0.999) has 4.
        b = float(b)
        return math.log(b) if b > 0.0 else -math.inf
    return jnp.log(jnp.asarray(b, dtype))


def one_minus_pow(b: Any, t: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
    """``1 - b**t`` (a bias correction) for an integer count ``t >= 1``, in ``dtype``.

    Evaluated as ``-expm1(t * log(b))``, which keeps full precision for ``b``
    near 1, where ``1 - b**t`` loses up to 4 digits in float32
    (``1 - 0.999`` is ``9.99987e-4`` in float32).
    """
    t = jnp.asarray(t, dtype)
    return -jnp.expm1(t * _log(b, dtype))


def lerp(a: Any, b: Any, w: Any) -> Any:
    """``a + w * (b - a)``, the exponential moving average step, as ``torch.lerp``.

    PyTorch switches to ``b - (b - a) * (1 - w)`` for ``w >= 0.5``; a Python
    weight picks the same form here. A traced weight uses the first form alone,
    rather than computing both per element.
    """
    if isinstance(w, numbers.Real) and not is_traced(w) and float(w) >= 0.5:
        return b - (b - a) * (1.0 - float(w))
    return a + w * (b - a)


def find_states(tree: Any, cls: type) -> list[Any]:
    """Every ``cls`` state in ``tree``, in tree order: inside chains, wrappers
    (``optax.inject_hyperparams``, ``optax.MultiSteps``) and an ``nnx.Optimizer``'s
    ``opt_state``, for the readers that return what one transformation keeps."""
    leaves = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, cls))
    return [s for s in leaves if isinstance(s, cls)]


def unzip(like: Any, tree: Any, n: int) -> tuple[Any, ...]:
    """Splits a tree of n-tuples (one at each of ``like``'s leaves) into n trees."""
    outer = jax.tree.structure(like)
    if outer.num_leaves == 0:  # an empty group (optax.partition): transpose needs leaves
        return (like,) * n
    inner = jax.tree.structure(tuple(range(n)))
    return jax.tree.transpose(outer, inner, tree)
