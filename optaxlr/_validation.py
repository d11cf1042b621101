"""Argument checks shared by schedules and transformations.

Every public constructor validates its numeric arguments here, at construction
time, so bad input is a ``ValueError``/``TypeError`` naming the argument and the
accepted range instead of a NaN inside ``jit``. Values that are JAX tracers (a
hyperparameter swept with ``vmap`` or passed into ``jit``) cannot be inspected
and are accepted as they are.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

__all__ = [
    "is_traced",
    "check_number",
    "check_int",
    "check_choice",
    "check_sorted_ints",
    "concrete_float",
]


def is_traced(value: Any) -> bool:
    """True when ``value`` is a JAX tracer whose number is not known yet."""
    return isinstance(value, jax.core.Tracer)


def concrete_float(value: Any) -> float | None:
    """The value as a Python float, or None when it is traced."""
    if is_traced(value):
        return None
    return float(np.asarray(value))


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_callable: bool = False,
) -> Any:
    """Checks a real scalar lies in an interval; returns it unchanged.

    Args:
      name: the argument's name, used in the error message.
      value: a Python number, a NumPy/JAX scalar, a traced JAX scalar, or (when
        ``allow_callable``) a schedule.
      low, high: bounds of the accepted interval (None: unbounded).
      low_open, high_open: whether the bound itself is excluded.
      allow_callable: accept a callable (a schedule) and skip the range check.
    """
    if allow_callable and callable(value):
        return value
    if is_traced(value):
        return value
    if isinstance(value, bool) or not _is_real_scalar(value):
        kind = "a number or a schedule" if allow_callable else "a number"
        raise TypeError(f"{name} must be {kind}, got {value!r} of type {type(value).__name__}")
    x = float(np.asarray(value))
    interval = _interval(low, high, low_open, high_open)
    bad = not math.isfinite(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    if bad:
        raise ValueError(f"{name} must be a finite number in {interval}, got {x!r}")
    return value


def _is_real_scalar(value: Any) -> bool:
    if isinstance(value, numbers.Real):
        return True
    if isinstance(value, np.ndarray | np.generic | jax.Array):
        return np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.number) and not (
            np.issubdtype(np.asarray(value).dtype, np.complexfloating)
        )
    return False


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> Any:
    """Checks an integer (a Python/NumPy int or a traced int) lies in ``[low, high]``."""
    if is_traced(value):
        if not np.issubdtype(value.dtype, np.integer):
            raise TypeError(f"{name} must be an integer, got a traced {value.dtype} value")
        return value
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if isinstance(value, np.ndarray | jax.Array):
        is_int = np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.integer)
    if not is_int:
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    x = int(np.asarray(value))
    if (low is not None and x < low) or (high is not None and x > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {x}")
    return x


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Checks ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_sorted_ints(
    name: str, values: Any, *, low: int = 0, strict: bool = False, allow_empty: bool = True
) -> tuple[int, ...]:
    """Checks a sequence of integers >= ``low`` in non-decreasing (or increasing) order."""
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of integers, got {values!r}")
    out = tuple(check_int(f"{name}[{i}]", v, low=low) for i, v in enumerate(values))
    if not out and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    for a, b in zip(out, out[1:], strict=False):
        if b < a or (strict and b == a):
            order = "strictly increasing" if strict else "sorted in non-decreasing order"
            raise ValueError(f"{name} must be {order}, got {list(out)}")
    return out


def check_callable(name: str, value: Any) -> Callable:
    """Checks ``value`` is callable (a schedule or a function)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
    return value
