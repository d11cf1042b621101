"""Saving, restoring and resuming (params, opt_state) with orbax-checkpoint."""

from __future__ import annotations

import os
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import HyperparamRecord, value_at
from optaxlr._paths import path_to_str
from optaxlr.transforms._common import scalar_dtype

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
    # Full paths, a Flax Variable's ``value`` included: orbax stores it as a key.
    return {_text(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


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


# --- what each leaf of a state is, decided by the state's types --------------------

# The optimizer states are the NamedTuples that optax and optaxlr declare; inside them
# a ``count`` field is a step count, a `HyperparamRecord` holds hyperparameter values,
# and the ``hyperparams`` of ``optax.inject_hyperparams`` are its inputs. Every other
# leaf (the parameter-shaped buffers, whatever the parameters are called, and the
# counters of the update rules) is the run's data.
_STATE_PACKAGES = ("optax", "optaxlr")
_INJECT_STATES = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)
_INJECTED_FIELDS = ("hyperparams", "hyperparams_states")

COUNT, RECORD, INJECTED, DATA = "count", "record", "injected", "data"


def _is_state(node: Any) -> bool:
    cls = type(node)
    return (
        isinstance(node, tuple)
        and hasattr(cls, "_fields")
        and cls.__module__.partition(".")[0] in _STATE_PACKAGES
    )


class _Roles(NamedTuple):
    leaves: dict[str, tuple[Any, str]]  # path text -> (leaf, role)
    fields: dict[str, str]  # path text of a count, record or injected field -> role
    records: list[tuple[tuple[Any, ...], HyperparamRecord, tuple[Any, ...]]]  # path, owner


def _roles(tree: Any) -> _Roles:
    roles = _Roles({}, {}, [])

    def walk(node: Any, path: tuple[Any, ...], role: str, owner: tuple[Any, ...]) -> None:
        if isinstance(node, HyperparamRecord):
            roles.fields[_text(path)] = RECORD
            roles.records.append((path, node, owner))
            role = RECORD
        elif _is_state(node):
            for field, child in zip(node._fields, node, strict=True):
                sub = role
                if field == "count":
                    sub = COUNT
                elif isinstance(node, _INJECT_STATES) and field in _INJECTED_FIELDS:
                    sub = INJECTED
                key = (jax.tree_util.GetAttrKey(field),)
                if sub != role:
                    roles.fields[_text(path + key)] = sub
                walk(child, path + key, sub, path)
            return
        children = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
        if len(children) == 1 and children[0][0] == () and children[0][1] is node:
            roles.leaves[_text(path)] = (node, role)
            return
        for key, child in children:
            walk(child, path + key, role, owner)

    walk(tree, (), DATA, ())
    return roles


def _text(path: tuple[Any, ...]) -> str:
    return path_to_str(path, keep_value=True)


def _role_of_saved(name: str, role: str, new_fields: dict[str, str]) -> str:
    """A saved leaf's role: its own, or, in an untyped tree (as orbax restores it
    without a template), that of the field of the new state it lies under."""
    if role != DATA:
        return role
    parts = name.split("/")
    for i in range(len(parts), 0, -1):
        found = new_fields.get("/".join(parts[:i]))
        if found is not None:
            return found
    return DATA


def _listed(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def transfer_state(
    saved: Any,
    new_state: Any,
    *,
    step: int | None = None,
    strict: bool = True,
    dtype: Any = None,
) -> Any:
    """``new_state`` with the step, the buffers and the observations of ``saved``.

    For continuing a run with a changed optimizer: another learning rate or
    schedule, a number turned into a schedule or back, another weight decay.
    ``saved`` is the old optimizer's state (or the tree orbax restores without
    a template); ``new_state`` is ``new_optimizer.init(params)``. What each leaf
    is comes from the state's declared types, never from a name, so parameters
    may be called anything (``count``, ``mu``, ``record``...). Leaves are
    matched by path (``"0/mu/w"``):

    * the run's data (moments, traces, accumulation buffers, EMA, the counters
      of the update rules) is carried from ``saved``;
    * each step count (the ``count`` field of a state) is carried; a count the
      old state didn't keep (a number turned into a schedule) starts at the
      saved step, the largest saved count, or ``step``;
    * the hyperparameter values are the new optimizer's, and its record
      (`optaxlr.hyperparams`) reports them as the update that brought the
      count to the carried step used them: a schedule's value at ``step - 1``
      (at 0 before any update), as a state never saved reports it. Observed
      values (a plateau's scale, a monitor's ratios) are carried.

    A buffer that doesn't carry would be lost data: the new state having one
    with nothing saved (from SGD to AdamW: ``mu`` and ``nu``), or the saved state
    one with no place in the new (the other way). That is refused, naming them,
    unless ``strict=False``, which starts the new buffers at their initial values
    and drops the others.

    Args:
      saved: the state to continue from.
      new_state: the new optimizer's freshly initialized state.
      step: the number of updates done, for a saved state without a count
        (an optimizer with constant hyperparameters and no step-dependent
        rule keeps none); if given, every count is set to it.
      strict: refuse a transfer that loses or leaves out buffers (see above).
      dtype: the float dtype the schedules' values are computed in
        (`optaxlr.transforms.scalar_dtype` of the parameters); None: that of
        the state's buffers.

    Returns:
      A state with ``new_state``'s structure.

    Raises:
      ValueError: if a carried leaf's shape or dtype differs (naming it), if
        buffers don't carry and ``strict``, or if the new state counts steps
        and the saved one doesn't, without ``step``.
    """
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0
    ):
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    new = _roles(new_state)
    old = _roles(saved)
    saved_roles = {
        name: (leaf, _role_of_saved(name, role, new.fields))
        for name, (leaf, role) in old.leaves.items()
    }
    if step is None:
        counts = [int(np.max(np.asarray(x))) for x, r in saved_roles.values() if r == COUNT]
        saved_step = max(counts) if counts else None
    else:
        saved_step = int(step)

    out: dict[str, Any] = {}
    missing = []
    for name, (leaf, role) in new.leaves.items():
        if role == COUNT:
            if step is None and name in saved_roles:
                out[name] = _carried(name, saved_roles[name][0], leaf)
            elif saved_step is None:
                raise ValueError(
                    f"transfer_state: the new state counts steps ({name!r}) but the saved one "
                    "holds no count; pass step= (the number of updates done)"
                )
            else:
                out[name] = jnp.asarray(min(saved_step, _INT32_MAX), leaf.dtype)
        elif role == DATA and name in saved_roles:
            out[name] = _carried(name, saved_roles[name][0], leaf)
        else:
            out[name] = leaf
            if role == DATA:
                missing.append(name)
    dropped = [n for n, (_, r) in saved_roles.items() if r == DATA and n not in new.leaves]
    if strict and (missing or dropped):
        parts = []
        if missing:
            parts.append(f"the new state has {_listed(missing)} with nothing saved")
        if dropped:
            parts.append(f"the saved state has {_listed(dropped)} with no place in the new one")
        raise ValueError(
            f"transfer_state: these buffers don't carry: {'; '.join(parts)}. Continue with "
            "the optimizer that wrote the state, or pass strict=False to start the new "
            "buffers afresh and drop the others"
        )

    if dtype is None:
        dtype = scalar_dtype([leaf for leaf, role in new.leaves.values() if role == DATA])
    for path, record, owner in new.records:
        count = out.get(_text((*owner, jax.tree_util.GetAttrKey("count"))))
        for name in record.layout.arrays:
            key = _text((*path, jax.tree_util.DictKey(name)))
            if record.layout.observed and key in saved_roles:
                out[key] = _carried(key, saved_roles[key][0], out[key], loose=True)
            elif name in record.layout.schedules and count is not None:
                last = jnp.maximum(jnp.asarray(count) - 1, 0)
                value = value_at(record.layout.schedules[name], last, dtype)
                out[key] = jnp.asarray(value, out[key].dtype)
    return jax.tree_util.tree_map_with_path(lambda p, _: out[_text(p)], new_state)


def _carried(name: str, old: Any, leaf: Any, *, loose: bool = False) -> Any:
    old = jnp.asarray(old)
    if old.shape != leaf.shape or old.dtype != leaf.dtype:
        if loose:  # an observation of another shape belongs to another monitor
            return leaf
        raise ValueError(
            f"transfer_state: {name!r} is {old.dtype.name}{list(old.shape)} in the saved "
            f"state and {leaf.dtype.name}{list(leaf.shape)} in the new one"
        )
    return old


def resume(
    directory: str | os.PathLike,
    params: Any,
    optimizer: Any,
    *,
    step: int | None = None,
    strict: bool = True,
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
      strict: see `transfer_state`: refuse to start buffers afresh or drop saved ones.

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
        lambda p, x: jnp.asarray(saved[_text(p)], x.dtype), params
    )
    state = transfer_state(
        raw["opt_state"],
        optimizer.init(restored),
        step=step,
        strict=strict,
        dtype=scalar_dtype(restored),
    )
    return restored, state
