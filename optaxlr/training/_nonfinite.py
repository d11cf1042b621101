"""Skipping steps whose gradients hold NaN or Inf."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_int
from optaxlr.training._accumulate import check_transformation
from optaxlr.transforms._common import init_count, transformation

__all__ = ["SkipNonfiniteState", "skip_nonfinite"]

_INT32_MAX = int(jnp.iinfo(jnp.int32).max)


def check_max_consecutive(max_consecutive: int | None) -> int:
    """The limit on skips in a row: an integer >= 0, None for no limit (the int32 maximum)."""
    limit = _INT32_MAX if max_consecutive is None else max_consecutive
    return int(check_int("max_consecutive", limit, low=0, high=_INT32_MAX))


def skip_allowed(run: jax.Array, limit: int) -> jax.Array:
    """Whether the step that brought a run of bad steps to ``run`` (>= 1) is still skipped."""
    return run <= limit


def count_skip(skipped: jax.Array, skipped_now: jax.Array) -> jax.Array:
    """``skipped`` plus one where ``skipped_now``, saturating at the int32 maximum."""
    return jnp.where(skipped_now, optax.safe_increment(skipped), skipped)


class SkipNonfiniteState(NamedTuple):
    """State of `skip_nonfinite`.

    It has no ``count`` field of its own: the updates applied are counted by the
    wrapped optimizer (whose ``step`` `optaxlr.hyperparams` reports), and a
    count of calls would count micro-batches when it wraps `accumulate`.
    """

    record: HyperparamRecord  # skipped, consecutive_nonfinite
    skipped: jax.Array  # int32, saturating: steps skipped so far
    inner_state: Any  # optax.ApplyIfFiniteState, which holds the wrapped optimizer's state


def update_unless(
    skip: jax.Array,
    inner: optax.GradientTransformationExtraArgs,
    updates: Any,
    inner_state: Any,
    params: Any,
    **extra_args: Any,
) -> tuple[Any, Any]:
    """``inner``'s update, or where ``skip`` zero updates and ``inner_state`` as it was.

    ``optax.apply_if_finite``'s skip for any condition, by selection rather than
    ``jax.lax.cond``: ``inner`` runs on every step (it does on every applied one
    anyway), and the selects fuse into its update, which then stays in place in a
    donated state; a ``cond`` gives its branches' outputs buffers of their own
    (``benchmarks/bench_grad_norm.py``: the peak memory of the step).
    """
    new_updates, new_state = inner.update(updates, inner_state, params, **extra_args)
    new_updates = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u), new_updates)
    new_state = jax.tree.map(lambda n, o: jnp.where(skip, o, n), new_state, inner_state)
    return new_updates, new_state


def skip_nonfinite(
    inner: optax.GradientTransformation, max_consecutive: int | None = 10
) -> optax.GradientTransformationExtraArgs:
    """Skips every step whose gradients hold a NaN or an Inf, up to a limit.

    A skipped step returns zero updates and leaves ``inner``'s state as it was:
    the parameters, the moments, the step count and so every schedule inside
    ``inner`` are untouched, as if the step had not happened. The state counts
    skipped steps (``skipped``) and the current run of non-finite gradients
    (``consecutive_nonfinite``), both reported by `optaxlr.hyperparams`.

    After ``max_consecutive`` skipped steps in a row, the next non-finite step is
    no longer skipped: it goes to ``inner`` as it is (so the NaN reaches the
    parameters and the run fails visibly instead of stalling silently), and so
    does every following one until a finite gradient arrives, which starts the
    count again. ``max_consecutive=None`` skips for ever (Keras's
    ``LossScaleOptimizer`` behaviour). Wrap the whole optimizer, ``param_ema``
    and ``accumulate`` included, so that nothing inside sees a skipped step.

    This is ``optax.apply_if_finite`` (which it wraps) plus the hyperparameter
    record and a count of the steps actually skipped (optax's
    ``total_notfinite`` also counts the non-finite steps it applied).

    Args:
      inner: the optimizer to protect.
      max_consecutive: non-finite steps in a row that are skipped, an integer
        >= 0, or None for no limit.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state `SkipNonfiniteState`.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.training.skip_nonfinite(optaxlr.adam(1e-3), max_consecutive=5)
    """
    check_transformation("inner", inner)
    limit = check_max_consecutive(max_consecutive)
    guarded = optax.apply_if_finite(inner, limit)

    def hyperparams_of(skipped, consecutive):
        return HyperparamRecord.of({"skipped": skipped, "consecutive_nonfinite": consecutive})

    def init_fn(params):
        zero = init_count()
        return SkipNonfiniteState(hyperparams_of(zero, zero), init_count(), guarded.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        updates, inner_state = guarded.update(updates, state.inner_state, params, **extra_args)
        inner_state = cast(optax.ApplyIfFiniteState, inner_state)
        skipped_now = ~inner_state.last_finite & skip_allowed(inner_state.notfinite_count, limit)
        skipped = count_skip(state.skipped, skipped_now)
        recorded = hyperparams_of(skipped, inner_state.notfinite_count)
        return updates, SkipNonfiniteState(recorded, skipped, inner_state)

    return transformation(init_fn, update_fn, extra_args=True)
