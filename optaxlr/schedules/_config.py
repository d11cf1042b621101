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

#: Schedules nest (``warmup(cosine(...))``), but not deeper than this: a config or
#: spec nested deeper is refused with a ValueError, not a RecursionError.
MAX_DEPTH = 32


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


def _decode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"schedule config nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping) and "name" in value:
        return _from_config(value, depth)
    if isinstance(value, list):
        return [_decode(v, depth + 1) for v in value]
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
        try:
            config = json.loads(config)
        except RecursionError:
            raise ValueError(f"schedule config nested deeper than {MAX_DEPTH} levels") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"schedule config is not valid JSON: {e}") from None
    return _from_config(config, 0)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _from_config(config: Any, depth: int) -> Schedule:
    if not isinstance(config, Mapping) or "name" not in config:
        raise TypeError(f"a schedule config is a dict with a 'name' key, got {_short(config)}")
    name = config["name"]
    if not isinstance(name, str):
        raise TypeError(f"a schedule config's 'name' must be a string, got {_short(name)}")
    if name not in REGISTRY:
        raise ValueError(f"unknown schedule {name!r}; valid names: {_names()}")
    keys = [k for k in config if k != "name"]
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"schedule {name!r}: parameter names must be strings, got {key!r}")
    constructor = REGISTRY[name]
    valid = list(inspect.signature(constructor).parameters)
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for schedule {name!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    return constructor(**{k: _decode(config[k], depth + 1) for k in keys})


def _literal(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"schedule spec nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, ast.Call):
        return _call(node, depth + 1)
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, depth + 1) for e in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(
            f"not a number, list or schedule call: {_short(ast.unparse(node))}") from None


def _call(node: ast.Call, depth: int) -> Schedule:
    if not isinstance(node.func, ast.Name):
        raise ValueError(f"expected a schedule name, got {_short(ast.unparse(node.func))}")
    name = node.func.id
    if name not in REGISTRY:
        raise ValueError(f"unknown schedule {name!r}; valid names: {_names()}")
    if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords):
        raise ValueError(f"{name}(): write the arguments out; * and ** are not accepted")
    names = [k.arg for k in node.keywords]
    for arg in names:
        if names.count(arg) > 1:
            raise ValueError(f"{name}(): {arg} is given more than once")
    args = [_literal(a, depth) for a in node.args]
    kwargs = {str(k.arg): _literal(k.value, depth) for k in node.keywords}
    return REGISTRY[name](*args, **kwargs)


def parse(spec: str) -> Schedule:
    """A schedule from one line: a JSON config or a call such as ``"cosine(0.1, 1000)"``.

    Calls nest (``"warmup(cosine(0.1, 900), warmup_steps=100)"``) and take only
    literals, so parsing never runs arbitrary code.
    """
    if not isinstance(spec, str):
        raise TypeError(f"a schedule spec is a string, got {type(spec).__name__}")
    spec = spec.strip()
    if spec.startswith("{"):
        return from_config(spec)
    try:
        tree = ast.parse(spec, mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse schedule {_short(spec)}: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ValueError(f"cannot parse schedule {_short(spec)}: nested too deeply") from None
    if isinstance(tree, ast.Name):
        tree = ast.Call(func=tree, args=[], keywords=[])
    if not isinstance(tree, ast.Call):
        raise ValueError(f"expected a schedule call like 'cosine(0.1, 1000)', got {_short(spec)}")
    return _call(tree, 0)
