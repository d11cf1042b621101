"""Parameter paths as text, shared by `scale_by_path`, the monitor and the fast path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

__all__ = ["path_to_str"]


def _key_str(key: Any) -> str:
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)


def path_to_str(path: Sequence[Any], separator: str = "/") -> str:
    """A pytree key path as ``"backbone/dense/kernel"``.

    Dict keys, attribute names and sequence indices are joined with
    ``separator``. The trailing ``.value`` of a Flax nnx ``Variable`` is dropped,
    so nnx parameters read as ``"linear/kernel"``.
    """
    keys = list(path)
    if keys and isinstance(keys[-1], jax.tree_util.GetAttrKey) and keys[-1].name == "value":
        keys.pop()
    return separator.join(_key_str(k) for k in keys)
