"""MkDocs hooks for the optaxlr site (registered under ``hooks:`` in mkdocs.yml).

- ``on_config``: links ``optimizers.md`` in the nav, after the schedules guide,
  only when that page exists, so the nav never points at a missing page.
- ``on_files``: fails the build when ``docs/api.md`` leaves out a public name of
  ``optaxlr.schedules``, so the API reference cannot silently fall behind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

_OPTIONAL_PAGES = [
    # (nav title, file, insert after this file)
    ("Optimizers", "optimizers.md", "schedules.md"),
]


def _nav_files(nav: list) -> list[str]:
    files = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            files.extend(_nav_files(value))
        else:
            files.append(value)
    return files


def _insert_after(nav: list, entry: dict, after: str) -> None:
    for i, item in enumerate(nav):
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if value == after:
            nav.insert(i + 1, entry)
            return
    nav.append(entry)


def on_config(config, **kwargs):
    docs_dir = Path(config["docs_dir"])
    nav = config["nav"]
    if nav is None:
        return config
    present = _nav_files(nav)
    for title, name, after in _OPTIONAL_PAGES:
        if (docs_dir / name).is_file() and name not in present:
            _insert_after(nav, {title: name}, after)
    return config


def _public_schedule_names(root: Path) -> list[str]:
    """``optaxlr.schedules.__all__``, read from the source without importing jax."""
    tree = ast.parse((root / "optaxlr" / "schedules" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise PluginError("optaxlr/schedules/__init__.py defines no __all__")


def on_files(files, config, **kwargs):
    docs_dir = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).parent
    api = (docs_dir / "api.md").read_text()
    documented = set(re.findall(r"^::: optaxlr\.schedules\.(\w+)\s*$", api, re.MULTILINE))
    missing = [n for n in _public_schedule_names(root) if n not in documented]
    if missing:
        raise PluginError(
            "docs/api.md has no '::: optaxlr.schedules.<name>' entry for: "
            + ", ".join(missing)
        )
    return files
