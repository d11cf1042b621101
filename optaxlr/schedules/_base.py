"""The `Schedule` type every constructor in `optaxlr.schedules` returns."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Schedule", "as_step", "schedule_factory", "REGISTRY", "INT32_MAX"]

INT32_MAX = int(np.iinfo(np.int32).max)

#: Every public schedule constructor, by name; `from_config` looks names up here.
REGISTRY: dict[str, Callable[..., Schedule]] = {}


def as_step(step: Any) -> jax.Array:
    """Canonical step: an int32 array, negative steps clamped to 0.

    Python and NumPy integers beyond the int32 range saturate at its maximum
    rather than wrap, so a schedule asked for step 10**12 returns its final value.
    """
    if isinstance(step, bool):
        raise TypeError("step must be an integer, got a bool")
    if isinstance(step, int):
        step = min(max(step, 0), INT32_MAX)
    elif isinstance(step, np.ndarray | np.integer) and np.issubdtype(step.dtype, np.integer):
        step = np.clip(step, 0, INT32_MAX).astype(np.int32)
    step = jnp.asarray(step)
    if not jnp.issubdtype(step.dtype, jnp.integer):
        raise TypeError(
            f"step must be an integer (the number of updates applied), got dtype {step.dtype}"
        )
    if step.dtype != jnp.int32:
        if jnp.iinfo(step.dtype).max > INT32_MAX:
            step = jnp.minimum(step, INT32_MAX)
        step = step.astype(jnp.int32)
    return jnp.maximum(step, 0)


class Schedule:
    """A learning-rate (or any hyperparameter) schedule: ``step -> float32 value``.

    ``step`` is the number of updates already applied: the first update uses
    step 0. It may be a Python int, a (traced) int32 scalar or an int array; the
    result is a float32 array of the same shape. A `Schedule` is a plain
    callable, so it goes anywhere optax accepts a schedule.

    Schedules multiply with numbers and with each other (``0.1 * cosine(...)``,
    ``warmup_factor * rsqrt_decay``), and carry the name and arguments they were
    built with, which `to_config` writes out and `from_config` rebuilds.
    """

    __slots__ = ("_fn", "name", "params", "__weakref__")

    def __init__(self, fn: Callable[[jax.Array], Any], name: str, params: dict[str, Any]):
        self._fn = fn
        self.name = name
        self.params = params

    def __call__(self, step: Any) -> jax.Array:
        t = as_step(step)
        value = jnp.asarray(self._fn(t), dtype=jnp.float32)
        return jnp.broadcast_to(value, t.shape)

    def __mul__(self, other: Any) -> Schedule:
        from optaxlr.schedules._combinators import product

        return product([self, other])

    def __rmul__(self, other: Any) -> Schedule:
        from optaxlr.schedules._combinators import product

        return product([other, self])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def schedule_factory(build: Callable[..., Callable[[jax.Array], Any]]) -> Callable[..., Schedule]:
    """Turns ``build(**hyperparameters) -> (int32 step -> value)`` into a public constructor.

    The constructor validates by running ``build`` (which raises on bad input),
    records its name and every argument (defaults included) for `to_config`, and
    registers itself for `from_config`.
    """
    signature = inspect.signature(build)

    @functools.wraps(build)
    def constructor(*args: Any, **kwargs: Any) -> Schedule:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{build.__name__}(): {e}") from None
        bound.apply_defaults()
        fn = build(*bound.args, **bound.kwargs)
        if isinstance(fn, Schedule):  # build delegated to another constructor
            return fn
        return Schedule(fn, build.__name__, dict(bound.arguments))

    REGISTRY[build.__name__] = constructor
    return constructor
