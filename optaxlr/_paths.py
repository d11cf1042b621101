"""Pytree key paths as text: the one reader of path keys in optaxlr.

`scale_by_path`, the monitor, the fast path, `hyperparams` and the checkpoints
all name a leaf the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

__all__ = ["key_to_str", "path_to_str"]


def key_to_str(key: Any) -> str:
    """One path key as text: a dict key, an attribute name or a sequence index."""
    if isinstance(key, jax.tree_util.DictKey | jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    return str(key)


def path_to_str(path: Sequence[Any], separator: str = "/", *, keep_value: bool = False) -> str:
    """A pytree key path as ``"backbone/dense/kernel"``.

    Dict keys, attribute names and sequence indices are joined with
    ``separator``. The trailing ``.value`` of a Flax nnx ``Variable`` is dropped,
    so nnx parameters read as ``"linear/kernel"``; ``keep_value=True`` keeps it,
    as orbax does when it stores the tree (``"linear/kernel/value"``).
    """
    keys = list(path)
    if (
        not keep_value
        and keys
        and isinstance(keys[-1], jax.tree_util.GetAttrKey)
        and keys[-1].name == "value"
    ):
        keys.pop()
    return separator.join(key_to_str(k) for k in keys)
