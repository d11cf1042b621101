"""Saving, restoring and resuming (params, opt_state) with orbax-checkpoint."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._paths import path_to_str

__all__ = ["restore", "resume", "save", "transfer_state"]

_INT32_MAX = int(np.iinfo(np.int32).max)


def _orbax():
    import orbax.checkpoint as ocp

    return ocp


def _path(directory: str | os.PathLike) -> pathlib.Path:
    # orbax wants absolute paths.
    return pathlib.Path(directory).expanduser().absolute()


def save(
    directory: str | os.PathLike, params: Any, opt_state: Any, *, overwrite: bool = False
) -> pathlib.Path:
    """Writes ``params`` and ``opt_state`` to the checkpoint directory ``directory``.

    One ``orbax.checkpoint.StandardCheckpointer`` save of
    ``{"params": params, "opt_state": opt_state}``, waited for: when it returns
    the checkpoint is complete on disk. Every array is written with its dtype
    and exact bits (bfloat16 and the int32 step counts included) and, when
    sharded, by the processes that hold its shards. For several checkpoints of
    one run (keeping the last N, saving every k steps), use orbax's
    ``CheckpointManager`` with the same tree.

    Args:
      directory: the checkpoint's directory; it must not exist unless ``overwrite``.
      params: the parameters, any pytree of arrays.
      opt_state: the optimizer state, any optax/optaxlr state.
      overwrite: replace an existing checkpoint at ``directory``.

    Returns:
      The checkpoint's absolute path.
    """
    ocp = _orbax()
    path = _path(directory)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, {"params": params, "opt_state": opt_state}, force=overwrite)
        checkpointer.wait_until_finished()
    return path


def _leaves_by_path(tree: Any) -> dict[str, Any]:
    return {path_to_str(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _read(directory: str | os.PathLike, target: Any = None) -> Any:
    """The checkpoint's tree (into ``target``'s structure), or one clear error."""
    ocp = _orbax()
    path = _path(directory)
    if not path.is_dir():
        raise ValueError(f"no checkpoint at {str(path)!r}: not a directory")
    if not (path / "_METADATA").is_file():
        raise ValueError(
            f"checkpoint at {str(path)!r} is incomplete or corrupt: it has no _METADATA "
            "(was the save interrupted?)"
        )
    with ocp.StandardCheckpointer() as checkpointer:
        try:
            metadata = checkpointer.metadata(path)
            stored = getattr(metadata, "item_metadata", metadata)
            if target is not None:
                _check_against(stored, target)
            return checkpointer.restore(path, target)
        except ValueError as e:
            if str(e).startswith("checkpoint "):
                raise
            raise ValueError(f"checkpoint at {str(path)!r} is incomplete or corrupt: {e}") from None
        except (OSError, KeyError, TypeError, RuntimeError) as e:
            raise ValueError(
                f"checkpoint at {str(path)!r} is incomplete or corrupt: {type(e).__name__}: {e}"
            ) from None


def _check_against(stored: Any, target: Any) -> None:
    """Raises naming the first leaf (in the template's order) where the two differ."""
    saved = _leaves_by_path(stored)
    wanted = _leaves_by_path(target)
    for name, want in wanted.items():
        if name not in saved:
            raise ValueError(
                f"checkpoint and template differ: the template has {name!r}, the checkpoint "
                "doesn't: it was written for another optimizer (to continue with this one, "
                "see resume and transfer_state), or it is incomplete or corrupt"
            )
        have = saved[name]
        shape, dtype = tuple(getattr(have, "shape", ())), np.dtype(getattr(have, "dtype", None))
        if shape != tuple(want.shape) or dtype != np.dtype(want.dtype):
            raise ValueError(
                f"checkpoint and template differ at {name!r}: the checkpoint holds "
                f"{dtype.name}{list(shape)}, the template {np.dtype(want.dtype).name}"
                f"{list(want.shape)} (nothing is cast)"
            )
    for name in saved:
        if name not in wanted:
            raise ValueError(
                f"checkpoint and template differ: the checkpoint has {name!r}, the template "
                "doesn't: it was written for another optimizer (see resume and transfer_state)"
            )


def restore(directory: str | os.PathLike, params: Any, opt_state: Any) -> tuple[Any, Any]:
    """Reads a checkpoint written by `save` into the structure of ``params``/``opt_state``.

    ``params`` and ``opt_state`` are templates: the freshly initialized
    parameters and ``opt.init(params)`` of the same optimizer (or
    ``jax.ShapeDtypeStruct`` trees with shardings, from ``jax.eval_shape``).
    Every restored array takes its template's sharding, and the containers are
    the template's (the state's NamedTuples, not the lists and dicts orbax
    stores), so the result goes straight back into a jitted training step: a
    run restored at step k continues bit for bit as if it had never stopped
    (``tests/test_checkpoint.py``). The constant hyperparameters, which are
    part of the state's structure rather than arrays, come from the template.

    To continue with a different optimizer (another learning rate, a schedule
    instead of a number), use `resume`.

    Args:
      directory: the checkpoint's directory.
      params: a template of the parameters.
      opt_state: a template of the optimizer state.

    Returns:
      ``(params, opt_state)``.

    Raises:
      ValueError: naming the first leaf whose path, shape or dtype differs
        between the checkpoint and the template (nothing is cast), or saying
        the checkpoint is missing, incomplete or corrupt.
    """
    target = jax.tree.map(
        _orbax().utils.to_shape_dtype_struct, {"params": params, "opt_state": opt_state}
    )
    restored = _read(directory, target)
    return restored["params"], restored["opt_state"]


def _key_name(key: Any) -> str:
    """A path key as text: a field name, a dict key or an index."""
    return str(getattr(key, "name", getattr(key, "key", getattr(key, "idx", ""))))


def _is_count(path: tuple[Any, ...]) -> bool:
    return bool(path) and _key_name(path[-1]) == "count"


def _saved_step(state: Any) -> int | None:
    counts = [
        int(np.max(np.asarray(x)))
        for p, x in jax.tree_util.tree_flatten_with_path(state)[0]
        if _is_count(p)
    ]
    return max(counts) if counts else None


def _is_carried(path: tuple[Any, ...]) -> bool:
    # Hyperparameter values belong to the new optimizer: its record, and the
    # inputs of optax.inject_hyperparams.
    names = {_key_name(k) for k in path}
    return "record" not in names and "hyperparams" not in names


def transfer_state(saved: Any, new_state: Any, *, step: int | None = None) -> Any:
    """``new_state`` with the moments and the step count of ``saved``.

    For continuing a run with a changed optimizer: another learning rate or
    schedule, a number turned into a schedule or back, an optimizer wrapped
    in ``optax.inject_hyperparams``. ``saved`` is the old optimizer's state (or
    the tree orbax restores without a template); ``new_state`` is
    ``new_optimizer.init(params)``. Leaves are matched by path
    (``"0/mu/w"``):

    * every ``count`` of the new state is set to the saved step (the largest
      saved ``count``, or ``step``), so schedules continue from it;
    * every other leaf found in ``saved`` at the same path is carried over
      (moments, EMA, accumulation buffers), except hyperparameter values (the
      ``record`` of each transformation and optax's injected ``hyperparams``),
      which are the new optimizer's;
    * leaves of the new state with no counterpart keep their initial value
      (a transformation that was not in the old optimizer starts afresh).

    Args:
      saved: the state to continue from.
      new_state: the new optimizer's freshly initialized state.
      step: the number of updates done, for a saved state without a count
        (an optimizer with constant hyperparameters and no step-dependent
        rule keeps none); overrides the saved count if given.

    Returns:
      A state with ``new_state``'s structure.

    Raises:
      ValueError: if a carried leaf's shape or dtype differs (naming it), or if
        the new state counts steps and the saved one doesn't, without ``step``.
    """
    saved_leaves = _leaves_by_path(saved)
    if step is None:
        step = _saved_step(saved)
    elif isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")

    def carry(path: tuple[Any, ...], leaf: Any) -> Any:
        name = path_to_str(path)
        if _is_count(path):
            if step is None:
                raise ValueError(
                    f"transfer_state: the new state counts steps ({name!r}) but the saved one "
                    "holds no count; pass step= (the number of updates done)"
                )
            return jnp.asarray(min(int(step), _INT32_MAX), leaf.dtype)
        if not _is_carried(path) or name not in saved_leaves:
            return leaf
        old = jnp.asarray(saved_leaves[name])
        if old.shape != leaf.shape or old.dtype != leaf.dtype:
            raise ValueError(
                f"transfer_state: {name!r} is {old.dtype.name}{list(old.shape)} in the saved "
                f"state and {leaf.dtype.name}{list(leaf.shape)} in the new one"
            )
        return old

    return jax.tree_util.tree_map_with_path(carry, new_state)


def resume(
    directory: str | os.PathLike, params: Any, optimizer: Any, *, step: int | None = None
) -> tuple[Any, Any]:
    """Restores a checkpoint written by `save` and continues it with ``optimizer``.

    ``optimizer`` may differ from the one that wrote the checkpoint in its
    hyperparameters (a new learning rate, a schedule in place of a number or
    the reverse, weight decay changed): the parameters, the moments and the
    step come from the checkpoint (see `transfer_state`), the hyperparameters
    from ``optimizer``. The users of every framework ask for this
    (pytorch#156846, OpenNMT-py#1911, pytorch-lightning#4044).

    Example::

        params, state = optaxlr.training.resume("ckpt", params, optaxlr.adamw(new_schedule))

    Args:
      directory: the checkpoint's directory.
      params: a template of the parameters (e.g. the freshly initialized ones).
      optimizer: the optimizer to continue with.
      step: see `transfer_state`.

    Returns:
      ``(params, opt_state)`` for ``optimizer``.
    """
    raw = _read(directory)
    if not isinstance(raw, dict) or "params" not in raw or "opt_state" not in raw:
        raise ValueError(
            f"checkpoint at {str(_path(directory))!r} is not one written by optaxlr.training.save"
        )
    _check_against(raw["params"], jax.tree.map(_orbax().utils.to_shape_dtype_struct, params))
    saved = _leaves_by_path(raw["params"])
    restored = jax.tree_util.tree_map_with_path(
        lambda p, x: jnp.asarray(saved[path_to_str(p)], x.dtype), params
    )
    state = transfer_state(raw["opt_state"], optimizer.init(restored), step=step)
    return restored, state
