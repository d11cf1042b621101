"""Differential learning rates: factors chosen by regular expressions over parameter paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._paths import path_to_str
from optaxlr._validation import check_number
from optaxlr.transforms._common import (
    Hyperparam,
    HyperparamSpec,
    check_update,
    init_count,
    next_count,
    scalar_dtype,
    transformation,
    upcast,
)
from optaxlr.transforms._per_parameter import ParameterGroups, per_parameter

__all__ = ["ScaleByPathState", "path_to_str", "scale_by_path"]


class ScaleByPathState(NamedTuple):
    """State of `scale_by_path`."""

    count: jax.Array | None  # updates applied (int32), with a schedule; else None
    record: HyperparamRecord  # "scale[<pattern>]" per rule


def scale_by_path(
    rules: Mapping[str, Hyperparam], *, separator: str = "/"
) -> optax.GradientTransformation:
    r"""Multiplies each parameter's update by factors chosen by its path.

    Every rule maps a regular expression, matched against the whole path
    (``re.fullmatch``) of each parameter as `path_to_str` writes it, to a factor
    (a number, an array or a schedule). A parameter's update is multiplied by the
    factors of all the rules that match it (a backbone bias under
    ``{r"backbone/.*": 0.1, r".*bias": 2.0}`` gets 0.2) and is left alone when
    none does. Placed after the learning rate (or anywhere after the
    preconditioner), this gives per-layer learning rates, PyTorch's parameter
    groups with different ``lr``:

    .. math::
        u^{(i)} = g^{(i)} \prod_{r \,:\, r \text{ matches } \mathrm{path}(i)} s_r(t)

    A rule that matches no parameter is an error, raised by ``init`` with the
    paths that exist: it is almost always a typo.

    Args:
      rules: ``{pattern: factor}``; each factor >= 0 or a schedule.
      separator: joins the keys of a path.

    Returns:
      An ``optax.GradientTransformation`` with state `ScaleByPathState`; each
      rule's factor is reported by `optaxlr.hyperparams` as ``scale[<pattern>]``.

    Example:
      >>> import optax, optaxlr
      >>> tx = optax.chain(
      ...     optaxlr.adamw(1e-3),
      ...     optaxlr.scale_by_path({r".*bias": 2.0, r"backbone/.*": 0.1}),
      ... )
    """
    if not isinstance(rules, Mapping) or not rules:
        raise TypeError(f"rules must be a non-empty mapping of pattern -> factor, got {rules!r}")
    compiled = []
    for pattern, factor in rules.items():
        if not isinstance(pattern, str):
            raise TypeError(f"rules keys must be regular expressions (str), got {pattern!r}")
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"rules[{pattern!r}] is not a valid regular expression: {e}") from None
        check_number(f"rules[{pattern!r}]", factor, low=0.0, allow_callable=True)
        compiled.append(regex)
    names = [f"scale[{p}]" for p in rules]
    spec = HyperparamSpec(**dict(zip(names, rules.values(), strict=True)))
    hint = (
        "Flatten with FlatParams.from_tree(params, group_by=optaxlr.fast.path_groups(rules)) "
        "so that each buffer holds parameters matched by the same rules."
    )

    def rule_ids(params: Any) -> Any:
        def ids(path, _):
            text = path_to_str(path, separator)
            return tuple(i for i, r in enumerate(compiled) if r.fullmatch(text))

        return jax.tree_util.tree_map_with_path(ids, params)

    def init_fn(params):
        tree = params.parameter_tree() if isinstance(params, ParameterGroups) else params
        per_parameter(params, rule_ids, "scale_by_path's set of matching rules", hint)
        leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
        per_array = jax.tree.leaves(rule_ids(tree), is_leaf=lambda x: isinstance(x, tuple))
        used = {i for ids in per_array for i in ids}
        unused = [p for i, p in enumerate(rules) if i not in used]
        if unused and leaves:  # an empty tree (an empty optax.partition group) matches nothing
            paths = [path_to_str(p, separator) for p, _ in leaves]
            shown = ", ".join(repr(s) for s in paths[:20]) + (", ..." if len(paths) > 20 else "")
            raise ValueError(
                f"scale_by_path: rule(s) {unused} match no parameter; the parameter paths "
                f"are: {shown}"
            )
        return ScaleByPathState(init_count() if spec.scheduled else None, spec.initial_record())

    def update_fn(updates, state, params=None):
        check_update("scale_by_path", state, ScaleByPathState, updates, params=params)
        values = spec.values(state.count, scalar_dtype(updates))
        factors = [values[n] for n in names]

        def scaled(g, ids):
            if not ids or not isinstance(g, jax.Array):  # optax.MaskedNode
                return g
            f = factors[ids[0]]
            for i in ids[1:]:
                f = f * factors[i]
            return (upcast(g) * f).astype(g.dtype)

        leaves, treedef = jax.tree.flatten(updates)
        per_leaf = per_parameter(updates, rule_ids, "scale_by_path's set of matching rules", hint)
        new = [scaled(g, ids) for g, ids in zip(leaves, per_leaf, strict=True)]
        return treedef.unflatten(new), ScaleByPathState(
            next_count(state.count), spec.record(values)
        )

    return transformation(init_fn, update_fn)
