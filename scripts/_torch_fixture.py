"""Writes a torch reference fixture: the arrays and a manifest naming the peer and its version.

Shared by ``generate_optimizer_fixtures.py`` and ``generate_dtype_fixtures.py``;
``tests/test_fixture_provenance.py`` reads the manifest back.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import torch


def save(
    out: pathlib.Path,
    arrays: dict[str, np.ndarray],
    script: str,
    leaves: dict[str, tuple[int, ...]],
    steps: int,
    runs: list[dict[str, Any]],
) -> None:
    """``np.savez_compressed`` of ``arrays`` plus a JSON ``manifest`` entry."""
    manifest = {
        "peer": "torch",
        "torch_version": torch.__version__,
        "generated_by": f"scripts/{pathlib.Path(script).name}",
        "leaves": {k: list(v) for k, v in leaves.items()},
        "steps": steps,
        "runs": runs,
    }
    arrays["manifest"] = np.asarray(json.dumps(manifest))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {len(runs)} runs to {out} ({out.stat().st_size / 1e6:.2f} MB)")
