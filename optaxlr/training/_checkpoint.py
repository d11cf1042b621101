"""Saving and restoring (params, opt_state) with orbax-checkpoint."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax

__all__ = ["save", "restore"]


def _orbax():
    try:
        import orbax.checkpoint as ocp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "optaxlr.training.save/restore need orbax-checkpoint: "
            "pip install 'optaxlr[demo]' (or orbax-checkpoint)"
        ) from e
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


def restore(directory: str | os.PathLike, params: Any, opt_state: Any) -> tuple[Any, Any]:
    """Reads a checkpoint written by `save` into the structure of ``params``/``opt_state``.

    ``params`` and ``opt_state`` are templates: the freshly initialized
    parameters and ``opt.init(params)`` of the same optimizer (or
    ``jax.ShapeDtypeStruct`` trees with shardings, from ``jax.eval_shape``).
    Every restored array takes its template's shape, dtype and sharding, and
    the containers are the template's (the state's NamedTuples, not the lists
    and dicts orbax stores), so the result goes straight back into a jitted
    training step: a run restored at step k continues bit for bit as if it had
    never stopped (``tests/test_checkpoint.py``).

    Args:
      directory: the checkpoint's directory.
      params: a template of the parameters.
      opt_state: a template of the optimizer state.

    Returns:
      ``(params, opt_state)``.
    """
    ocp = _orbax()
    target = jax.tree.map(
        ocp.utils.to_shape_dtype_struct, {"params": params, "opt_state": opt_state}
    )
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(_path(directory), target)
    return restored["params"], restored["opt_state"]
