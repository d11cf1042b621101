"""The project's own promises: the README's two commands, CI, and pinned dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block and text.index("```bash") < text.index("\n## "), "README must open with them"
    return [line for line in first_block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands():
    demo, tests = _readme_commands()
    assert demo.startswith("python3 -m venv .venv") and tests.startswith("python3 -m venv .venv")
    assert "pytest" in tests and "pytest" not in demo


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = _readme_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_dependencies_are_version_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [r for r in extra if not r.startswith("optaxlr")]
    for requirement in requirements:
        assert re.search(r"(>=|~=|==).*", requirement), f"{requirement} has no version range"
        assert "<" in requirement or "==" in requirement, f"{requirement} has no upper bound"


def test_readme_tour_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
