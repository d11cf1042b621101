"""Layers point one way: no module imports optaxlr code from a layer above its own."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "optaxlr"

# Lowest first. A module may import its own layer and the ones below.
LAYERS = [
    ["optaxlr._validation"],  # argument checks: a leaf every layer shares
    ["optaxlr.schedules"],
    ["optaxlr._paths", "optaxlr._hyperparams"],  # the shared core of transformations
    ["optaxlr.transforms"],
    ["optaxlr.aliases", "optaxlr.training"],
    ["optaxlr.tools", "optaxlr.plotting", "optaxlr.fast"],
    ["optaxlr.demo", "optaxlr.cli", "optaxlr.__main__", "optaxlr"],
]


def _layer(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every optaxlr import, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n if _is_module(n) else node.module) for n in names]
    return [(line, m) for line, m in found if m == "optaxlr" or m.startswith("optaxlr.")]


def _is_module(name: str) -> bool:
    rel = pathlib.Path(*name.split("."))
    base = PACKAGE.parent / rel
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_module_imports_a_higher_layer(path):
    module = _module_name(path)
    own = _layer(module)
    upward = [
        f"line {line}: {target} (layer {_layer(target)})"
        for line, target in _imports(path)
        if _layer(target) > own
    ]
    assert not upward, f"{module} (layer {own}) imports from above: {upward}"


def test_the_rule_catches_an_upward_import(tmp_path):
    # The check itself must be able to fail: a transform importing the fast path.
    bad = tmp_path / "bad.py"
    bad.write_text("from optaxlr.fast import FlatParams\nimport optaxlr.tools\n")
    targets = [m for _, m in _imports(bad)]
    assert targets == ["optaxlr.fast", "optaxlr.tools"]
    assert all(_layer(t) > _layer("optaxlr.transforms._clipping") for t in targets)


def test_every_module_is_in_a_layer():
    for path in MODULES:
        _layer(_module_name(path))
