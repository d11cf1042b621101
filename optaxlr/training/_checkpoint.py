"""Saving, restoring and resuming (params, opt_state) with orbax-checkpoint."""

from __future__ import annotations

import os
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib

from optaxlr._hyperparams import HyperparamRecord, value_at
from optaxlr._paths import key_to_str
from optaxlr._validation import check_int
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
    return {_text(_key(p)): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


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
    restored = _read(directory, _onto_the_mesh(target))
    return restored["params"], restored["opt_state"]


def _onto_the_mesh(target: Any) -> Any:
    """Single-device leaves of a template that also holds mesh-sharded ones, replicated.

    ``opt.init(params)`` makes the state's counts on the default device, not
    committed to it, so a jitted step with mesh-sharded parameters replicates them.
    Restored as they are, they would be committed to that one device (a different
    one in every process), and the step would refuse them next to the parameters.
    """
    meshes = {
        s.mesh
        for s in (getattr(x, "sharding", None) for x in jax.tree.leaves(target))
        if isinstance(s, jax.sharding.NamedSharding) and s.mesh.size > 1
    }
    if len(meshes) != 1:
        return target
    replicated = jax.sharding.NamedSharding(meshes.pop(), jax.sharding.PartitionSpec())

    def place(x: Any) -> Any:
        if isinstance(getattr(x, "sharding", None), jax.sharding.SingleDeviceSharding):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated)
        return x

    return jax.tree.map(place, target)


# --- what each leaf of a state is, decided by the state's types --------------------

# The optimizer states are the NamedTuples that optax and optaxlr declare; inside them
# a ``count`` field is a step count (except in the states listed below), a
# `HyperparamRecord` holds hyperparameter values, and the ``hyperparams`` of
# ``optax.inject_hyperparams`` are its inputs. Every other leaf (the parameter-shaped
# buffers, whatever the parameters are called, and the counters of the update rules)
# is the run's data.
_STATE_PACKAGES = ("optax", "optaxlr")
_INJECT_STATES = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)
_INJECTED_FIELDS = ("hyperparams", "hyperparams_states")
# States whose ``count`` counts something other than updates (optax's plateau counts
# the losses it has averaged).
_NOT_STEP_COUNTS = (optax.contrib.ReduceLROnPlateauState,)

COUNT, RECORD, INJECTED, DATA = "count", "record", "injected", "data"

Key = tuple[str, ...]  # a path as the text of its keys, a Flax Variable's value kept


def _is_state(node: Any) -> bool:
    cls = type(node)
    return (
        isinstance(node, tuple)
        and hasattr(cls, "_fields")
        and cls.__module__.partition(".")[0] in _STATE_PACKAGES
    )


def _key(path: Any) -> Key:
    return tuple(key_to_str(k) for k in path)


def _text(key: Key) -> str:
    return "/".join(key)


class _Record(NamedTuple):
    key: Key
    record: HyperparamRecord
    count: Key  # the count field of the state holding it
    injected: bool  # inside optax.inject_hyperparams: its values are the carried inputs


class _Roles(NamedTuple):
    leaves: dict[Key, tuple[Any, str]]  # (leaf, role)
    fields: dict[Key, str]  # the role of each count, record and injected field
    records: list[_Record]


def _roles(tree: Any) -> _Roles:
    roles = _Roles({}, {}, [])

    def walk(node: Any, path: Key, role: str, owner: Key, injected: bool) -> None:
        if isinstance(node, HyperparamRecord):
            roles.fields[path] = RECORD
            roles.records.append(_Record(path, node, (*owner, "count"), injected))
            role = RECORD
        elif _is_state(node):
            for field, child in zip(node._fields, node, strict=True):
                sub = role
                if field == "count" and not isinstance(node, _NOT_STEP_COUNTS):
                    sub = COUNT
                elif isinstance(node, _INJECT_STATES) and field in _INJECTED_FIELDS:
                    sub = INJECTED
                if sub != role:
                    roles.fields[(*path, field)] = sub
                inner = injected or isinstance(node, _INJECT_STATES)
                walk(child, (*path, field), sub, path, inner)
            return
        children = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
        if len(children) == 1 and children[0][0] == () and children[0][1] is node:
            roles.leaves[path] = (node, role)
            return
        for keys, child in children:
            walk(child, path + _key(keys), role, owner, injected)

    walk(tree, (), DATA, (), False)
    return roles


def _role_of_saved(key: Key, role: str, new_fields: dict[Key, str]) -> str:
    """A saved leaf's role: its own, or, in an untyped tree (as orbax restores it
    without a template), that of the field of the new state it lies under."""
    if role != DATA:
        return role
    for i in range(len(key), 0, -1):
        found = new_fields.get(key[:i])
        if found is not None:
            return found
    return DATA


def _nearest_count(key: Key, counts: dict[Key, int]) -> int | None:
    """The saved count closest to ``key`` in the tree: the one sharing the longest path
    prefix (inside `accumulate`, the wrapper's count of updates, not a monitor's count
    of micro-batches outside it), the largest among equals."""
    if not counts:
        return None

    def shared(other: Key) -> int:
        n = 0
        for a, b in zip(key, other, strict=False):
            if a != b:
                break
            n += 1
        return n

    return max(counts.items(), key=lambda kv: (shared(kv[0]), kv[1]))[1]


def _listed(keys: list[Key], limit: int = 6) -> str:
    shown = ", ".join(repr(_text(k)) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


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
      saved count nearest to it in the tree (inside `accumulate`, the
      wrapper's count of updates), or at ``step``;
    * the values injected with ``optax.inject_hyperparams`` are carried (they
      are the run's: `optaxlr.set_hyperparams` changes them); set new ones
      after the transfer;
    * the other hyperparameter values are the new optimizer's, and its record
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
        rule keeps none); if given, every step count is set to it.
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
    if step is not None:
        step = min(check_int("step", step, low=0, dtype=None), _INT32_MAX)
    new = _roles(new_state)
    old = _roles(saved)
    saved_roles = {
        key: (leaf, _role_of_saved(key, role, new.fields))
        for key, (leaf, role) in old.leaves.items()
    }
    saved_counts = {
        key: int(np.max(np.asarray(x))) for key, (x, r) in saved_roles.items() if r == COUNT
    }

    out: dict[Key, Any] = {}
    missing, uncounted = [], []
    for key, (leaf, role) in new.leaves.items():
        if role == COUNT:
            if step is None and key in saved_roles:
                out[key] = _carried(key, saved_roles[key][0], leaf)
                continue
            value = step if step is not None else _nearest_count(key, saved_counts)
            if value is None:
                uncounted.append(key)
            else:
                out[key] = jnp.asarray(min(value, _INT32_MAX), leaf.dtype)
        elif role in (DATA, INJECTED) and key in saved_roles:
            out[key] = _carried(key, saved_roles[key][0], leaf, loose=role == INJECTED)
        else:
            out[key] = leaf
            if role == DATA:
                missing.append(key)
    dropped = [k for k, (_, r) in saved_roles.items() if r == DATA and k not in new.leaves]
    if strict and (missing or dropped):
        data = sum(role == DATA for _, role in new.leaves.values())
        _refuse(missing, dropped, carried=data - len(missing))
    if uncounted:
        raise ValueError(
            f"transfer_state: the new state counts steps ({_text(uncounted[0])!r}) but the "
            "saved one holds no count; pass step= (the number of updates done)"
        )

    if dtype is None:
        dtype = scalar_dtype([leaf for leaf, role in new.leaves.values() if role == DATA])
    for key, record, count_key, injected in new.records:
        count = out.get(count_key)
        for name in record.layout.arrays:
            leaf_key = (*key, name)
            if name in record.layout.schedules and count is not None:
                value = value_at(record.layout.schedules[name], _last_step(count), dtype)
                out[leaf_key] = jnp.asarray(value, out[leaf_key].dtype)
            elif (record.layout.observed or injected) and leaf_key in saved_roles:
                out[leaf_key] = _carried(
                    leaf_key, saved_roles[leaf_key][0], out[leaf_key], loose=True
                )
    return jax.tree_util.tree_map_with_path(lambda p, _: out[_key(p)], new_state)


def _last_step(count: Any) -> jax.Array:
    """The step of the update that brought a state to ``count`` (0 before any): ``count - 1``,
    or the int32 maximum itself once the count has saturated there."""
    count = jnp.asarray(count)
    return jnp.where(count == _INT32_MAX, count, jnp.maximum(count - 1, 0))


def _refuse(missing: list[Key], dropped: list[Key], carried: int) -> None:
    parts = []
    if missing:
        parts.append(f"the new state has {_listed(missing)} with nothing saved")
    if dropped:
        parts.append(f"the saved state has {_listed(dropped)} with no place in the new one")
    hint = (
        "Continue with the optimizer that wrote the state, or pass strict=False to start "
        "the new buffers afresh and drop the others"
    )
    if missing and dropped and carried == 0:
        hint = (
            "None of the saved buffers lies where the new state keeps one: was the "
            "checkpoint written from another kind of tree (the state of a Flax "
            "nnx.Optimizer: restore it with training.restore into nnx.state of a fresh "
            "one)? Or pass strict=False to start every buffer afresh"
        )
    raise ValueError(f"transfer_state: these buffers don't carry: {'; '.join(parts)}. {hint}")


def _carried(key: Key, old: Any, leaf: Any, *, loose: bool = False) -> Any:
    old = jnp.asarray(old)
    if old.shape != leaf.shape or old.dtype != leaf.dtype:
        if loose:  # an observation or an input of another shape belongs to another optimizer
            return leaf
        raise ValueError(
            f"transfer_state: {_text(key)!r} is {old.dtype.name}{list(old.shape)} in the saved "
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
        lambda p, x: jnp.asarray(saved[_text(_key(p))], x.dtype), params
    )
    state = transfer_state(
        raw["opt_state"],
        optimizer.init(restored),
        step=step,
        strict=strict,
        dtype=scalar_dtype(restored),
    )
    return restored, state
