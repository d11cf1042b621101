"""Pieces every transformation shares: counts, dtypes, checks, bias corrections."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import Hyperparam, evaluate, state_class_for
from optaxlr._validation import check_number, is_traced

__all__ = [
    "Hyperparam",
    "check_bool",
    "check_moments",
    "check_hyperparam",
    "compute_dtype",
    "init_count",
    "init_record",
    "is_static_zero",
    "one_minus_pow",
    "state_class_for",
    "step",
    "unzip",
    "upcast",
    "lerp",
]


def check_hyperparam(name: str, value: Any, **bounds: Any) -> Any:
    """`check_number` for an argument that may be a schedule."""
    return check_number(name, value, allow_callable=True, **bounds)


def check_moments(b1: Any, b2: Any, eps: Any) -> None:
    """The arguments every Adam-family preconditioner shares: betas in [0, 1), eps >= 0."""
    check_hyperparam("b1", b1, low=0.0, high=1.0, high_open=True)
    check_hyperparam("b2", b2, low=0.0, high=1.0, high_open=True)
    check_hyperparam("eps", eps, low=0.0)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")
    return bool(value)


def is_static_zero(value: Any) -> bool:
    """True for a Python or NumPy number equal to 0: a term that can be left out.

    Arrays (concrete or traced) and schedules are never "static": the structure
    of a state must not depend on an array's value, or ``optax.inject_hyperparams``
    (which passes arrays) would build different states in init and update.
    """
    if isinstance(value, numbers.Number | np.generic) and not isinstance(value, bool):
        return float(value) == 0.0
    return False


def init_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def init_record(hparams: Mapping[str, Hyperparam]) -> dict[str, jax.Array]:
    """The ``hyperparams`` record before any update: the values at step 0."""
    return evaluate(hparams, init_count())[1]


def step(
    hparams: Mapping[str, Hyperparam], count: jax.Array
) -> tuple[dict[str, Any], dict[str, jax.Array], jax.Array]:
    """(values for this update, their record, the next count)."""
    values, recorded = evaluate(hparams, count)
    return values, recorded, optax.safe_increment(count)


def compute_dtype(x: jax.Array) -> Any:
    """float32 for half-precision leaves; the leaf's own dtype otherwise.

    bfloat16 and float16 leaves are updated in float32 and rounded once on the
    way out: ``0.999`` is ``1.0`` in bfloat16, which would freeze a second moment
    whose decay was applied in the parameter dtype.
    """
    return jnp.promote_types(x.dtype, jnp.float32)


def upcast(x: jax.Array) -> jax.Array:
    return x.astype(compute_dtype(x))


def _log(b: Any) -> Any:
    if isinstance(b, numbers.Real) and not is_traced(b):
        # log in float64, then one rounding: log(0.999) has 7 correct digits where
        # float32(1 - 0.999) has 4.
        b = float(b)
        return math.log(b) if b > 0.0 else -math.inf
    return jnp.log(jnp.asarray(b, jnp.float32))


def one_minus_pow(b: Any, t: jax.Array) -> jax.Array:
    """``1 - b**t`` (a bias correction) for an integer count ``t >= 1``.

    Evaluated as ``-expm1(t * log(b))``, which keeps full float32 precision for
    ``b`` near 1, where ``1 - b**t`` in float32 loses up to 4 digits
    (``1 - 0.999`` is ``9.99987e-4`` in float32).
    """
    t = jnp.asarray(t, jnp.float32)
    return -jnp.expm1(t * _log(b))


def unzip(like: Any, tree: Any, n: int) -> tuple[Any, ...]:
    """Splits a tree whose leaves (at the positions of ``like``'s leaves) are n-tuples."""
    return tuple(jax.tree.map(lambda _, out, i=i: out[i], like, tree) for i in range(n))


def lerp(a: jax.Array, b: jax.Array, w: Any) -> jax.Array:
    """``a + w * (b - a)``, the exponential moving average step, as ``torch.lerp``.

    PyTorch switches to ``b - (b - a) * (1 - w)`` for ``w >= 0.5``; a Python
    weight picks the same form here. A traced weight uses the first form alone,
    rather than computing both per element.
    """
    if isinstance(w, numbers.Real) and not is_traced(w) and float(w) >= 0.5:
        return b - (b - a) * (1.0 - float(w))
    return a + w * (b - a)
