"""Gradient accumulation: one optimizer update every k micro-batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord, HyperparamSpec, value_at
from optaxlr._validation import check_choice, check_int
from optaxlr.training._batch_size import batch_size_factor
from optaxlr.transforms._common import (
    check_hyperparam,
    compute_dtype,
    init_count,
    transformation,
    upcast,
)

__all__ = ["AccumulateState", "accumulate"]


class AccumulateState(NamedTuple):
    """State of `accumulate`."""

    count: jax.Array  # int32 scalar, saturating: real (inner) updates applied
    record: HyperparamRecord  # every_k_steps (and lr_scale) of the last real update
    micro_step: jax.Array  # int32 in [0, k): micro-batches in the buffer
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


def zeros_like_output(shapes: Any, updates: Any) -> Any:
    """Zeros shaped like ``shapes`` (``jax.eval_shape`` of an inner update), for a step that
    returns nothing: like the incoming ``updates`` where they match, which carry the
    parameters' shardings."""
    try:
        return jax.tree.map(
            lambda s, g: (
                jnp.zeros_like(g, dtype=s.dtype)
                if s.shape == g.shape
                else jnp.zeros(s.shape, s.dtype)
            ),
            shapes,
            updates,
        )
    except (ValueError, TypeError):  # inner returns another structure
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def accumulate(
    inner: optax.GradientTransformation,
    every_k_steps: int | Callable[[Any], Any],
    *,
    rule: str | None = None,
    base_every_k_steps: int = 1,
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

    **Batch-size warmup**: ``every_k_steps`` may be a schedule of the real-update
    count :math:`t` (``optaxlr.schedules.piecewise_constant`` or any function of
    the step; its value is rounded to the nearest integer, at least 1): update
    :math:`t` averages :math:`k_t` micro-batches, so the batch grows from
    :math:`k_0 B` to :math:`k_T B` while ``inner`` and its schedules still count
    real updates. With ``rule``, the rate follows the batch as
    `scale_for_batch_size` writes it: update :math:`t`'s updates are scaled by

    .. math::
        s_t = \frac{k_t}{k_{\text{base}}} \ \text{(linear)} \qquad
        s_t = \sqrt{\frac{k_t}{k_{\text{base}}}} \ \text{(sqrt)}

    with :math:`k_{\text{base}}` = ``base_every_k_steps``: ``inner``'s rate is the
    one tuned for ``base_every_k_steps`` micro-batches. Scaling the updates is
    scaling the rate for every optimizer whose update is proportional to its
    rate (SGD, Adam, AdamW with its decoupled decay, as torch's ``param_group["lr"]``
    scales it); not for those that keep the rate in their state (Prodigy,
    D-Adaptation, schedule-free). `optaxlr.hyperparams` reports ``every_k_steps``
    and ``lr_scale`` of the last real update (before any, those of the first).

    Differences from ``optax.MultiSteps``: ``MultiSteps`` runs ``inner`` on every
    micro-batch and keeps its result only every k-th time, so each call costs a
    full optimizer update and needs memory for a second copy of ``inner``'s
    state; its accumulator is float32 whatever the parameters' dtype. Its
    ``should_skip_update_fn`` has no counterpart here: wrap the result in
    `skip_nonfinite` or `spike_guard` to skip bad steps.

    Extra arguments to ``update`` (such as ``value=`` for `reduce_on_plateau`)
    reach ``inner`` on the updating calls only; keep `reduce_on_plateau` after
    ``accumulate`` in a chain, not inside it, so that no metric is dropped.

    Args:
      inner: the optimizer (or any transformation) to update every k micro-batches.
      every_k_steps: micro-batches per update, an integer >= 1, or a schedule of
        the real-update count with values >= 1.
      rule: scale the updates with the batch: ``"linear"``, ``"sqrt"``, or None
        (no scaling).
      base_every_k_steps: the micro-batches per update ``inner``'s rate was tuned
        for, an integer >= 1 (used with ``rule``).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state `AccumulateState`.
      Updates keep the dtype ``inner`` gives them (zeros of that dtype on the
      accumulating calls).

    Example:
      >>> import optaxlr
      >>> lr = optaxlr.schedules.cosine(1e-3, 1000)  # 1000 updates, 4000 micro-batches
      >>> opt = optaxlr.training.accumulate(optaxlr.adamw(lr), every_k_steps=4)
      >>> k = optaxlr.schedules.piecewise_constant([100, 200], [1, 2, 4])  # batch warmup
      >>> opt = optaxlr.training.accumulate(optaxlr.adamw(lr), k, rule="sqrt")
    """
    check_transformation("inner", inner)
    scheduled = callable(every_k_steps) and not isinstance(every_k_steps, jax.Array)
    if scheduled:
        check_hyperparam("every_k_steps", every_k_steps, low=1.0)
    else:
        every_k_steps = check_int("every_k_steps", every_k_steps, low=1)
    if rule is not None:
        check_choice("rule", rule, ("linear", "sqrt"))
    base_every_k_steps = check_int("base_every_k_steps", base_every_k_steps, low=1)
    inner = optax.with_extra_args_support(inner)

    def k_at(count) -> Any:
        if not scheduled:
            return every_k_steps
        k = jnp.round(value_at(every_k_steps, count, jnp.float32))
        return jnp.maximum(k, 1.0).astype(jnp.int32)

    def scale_of(k):
        return None if rule is None else batch_size_factor(k / base_every_k_steps, rule)

    if scheduled:
        scales = {} if rule is None else {"lr_scale": lambda c: scale_of(k_at(c))}
        spec = HyperparamSpec(every_k_steps=k_at, **scales)
        initial_record = spec.initial_record()
    else:
        scale = {} if rule is None else {"lr_scale": scale_of(every_k_steps)}
        initial_record = HyperparamRecord.of({"every_k_steps": every_k_steps, **scale})

    def init_fn(params):
        acc = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=compute_dtype(p)), params)
        return AccumulateState(init_count(), initial_record, init_count(), acc, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        acc = jax.tree.map(lambda a, g: a + g.astype(a.dtype), state.acc_grads, updates)
        k = k_at(state.count)
        last = state.micro_step >= k - 1

        def apply(acc, inner_state):
            mean = jax.tree.map(lambda a, g: (a / k).astype(g.dtype), acc, updates)
            new_updates, inner_state = inner.update(mean, inner_state, params, **extra_args)
            s = scale_of(k)
            if s is not None:
                new_updates = jax.tree.map(lambda u: (upcast(u) * s).astype(u.dtype), new_updates)
            return new_updates, inner_state, jax.tree.map(jnp.zeros_like, acc)

        def hold(acc, inner_state):
            shapes = jax.eval_shape(lambda a, s: apply(a, s)[0], acc, inner_state)
            return zeros_like_output(shapes, updates), inner_state, acc

        new_updates, inner_state, acc = jax.lax.cond(last, apply, hold, acc, state.inner_state)
        record = initial_record
        if scheduled:
            now = spec.record(spec.values(state.count))
            record = jax.tree.map(lambda n, o: jnp.where(last, n, o), now, state.record)
        count = jnp.where(last, optax.safe_increment(state.count), state.count)
        micro_step = jnp.where(last, 0, state.micro_step + 1).astype(jnp.int32)
        return new_updates, AccumulateState(count, record, micro_step, acc, inner_state)

    return transformation(init_fn, update_fn, extra_args=True)
