"""Argument checks shared by every public constructor (schedules, transformations, tools).

Every public constructor validates its arguments here, at construction time, so
bad input is a ``ValueError``/``TypeError`` that names the argument and the
accepted range instead of a NaN or an overflow inside ``jit``:

- `check_number`: a real scalar, checked *in the dtype it will be used in*
  (``dtype=``; by default JAX's default float dtype: float32, or float64 with
  ``jax_enable_x64``). ``1e39`` is finite as a Python float but ``inf`` in
  float32, so it is refused unless float64 is on; ``1e-50`` is ``0`` in float32
  and fails a ``> 0`` check. Python, NumPy and JAX scalars of any real dtype are
  accepted, float16 and bfloat16 included. With ``allow_callable=True`` a
  schedule is accepted too: an optaxlr schedule (a `BoundedSchedule`) is
  checked over its whole range through its exact bounds; any other callable
  must take one positional argument (the step) and give a real scalar for an
  int32 step (checked by tracing it once, without computing anything). Other
  numbers (``fractions.Fraction``, ``decimal.Decimal``) are refused: convert
  them with ``float()``.
- `check_int`: an integer, checked against the int32 range by default (step
  counts, patience, ``every_k_steps``: the step counter is int32).
- `check_real_value`: one real number given at run time (a metric), traced or not.
- `check_choice`, `check_bool`, `check_sorted_ints`, `check_callable`,
  `check_schedule`.

Values that are JAX tracers (a hyperparameter swept with ``vmap`` or passed
into ``jit``) cannot be inspected and are accepted as they are, and so is an
optaxlr schedule built from traced values (its bounds are unknown).

This module is a leaf: it imports nothing from optaxlr.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "FLOAT32_MAX",
    "BoundedSchedule",
    "Interval",
    "NONNEGATIVE",
    "POSITIVE",
    "UNIT",
    "BETA",
    "is_traced",
    "concrete_float",
    "default_float_dtype",
    "check_number",
    "check_real_value",
    "check_int",
    "check_bool",
    "check_choice",
    "check_sorted_ints",
    "check_callable",
    "check_schedule",
]

INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)
FLOAT32_MAX = float(np.finfo(np.float32).max)


class Interval(NamedTuple):
    """The real numbers an argument accepts: between ``low`` and ``high`` (None: unbounded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, name: str, value: Any, *, allow_callable: bool = False) -> Any:
        """`check_number` of ``value`` against this interval; returns it."""
        return check_number(name, value, allow_callable=allow_callable, **self._asdict())


#: The intervals most hyperparameters accept.
NONNEGATIVE = Interval(low=0.0)
POSITIVE = Interval(low=0.0, low_open=True)
UNIT = Interval(low=0.0, high=1.0)
BETA = Interval(low=0.0, high=1.0, high_open=True)


class BoundedSchedule:
    """Base class of the callables that know their exact range: optaxlr's schedules.

    `check_number` (with ``allow_callable=True``) checks such a schedule's
    `bounds` against the accepted interval instead of accepting it unchecked.
    A subclass implements ``bounds(first=0, last=INT32_MAX)``, returning the
    ``(minimum, maximum)`` of its values over the integer steps ``first..last``
    as Python floats, or None when they are unknown (traced arguments).
    """

    __slots__ = ()

    def bounds(self, first: int = 0, last: int = INT32_MAX) -> tuple[float, float] | None:
        raise NotImplementedError


def is_traced(value: Any) -> bool:
    """True when ``value`` is a JAX tracer whose number is not known yet."""
    return isinstance(value, jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]


def concrete_float(value: Any) -> float | None:
    """The value as a Python float, or None when it is traced."""
    if is_traced(value):
        return None
    return float(np.asarray(value, dtype=np.float64))


def default_float_dtype() -> np.dtype:
    """The float dtype JAX computes in by default: float32, or float64 with ``jax_enable_x64``."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def _show(value: Any, limit: int = 80) -> str:
    """A short ``repr`` for an error message (never fails, never runs on for pages)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        sign = "-" if value < 0 else ""
        return f"{sign}(an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits)"
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(x: float) -> str:
    return f"{x:g}"


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else _fmt(low)
    hi = "inf" if high is None else _fmt(high)
    return f"{left}{lo}, {hi}{right}"


def _dtype_of(value: Any) -> np.dtype | None:
    """The NumPy dtype of an array or a NumPy/JAX scalar (traced too), or None for other objects."""
    if isinstance(value, np.ndarray | np.generic | jax.Array):
        return np.dtype(value.dtype)
    return None


def _is_real(value: Any) -> bool:
    """An int or a float (not a bool), or an array of an integer or floating dtype, any shape.

    Not any ``numbers.Real``: a ``Fraction`` would pass every check here and then
    fail at the first update, where JAX meets it.
    """
    dtype = _dtype_of(value)
    if dtype is None:
        return isinstance(value, int | float) and not isinstance(value, bool)
    # jnp.issubdtype knows bfloat16 (and the other ml_dtypes) as floating.
    return bool(jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))


def _is_real_scalar(value: Any) -> bool:
    return _is_real(value) and np.ndim(value) == 0


def _as_float64(value: Any) -> float:
    """The exact value as a Python float; +-inf for integers beyond float64."""
    if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
        try:
            return float(value)
        except OverflowError:
            return math.inf if int(value) > 0 else -math.inf
    return float(np.asarray(value).astype(np.float64))


def _in_dtype(x: float, dtype: np.dtype) -> float:
    """``x`` rounded to ``dtype`` (inf where it overflows, 0 where it underflows)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.asarray(x, dtype=np.float64).astype(dtype))


def _outside(x: float, low, high, low_open: bool, high_open: bool) -> bool:
    if math.isnan(x):
        return True
    if low is not None and (x <= low if low_open else x < low):
        return True
    return high is not None and (x >= high if high_open else x > high)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_callable: bool = False,
    dtype: Any = None,
) -> Any:
    """Checks a real scalar lies in an interval, in the dtype it will be used in; returns it.

    Args:
      name: the argument's name, used in the error message.
      value: a Python number, a NumPy/JAX scalar of any real dtype (bfloat16
        included), a traced JAX scalar (accepted unchecked), or (when
        ``allow_callable``) a schedule.
      low, high: bounds of the accepted interval (None: unbounded). The value
        must also be finite.
      low_open, high_open: whether the bound itself is excluded.
      allow_callable: also accept a schedule: an optaxlr schedule is checked
        over all its steps through its exact `BoundedSchedule.bounds` ("the
        schedule reaches -0.1, must be >= 0"); any other callable must pass
        `check_schedule`.
      dtype: the float dtype the value is used in; the value is rounded to it
        before the checks, so a Python float that overflows float32 (``1e39``)
        is refused. None: JAX's default float dtype (float32, or float64 when
        ``jax_enable_x64`` is on).

    Raises:
      TypeError: ``value`` is not a real number (nor an accepted schedule).
      ValueError: ``value`` is not finite in ``dtype`` or lies outside the interval.
    """
    if is_traced(value):
        return value
    if allow_callable and callable(value) and not isinstance(value, np.ndarray | jax.Array):
        check_schedule(name, value)
        if isinstance(value, BoundedSchedule):
            _check_schedule_range(name, value, low, high, low_open, high_open)
        return value
    if not _is_real_scalar(value):
        kind = "a number or a schedule" if allow_callable else "a number"
        hint = "; convert it with float()" if isinstance(value, numbers.Real | Decimal) else ""
        raise TypeError(
            f"{name} must be {kind}, got {_show(value)} of type {type(value).__name__}{hint}"
        )
    target = default_float_dtype() if dtype is None else np.dtype(dtype)
    exact = _as_float64(value)
    used = _in_dtype(exact, target)
    if not math.isfinite(used) or _outside(used, low, high, low_open, high_open):
        interval = _interval(low, high, low_open, high_open)
        exact_ok = math.isfinite(exact) and not _outside(exact, low, high, low_open, high_open)
        if exact_ok:  # fine as a Python float, not in `target`
            shown = f"{used!r} (the {target.name} rounding of {_show(value)})"
        else:
            shown = _show(value) if isinstance(value, numbers.Integral) else repr(exact)
        raise ValueError(f"{name} must be a finite number in {interval}, got {shown}")
    return value


def _check_schedule_range(name, schedule, low, high, low_open, high_open) -> None:
    bounds = schedule.bounds()
    if bounds is None:  # built from traced values: unknown until run
        return
    lo, hi = bounds
    for x in (lo, hi):
        if not math.isfinite(x):
            raise ValueError(f"{name}: the schedule reaches {_fmt(x)}, must be finite")
    if low is not None and (lo <= low if low_open else lo < low):
        raise ValueError(
            f"{name}: the schedule reaches {_fmt(lo)}, must be {'>' if low_open else '>='} "
            f"{_fmt(low)}"
        )
    if high is not None and (hi >= high if high_open else hi > high):
        raise ValueError(
            f"{name}: the schedule reaches {_fmt(hi)}, must be {'<' if high_open else '<='} "
            f"{_fmt(high)}"
        )


def _takes_one_positional(fn: Callable) -> bool | None:
    """Whether ``fn(step)`` binds; None when Python cannot tell (no signature)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(0)
    except TypeError:
        return False
    return True


def check_schedule(name: str, value: Any) -> Callable:
    """Checks ``value`` is usable as a schedule: a callable of one positional argument (the step).

    Refuses (TypeError) a non-callable, a class (calling it would build an
    object, not give a value), a function whose signature cannot take one
    positional argument, and one whose value at a step is not a real scalar
    (another optimizer, such as ``optax.adam``, is a function of one argument
    too). The value is checked by tracing ``value`` on an int32 step, which
    computes nothing; a function that needs a concrete step (Python control
    flow on it) cannot be traced and is accepted as it is. Callables without an
    inspectable signature (some builtins) are accepted.
    """
    if isinstance(value, type):
        raise TypeError(
            f"{name} must be a number or a schedule (a function of the step), got the class "
            f"{value.__name__}; pass an instance or a function"
        )
    if not callable(value):
        raise TypeError(f"{name} must be a schedule (a function of the step), got {_show(value)}")
    if _takes_one_positional(value) is False:
        raise TypeError(
            f"{name} must be a number or a schedule taking one positional argument (the step); "
            f"{_show(value)} has the signature {inspect.signature(value)}"
        )
    _check_schedule_value(name, value)
    return value


# A function of the step that needs a concrete value: it can only be checked when called.
_NEEDS_CONCRETE_STEP = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _check_schedule_value(name: str, fn: Callable) -> None:
    """Refuses ``fn`` unless ``fn(step)`` is a real scalar for an int32 ``step``."""
    if isinstance(fn, BoundedSchedule):  # optaxlr's own schedules give real scalars
        return
    returned = []

    def probe(step):
        returned.append(fn(step))  # only its type, shape and dtype are read below

    try:
        jax.eval_shape(probe, jax.ShapeDtypeStruct((), jnp.int32))
    except _NEEDS_CONCRETE_STEP:
        return
    except Exception as e:
        raise TypeError(
            f"{name} must be a number or a schedule (a function of the int32 step returning "
            f"a real scalar); calling {_show(fn)} on a step raised {type(e).__name__}: {e}"
        ) from e
    out = returned[0]
    if not _is_real_scalar(out):
        dtype = _dtype_of(out)
        if dtype is not None:
            got = f"a {dtype} value of shape {np.shape(out)}"
        else:
            got = _show(out) if isinstance(out, numbers.Number | str) else f"a {type(out).__name__}"
        raise TypeError(
            f"{name} must be a number or a schedule (a function of the int32 step returning "
            f"a real scalar); {_show(fn)} returned {got}"
        )


def check_real_value(name: str, value: Any) -> Any:
    """Checks a value given at run time (a metric) is one real number; returns it.

    Accepts Python ints and floats and 0-d NumPy and JAX arrays of a real dtype,
    traced ones included (only their dtype and shape are read). Refuses strings,
    bools, complex numbers (whose imaginary part would be dropped) and other
    objects with a TypeError, and arrays of another shape with a ValueError.
    """
    if not _is_real(value):
        raise TypeError(
            f"{name} must be a real number (a Python, NumPy or JAX int or float), got "
            f"{_show(value)} of type {type(value).__name__}"
        )
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {np.shape(value)}")
    return value


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    dtype: Any = np.int32,
) -> Any:
    """Checks an integer lies in ``[low, high]`` and in ``dtype``'s range; returns a Python int.

    Accepts Python and NumPy integers and 0-d integer arrays (not bools, not
    floats such as ``10.0``). ``dtype`` (int32 by default: step counts and
    every counter in optaxlr's states are int32) narrows the interval to what
    the dtype holds; ``dtype=None`` leaves it unbounded. A traced integer is
    returned unchecked.
    """
    if is_traced(value):
        if not jnp.issubdtype(value.dtype, jnp.integer):
            raise TypeError(f"{name} must be an integer, got a traced {value.dtype} value")
        return value
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if isinstance(value, np.ndarray | jax.Array):
        is_int = np.ndim(value) == 0 and bool(jnp.issubdtype(value.dtype, jnp.integer))
    if not is_int:
        raise TypeError(
            f"{name} must be an integer, got {_show(value)} of type {type(value).__name__}"
        )
    x = int(value) if isinstance(value, numbers.Integral) else int(np.asarray(value))
    if dtype is not None:
        info = np.iinfo(np.dtype(dtype))
        low = int(info.min) if low is None else max(low, int(info.min))
        high = int(info.max) if high is None else min(high, int(info.max))
    if (low is not None and x < low) or (high is not None and x > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {_show(x)}")
    return x


def check_bool(name: str, value: Any) -> bool:
    """Checks a flag is a bool (Python or NumPy), not a string or a number; returns it."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Checks ``value`` is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {_show(value)}")
    return value


def check_sorted_ints(
    name: str, values: Any, *, low: int = 0, strict: bool = False, allow_empty: bool = True
) -> tuple[int, ...]:
    """Checks a sequence of int32 integers >= ``low`` in non-decreasing (or increasing) order."""
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of integers, got {_show(values)}")
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise TypeError(f"{name} must be a 1-d sequence of integers, got shape {values.shape}")
    out = tuple(check_int(f"{name}[{i}]", v, low=low) for i, v in enumerate(values))
    if not out and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    for a, b in zip(out, out[1:], strict=False):
        if b < a or (strict and b == a):
            order = "strictly increasing" if strict else "sorted in non-decreasing order"
            raise ValueError(f"{name} must be {order}, got {_show(list(out))}")
    return out


def check_callable(name: str, value: Any, *, num_args: int | None = None) -> Callable:
    """Checks ``value`` is callable; with ``num_args``, that it takes that many positional ones."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_show(value)}")
    if num_args is not None and not isinstance(value, type):
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):
            return value
        try:
            signature.bind(*range(num_args))
        except TypeError:
            raise TypeError(
                f"{name} must take {num_args} positional argument(s); {_show(value)} has the "
                f"signature {signature}"
            ) from None
    return value
