"""The one compiled training loop behind `find_lr` and `sweep`.

A run is a ``lax.scan`` over chunks of ``eval_every`` steps (``eval_fn`` runs
after each chunk), each chunk a loop over its steps: a ``lax.while_loop`` when
a `Watch` can end the run early (the range test's divergence check), a
fixed-count loop otherwise. With ``copies``, the hyperparameters carry a
leading axis and the whole run is ``vmap``-ed over it (a sweep has no watch,
so no copy waits on another's stopping rule).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from optaxlr.tools._common import ModelKey, as_scalar, batch_at, pure_loss, rebuild
from optaxlr.training._accumulate import check_transformation

__all__ = ["Loop", "Outcome", "Watch", "run", "check_transformation"]


class Watch(Protocol):
    """Looks at every step's loss; may stop the run and record values per step.

    Must be hashable by value (it is part of the compiled program's key).
    """

    #: the names of the float32 scalars ``__call__`` records at each step
    records: ClassVar[tuple[str, ...]]

    def init(self) -> Any:
        """The watch's initial state (a pytree of arrays)."""
        ...

    def __call__(
        self, state: Any, step: jax.Array, loss: jax.Array, args: Any
    ) -> tuple[Any, jax.Array, dict[str, jax.Array]]:
        """(new state, int32 stop code: 0 goes on, the values to record at ``step``)."""
        ...


class Loop(NamedTuple):
    """The static part of a run: everything that is traced.

    Hashable (the user's functions by identity), so `run` compiles once per
    distinct `Loop` and array shapes, whatever the hyperparameter values.
    """

    model_key: ModelKey
    optimizer: Callable[..., optax.GradientTransformation]  # called with **hparams
    batch_fn: Callable | None
    num_steps: int
    eval_every: int
    eval_fn: Callable | None = None
    watch: Watch | None = None
    return_params: bool = False
    copies: bool = False  # hparams have a leading axis of copies, trained side by side
    mesh: jax.sharding.Mesh | None = None  # the copies are split over all its devices


class Outcome(NamedTuple):
    steps: jax.Array  # steps run: num_steps unless the watch stopped the run
    stop: jax.Array  # the watch's stop code (0: every step ran)
    losses: jax.Array  # (num_steps,) the loss of every step, NaN past the last one run
    records: dict[str, jax.Array]  # the watch's (num_steps,) records
    metrics: dict[str, jax.Array]  # eval_fn's values, (num_steps // eval_every,) each
    trained: Any  # (params, extra) when return_params, else None


class _Carry(NamedTuple):
    step: jax.Array
    params: Any
    extra: Any
    opt_state: Any
    watch_state: Any
    stop: jax.Array
    losses: jax.Array
    records: dict[str, jax.Array]


def _scalar_metrics(value: Any) -> dict[str, jax.Array]:
    """eval_fn's scalar or dict of scalars, as a dict of float32 scalars."""
    items = value.items() if isinstance(value, Mapping) else [("metric", value)]
    out = {}
    for name, v in items:
        out[str(name)] = as_scalar(f"eval_fn (for {name!r})", v)
    return out


def _train(loop: Loop, hparams: Any, watch_args: Any, params: Any, extra: Any, stacked: Any):
    optimizer = check_transformation("optimizer(...)", loop.optimizer(**hparams))
    watch = loop.watch
    loss_and_grad = jax.value_and_grad(pure_loss(loop.model_key), has_aux=True)
    record = functools.partial(jax.lax.dynamic_update_index_in_dim, axis=0)

    def body(c: _Carry) -> _Carry:
        i = c.step
        batch = batch_at(loop.batch_fn, stacked, i)
        (loss, new_extra), grads = loss_and_grad(c.params, c.extra, batch)
        watch_state, stop, records = c.watch_state, c.stop, c.records
        if watch is not None:
            watch_state, stop, values = watch(watch_state, i, loss, watch_args)
            records = {k: record(records[k], values[k], i) for k in records}
        updates, opt_state = optimizer.update(grads, c.opt_state, c.params)
        return _Carry(
            step=i + 1,
            params=optax.apply_updates(c.params, updates),
            extra=new_extra,
            opt_state=opt_state,
            watch_state=watch_state,
            stop=stop,
            losses=record(c.losses, loss, i),
            records=records,
        )

    def chunk(c: _Carry, start: jax.Array) -> tuple[_Carry, dict[str, jax.Array]]:
        if watch is None:
            # Nothing can stop the run: a fixed trip count, which XLA compiles faster
            # than a while loop (measured: 5-10% of a sweep's compile time).
            c = jax.lax.fori_loop(0, loop.eval_every, lambda _, c: body(c), c)
        else:
            end = start + loop.eval_every
            c = jax.lax.while_loop(lambda c: (c.step < end) & (c.stop == 0), body, c)
        metrics = {}
        if loop.eval_fn is not None:
            metrics = _scalar_metrics(loop.eval_fn(rebuild(loop.model_key, c.params, c.extra)))
        return c, metrics

    nan = jnp.full((loop.num_steps,), jnp.nan, jnp.float32)
    init = _Carry(
        step=jnp.zeros([], jnp.int32),
        params=params,
        extra=extra,
        opt_state=optimizer.init(params),
        watch_state=None if watch is None else watch.init(),
        stop=jnp.zeros([], jnp.int32),
        losses=nan,
        records={} if watch is None else dict.fromkeys(watch.records, nan),
    )
    starts = jnp.arange(loop.num_steps // loop.eval_every, dtype=jnp.int32) * loop.eval_every
    c, metrics = jax.lax.scan(chunk, init, starts)
    trained = (c.params, c.extra) if loop.return_params else None
    return Outcome(c.step, c.stop, c.losses, c.records, metrics, trained)


@functools.partial(jax.jit, static_argnums=0)
def run(loop: Loop, hparams: Any, watch_args: Any, params: Any, extra: Any, stacked: Any):
    """Trains from ``params`` for ``loop.num_steps`` steps; returns an `Outcome`.

    ``hparams`` (a dict of arrays) are the optimizer factory's keyword
    arguments, one value per copy when ``loop.copies``; ``watch_args`` go to
    the watch unbatched.
    """
    train = functools.partial(_train, loop)
    if not loop.copies:
        return train(hparams, watch_args, params, extra, stacked)
    copies = jax.vmap(train, in_axes=(0, None, None, None, None))
    if loop.mesh is None:
        return copies(hparams, watch_args, params, extra, stacked)
    # Every device trains its own slice of the copies: nothing is communicated until
    # the results are gathered. The carries start replicated (the shared initial
    # parameters) and come out per device, which the replication check would refuse.
    split, whole = P(loop.mesh.axis_names), P()
    return jax.shard_map(
        copies,
        mesh=loop.mesh,
        in_specs=(split, whole, whole, whole, whole),
        out_specs=split,
        check_vma=False,
    )(hparams, watch_args, params, extra, stacked)
