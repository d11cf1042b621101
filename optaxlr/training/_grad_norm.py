"""Monitoring the gradient norm before clipping, and the clip applied."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import Hyperparam, HyperparamRecord, HyperparamSpec, bounded
from optaxlr._validation import POSITIVE, check_int, check_number
from optaxlr.transforms._clipping import global_clip_factor, global_norm, squared_norms
from optaxlr.transforms._common import (
    check_update,
    init_count,
    next_count,
    scalar_dtype,
    transformation,
    upcast,
)
from optaxlr.transforms._path import path_to_str

__all__ = ["GradNormMonitorState", "grad_norm_monitor"]


class GradNormMonitorState(NamedTuple):
    """State of `grad_norm_monitor`."""

    count: jax.Array | None  # updates applied (int32), where a value depends on it; else None
    record: HyperparamRecord  # max_norm, as clip_by_global_norm's
    observed: HyperparamRecord  # grad_norm, clip_factor, grad_norm/<path>


def grad_norm_monitor(
    max_norm: Hyperparam | None = None,
    eps: float = 1e-6,
    *,
    per_path_every: int | None = None,
    separator: str = "/",
) -> optax.GradientTransformation:
    r"""Records the gradients' global norm before clipping, and clips by it if asked.

    Put it first in the chain, in place of `optaxlr.clip_by_global_norm`: with
    ``max_norm`` it clips exactly as ``clip_by_global_norm(max_norm, eps)``
    does (the same updates, and the same ``max_norm`` reported by
    `optaxlr.hyperparams`), and keeps in its state

    - ``grad_norm``: :math:`\lVert g \rVert_2`, the global norm of the
      gradients it received, before clipping;
    - ``clip_factor``: :math:`\min(1, c_t / (\lVert g \rVert_2 + \epsilon))`,
      the factor the updates were scaled by (1 without ``max_norm``: nothing
      clipped);
    - with ``per_path_every=k``, ``grad_norm/<path>``: each parameter's norm
      before clipping, named as `optaxlr.transforms.path_to_str` writes its
      path, recorded on updates 0, k, 2k, ... and kept in between.

    All are scalars of the state, read with `optaxlr.hyperparams` inside or
    outside ``jit`` (log them with the learning rate). Without ``max_norm`` the
    updates pass through unchanged: a monitor alone.

    The global norm is the one clipping computes anyway (one sum of squares per
    leaf), and the per-path norms are the square roots of those same sums, so
    what the monitor adds to a clipped step is writing its scalars to the state
    (measured in ``docs/training.md``). Inside `accumulate`, put it in the
    wrapped optimizer, where it sees the averaged gradients.

    Args:
      max_norm: clip to this global norm :math:`c_t` > 0 (a number, an array or a
        schedule), or None to only record.
      eps: added to the norm before dividing, >= 0 (``clip_by_global_norm``'s).
      per_path_every: record the per-parameter norms every this many updates,
        an integer >= 1, or None for none.
      separator: joins the keys of a parameter's path.

    Returns:
      An ``optax.GradientTransformation`` with state `GradNormMonitorState`.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optax.chain(optaxlr.training.grad_norm_monitor(1.0), optaxlr.sgd(0.1))
      >>> params = {"w": jnp.zeros(4)}
      >>> _, state = opt.update({"w": jnp.full(4, 2.0)}, opt.init(params), params)
      >>> hp = optaxlr.hyperparams(state)
      >>> float(hp["grad_norm"]), round(float(hp["clip_factor"]), 4), float(hp["max_norm"])
      (4.0, 0.25, 1.0)
    """
    spec = (
        HyperparamSpec()
        if max_norm is None
        else HyperparamSpec(max_norm=bounded("max_norm", max_norm, POSITIVE))
    )
    check_number("eps", eps, low=0.0)
    if per_path_every is not None:
        per_path_every = check_int("per_path_every", per_path_every, low=1)
    if not isinstance(separator, str):
        raise TypeError(f"separator must be a string, got {separator!r}")
    counted = spec.scheduled or (per_path_every is not None and per_path_every > 1)

    def names(params) -> list[str]:
        if per_path_every is None:
            return []
        paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        return [f"grad_norm{separator}{path_to_str(p, separator)}" for p in paths]

    def init_fn(params):
        zero, one = jnp.zeros([], jnp.float32), jnp.ones([], jnp.float32)
        observed = {"grad_norm": zero, "clip_factor": one, **dict.fromkeys(names(params), zero)}
        count = init_count() if counted else None
        return GradNormMonitorState(count, spec.initial_record(), HyperparamRecord.of(observed))

    def update_fn(updates, state, params=None):
        check_update("grad_norm_monitor", state, GradNormMonitorState, updates, params=params)
        squares = squared_norms(updates)
        norm = global_norm(squares)
        values = spec.values(state.count, scalar_dtype(updates))
        if max_norm is None:
            factor = jnp.ones([], norm.dtype)
        else:
            factor = global_clip_factor(norm, values["max_norm"], eps)
            updates = jax.tree.map(lambda g: (upcast(g) * factor).astype(g.dtype), updates)
        observed = {"grad_norm": norm, "clip_factor": factor}
        if per_path_every is not None:
            paths = names(updates)

            def measured():
                return [jnp.asarray(jnp.sqrt(s), float) for s in squares]

            def kept():
                return [state.observed.values[n] for n in paths]

            if per_path_every == 1:
                per_path = measured()
            else:
                per_path = jax.lax.cond(state.count % per_path_every == 0, measured, kept)
            observed.update(zip(paths, per_path, strict=True))
        new_state = GradNormMonitorState(
            next_count(state.count), spec.record(values), HyperparamRecord.of(observed)
        )
        return updates, new_state

    return transformation(init_fn, update_fn)
