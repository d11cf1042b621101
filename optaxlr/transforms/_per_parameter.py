"""Per-parameter rules (masks, path rules, per-array norms) on trees and on grouped containers.

A few transformations apply a rule per parameter array: the ``mask`` of the
weight decays, `optaxlr.scale_by_path`, `optaxlr.clip_by_norm`. On an ordinary
tree each leaf is one parameter array. A container such as
`optaxlr.FlatParams` packs several parameter arrays into each of its leaves;
it takes part by implementing the `ParameterGroups` protocol, the one hook
between these transformations and the fast path (which sits above them and is
never imported here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax

__all__ = ["ParameterGroups", "per_parameter"]


@runtime_checkable
class ParameterGroups(Protocol):
    """A pytree whose every leaf holds a group of parameter arrays (`optaxlr.FlatParams`)."""

    def parameter_tree(self) -> Any:
        """The parameters as a tree of ``jax.ShapeDtypeStruct``, one leaf per array."""
        ...

    def per_leaf(self, per_parameter: Any, what: str, hint: str) -> list[Any]:
        """One value per leaf of this container from a tree of per-parameter values.

        Raises ``ValueError`` (naming ``what`` and adding ``hint``) where the
        parameter arrays sharing a leaf have different values.
        """
        ...


def per_parameter(tree: Any, rule: Callable[[Any], Any], what: str, hint: str = "") -> list[Any]:
    """``rule`` evaluated per parameter array, as one value per leaf of ``tree``.

    Args:
      tree: the updates or parameters a transformation received: a tree, or a
        `ParameterGroups` container.
      rule: a function of the parameter tree returning a tree of the same
        structure (a mask, per-array labels); on a container it receives the
        container's `ParameterGroups.parameter_tree`.
      what: what the values are, for error messages.
      hint: how to group the parameters where a container's leaf mixes values.

    Returns:
      A list aligned with ``jax.tree.leaves(tree)``.
    """
    if isinstance(tree, ParameterGroups):
        return tree.per_leaf(rule(tree.parameter_tree()), what, hint)
    values = rule(tree)
    try:
        return jax.tree.structure(tree).flatten_up_to(values)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what} must have the parameters' tree structure: {e}") from None
