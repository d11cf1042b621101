"""Observable hyperparameters: the state convention and `hyperparams`.

The convention
--------------
Every optaxlr transformation that has hyperparameters keeps two fields in its
``NamedTuple`` state:

``count``
    int32 scalar, the number of updates applied, saturating at the int32
    maximum (``optax.safe_increment``) instead of wrapping. Inside
    ``optaxlr.chain`` the first counting member keeps it, the others ``None``.
``hyperparams``
    ``dict[str, jax.Array]`` of float32 scalars (``None`` if empty): the values used in the last
    update, or, before any update, the values the first update will use (the
    values at step 0). A hyperparameter given as a Python or NumPy number is
    not stored there but in the state's class (see `state_class`), so a
    constant costs the compiled step nothing; ``state.hyperparams`` still
    returns every value.

Any hyperparameter may be a Python number, a JAX array or a schedule
(``step -> value``). `value_at` resolves one at a step; `evaluate` resolves a
set of them and returns both the values to compute with and the float32
record. Transformations elsewhere in optaxlr (and wrappers written later, such
as plateau-driven or accumulating ones) use these helpers so that the
"float, array or schedule" logic lives in one place.

`hyperparams` reads the record back out of any optimizer state: a pure
function of the state, so it runs inside or outside ``jit`` and never causes a
recompilation.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Hyperparam",
    "value_at",
    "evaluate",
    "record",
    "state_class",
    "state_class_for",
    "hyperparams",
]

#: A hyperparameter: a number, a JAX array, or a schedule ``step -> value``.
Hyperparam = float | jax.Array | Callable[[jax.Array], Any]

_HYPERPARAMS_FIELD = "hyperparams"
_COUNT_FIELD = "count"


def value_at(value: Hyperparam, count: jax.Array) -> Any:
    """The hyperparameter for the update at ``count`` (0 for the first update).

    A schedule is called with the count and returns a float32 array. Numbers
    and arrays are returned unchanged: a Python number stays a Python number so
    that the arithmetic on it (``1 - b1``) happens in float64 before one
    rounding, as in PyTorch, and XLA sees a constant it can fold.
    """
    if callable(value):
        return jnp.asarray(value(count), dtype=jnp.float32)
    return value


def _is_constant(value: Any) -> bool:
    # Arrays (even concrete ones) are never constants: the structure of a state
    # must not depend on an array's value (`optax.inject_hyperparams` passes
    # arrays to init and tracers to update).
    return isinstance(value, numbers.Real | np.number | np.bool_) and not isinstance(
        value, jax.Array
    )


def record(values: Mapping[str, Any]) -> dict[str, jax.Array]:
    """The ``hyperparams`` field: float32 scalars for the values that are not constants.

    Constants (Python or NumPy numbers) are kept by the state's class instead,
    see `state_class`; ``None`` when every value is a constant (an empty dict
    would still be a pytree node for every call to flatten and rebuild).
    """
    arrays = {
        name: jnp.asarray(v, dtype=jnp.float32)
        for name, v in values.items()
        if not _is_constant(v)
    }
    return arrays or None


def _merged_record(self: Any) -> dict[str, Any]:
    arrays = tuple.__getitem__(self, type(self)._fields.index(_HYPERPARAMS_FIELD))
    constants = type(self).hyperparam_constants
    return {
        name: np.float32(constants[name]) if name in constants else arrays[name]
        for name in type(self).hyperparam_names
    }


def _repr_with_constants(self: Any) -> str:
    # The base class's repr, with every value in ``hyperparams`` (the field alone
    # holds only the arrays).
    base = type(self).__mro__[1]
    values = list(self)
    values[base._fields.index(_HYPERPARAMS_FIELD)] = _merged_record(self)
    return base.__repr__(base(*values))


def _rebuild(base: type, names: tuple, constants: tuple, fields: tuple) -> Any:
    return state_class(base, names, constants)(*fields)


@functools.cache
def state_class(base: type, names: tuple[str, ...], constants: tuple[tuple[str, float], ...]):
    """``base`` (a NamedTuple state) with its constant hyperparameters as class data.

    A hyperparameter given as a Python or NumPy number is the same at every
    step, so rather than a buffer in the state it lives in the state's *type*:
    JAX keeps a NamedTuple's type in the pytree structure, so the compiled step
    neither passes, copies nor outputs it (on a small model each such scalar
    costs XLA's CPU runtime a microsecond or more per step), and
    `optaxlr.hyperparams` still reads it. The subclass has the same fields; its
    ``hyperparams`` attribute returns every value (constants as NumPy float32),
    while the field itself holds the arrays.

    Cached, so equal constants give the same class (and equal pytree
    structures).
    """
    if not constants:
        return base
    return type(
        base.__name__,
        (base,),
        {
            "__slots__": (),
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "hyperparam_names": names,
            "hyperparam_constants": dict(constants),
            _HYPERPARAMS_FIELD: property(_merged_record),
            "__repr__": _repr_with_constants,
            "__reduce__": lambda self: (_rebuild, (base, names, constants, tuple(self))),
        },
    )


def state_class_for(base: type, hparams: Mapping[str, Hyperparam]) -> type:
    """`state_class` for the hyperparameters a transformation was built with."""
    constants = tuple(
        (name, float(np.float32(v))) for name, v in hparams.items() if _is_constant(v)
    )
    return state_class(base, tuple(hparams), constants)


def evaluate(
    hparams: Mapping[str, Hyperparam], count: jax.Array
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """Resolves every hyperparameter at ``count``.

    Returns:
      ``(values, recorded)``: the values to compute with (see `value_at`) and
      their float32 record for the state's ``hyperparams`` field.
    """
    values = {name: value_at(v, count) for name, v in hparams.items()}
    return values, record(values)


# --- reading the record back -------------------------------------------------


def _key_name(key: Any) -> str | None:
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    return None


def _is_field(key: Any, name: str) -> bool:
    return _key_name(key) == name


def _is_wrapper_tail(keys: tuple[Any, ...]) -> bool:
    # Flax nnx wraps optimizer-state arrays in Variables, which flatten with a
    # trailing `.value` key; anything else below an entry is not a scalar entry.
    return all(_is_field(k, "value") for k in keys)


def _label(key: Any) -> tuple[str, bool] | None:
    """(text, is_label) for a key of the path to a state; None for field names."""
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key), True
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx), False
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key), False
    if isinstance(key, jax.tree_util.GetAttrKey):
        return None
    return str(key), False


def _parse(path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str, str | None] | None:
    """Splits a leaf path into (state prefix, 'hyperparams' or 'count', name)."""
    for i, key in enumerate(path):
        if _is_field(key, _HYPERPARAMS_FIELD) and i + 1 < len(path):
            name_key = path[i + 1]
            if isinstance(name_key, jax.tree_util.DictKey) and _is_wrapper_tail(path[i + 2 :]):
                return path[:i], _HYPERPARAMS_FIELD, str(name_key.key)
        if _is_field(key, _COUNT_FIELD) and _is_wrapper_tail(path[i + 1 :]):
            return path[:i], _COUNT_FIELD, None
    return None


def _has_constants(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "hyperparam_constants")


def _collect(state: Any) -> tuple[list[tuple[tuple[Any, ...], str, Any]], dict]:
    """(entries (state prefix, name, value), counts {state prefix: count}), in tree order."""
    entries: list[tuple[tuple[Any, ...], str, Any]] = []
    counts: dict[tuple[Any, ...], Any] = {}

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        if _has_constants(node):
            cls = type(node)
            arrays = tuple.__getitem__(node, cls._fields.index(_HYPERPARAMS_FIELD))
            for name in cls.hyperparam_names:
                if name in cls.hyperparam_constants:
                    value = jnp.asarray(cls.hyperparam_constants[name], jnp.float32)
                else:
                    # A wrapper (a Flax nnx Variable) holds the array as its only leaf.
                    (value,) = jax.tree.leaves(arrays[name])
                entries.append((prefix, name, value))
            for i, field in enumerate(cls._fields):
                if field != _HYPERPARAMS_FIELD:
                    walk(tuple.__getitem__(node, i), (*prefix, jax.tree_util.GetAttrKey(field)))
            return
        is_leaf = lambda x: x is not node and _has_constants(x)  # noqa: E731
        for path, leaf in jax.tree_util.tree_flatten_with_path(node, is_leaf=is_leaf)[0]:
            full = (*prefix, *path)
            if _has_constants(leaf):
                walk(leaf, full)
                continue
            parsed = _parse(full)
            if parsed is None:
                continue
            state_prefix, kind, name = parsed
            if kind == _HYPERPARAMS_FIELD:
                entries.append((state_prefix, name, leaf))
            else:
                counts[state_prefix] = leaf

    walk(state, ())
    return entries, counts


def hyperparams(state: Any) -> dict[str, jax.Array]:
    """The hyperparameters used in the last update, as one flat dict.

    Works on the state of any optimizer that contains optaxlr transformations,
    however nested: ``optax.chain``, ``optax.MultiSteps``, ``optax.partition``,
    ``optax.masked``, ``optax.inject_hyperparams`` (whose injected values are
    reported too) and Flax ``nnx.Optimizer`` states. Before the first update it
    returns the values the first update will use.

    Keys are the hyperparameter names (``learning_rate``, ``momentum``, ``b1``,
    ``weight_decay``, ...) plus ``step``, the number of updates applied (the
    largest ``count`` among the reporting transformations). Where two
    transformations report the same name, each of those keys is prefixed with
    the labels on the path to its state, joined by ``/``: first only the dict
    keys (such as ``optax.partition``'s labels: ``backbone/learning_rate``,
    ``head/learning_rate``), and where those do not tell them apart, the
    positions in chains as well (``0/learning_rate``, ``2/learning_rate``). A
    wrapper's entry (``optax.inject_hyperparams``) is dropped where a
    transformation inside it reports the same name, since the inner value is the
    one that was used.

    The function only reads the state, so it works under ``jit`` (returning
    traced values) and costs no recompilation.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> opt = optaxlr.sgd(lambda step: 0.1 / (1 + step), momentum=0.9)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> _, state = opt.update(params, state, params)
      >>> {k: round(float(v), 4) for k, v in optaxlr.hyperparams(state).items()}
      {'step': 1.0, 'momentum': 0.9, 'learning_rate': 0.1}

    Raises:
      ValueError: if the state holds no optaxlr (or injected) hyperparameters.
    """
    entries, counts = _collect(state)
    if not entries:
        raise ValueError(
            "hyperparams() found no hyperparameters in this optimizer state: it reads the "
            "'hyperparams' field that optaxlr transformations (and optax.inject_hyperparams) "
            "keep in their state; build the optimizer from optaxlr transformations or aliases."
        )

    # A wrapper's entry is shadowed by the same name reported below it.
    def shadowed(prefix: tuple[Any, ...], name: str) -> bool:
        n = len(prefix)
        return any(
            other_name == name and len(other) > n and other[:n] == prefix
            for other, other_name, _ in entries
        )

    kept = [(p, n, v) for p, n, v in entries if not shadowed(p, n)]
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for prefix, name, _ in kept:
        by_name.setdefault(name, []).append(prefix)

    def prefix_text(prefix: tuple[Any, ...], labels_only: bool) -> str:
        parts = [_label(k) for k in prefix]
        return "/".join(t for t, is_label in filter(None, parts) if is_label or not labels_only)

    keys: dict[tuple[tuple[Any, ...], str], str] = {}
    for name, prefixes in by_name.items():
        if len(prefixes) == 1:
            keys[(prefixes[0], name)] = name
            continue
        labels = [prefix_text(p, labels_only=True) for p in prefixes]
        if any(not t for t in labels) or len(set(labels)) < len(labels):
            labels = [prefix_text(p, labels_only=False) for p in prefixes]
        for p, t in zip(prefixes, labels, strict=True):
            keys[(p, name)] = f"{t}/{name}" if t else name

    # A count reports for the entries at or below it: `optaxlr.chain` keeps one
    # count for the transformations inside it.
    steps = [c for p, c in counts.items() if any(q[: len(p)] == p for q, _, _ in entries)]
    out: dict[str, jax.Array] = {}
    if steps:
        step = steps[0]
        for c in steps[1:]:
            step = jnp.maximum(step, c)
        out["step"] = step
    for prefix, name, value in kept:
        out[keys[(prefix, name)]] = value
    return out
