"""Schedules as plain data: `to_config`, `from_config`, and the `parse` of a one-line spec."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from optaxlr._validation import is_traced
from optaxlr.schedules._base import REGISTRY, Schedule

__all__ = ["to_config", "from_config", "parse"]


def _names() -> str:
    return ", ".join(sorted(REGISTRY))


def _encode(where: str, value: Any) -> Any:
    if isinstance(value, Schedule):
        return to_config(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_encode(f"{where}[{i}]", v) for i, v in enumerate(value)]
    if is_traced(value):
        raise TypeError(f"{where} is a traced JAX value and cannot be written to a config")
    if isinstance(value, np.generic | np.ndarray) or hasattr(value, "__array__"):
        return np.asarray(value).tolist()
    if callable(value):
        raise TypeError(
            f"{where} is a Python function, which a config cannot hold; for per_epoch, "
            "pass num_epochs= so the function is tabulated"
        )
    raise TypeError(f"{where} = {value!r} cannot be written to a config")


def to_config(schedule: Schedule) -> dict[str, Any]:
    """The schedule as a JSON-friendly dict: ``{"name": ..., <every argument>}``.

    Nested schedules become nested dicts; `from_config` rebuilds the same schedule.

    Examples:
      >>> s = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 900), 100)
      >>> optaxlr.schedules.to_config(s)["schedule"]["name"]
      'cosine'
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"to_config takes a schedule built by optaxlr.schedules, got {type(schedule).__name__}"
        )
    config: dict[str, Any] = {"name": schedule.name}
    for key, value in schedule.params.items():
        config[key] = _encode(f"{schedule.name}.{key}", value)
    return config


def _decode(value: Any) -> Any:
    if isinstance(value, Mapping) and "name" in value:
        return from_config(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def from_config(config: Mapping[str, Any] | str) -> Schedule:
    """Rebuilds a schedule from `to_config`'s dict (or its JSON text).

    Raises:
      ValueError: for an unknown schedule name or parameter; the message lists
        the valid ones.

    Examples:
      >>> s = optaxlr.schedules.from_config({"name": "cosine", "init_value": 0.1,
      ...                                    "decay_steps": 1000})
    """
    if isinstance(config, str):
        config = json.loads(config)
    if not isinstance(config, Mapping) or "name" not in config:
        raise TypeError(f"a schedule config is a dict with a 'name' key, got {config!r}")
    name = config["name"]
    if name not in REGISTRY:
        raise ValueError(f"unknown schedule {name!r}; valid names: {_names()}")
    constructor = REGISTRY[name]
    valid = list(inspect.signature(constructor).parameters)
    unknown = sorted(set(config) - {"name"} - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for schedule {name!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    return constructor(**{k: _decode(v) for k, v in config.items() if k != "name"})


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"not a number, list or schedule call: {ast.unparse(node)!r}") from None


def _call(node: ast.Call) -> Schedule:
    if not isinstance(node.func, ast.Name):
        raise ValueError(f"expected a schedule name, got {ast.unparse(node.func)!r}")
    name = node.func.id
    if name not in REGISTRY:
        raise ValueError(f"unknown schedule {name!r}; valid names: {_names()}")
    args = [_literal(a) for a in node.args]
    kwargs = {k.arg: _literal(k.value) for k in node.keywords}
    return REGISTRY[name](*args, **kwargs)


def parse(spec: str) -> Schedule:
    """A schedule from one line: a JSON config or a call such as ``"cosine(0.1, 1000)"``.

    Calls nest (``"warmup(cosine(0.1, 900), warmup_steps=100)"``) and take only
    literals, so parsing never runs arbitrary code.
    """
    spec = spec.strip()
    if spec.startswith("{"):
        return from_config(spec)
    try:
        tree = ast.parse(spec, mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse schedule {spec!r}: {e.msg}") from None
    if isinstance(tree, ast.Name):
        tree = ast.Call(func=tree, args=[], keywords=[])
    if not isinstance(tree, ast.Call):
        raise ValueError(f"expected a schedule call like 'cosine(0.1, 1000)', got {spec!r}")
    return _call(tree)
