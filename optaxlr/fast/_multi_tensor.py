"""Multi-tensor fast path: parameters, gradients and state as one buffer per dtype.

Why
---
A jitted optimizer step over a pytree with thousands of leaves compiles one
small XLA loop (three on CPU: the first moment, the second moment, the
parameters) per leaf and runs them one after the other, so compile time and
step time grow with the number of leaves, not with the number of parameters
(5000 leaves of 200 floats: ~80 s to compile, ~100 ms a step on a 2-core CPU).
`optax.flatten` concatenates the leaves inside every step, which helps the step
of tiny leaves but still compiles per-leaf slices and copies every parameter
twice a step.

`FlatParams` keeps the parameters as one contiguous 1-D buffer per dtype (and
per optional group) *across* steps. Any optax/optaxlr optimizer initialised on a
`FlatParams` keeps its state in the same layout (``mu`` and ``nu`` are one
buffer each), so the step is one fused elementwise kernel per buffer whatever
the number of leaves. The loss function sees the usual tree through
`FlatParams.unflatten`, whose slices XLA fuses into their consumers and whose
gradient is one concatenation per buffer, so ``jax.grad`` with respect to a
`FlatParams` returns a `FlatParams`.

`multi_tensor` wraps an optimizer for this layout: it checks its inputs are
`FlatParams`, and refuses what cannot run on it (``optax.partition``,
Adafactor's factored moments, optax's and `optaxlr.adafactor`'s, ``optax.masked``
with a mask written for the parameter tree). The optaxlr transformations that work
per parameter array (`optaxlr.scale_by_path`, the ``mask`` of the weight decays,
`optaxlr.clip_by_norm`) apply their rule to each buffer through the
`optaxlr.transforms.ParameterGroups` protocol, which `FlatParams` implements,
and raise where a buffer mixes parameters the rule treats differently.

Numbers: every elementwise optimizer gives bitwise the same parameters and state
on a `FlatParams` as on the tree (``tests/test_multi_tensor.py``); a global
reduction (``clip_by_global_norm``) sums in another order, the same value to
float32 rounding.

Example:
  >>> import functools, jax, jax.numpy as jnp, optax, optaxlr
  >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
  >>> flat = optaxlr.FlatParams.from_tree(params)
  >>> opt = optaxlr.multi_tensor(optaxlr.adamw(1e-3))
  >>> state = opt.init(flat)
  >>> @functools.partial(jax.jit, donate_argnums=(0, 1))
  ... def train_step(flat, state, x):
  ...     def loss_fn(f):
  ...         p = f.unflatten()
  ...         return jnp.sum((x @ p["w"] + p["b"]) ** 2)
  ...     loss, grads = jax.value_and_grad(loss_fn)(flat)
  ...     updates, state = opt.update(grads, state, flat)
  ...     return optax.apply_updates(flat, updates), state, loss
  >>> flat, state, loss = train_step(flat, state, jnp.ones((4, 3)))
  >>> flat.unflatten()["w"].shape
  (3, 2)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from optaxlr._paths import path_to_str
from optaxlr.transforms import ScaleByAdafactorState
from optaxlr.transforms._muon import NOT_ON_FLAT_PARAMS, ScaleByMuonState

__all__ = [
    "FlatParams",
    "Layout",
    "flat_mask",
    "multi_tensor",
    "path_groups",
]

GroupBy = Any  # None | pytree of hashable labels | Callable[[params], pytree of labels]


# --- the layout ---------------------------------------------------------------


class Layout:
    """Where each leaf of a parameter tree lives in the buffers of a `FlatParams`.

    Static (hashable) metadata: the tree structure, each leaf's shape, dtype and
    path, and for each leaf the buffer and offset it occupies. Buffer ``b`` holds
    the leaves ``leaves_of(b)`` back to back, in the tree's flattening order.

    Attributes:
      treedef: the structure of the parameter tree.
      shapes, dtypes, paths: per leaf (``paths`` as ``"block/0/kernel"``).
      buffer_of, offsets: per leaf, its buffer index and start offset.
      names: per buffer, ``"float32"`` (or ``"<label>/float32"`` with groups).
      labels: per buffer, the ``group_by`` label (``None`` without groups).
      sizes, buffer_dtypes: per buffer, its length and dtype.
    """

    __slots__ = (
        "_hash",
        "_key",
        "buffer_dtypes",
        "buffer_of",
        "dtypes",
        "labels",
        "names",
        "offsets",
        "paths",
        "shapes",
        "sizes",
        "treedef",
    )

    def __init__(self, treedef, shapes, dtypes, paths, labels_per_leaf):
        self.treedef = treedef
        self.shapes = tuple(tuple(int(d) for d in s) for s in shapes)
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        self.paths = tuple(paths)
        keys: dict[tuple[Hashable, np.dtype], int] = {}
        buffer_of, offsets, sizes = [], [], []
        for shape, dtype, label in zip(self.shapes, self.dtypes, labels_per_leaf, strict=True):
            b = keys.setdefault((label, dtype), len(keys))
            if b == len(sizes):
                sizes.append(0)
            buffer_of.append(b)
            offsets.append(sizes[b])
            sizes[b] += math.prod(shape)
        grouped = any(label is not None for label, _ in keys)
        self.buffer_of = tuple(buffer_of)
        self.offsets = tuple(offsets)
        self.sizes = tuple(sizes)
        self.labels = tuple(label for label, _ in keys)
        self.buffer_dtypes = tuple(dtype for _, dtype in keys)
        self.names = tuple(
            f"{label}/{dtype.name}" if grouped else dtype.name for label, dtype in keys
        )
        self._key = (treedef, self.shapes, self.dtypes, self.labels, self.buffer_of)
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Layout):
            return NotImplemented
        return self._hash == other._hash and self._key == other._key

    def __repr__(self) -> str:
        buffers = ", ".join(f"{n}[{s}]" for n, s in zip(self.names, self.sizes, strict=True))
        return f"Layout({self.num_leaves} leaves -> {buffers})"

    @property
    def num_leaves(self) -> int:
        return len(self.shapes)

    @property
    def num_buffers(self) -> int:
        return len(self.sizes)

    def leaves_of(self, buffer: int) -> list[int]:
        """Indices (in flattening order) of the leaves stored in ``buffer``."""
        return [i for i, b in enumerate(self.buffer_of) if b == buffer]

    def abstract_tree(self) -> Any:
        """The parameter tree with a ``jax.ShapeDtypeStruct`` at each leaf."""
        leaves = [jax.ShapeDtypeStruct(s, d) for s, d in zip(self.shapes, self.dtypes, strict=True)]
        return jax.tree.unflatten(self.treedef, leaves)

    def flatten(self, tree: Any) -> FlatParams:
        """A tree with this layout's structure, shapes and dtypes as a `FlatParams`.

        One concatenation per buffer: use it to bring gradients computed with
        respect to the unflattened tree (or a tree of initial values) into the
        layout. Leaves of another dtype are cast.
        """
        try:
            leaves = self.treedef.flatten_up_to(tree)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"flatten: the tree does not have the structure of this layout: {e}"
            ) from None
        return FlatParams(self._concat(leaves), self)

    def _concat(self, leaves: Sequence[Any]) -> tuple[jax.Array, ...]:
        buffers = []
        for b in range(self.num_buffers):
            parts = []
            for i in self.leaves_of(b):
                x = jnp.asarray(leaves[i])
                if x.shape != self.shapes[i]:
                    raise ValueError(
                        f"flatten: leaf {self.paths[i]!r} has shape {x.shape}, the layout "
                        f"has {self.shapes[i]}"
                    )
                parts.append(x.astype(self.dtypes[i]).reshape(-1))
            buffers.append(parts[0] if len(parts) == 1 else jnp.concatenate(parts))
        return tuple(buffers)

    def _split(self, buffers: Sequence[jax.Array]) -> list[jax.Array]:
        leaves = []
        for i, shape in enumerate(self.shapes):
            b, start = self.buffer_of[i], self.offsets[i]
            size = math.prod(shape)
            buf = buffers[b]
            if size != self.sizes[b]:
                buf = lax.slice_in_dim(buf, start, start + size)
            leaves.append(buf.reshape(shape))
        return leaves


def _labels(tree: Any, treedef: Any, group_by: GroupBy) -> list[Hashable]:
    n = treedef.num_leaves
    if group_by is None:
        return [None] * n
    labels_tree = group_by(tree) if callable(group_by) else group_by
    try:
        labels = treedef.flatten_up_to(labels_tree)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"group_by must give one label per parameter (a tree with the parameters' "
            f"structure): {e}"
        ) from None
    for label in labels:
        try:
            hash(label)
        except TypeError:
            raise TypeError(
                f"group_by labels must be hashable (str, bool, int), got {label!r}"
            ) from None
    return labels


# --- the container -----------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _unflatten(layout: Layout, buffers: tuple[jax.Array, ...]) -> list[jax.Array]:
    return layout._split(buffers)


def _unflatten_fwd(layout, buffers):
    return _unflatten(layout, buffers), None


def _unflatten_bwd(layout, _, cotangents):
    # The transpose of a slice is a pad: left to JAX, the gradient of N leaves
    # would be N full-size pads summed. One concatenation per buffer instead.
    return (layout._concat(cotangents),)


_unflatten.defvjp(_unflatten_fwd, _unflatten_bwd)


class FlatParams:
    """A parameter tree stored as one contiguous 1-D buffer per dtype (and group).

    A pytree whose leaves are the buffers (``buffers``, named ``layout.names``)
    and whose static part is the `Layout`. Optimizers, ``optax.apply_updates``,
    ``jax.tree.map``, checkpointing and ``jax.grad`` all see a few large arrays.

    Create with `FlatParams.from_tree`; read the tree with `unflatten` (inside the
    loss: its gradient is a `FlatParams`); bring another tree of the same
    structure (e.g. gradients) into the layout with `flatten_like`.

    Attributes:
      buffers: tuple of 1-D arrays, one per buffer.
      layout: the `Layout` (static).
    """

    __slots__ = ("buffers", "layout")

    def __init__(self, buffers: Sequence[Any], layout: Layout):
        self.buffers = tuple(buffers)
        self.layout = layout

    @classmethod
    def from_tree(cls, tree: Any, group_by: GroupBy = None) -> FlatParams:
        """Packs a parameter tree into one buffer per (group, dtype).

        Args:
          tree: the parameters (arrays of floating dtypes).
          group_by: optional labels that split the buffers further: a tree with
            the parameters' structure, or a function of the parameters returning
            one (the signature of an ``optax.masked`` mask or ``optax.partition``
            labels). Leaves with different labels never share a buffer. Needed
            when a per-parameter rule (an AdamW ``mask``, `optaxlr.scale_by_path`
            rules) must hold for a whole buffer: pass the mask function itself
            as ``group_by``.

        Returns:
          A `FlatParams` with buffers in order of first appearance.
        """
        leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
        leaves = [jnp.asarray(x) for _, x in leaves_with_path]
        for (path, _), x in zip(leaves_with_path, leaves, strict=True):
            if not jnp.issubdtype(x.dtype, jnp.inexact):
                raise TypeError(
                    f"FlatParams holds floating-point parameters; {path_to_str(path)!r} has "
                    f"dtype {x.dtype}"
                )
        layout = Layout(
            treedef,
            [x.shape for x in leaves],
            [x.dtype for x in leaves],
            [path_to_str(p) for p, _ in leaves_with_path],
            _labels(tree, treedef, group_by),
        )
        return cls(layout._concat(leaves), layout)

    def unflatten(self) -> Any:
        """The parameter tree: slices of the buffers (differentiable: see the module doc)."""
        return jax.tree.unflatten(self.layout.treedef, _unflatten(self.layout, self.buffers))

    def flatten_like(self, tree: Any) -> FlatParams:
        """A tree with the parameters' structure in this layout (`Layout.flatten`)."""
        return self.layout.flatten(tree)

    @property
    def names(self) -> tuple[str, ...]:
        return self.layout.names

    def parameter_tree(self) -> Any:
        """The parameter tree of ``jax.ShapeDtypeStruct`` (`optaxlr.transforms.ParameterGroups`)."""
        return self.layout.abstract_tree()

    def per_leaf(self, per_parameter: Any, what: str, hint: str = "") -> list[Any]:
        """One value per buffer that holds an array (`optaxlr.transforms.ParameterGroups`).

        ``per_parameter`` has the parameter tree's structure; the parameters of
        a buffer must agree.
        """
        try:
            values = self.layout.treedef.flatten_up_to(per_parameter)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{what} must have the parameters' tree structure: {e}") from None
        per_buf = _per_buffer(self.layout, values, what, hint)
        # Buffers that optax.masked replaced by an empty node are no leaves.
        return [v for v, b in zip(per_buf, self.buffers, strict=True) if jax.tree.leaves(b)]

    def __repr__(self) -> str:
        parts = []
        for name, buf in zip(self.layout.names, self.buffers, strict=True):
            shape = getattr(buf, "shape", None)
            parts.append(f"{name}={buf!r}" if shape is None else f"{name}[{shape[0]}]")
        return f"FlatParams({self.layout.num_leaves} leaves: {', '.join(parts)})"


def _flat_flatten_with_keys(fp: FlatParams):
    keys = [jax.tree_util.DictKey(n) for n in fp.layout.names]
    return list(zip(keys, fp.buffers, strict=True)), fp.layout


def _flat_flatten(fp: FlatParams):
    return fp.buffers, fp.layout


def _flat_unflatten(layout: Layout, buffers) -> FlatParams:
    return FlatParams(buffers, layout)


jax.tree_util.register_pytree_with_keys(
    FlatParams, _flat_flatten_with_keys, _flat_unflatten, _flat_flatten
)


# --- per-buffer semantics for per-parameter rules -----------------------------


class _MaskCount:
    """How many masks `flat_mask` has resolved into buffers while an optimizer initialises.

    ``optax.masked`` calls its mask with the parameters, and a mask written for
    the tree would see one entry per buffer without a word: `multi_tensor`'s init
    compares this count with the ``MaskedState`` nodes it finds. It is counted
    here, not on the `FlatParams`, so that it holds whatever the optimizer passes
    to the mask (a copy of the parameters, a tree rebuilt by ``jax.tree.map``).
    """

    __slots__ = ("resolved",)

    def __init__(self) -> None:
        self.resolved = 0


#: The count of the `multi_tensor` init now running (None outside one).
_MASKS: contextvars.ContextVar[_MaskCount | None] = contextvars.ContextVar(
    "optaxlr_flat_masks", default=None
)


@contextlib.contextmanager
def _counting_masks():
    """A fresh `_MaskCount` for an init; what a nested init counts counts for its caller too."""
    outer, count = _MASKS.get(), _MaskCount()
    token = _MASKS.set(count)
    try:
        yield count
    finally:
        _MASKS.reset(token)
        if outer is not None:
            outer.resolved += count.resolved


def _per_buffer(layout: Layout, per_leaf: Sequence[Any], what: str, hint: str = "") -> list[Any]:
    """One value per buffer from one value per leaf, which must agree within a buffer.

    Raises:
      ValueError: naming the buffer and two leaves that disagree, with ``hint``
        (how to group the parameters so that they don't).
    """
    out = []
    for b in range(layout.num_buffers):
        idx = layout.leaves_of(b)
        values = [per_leaf[i] for i in idx]
        for i, v in zip(idx, values, strict=True):
            if v != values[0]:
                raise ValueError(
                    f"{what} differs between parameters that share the multi-tensor buffer "
                    f"{layout.names[b]!r} ({layout.paths[idx[0]]!r}: {values[0]!r}, "
                    f"{layout.paths[i]!r}: {v!r}), so it can't be applied per buffer. "
                    f"{hint or 'Split the buffers with FlatParams.from_tree(..., group_by=...).'}"
                )
        out.append(values[0] if values else None)
    return out


def flat_mask(mask: Any) -> Callable[[Any], Any]:
    """A mask for ``optax.masked`` that works on the parameter tree and on `FlatParams`.

    ``mask`` is a tree of booleans with the parameters' structure, or a function
    of the parameters returning one. On an ordinary tree the result behaves as
    ``mask`` itself; on a `FlatParams` the mask is evaluated on the parameter
    tree (a function receives a tree of ``jax.ShapeDtypeStruct``: it can look at
    shapes, dtypes and, with ``jax.tree_util.tree_map_with_path``, paths) and
    turned into one boolean per buffer, which requires every buffer to be all
    masked or all unmasked (flatten with ``group_by=mask``).

    The optaxlr weight decays apply this to their ``mask`` argument.

    Example:
      >>> import jax, optax, optaxlr
      >>> decay_matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
      >>> tx = optax.masked(optax.add_decayed_weights(1e-4), optaxlr.flat_mask(decay_matrices))
    """

    def evaluate(params: Any) -> Any:
        if not isinstance(params, FlatParams):
            return mask(params) if callable(mask) else mask
        tree = mask(params.parameter_tree()) if callable(mask) else mask
        hint = (
            "Flatten with FlatParams.from_tree(params, group_by=mask) so that masked and "
            "unmasked parameters get separate buffers."
        )
        per_buf = params.per_leaf(jax.tree.map(bool, tree), "the mask", hint)
        count = _MASKS.get()
        if count is not None:
            count.resolved += 1
        return FlatParams(per_buf, params.layout)

    return evaluate


def path_groups(patterns: Any, separator: str = "/") -> Callable[[Any], Any]:
    """``group_by`` labels from regular expressions over parameter paths.

    Leaves matched by the same set of ``patterns`` (``re.fullmatch`` on the path
    as `optaxlr.transforms.path_to_str` writes it) share a label, so
    `optaxlr.scale_by_path` with those patterns (its rules' keys) can scale each
    buffer as a whole.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> rules = {r"backbone/.*": 0.1}
      >>> params = {"backbone": {"w": jnp.ones(3)}, "head": {"w": jnp.ones(2)}}
      >>> flat = optaxlr.FlatParams.from_tree(params, group_by=optaxlr.fast.path_groups(rules))
      >>> flat.names
      ('backbone/.*/float32', 'unmatched/float32')
    """
    import re

    compiled = [(p, re.compile(p)) for p in patterns]

    def labels(params: Any) -> Any:
        def label(path, _):
            text = path_to_str(path, separator)
            matched = [p for p, r in compiled if r.fullmatch(text)]
            return " & ".join(matched) if matched else "unmatched"

        return jax.tree_util.tree_map_with_path(label, params)

    return labels


# --- the wrapper ---------------------------------------------------------------


def _require_flat(name: str, tree: Any) -> Layout:
    if not isinstance(tree, FlatParams):
        raise TypeError(
            f"multi_tensor: {name} must be a FlatParams (optaxlr.FlatParams.from_tree(params)), "
            f"got {type(tree).__name__}. Keep the parameters as a FlatParams across steps and "
            f"read the tree with .unflatten() in the loss, so jax.grad returns a FlatParams."
        )
    return tree.layout


def _unsupported_states() -> list[tuple[type, str]]:
    found = []
    partition_state = getattr(optax, "PartitionState", None)
    if partition_state is not None:
        found.append(
            (
                partition_state,
                "optax.partition (per-label optimizers) is not supported on a FlatParams; "
                "build one FlatParams and optimizer per label instead",
            )
        )
    factored = getattr(optax, "FactoredState", None)
    if factored is not None:
        found.append(
            (
                factored,
                "Adafactor factors the second moment of each matrix by its rows and columns, "
                "which a 1-D buffer doesn't have; use the per-leaf optimizer",
            )
        )
    found.append(
        (
            ScaleByAdafactorState,
            "optaxlr.adafactor (scale_by_adafactor) factors the second moment of each "
            "matrix over its rows and columns and scales each parameter's step by that "
            "parameter's root mean square, and a 1-D buffer holds neither its rows nor its "
            "own parameters apart; use the per-leaf optimizer",
        )
    )
    return found


def _check_state(state: Any, flat_masks: int) -> None:
    # Muon first: inside optax.partition (the muon alias) the partition's own message
    # would hide why Muon can't run here at all.
    is_muon = lambda x: isinstance(x, ScaleByMuonState)
    if any(is_muon(x) for x in jax.tree.leaves(state, is_leaf=is_muon)):
        raise ValueError(f"multi_tensor: {NOT_ON_FLAT_PARAMS}.")
    checks = _unsupported_states()
    kinds = (optax.MaskedState, *(t for t, _ in checks))
    nodes = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, kinds))
    masked = 0
    for node in nodes:
        if isinstance(node, optax.MaskedState):
            masked += 1
        for kind, message in checks:
            if isinstance(node, kind):
                raise ValueError(f"multi_tensor: {message}.")
    if masked > flat_masks:
        raise ValueError(
            "multi_tensor: optax.masked got a mask written for the parameter tree, but on a "
            "FlatParams it would see one entry per buffer. Wrap it: "
            "optax.masked(tx, optaxlr.flat_mask(mask)), and flatten with "
            "FlatParams.from_tree(params, group_by=mask). (The optaxlr weight decays' mask= "
            "arguments need no wrapping.)"
        )


def multi_tensor(
    optimizer: optax.GradientTransformation,
) -> optax.GradientTransformationExtraArgs:
    """Runs ``optimizer`` on `FlatParams`: one fused kernel per buffer, not per leaf.

    The update rule is ``optimizer``'s, unchanged: the parameters, gradients and
    state are `FlatParams` (or trees of them), and ``optaxlr.hyperparams`` reads
    the state as before. What the wrapper adds:

    * a clear error when ``init``/``update`` get a tree instead of a
      `FlatParams`;
    * per-buffer semantics for optaxlr's per-parameter rules (the ``mask`` of
      the weight decays and the aliases, `optaxlr.scale_by_path`), which hold
      when every buffer is uniform under the rule (flatten with ``group_by``),
      and an error where they aren't;
    * an error for what cannot run on a 1-D buffer: `optaxlr.clip_by_norm` (one
      norm per parameter array), ``optax.partition``, ``optax.adafactor`` and
      `optaxlr.adafactor` (per-matrix moments, per-parameter scale), and
      ``optax.masked`` with a mask written for the tree (wrap it in
      `flat_mask`).

    Elementwise transformations and global reductions (``clip_by_global_norm``)
    need nothing. optaxlr's ``lamb`` and ``lars`` take a trust ratio per
    parameter array: they run where every buffer holds one array (``group_by``
    with a label per array) and refuse a buffer holding several. optaxlr's
    `muon` and `scale_by_muon` are refused. Shape-dependent optax
    transformations that keep no recognisable state (``optax.lars``/``optax.lamb``
    trust ratios, ``clip_by_block_rms``, ``optax.contrib.muon``) would see one
    1-D array per buffer: don't use them here.

    When it helps: many small leaves (hundreds to thousands): compile time stops
    growing with the leaf count and the step runs at memory bandwidth. When it
    doesn't: a few large leaves (the per-leaf step is already one kernel per
    leaf), and models whose large matrices feed dots or convolutions on CPU,
    where ``unflatten`` copies each weight out of the buffer once a step.

    Args:
      optimizer: any optax ``GradientTransformation`` (an optaxlr alias, a chain).

    Returns:
      A ``GradientTransformationExtraArgs`` with the same state as ``optimizer``
      initialised on the `FlatParams`.
    """

    inner = optax.with_extra_args_support(optimizer)

    def init_fn(params):
        _require_flat("params", params)
        with _counting_masks() as count:
            state = inner.init(params)  # pyright: ignore[reportArgumentType]: a pytree
        _check_state(state, count.resolved)
        return state

    def update_fn(updates, state, params=None, **extra_args):
        layout = _require_flat("updates", updates)
        if params is not None and _require_flat("params", params) != layout:
            raise ValueError("multi_tensor: updates and params have different layouts")
        return inner.update(updates, state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
