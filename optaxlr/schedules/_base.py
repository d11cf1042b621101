"""The `Schedule` type every constructor in `optaxlr.schedules` returns, and its bounds."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import (
    FLOAT32_MAX,
    INT32_MAX,
    BoundedSchedule,
    check_int,
    check_number,
)

__all__ = [
    "Built",
    "Schedule",
    "as_step",
    "bounds",
    "schedule_factory",
    "number",
    "REGISTRY",
    "INT32_MAX",
]

#: Every public schedule constructor, by name; `from_config` looks names up here.
REGISTRY: dict[str, Callable[..., Schedule]] = {}

#: ``extent(first, last) -> (min, max)`` over the integer steps ``first..last``, or None.
Extent = Callable[[int, int], "tuple[float, float] | None"]


def number(name: str, value: Any, **bounds: Any) -> Any:
    """`check_number` in float32: a schedule's arguments must hold in float32, the dtype it
    computes in unless ``jax_enable_x64`` is on."""
    return check_number(name, value, dtype=np.float32, **bounds)


_STEP_TYPES = "an integer: a Python int, or an integer NumPy or JAX array (traced or not)"


def as_step(step: Any) -> jax.Array:
    """Canonical step: an int32 array, negative steps clamped to 0.

    Integers beyond the int32 range saturate rather than wrap, whatever their
    type: a Python int 10**12, a NumPy int64, or (with ``jax_enable_x64``) a
    JAX int64 or uint64 array. A schedule asked for step 10**12 returns its
    value at the int32 maximum, and any negative step, however large, is step 0.

    Raises:
      TypeError: for anything else (a bool, a float, a string, None), naming
        the step received and what is accepted.
    """
    received = step
    if isinstance(step, bool | np.bool_):
        raise TypeError(f"step must be {_STEP_TYPES}, got the bool {step!r}")
    if isinstance(step, int):
        step = min(max(step, 0), INT32_MAX)
    elif isinstance(step, np.ndarray | np.integer) and np.issubdtype(step.dtype, np.integer):
        step = np.clip(step, 0, INT32_MAX).astype(np.int32)
    try:
        step = jnp.asarray(step)
    except (TypeError, ValueError):
        raise TypeError(
            f"step must be {_STEP_TYPES}, got {type(step).__name__} {_short(step)}"
        ) from None
    if not jnp.issubdtype(step.dtype, jnp.integer):
        raise TypeError(
            f"step must be {_STEP_TYPES}, got {type(received).__name__} of dtype {step.dtype}"
        )
    if step.dtype != jnp.int32:
        info = jnp.iinfo(step.dtype)
        # Saturate in the wide type first: casting -2**33 + 5 to int32 would give 5.
        if info.min < 0:
            step = jnp.maximum(step, 0)
        if info.max > INT32_MAX:
            step = jnp.minimum(step, INT32_MAX)
        step = step.astype(jnp.int32)
    return jnp.maximum(step, 0)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Schedule(BoundedSchedule):
    """A learning-rate (or any hyperparameter) schedule: ``step -> value``.

    ``step`` is the number of updates already applied: the first update uses
    step 0. It may be a Python int, a (traced) int32 scalar or an int array; the
    result is an array of the same shape in JAX's default float dtype: float32,
    or float64 under ``jax_enable_x64`` (computed in float64 throughout). A `Schedule` is a plain
    callable, so it goes anywhere optax accepts a schedule.

    Schedules multiply with numbers and with each other (``0.1 * cosine(...)``,
    ``warmup_factor * rsqrt_decay``), and carry the name and arguments they were
    built with, which `to_config` writes out and `from_config` rebuilds.

    Every schedule knows its exact range: `bounds` gives the minimum and maximum
    of its values over all steps, in closed form from its arguments, and
    `optaxlr` checks a schedule passed as a hyperparameter against the
    hyperparameter's range with it.
    """

    __slots__ = ("_fn", "name", "params", "_extent", "_full", "__weakref__")

    def __init__(
        self,
        fn: Callable[[jax.Array], Any],
        name: str,
        params: dict[str, Any],
        extent: Extent | None = None,
    ):
        self._fn = fn
        self.name = name
        self.params = params
        self._extent = extent
        self._full: Any = ...  # bounds over every step, computed once

    def __call__(self, step: Any) -> jax.Array:
        t = as_step(step)
        value = jnp.asarray(self._fn(t), dtype=float)  # float64 under jax_enable_x64
        return jnp.broadcast_to(value, t.shape)

    def bounds(self, first: int = 0, last: int = INT32_MAX) -> tuple[float, float] | None:
        """The minimum and maximum value over the integer steps ``first..last``.

        By default over every step a schedule can be called with (0 to the
        int32 maximum, where steps saturate), so ``low <= schedule(t) <= high``
        for every ``t``. The numbers are those of the schedule's formula in
        float64, computed in closed form from its arguments; both are reached
        (at some step in the range), so they are the exact range, and the
        values the schedule returns equal them up to rounding in their dtype.

        Three cases give a range that holds but may not be reached: the product
        of two or more schedules that both vary over the range (and
        ``warmup(prefix=False)`` multiplying a varying schedule during the
        warmup), where it is the product of the factors' ranges; with more
        than about a million cycles, `linear_cosine`, and `cosine_restarts`,
        `polynomial_restarts` and `tanh_restarts` with a non-integer
        ``cycle_mult``, where it is the infimum/supremum of the curve; and
        `with_noise`, where it is the range the noise approaches.

        Returns:
          ``(low, high)`` as Python floats, or None when it is unknown: a
          schedule built from traced values (inside ``jit``/``vmap``), or
          `per_epoch` of an arbitrary function.

        Examples:
          >>> optaxlr.schedules.cosine(0.1, 1000, end_value=0.001).bounds()
          (0.001, 0.1)
          >>> optaxlr.schedules.warmup(optaxlr.schedules.constant(0.1), 10).bounds()
          (0.0, 0.1)
        """
        first = check_int("first", first, low=0)
        last = check_int("last", last, low=first)
        if self._extent is None:
            return None
        if (first, last) == (0, INT32_MAX):
            if self._full is ...:
                self._full = _as_pair(self._extent(0, INT32_MAX))
            return self._full
        return _as_pair(self._extent(first, last))

    def __mul__(self, other: Any) -> Schedule:
        from optaxlr.schedules._combinators import product

        return product([self, other])

    def __rmul__(self, other: Any) -> Schedule:
        from optaxlr.schedules._combinators import product

        return product([other, self])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def _as_pair(out: Any) -> tuple[float, float] | None:
    if out is None:
        return None
    return float(out[0]), float(out[1])


def bounds(schedule: Any, first: int = 0, last: int = INT32_MAX) -> tuple[float, float] | None:
    """``(minimum, maximum)`` of a schedule (or a number) over the steps ``first..last``.

    For an optaxlr `Schedule` this is `Schedule.bounds`; for a number ``x`` it is
    ``(x, x)``; for any other callable (an optax schedule, a function) it is
    None: nothing is known about it.

    Examples:
      >>> optaxlr.schedules.bounds(optaxlr.schedules.one_cycle(0.1, 100))
      (4e-07, 0.1)
      >>> optaxlr.schedules.bounds(lambda step: 0.1) is None
      True
    """
    if isinstance(schedule, Schedule):
        return schedule.bounds(first, last)
    if callable(schedule):
        return None
    x = float(number("schedule", schedule))
    return x, x


class Built(NamedTuple):
    """What a constructor's ``build`` returns (see `schedule_factory`).

    A schedule's formula is written once, over an array namespace ``xp``
    (``_numerics``): with ``jax.numpy`` it is ``fn``, and with ``numpy`` it gives
    the float64 values that ``extent`` takes the exact bounds from. One float64
    twin stays, in `cosine_restarts`: the schedule places a step in its cycle by
    a table lookup in int32 and its float dtype (or in closed form when
    ``cycle_mult`` is traced), while the bounds place every cycle's first and last
    steps at once, in int64 and float64; the value within a cycle is shared.
    """

    #: ``int32 step array -> value``, traced under ``jit``.
    fn: Callable[[jax.Array], Any]
    #: ``extent(first, last)``: the exact ``(min, max)`` over the steps ``first..last``
    #: (None when unknown, e.g. built from traced arguments).
    extent: Extent | None = None
    #: Refuse, when built, a schedule whose bounds leave float32 (combinators whose
    #: product can overflow; the families check their own arguments, which is cheaper).
    check_range: bool = False
    #: The arguments `to_config` records, when they are not those of the call
    #: (`per_epoch` records the table it tabulated, not the Python function).
    arguments: dict[str, Any] | None = None


def schedule_factory(build: Callable[..., Built]) -> Callable[..., Schedule]:
    """Turns ``build(**hyperparameters) -> Built`` into a public constructor.

    The constructor validates by running ``build`` (which raises on bad input),
    records its name and every argument (defaults included) for `to_config`,
    and registers itself for `from_config`. Bounds are computed when first
    asked for, and kept.
    """
    signature = inspect.signature(build)

    @functools.wraps(build)
    def constructor(*args: Any, **kwargs: Any) -> Schedule:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{build.__name__}(): {e}") from None
        bound.apply_defaults()
        built = build(*bound.args, **bound.kwargs)
        arguments = dict(bound.arguments) if built.arguments is None else built.arguments
        schedule = Schedule(built.fn, build.__name__, arguments, built.extent)
        if built.check_range:
            _check_finite(schedule)
        return schedule

    REGISTRY[build.__name__] = constructor
    return constructor


def _check_finite(schedule: Schedule) -> None:
    """Refuses a schedule whose values leave float32 (products of schedules and numbers)."""
    b = schedule.bounds()
    if b is None:
        return
    for x in b:
        if not (math.isfinite(x) and abs(x) <= FLOAT32_MAX):
            numeric = [k for k, v in schedule.params.items()
                       if not isinstance(v, bool | str) and v is not None]
            raise ValueError(
                f"{schedule.name}(): the schedule reaches {x:g}, beyond the float32 range "
                f"(+-{FLOAT32_MAX:.4g}); check {', '.join(numeric) or 'its arguments'}"
            )
