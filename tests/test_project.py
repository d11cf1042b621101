"""The project's own promises: the README's commands, CI, licence, version, changelog, typing
and tested dependency ranges.

These tests read the repository's files; none of them imports optaxlr.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
CI = (ROOT / ".ci" / "run").read_text()
LOWEST = ROOT / ".ci" / "lowest-constraints.txt"
# The extras the lowest-versions CI step installs (the docs and lint tools are not in it).
LOWEST_EXTRAS = ("plot", "demo", "test")


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block and text.index("```bash") < text.index("\n## "), "README must open with them"
    return [line for line in first_block.group(1).splitlines() if line.strip()]


def _requirements(extras: tuple[str, ...] | None = None) -> list[Requirement]:
    """The runtime requirements, then those of ``extras`` (every extra when None)."""
    groups = [PROJECT["dependencies"]]
    for name, extra in PROJECT["optional-dependencies"].items():
        if extras is None or name in extras:
            groups.append(extra)
    return [Requirement(r) for group in groups for r in group if not r.startswith("optaxlr")]


def _lower_bound(requirement: Requirement) -> Version:
    (bound,) = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return bound


def test_readme_opens_with_exactly_two_setup_commands():
    demo, tests = _readme_commands()
    assert demo.startswith("python3 -m venv .venv") and tests.startswith("python3 -m venv .venv")
    assert "pytest" in tests and "pytest" not in demo


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = _readme_commands()
    assert tests in CI.splitlines()


@pytest.mark.parametrize(
    "step",
    [
        ".venv/bin/ruff check .",
        ".venv/bin/pyright",
        "mkdocs build --strict",
        "-c .ci/lowest-constraints.txt",
    ],
)
def test_ci_runs_lint_types_docs_and_the_lowest_versions(step):
    assert step in CI


def test_dependencies_are_version_ranges():
    for requirement in _requirements():
        specifier = str(requirement.specifier)
        assert re.search(r"(>=|~=|==).*", specifier), f"{requirement} has no version range"
        assert "<" in specifier or "==" in specifier, f"{requirement} has no upper bound"


def test_ci_installs_exactly_the_lower_bounds():
    """Each lower bound is a version CI installs: the lowest release of its range."""
    pins = {}
    for line in LOWEST.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line}: pin one version"
            pins[requirement.name.lower()] = Version(spec.version)
    for requirement in _requirements(LOWEST_EXTRAS):
        name, bound = requirement.name.lower(), _lower_bound(requirement)
        assert name in pins, f"{LOWEST.name} does not pin {name} to its lower bound {bound}"
        pinned = pins[name]
        # ">=0.5" is tested with 0.5.0, ">=0.0.2" with 0.0.2.post1 (the first release of it).
        assert pinned >= bound and pinned.release[: len(bound.release)] == bound.release, (
            f"{name}: the range starts at {bound}, CI tests {pinned}"
        )
        assert requirement.specifier.contains(pinned, prereleases=True), (name, pinned)


def _imported_top_level_modules(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_runtime_dependencies_are_what_the_package_imports():
    imported = _imported_top_level_modules(ROOT / "optaxlr")
    for requirement in _requirements(extras=()):
        module = requirement.name.replace("-", "_")
        assert module in imported, f"optaxlr/ never imports its dependency {requirement.name}"


def test_licence_file_matches_the_declared_licence():
    assert PROJECT["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def _package_version() -> str:
    source = (ROOT / "optaxlr" / "__init__.py").read_text()
    versions = re.findall(r'^__version__ = "([^"]+)"$', source, re.MULTILINE)
    assert len(versions) == 1, "optaxlr/__init__.py must set __version__ exactly once"
    return versions[0]


def test_the_version_lives_in_one_place():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "optaxlr/__init__.py"
    version = _package_version()
    Version(version)  # a valid version
    assert importlib.metadata.version("optaxlr") == version, "reinstall: pip install -e ."


def test_changelog_has_unreleased_then_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased", "new entries go under ## [Unreleased], at the top"
    assert _package_version() in headings, f"CHANGELOG.md has no entry for {_package_version()}"
    released = [Version(h) for h in headings[1:]]
    assert released == sorted(released, reverse=True), "versions newest first"


def test_contributing_covers_setup_tests_docs_benchmarks_fixtures_and_house_rules():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for topic in ("## Set up", "## Tests", "## Docs", "## Benchmarks",
                  "## Regenerating the fixtures", "## Adding a schedule",
                  "## Adding a gradient transformation"):
        assert topic in text, f"CONTRIBUTING.md has no section {topic!r}"
    for script in (ROOT / "scripts").glob("generate_*.py"):
        assert f"scripts/{script.name}" in text, f"CONTRIBUTING.md doesn't say how to run {script}"


def test_the_package_ships_its_types():
    assert (ROOT / "optaxlr" / "py.typed").is_file()
    assert "Typing :: Typed" in PROJECT["classifiers"]
    pyright = PYPROJECT["tool"]["pyright"]
    assert pyright["include"] == ["optaxlr"]
    assert pyright["typeCheckingMode"] in ("basic", "standard", "strict")
