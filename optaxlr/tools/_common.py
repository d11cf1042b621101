"""What `find_lr` and `sweep` share: a pure view of the model, the batch source
and the JSON form of their results.

Both tools compile a whole training run into one program, so they need

- the loss as a pure function ``(params, extra, batch) -> (loss, extra)``, where
  ``extra`` is whatever state besides the trained parameters the model carries
  (a Flax nnx model's batch statistics and RNG counts; ``None`` for a plain
  ``loss_fn(params, batch)``), and
- the batches either stacked into arrays with a leading step axis (from an
  iterable) or produced inside the program by a function of the step.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import check_callable

__all__ = [
    "Model",
    "ModelKey",
    "as_model",
    "pure_loss",
    "as_scalar",
    "rebuild",
    "BatchSource",
    "as_batch_source",
    "batch_at",
    "format_table",
    "json_list",
    "to_json",
]

Batch = Any
#: ``(loss_fn, graphdef)``: hashable, it identifies a traced program (graphdef None
#: for a plain ``loss_fn(params, batch)``).
ModelKey = tuple[Callable[..., Any], Any]
#: An iterable of batches (stacked up to the number of steps), or ``step -> batch``.
Batches = Iterable[Batch] | Callable[[jax.Array], Batch]


def _is_nnx_module(obj: Any) -> bool:
    if "flax" not in sys.modules:  # no nnx model can exist without flax imported
        return False
    from flax import nnx

    return isinstance(obj, nnx.Module)


@dataclasses.dataclass(frozen=True)
class Model:
    """A pure view of ``loss_fn`` and its parameters.

    ``key`` is hashable and identifies the traced program (the user's loss
    function and, for nnx, the graph definition), so that a jitted tool keyed
    on it compiles once however often it is called.
    """

    key: ModelKey
    params: Any
    extra: Any


def _pure_loss(key: ModelKey, params: Any, extra: Any, batch: Batch) -> tuple[jax.Array, Any]:
    loss_fn, graphdef = key
    if graphdef is None:
        loss = loss_fn(params, batch)
    else:
        from flax import nnx

        model = nnx.merge(graphdef, params, extra)
        loss = loss_fn(model, batch)
        _, _, extra = nnx.split(model, nnx.Param, ...)
    # Checked while tracing, so it costs nothing at run time.
    return as_scalar("loss_fn", loss), extra


def as_scalar(name: str, value: Any) -> jax.Array:
    """What ``name`` returned as a float32 scalar, or an error naming it."""
    try:
        out = jnp.asarray(value, jnp.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must return a number, got {value!r}") from None
    if out.shape != ():
        raise ValueError(f"{name} must return a scalar, got shape {out.shape}")
    return out


def pure_loss(key: ModelKey) -> Callable[[Any, Any, Batch], tuple[jax.Array, Any]]:
    """The pure loss for a `Model.key`, for use inside a jitted function."""
    return lambda params, extra, batch: _pure_loss(key, params, extra, batch)


def rebuild(key: ModelKey, params: Any, extra: Any) -> Any:
    """The user's view of ``params``: the params themselves, or the nnx model."""
    _, graphdef = key
    if graphdef is None:
        return params
    from flax import nnx

    return nnx.merge(graphdef, params, extra)


def as_model(loss_fn: Any, params: Any) -> Model:
    """Checks ``loss_fn`` and splits an nnx model into (graph, params, other state).

    ``params`` is a pytree for ``loss_fn(params, batch)``, or a Flax nnx module
    for ``loss_fn(model, batch)``: its ``nnx.Param`` variables are trained and
    everything else (batch statistics, RNG state) is carried along. The caller's
    arrays and model are never modified.
    """
    check_callable("loss_fn", loss_fn)
    if _is_nnx_module(params):
        from flax import nnx

        graphdef, trained, extra = nnx.split(params, nnx.Param, ...)
        return Model((loss_fn, graphdef), trained, extra)
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array")
    for leaf in leaves:
        if not np.issubdtype(np.asarray(leaf).dtype, np.inexact):
            raise TypeError(
                f"params must hold floating-point arrays, got a leaf of dtype "
                f"{np.asarray(leaf).dtype}"
            )
    return Model((loss_fn, None), params, None)


@dataclasses.dataclass(frozen=True)
class BatchSource:
    """Either ``stacked`` (pytree with a leading step axis) or ``fn`` (``step -> batch``)."""

    stacked: Any
    fn: Callable[[jax.Array], Batch] | None


def as_batch_source(batches: Any, num_steps: int, name: str = "batches") -> BatchSource:
    """Turns ``batches`` into a `BatchSource` for ``num_steps`` steps.

    A callable is kept and called with the traced int32 step inside the
    compiled loop. An iterable is read for ``num_steps`` batches; a re-iterable
    collection (a list, a data loader) shorter than that is cycled through
    again, while a one-shot iterator that runs out is an error. The batches are
    stacked into one array per leaf, so they must all have the same structure
    and shapes.
    """
    if callable(batches) and not isinstance(batches, Iterable):
        return BatchSource(None, batches)
    if not isinstance(batches, Iterable):
        raise TypeError(
            f"{name} must be an iterable of batches or a function step -> batch, got "
            f"{type(batches).__name__}"
        )
    if isinstance(batches, str | bytes):
        raise TypeError(f"{name} must be an iterable of batches, got a string")
    one_shot = iter(batches) is batches
    taken = list(itertools.islice(batches, num_steps))
    if not taken:
        raise ValueError(f"{name} is empty")
    if not jax.tree.leaves(taken[0]):
        raise ValueError(f"{name} must hold arrays, got {taken[0]!r} as a batch")
    if len(taken) < num_steps:
        if one_shot:
            raise ValueError(
                f"{name} ran out after {len(taken)} batches, {num_steps} are needed: pass a "
                "re-iterable collection (it is cycled), a longer iterator, or fewer steps"
            )
        taken = [taken[i % len(taken)] for i in range(num_steps)]
    structure = jax.tree.structure(taken[0])
    for i, b in enumerate(taken):
        if jax.tree.structure(b) != structure:
            raise ValueError(f"{name}[{i}] has a different structure than {name}[0]")
    try:
        stacked = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *taken)
    except ValueError as e:
        raise ValueError(f"every batch in {name} must have the same shapes: {e}") from None
    try:
        return BatchSource(jax.tree.map(jnp.asarray, stacked), None)
    except TypeError as e:
        raise TypeError(f"{name} must hold arrays of numbers: {e}") from None


def batch_at(fn: Callable | None, stacked: Any, step: jax.Array) -> Batch:
    """The batch for ``step`` (traced) from a stacked pytree or a function."""
    if fn is not None:
        return fn(step)
    return jax.tree.map(lambda b: jax.lax.dynamic_index_in_dim(b, step, keepdims=False), stacked)


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def json_list(values: Any) -> Any:
    """An array as nested lists, non-finite entries as None (JSON has no NaN)."""
    a = np.asarray(values, dtype=np.float64)
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def to_json(result: Any, *, skip: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A result dataclass's fields (but ``skip``) and ``extra``, JSON-ready.

    Float arrays become nested lists with non-finite entries as None (JSON has
    no NaN), integer arrays lists of ints; dicts are converted value by value.
    """
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    values = {k: v for k, v in fields.items() if k not in skip}
    return _json_value({**values, **extra})


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | np.generic):
        if np.issubdtype(value.dtype, np.inexact):
            return json_list(value)
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

