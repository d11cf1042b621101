"""MkDocs hooks for the optaxlr site (registered under ``hooks:`` in mkdocs.yml).

- ``on_files``: fails the build when ``docs/api.md`` leaves out a public name of
  ``optaxlr.schedules``, so the API reference cannot silently fall behind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.exceptions import PluginError


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
