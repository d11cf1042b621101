"""The examples in the docstrings run, and every module that has examples has them found.

The modules are collected by walking the ``optaxlr`` package, so a new subpackage or
module is covered without editing this file. ``doctest.testmod`` silently attempts
nothing when it finds no examples (a module whose examples sit in objects it does not
collect, or a typo in the prompt), so each module whose source holds a ``>>>`` prompt
must have more than zero examples attempted. Examples run with ``optaxlr`` in their
globals, in a temporary folder (some write files).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import optaxlr

#: Modules whose examples are known not to run yet, with the reason. A strict xfail: when
#: the examples are fixed, the test passes and fails as XPASS, so remove the entry then.
BROKEN: dict[str, str] = {}  # module -> why its examples can't run yet (strict xfail)


def _modules() -> list[str]:
    """Every module of optaxlr, packages included, found by walking the package."""
    walked = pkgutil.walk_packages(optaxlr.__path__, prefix="optaxlr.")
    return sorted(["optaxlr", *(m.name for m in walked)])


def _has_examples(name: str) -> bool:
    # Read the source without importing the module: optaxlr.__main__ runs the CLI.
    spec = importlib.util.find_spec(name)
    return spec is not None and ">>>" in Path(str(spec.origin)).read_text()


MODULES = _modules()
WITH_EXAMPLES = [name for name in MODULES if _has_examples(name)]


def test_the_walk_finds_every_source_file_with_an_example():
    """The walk is checked against the files on disk, so a module the walk misses (a
    folder without ``__init__.py``, say) fails here instead of going unrun."""
    root = Path(optaxlr.__file__).parent
    on_disk = set()
    for path in root.rglob("*.py"):
        if ">>>" in path.read_text():
            parts = path.relative_to(root.parent).with_suffix("").parts
            on_disk.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert on_disk == set(WITH_EXAMPLES)
    assert "optaxlr.fast._multi_tensor" in WITH_EXAMPLES


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=BROKEN[n], strict=True))
        if n in BROKEN
        else n
        for n in WITH_EXAMPLES
    ],
)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        extraglobs={"optaxlr": optaxlr},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0, f"{name} has examples, but doctest found none of them"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
