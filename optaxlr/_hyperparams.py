"""The hyperparameter convention every optaxlr state follows, and `hyperparams`.

A transformation's hyperparameters are given as a number, an array or a
schedule (``step -> value``), collected in a `HyperparamSpec` when it is built.
Its state (a ``NamedTuple`` written in the source) keeps, besides what its
update rule needs:

``count``
    int32 scalar, the number of updates applied (saturating at the int32
    maximum, ``optax.safe_increment``), or ``None`` where nothing depends on it:
    no hyperparameter is a schedule and the update rule has no step in it.
``record``
    a `HyperparamRecord`: the hyperparameter values the last update used,
    so after ``k`` updates a schedule's value at step ``k - 1`` (before any
    update, the values the first update will use); a state resumed with
    `optaxlr.training.resume` holds the same. The update
    writes it; `hyperparams` reads it. Numbers are static metadata of the
    record (they cost the compiled step nothing), arrays and schedule values
    are its leaves.

See ``docs/design.md`` for the whole convention and how to write a
transformation that follows it; `optaxlr.set_hyperparams` for changing a value
between updates.
"""

from __future__ import annotations

import functools
import numbers
import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._paths import key_to_str
from optaxlr._validation import Interval, is_traced

__all__ = [
    "Bounded",
    "Hyperparam",
    "HyperparamRecord",
    "HyperparamSpec",
    "RecordLayout",
    "bounded",
    "hyperparams",
    "is_constant",
    "set_hyperparams",
    "value_at",
]

#: A hyperparameter: a number, a JAX array, or a schedule ``step -> value``.
Hyperparam = float | jax.Array | Callable[[Any], Any]


def is_constant(value: Any) -> bool:
    """True for a Python or NumPy number: a value known when the transformation is built.

    Arrays, even concrete ones, are not constants: ``optax.inject_hyperparams``
    builds a transformation from arrays in ``init`` and from tracers in
    ``update``, and the state's structure must not change between the two.
    """
    return isinstance(value, numbers.Real | np.number | np.bool_) and not isinstance(
        value, jax.Array
    )


def value_at(value: Hyperparam, count: jax.Array | None, dtype: Any = None) -> Any:
    """The value of a hyperparameter for the update at ``count`` (0 for the first).

    A schedule is called with the count and its value cast to ``dtype`` (the
    default float dtype: float32, or float64 under ``jax_enable_x64``). Numbers
    and arrays are returned unchanged: a Python number stays a Python number, so
    arithmetic on it (``1 - b1``) happens in float64 before one rounding into
    the parameters' dtype, as in PyTorch.
    """
    if callable(value):
        return jnp.asarray(value(count), dtype or float)
    if isinstance(value, numbers.Integral | np.integer) and not isinstance(value, bool):
        return float(value)  # JAX would take a Python int as an int32 (2**31 overflows)
    return value


class RecordLayout:
    """The static part of a `HyperparamRecord`: what its values are, and its numbers.

    Part of the pytree's structure (its auxiliary data), so a number costs a compiled
    step nothing. Instances are interned (`record_layout`): equal layouts are the same
    object, which keeps the comparison a jitted call makes on every call to an
    identity check. A transformation with a schedule has a layout of its own, equal
    to the interned one (`HyperparamSpec`).

    Attributes:
      constants: ``((name, value), ...)``, the hyperparameters given as numbers.
      names: every name, in the order the transformation lists them.
      arrays: the names of the record's leaves (given as arrays or schedules).
      observed: the values are observations of the run (a plateau's scale, a
        monitor's ratios, a count of skipped steps), not hyperparameters given to
        the transformation: a resumed run carries them from its checkpoint.
      intervals: ``((name, Interval), ...)``, the values the transformation
        accepts for each name, which `set_hyperparams` checks.
      schedules: ``{name: schedule}``, the schedules the values come from (not
        compared: the same transformation rebuilt with a new schedule object keeps
        its compiled step); a resumed run reports its schedules' values at the
        carried step from them (`optaxlr.training.transfer_state`).
    """

    __slots__ = (
        "_hash",
        "_key",
        "arrays",
        "constants",
        "empty",
        "intervals",
        "names",
        "observed",
        "schedules",
    )

    def __init__(
        self,
        constants: tuple[tuple[str, float], ...],
        names: tuple[str, ...],
        observed: bool = False,
        intervals: tuple[tuple[str, Interval], ...] = (),
        schedules: Mapping[str, Callable[[Any], Any]] | None = None,
    ):
        self.constants = constants
        self.names = names
        self.observed = observed
        self.intervals = intervals
        self.schedules = dict(schedules or {})
        constant_names = {n for n, _ in constants}
        self.arrays = tuple(n for n in names if n not in constant_names)
        self._key = (constants, names, observed, intervals)
        self._hash = hash(self._key)
        self.empty = None if self.arrays else HyperparamRecord({}, self)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, RecordLayout):
            return NotImplemented
        return self._key == other._key

    def __reduce__(self):
        return record_layout, self._key

    def __repr__(self) -> str:
        return (
            f"RecordLayout(constants={self.constants!r}, names={self.names!r}, "
            f"observed={self.observed!r})"
        )


@functools.cache
def record_layout(
    constants: tuple[tuple[str, float], ...],
    names: tuple[str, ...],
    observed: bool = False,
    intervals: tuple[tuple[str, Interval], ...] = (),
) -> RecordLayout:
    """The one `RecordLayout` for these numbers, names and intervals (without schedules)."""
    return RecordLayout(constants, names, observed, intervals)


class HyperparamRecord:
    """The hyperparameter values of the last update, in a transformation's state.

    A pytree node: its leaves are the array values (in ``layout.arrays`` order),
    its static part the `RecordLayout`.

    Attributes:
      leaves: the values of the hyperparameters given as arrays or schedules
        (scalars, float32 or float64 under ``jax_enable_x64``), in the order of
        ``layout.arrays``; ``values`` gives them by name.
      layout: the numbers and the order of the names (static).
    """

    __slots__ = ("layout", "leaves")

    def __init__(self, values: Mapping[str, Any], layout: RecordLayout):
        self.layout = layout
        self.leaves = tuple(values[name] for name in layout.arrays)

    @property
    def values(self) -> dict[str, Any]:
        """``{name: value}`` for the hyperparameters given as arrays or schedules."""
        return dict(zip(self.layout.arrays, self.leaves, strict=True))

    @property
    def constants(self) -> tuple[tuple[str, float], ...]:
        """``((name, value), ...)`` for the hyperparameters given as numbers."""
        return self.layout.constants

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, in the order the transformation lists them."""
        return self.layout.names

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> HyperparamRecord:
        """A record of ``values``: numbers become constants, anything else an array leaf."""
        constants = tuple((k, float(cast(float, v))) for k, v in values.items() if is_constant(v))
        arrays = {k: jnp.asarray(v, float) for k, v in values.items() if not is_constant(v)}
        return cls(arrays, record_layout(constants, tuple(values), observed=True))

    def as_dict(self) -> dict[str, Any]:
        """Every value by name; constants as 0-d arrays of the default float dtype."""
        constants = dict(self.constants)
        values = self.values
        return {
            name: jnp.asarray(constants[name], float) if name in constants else values[name]
            for name in self.names
        }

    def __repr__(self) -> str:
        return f"HyperparamRecord(values={self.values!r}, constants={self.constants!r})"

    def __reduce__(self):
        return HyperparamRecord, (self.values, self.layout)


def _flatten_with_keys(record: HyperparamRecord) -> tuple[tuple[Any, ...], RecordLayout]:
    keys = (jax.tree_util.DictKey(n) for n in record.layout.arrays)
    return tuple(zip(keys, record.leaves, strict=True)), record.layout


def _unflatten(layout: RecordLayout, leaves: Any) -> HyperparamRecord:
    # Runs on every call of a jitted step. A record of numbers alone is the layout's one
    # instance; any other takes the leaves as they are, without the {name: value} dict
    # the constructor reads them from.
    if layout.empty is not None:
        return layout.empty
    record = object.__new__(HyperparamRecord)
    record.layout, record.leaves = layout, tuple(leaves)
    return record


# Flattening runs on every call of a jitted step, so it is a C-level getter rather
# than a Python function (docs/performance.md, "Small models").
jax.tree_util.register_pytree_with_keys(
    HyperparamRecord, _flatten_with_keys, _unflatten, operator.attrgetter("leaves", "layout")
)


class Bounded(NamedTuple):
    """A hyperparameter checked against the interval it accepts (see `bounded`)."""

    value: Hyperparam
    interval: Interval
    aliases: tuple[str, ...] = ()


def bounded(
    argument: str, value: Hyperparam, interval: Interval, *, aliases: tuple[str, ...] = ()
) -> Bounded:
    """``value`` checked against ``interval`` (the error names ``argument``), for a spec.

    A `HyperparamSpec` keeps the interval in its record's layout, so that
    `set_hyperparams` checks a new value as the constructor checked the first.
    A schedule is checked over all its steps where its bounds are known.

    ``aliases`` are other names the value is given under (PyTorch's ``alpha`` for
    RMSprop's ``decay``), so that ``optax.inject_hyperparams(optaxlr.rmsprop)``'s
    ``alpha`` is checked too.
    """
    return Bounded(interval.check(argument, value, allow_callable=True), interval, aliases)


class HyperparamSpec:
    """The hyperparameters a transformation was built with (not part of any state).

    Example:
      >>> import jax.numpy as jnp
      >>> spec = HyperparamSpec(b1=0.9, learning_rate=lambda step: 0.1 / (1 + step))
      >>> spec.scheduled
      True
      >>> values = spec.values(jnp.int32(1))
      >>> values["learning_rate"], values["b1"]
      (Array(0.05, dtype=float32), 0.9)
    """

    def __init__(self, **hparams: Hyperparam | Bounded):
        self.hparams = {n: v.value if isinstance(v, Bounded) else v for n, v in hparams.items()}
        self.scheduled = any(callable(v) for v in self.hparams.values())
        constants = tuple(
            (name, float(cast(float, v))) for name, v in self.hparams.items() if is_constant(v)
        )
        names = tuple(self.hparams)
        intervals = tuple(
            (alias, v.interval)
            for n, v in hparams.items()
            if isinstance(v, Bounded)
            for alias in (n, *v.aliases)
        )
        layout = record_layout(constants, names, intervals=intervals)
        if self.scheduled:
            schedules = {name: v for name, v in self.hparams.items() if callable(v)}
            layout = RecordLayout(constants, names, False, intervals, schedules)
        self._layout = layout

    def values(self, count: jax.Array | None, dtype: Any = None) -> dict[str, Any]:
        """Every hyperparameter's value for the update at ``count`` (see `value_at`)."""
        return {name: value_at(v, count, dtype) for name, v in self.hparams.items()}

    def record(self, values: Mapping[str, Any]) -> HyperparamRecord:
        """The record of ``values`` (as returned by `values`) for the state."""
        arrays = {
            name: jnp.asarray(values[name], float)
            for name, v in self.hparams.items()
            if not is_constant(v)
        }
        return HyperparamRecord(arrays, self._layout)

    def initial_record(self) -> HyperparamRecord:
        """The record before any update: the values the first update will use."""
        return self.record(self.values(jnp.zeros([], jnp.int32)))


# --- reading the records back ---------------------------------------------------


def _is_record(x: Any) -> bool:
    return isinstance(x, HyperparamRecord)


def _attr(key: Any) -> str | None:
    return key.name if isinstance(key, jax.tree_util.GetAttrKey) else None


def _is_wrapper_tail(keys: tuple[Any, ...]) -> bool:
    # Flax nnx wraps optimizer-state arrays in Variables, which flatten with a
    # trailing `.value` key.
    return all(_attr(k) == "value" for k in keys)


def _label(key: Any) -> tuple[str, bool] | None:
    """(text, is a dict label) for a key of the path to a state; None for field names."""
    if isinstance(key, jax.tree_util.GetAttrKey):
        return None
    return key_to_str(key), isinstance(key, jax.tree_util.DictKey)


# (state path, name, value, injected, the intervals of the record it comes from)
Entry = tuple[tuple[Any, ...], str, Any, bool, Mapping[str, Interval]]


def _collect(state: Any) -> tuple[list[Entry], dict]:
    """(entries, counts {state path: count}), in tree order.

    Entries come from `HyperparamRecord`\\ s and from the ``hyperparams`` dict of
    ``optax.inject_hyperparams``' state; counts from every ``count`` field.
    """
    entries: list[Entry] = []
    counts: dict[tuple[Any, ...], Any] = {}
    flat = jax.tree_util.tree_flatten_with_path(state, is_leaf=_is_record)[0]
    for path, leaf in flat:
        if _is_record(leaf):
            prefix = path[:-1]  # the state holding the record
            intervals = dict(leaf.layout.intervals)
            for name, value in leaf.as_dict().items():
                entries.append((prefix, name, jax.tree.leaves(value)[0], False, intervals))
            continue
        for i, key in enumerate(path):
            name = _attr(key)
            if name == "count" and _is_wrapper_tail(path[i + 1 :]):
                counts[path[:i]] = leaf
                break
            if (
                name == "hyperparams"
                and i + 1 < len(path)
                and isinstance(path[i + 1], jax.tree_util.DictKey)
                and _is_wrapper_tail(path[i + 2 :])
            ):
                entries.append((path[:i], str(path[i + 1].key), leaf, True, {}))
                break
    return entries, counts


def _shadowed(entry: Entry, entries: list[Entry]) -> bool:
    """A wrapper's entry with the same name reported below it."""
    prefix, name, n = entry[0], entry[1], len(entry[0])
    return any(e[1] == name and len(e[0]) > n and e[0][:n] == prefix for e in entries)


def _keys(kept: list[Entry]) -> list[str]:
    """One key per entry: the name, prefixed by the path where names clash."""
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for prefix, name, *_ in kept:
        by_name.setdefault(name, []).append(prefix)

    def prefix_text(prefix: tuple[Any, ...], labels_only: bool) -> str:
        parts = filter(None, (_label(k) for k in prefix))
        return "/".join(t for t, is_label in parts if is_label or not labels_only)

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
    return [keys[(p, n)] for p, n, *_ in kept]


def hyperparams(state: Any) -> dict[str, jax.Array]:
    """The hyperparameters the last update used, as one flat dict.

    Reads the `HyperparamRecord` of every optaxlr transformation in the state,
    however nested (``optax.chain``, ``optax.MultiSteps``, ``optax.partition``,
    ``optax.masked``, Flax ``nnx.Optimizer``), and the injected values of
    ``optax.inject_hyperparams``. Before the first update it returns the values
    the first update will use. A pure function of the state: it runs inside or
    outside ``jit`` and costs no recompilation.

    The keys, one rule:

    * each hyperparameter under its own name (``learning_rate``, ``momentum``,
      ``b1``, ``weight_decay``, ...);
    * ``step``: the number of updates applied, the largest ``count`` of the
      states that report (absent when none of them counts: no schedule and no
      step-dependent rule, as in ``sgd`` with constant arguments);
    * where two transformations report the same name, each key is prefixed with
      the path to its state, joined by ``/``: first the dict labels alone (such
      as ``optax.partition``'s: ``backbone/learning_rate``), and where those do
      not tell them apart, the positions in chains too (``0/learning_rate``);
    * a wrapper's value (``optax.inject_hyperparams``) is dropped where a
      transformation inside it reports the same name: the inner one was used.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> opt = optaxlr.sgd(lambda step: 0.1 / (1 + step), momentum=0.9)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> _, state = opt.update(params, state, params)
      >>> {k: round(float(v), 4) for k, v in optaxlr.hyperparams(state).items()}
      {'step': 1.0, 'momentum': 0.9, 'learning_rate': 0.1}

    Raises:
      ValueError: if the state holds no optaxlr record and no injected values.
    """
    entries, counts = _collect(state)
    if not entries:
        raise ValueError(
            "hyperparams() found no hyperparameters in this optimizer state: it reads the "
            "record that optaxlr transformations keep in their state (and the values of "
            "optax.inject_hyperparams); build the optimizer from optaxlr transformations "
            "or aliases."
        )

    kept = [e for e in entries if not _shadowed(e, entries)]
    # A count reports for the entries at or below its state.
    steps = [c for p, c in counts.items() if any(e[0][: len(p)] == p for e in entries)]
    out: dict[str, jax.Array] = {}
    if steps:
        out["step"] = steps[0]
        for c in steps[1:]:
            out["step"] = jnp.maximum(out["step"], c)
    for key, entry in zip(_keys(kept), kept, strict=True):
        out[key] = entry[2]
    return out


# --- changing values between updates ----------------------------------------------


def _injected_target(entry: Entry, entries: list[Entry]) -> tuple[Any, ...] | None:
    """The path of the ``optax.inject_hyperparams`` state that feeds ``entry``, if any."""
    prefix, name, _, injected, _ = entry
    if injected:
        return prefix
    # Innermost wrapper above the record with the same name.
    above = [e[0] for e in entries if e[3] and e[1] == name and prefix[: len(e[0])] == e[0]]
    return max(above, key=len) if above else None


def _interval_below(target: tuple[Any, ...], name: str, entries: list[Entry]) -> Interval | None:
    """The interval that the transformation fed by ``target`` accepts for ``name``."""
    for prefix, _, _, injected, intervals in entries:
        if not injected and prefix[: len(target)] == target and name in intervals:
            return intervals[name]
    return None


def set_hyperparams(state: Any, **values: Any) -> Any:
    """The state with hyperparameters changed for the next update, without recompiling.

    A value can change between updates where the optimizer takes it as an
    input: a hyperparameter injected with ``optax.inject_hyperparams`` and not
    scheduled there. Build the optimizer so::

        opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=1e-3, weight_decay=0.05)
        state = optaxlr.set_hyperparams(state, learning_rate=3e-4)

    The new value takes the dtype and shape of the old one, so a jitted step
    that takes the state as an argument does not recompile (the torch
    equivalent is writing ``optimizer.param_groups[0]["lr"]``). Keys are those
    of `hyperparams` (``head/learning_rate`` where names clash). Works inside
    ``jit`` too.

    Hyperparameters given to a transformation as numbers or schedules are part
    of the compiled step: to change those, build a new optimizer and carry the
    state over with `optaxlr.training.transfer_state`.

    A concrete value is checked as the transformation's constructor checks
    its argument (``learning_rate=-1e-2`` and ``b2=1.0`` are refused as
    ``adamw(-1e-2)`` and ``adamw(b2=1.0)`` are); a value of another shape is
    refused, traced or not. Only a traced value (one computed inside ``jit``)
    escapes the range check, since its number is not known until the step
    runs.

    Raises:
      ValueError: for a name the state doesn't report, or one that is a
        number or a schedule (saying how to make it settable), or a value
        outside the range the transformation accepts (naming the range), or
        of another shape.
      TypeError: for a value that is not a real number.
    """
    entries, _ = _collect(state)
    kept = [e for e in entries if not _shadowed(e, entries)]
    by_key = dict(zip(_keys(kept), kept, strict=True))
    changes: dict[tuple[tuple[Any, ...], str], Any] = {}
    for key, value in values.items():
        if key not in by_key:
            raise ValueError(
                f"set_hyperparams: this state has no hyperparameter {key!r}; it has "
                f"{sorted(by_key)}"
            )
        entry = by_key[key]
        target = _injected_target(entry, entries)
        if target is None:
            raise ValueError(
                f"set_hyperparams: {key!r} was given to the optimizer as a number or a "
                "schedule, so it is part of the compiled update. To change it between "
                "updates, build the optimizer with optax.inject_hyperparams, e.g. "
                f"optax.inject_hyperparams(optaxlr.adamw)({entry[1]}=...)."
            )
        interval = _interval_below(target, entry[1], entries)
        if is_traced(value):
            if not (
                jnp.issubdtype(value.dtype, jnp.integer)
                or jnp.issubdtype(value.dtype, jnp.floating)
            ):
                raise TypeError(
                    f"set_hyperparams: {key} must be a real number, got a traced "
                    f"{value.dtype} value"
                )
        elif interval is not None:
            interval.check(f"set_hyperparams: {key}", value)
        else:
            array = np.asarray(value)
            if (
                array.shape != ()
                or not np.issubdtype(array.dtype, np.number)
                or (np.iscomplexobj(array) or not np.isfinite(array))
            ):
                raise ValueError(
                    f"set_hyperparams: {key} must be a finite real number, got {value!r}"
                )
        changes[(target, entry[1])] = (key, value)

    def is_inject(x: Any) -> bool:
        return isinstance(x, optax.InjectStatefulHyperparamsState | optax.InjectHyperparamsState)

    def replace(path: tuple[Any, ...], node: Any) -> Any:
        if not is_inject(node):
            return node
        new = dict(node.hyperparams)
        for (target, name), (key, value) in changes.items():
            if target != path:
                continue
            if name in getattr(node, "hyperparams_states", {}):
                raise ValueError(
                    f"set_hyperparams: {name!r} follows a schedule in optax.inject_hyperparams; "
                    "a value set here would be overwritten by the next update."
                )
            old = new[name]
            shape = np.shape(value)
            if np.broadcast_shapes(shape, old.shape) != old.shape:  # known while tracing
                raise ValueError(
                    f"set_hyperparams: {key} must have the shape {old.shape} of the value it "
                    f"replaces, got a value of shape {shape}"
                )
            new[name] = jnp.broadcast_to(jnp.asarray(value, old.dtype), old.shape)
        return node._replace(hyperparams=new)

    return jax.tree_util.tree_map_with_path(replace, state, is_leaf=is_inject)
