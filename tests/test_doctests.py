"""The examples in the docstrings run, and every module that has examples has them found.

``doctest.testmod`` silently attempts nothing when it finds no examples (a
module whose examples sit in objects it does not collect, or a typo in the
prompt), so each module below must have more than zero examples attempted, and
the list must name every module whose source holds an example. Examples run
with ``optaxlr`` in their globals, in a temporary folder (some write files).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import optaxlr

#: The packages whose examples this file runs (optaxlr.transforms, optaxlr.aliases and
#: optaxlr._hyperparams are run by tests/test_aliases.py).
PACKAGES = ("optaxlr.schedules", "optaxlr.tools", "optaxlr.training", "optaxlr.demo")
EXTRA_MODULES = ("optaxlr.plotting",)

#: Modules whose examples are known not to run yet, with the reason. A strict xfail: when
#: the examples are fixed, the test passes and fails as XPASS, so remove the entry then.
BROKEN: dict[str, str] = {}  # module -> why its examples can't run yet (strict xfail)


def _modules() -> list[str]:
    names = list(EXTRA_MODULES)
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(module.__path__)]
    return sorted(names)


def _has_examples(name: str) -> bool:
    return ">>>" in Path(importlib.import_module(name).__file__).read_text()


WITH_EXAMPLES = [name for name in _modules() if _has_examples(name)]


def test_the_modules_with_examples_include_every_package():
    for package in PACKAGES:
        assert any(name.startswith(package) for name in WITH_EXAMPLES), package
    assert {"optaxlr.schedules._base", "optaxlr.schedules._cosine", "optaxlr.tools._sweep",
            "optaxlr.training._plateau", "optaxlr.demo"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=BROKEN[n], strict=True)) if n in BROKEN
    else n for n in WITH_EXAMPLES])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"optaxlr": optaxlr},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has examples, but doctest found none of them"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
