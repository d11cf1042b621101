"""Gradient accumulation: one optimizer update every k micro-batches."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_int
from optaxlr.transforms._common import compute_dtype, init_count, transformation

__all__ = ["AccumulateState", "accumulate"]


class AccumulateState(NamedTuple):
    """State of `accumulate`."""

    count: jax.Array  # int32 scalar, saturating: real (inner) updates applied
    record: HyperparamRecord  # every_k_steps
    micro_step: jax.Array  # int32 in [0, every_k_steps): micro-batches in the buffer
    acc_grads: Any  # the sum of those micro-batches' gradients, shaped like the params
    inner_state: Any  # the wrapped optimizer's state


def check_transformation(name: str, value: Any) -> optax.GradientTransformation:
    """Checks ``value`` is an optax transformation (something with ``init`` and ``update``)."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise TypeError(
            f"{name} must be an optax.GradientTransformation, got {value!r} "
            f"of type {type(value).__name__}"
        )
    return value


def accumulate(
    inner: optax.GradientTransformation, every_k_steps: int
) -> optax.GradientTransformationExtraArgs:
    r"""Accumulates gradients over ``every_k_steps`` micro-batches, then updates once.

    Each call adds the micro-batch gradient to a buffer and returns zero
    updates, except every ``every_k_steps``-th call, which passes the mean of the
    buffered gradients to ``inner``, returns its updates and empties the buffer:

    .. math::
        \bar g = \frac{1}{k} \sum_{j=1}^{k} g_j

    With the mean loss over each micro-batch, :math:`\bar g` is the gradient of
    the mean loss over the ``k`` micro-batches together, so ``k`` micro-batches
    of ``B`` examples give the parameters that one batch of ``kB`` examples
    gives, to float32 rounding. ``inner`` and every schedule in it advance once
    per real update: a cosine over 1000 steps spans 1000 updates, ``1000 * k``
    micro-batches, and `optaxlr.hyperparams` reports the real update count as
    ``step``.

    Memory: one buffer shaped like the parameters (float32 for bfloat16/float16
    parameters, the parameters' dtype otherwise), nothing more. ``inner`` runs
    only on the updating calls (``jax.lax.cond``), so the other calls cost one
    addition per parameter.

    Differences from ``optax.MultiSteps``: ``MultiSteps`` runs ``inner`` on every
    micro-batch and keeps its result only every k-th time, so each call costs a
    full optimizer update and needs memory for a second copy of ``inner``'s
    state; its accumulator is float32 whatever the parameters' dtype. Its
    ``every_k_schedule`` (a varying k) and ``should_skip_update_fn`` have no
    counterpart here: wrap the result in `skip_nonfinite` to skip bad steps.

    Extra arguments to ``update`` (such as ``value=`` for `reduce_on_plateau`)
    reach ``inner`` on the updating calls only; keep `reduce_on_plateau` after
    ``accumulate`` in a chain, not inside it, so that no metric is dropped.

    Args:
      inner: the optimizer (or any transformation) to update every k micro-batches.
      every_k_steps: micro-batches per update, an integer >= 1.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state `AccumulateState`.
      Updates keep the dtype ``inner`` gives them (zeros of that dtype on the
      accumulating calls).

    Example:
      >>> import optaxlr
      >>> lr = optaxlr.schedules.cosine(1e-3, 1000)  # 1000 updates, 4000 micro-batches
      >>> opt = optaxlr.training.accumulate(optaxlr.adamw(lr), every_k_steps=4)
    """
    check_transformation("inner", inner)
    every_k_steps = check_int("every_k_steps", every_k_steps, low=1)
    inner = optax.with_extra_args_support(inner)

    record = HyperparamRecord.of({"every_k_steps": every_k_steps})

    def init_fn(params):
        acc = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=compute_dtype(p)), params)
        return AccumulateState(init_count(), record, init_count(), acc, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        acc = jax.tree.map(lambda a, g: a + g.astype(a.dtype), state.acc_grads, updates)
        last = state.micro_step == every_k_steps - 1

        def apply(acc, inner_state):
            mean = jax.tree.map(lambda a, g: (a / every_k_steps).astype(g.dtype), acc, updates)
            new_updates, inner_state = inner.update(mean, inner_state, params, **extra_args)
            return new_updates, inner_state, jax.tree.map(jnp.zeros_like, acc)

        def hold(acc, inner_state):
            shapes = jax.eval_shape(lambda a, s: apply(a, s)[0], acc, inner_state)
            try:  # zeros like the incoming updates, which carry the params' shardings
                zeros = jax.tree.map(
                    lambda s, g: (
                        jnp.zeros_like(g, dtype=s.dtype)
                        if s.shape == g.shape
                        else jnp.zeros(s.shape, s.dtype)
                    ),
                    shapes,
                    updates,
                )
            except (ValueError, TypeError):  # inner returns another structure
                zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            return zeros, inner_state, acc

        new_updates, inner_state, acc = jax.lax.cond(last, apply, hold, acc, state.inner_state)
        count = jnp.where(last, optax.safe_increment(state.count), state.count)
        micro_step = jnp.where(last, 0, state.micro_step + 1).astype(jnp.int32)
        return new_updates, AccumulateState(count, record, micro_step, acc, inner_state)

    return transformation(init_fn, update_fn, extra_args=True)
