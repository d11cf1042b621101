"""Writes a torch reference fixture: the arrays and a manifest naming the peer and its version.

Shared by the optimizer fixture generators; ``tests/test_fixture_provenance.py`` reads
the manifest back.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import torch

#: How far a peer's float64 run may be from its float32 run, relative to the parameters
#: (``params_rel``) and per step relative to the rate (``step_rel_to_lr``: a flipped sign
#: shows as O(1), rounding as O(1e-3) or less), for a run to be a reference at all.
CONDITIONING_LIMITS = {"params_rel": 1e-5, "step_rel_to_lr": 1e-2}


def conditioning(name: str, float32: dict, float64: dict) -> dict[str, float]:
    """How far a run's float64 peer run is from its float32 one (``params``, ``steps``,
    ``lrs`` arrays); exits naming the run where it is past `CONDITIONING_LIMITS`."""
    p32, p64 = float32["params"], float64["params"]
    rel = float(np.max(np.abs(p64 - p32) / np.maximum(np.abs(p64), 0.1)))
    lrs = float64["lrs"][:, None]
    step_rel = float(np.max(np.abs(float64["steps"] - float32["steps"]) / lrs))
    print(
        f"{name:20s} float64 vs float32 peer run: params {rel:.2e}, "
        f"steps {step_rel:.2e} of the rate"
    )
    record = {"params_rel": rel, "step_rel_to_lr": step_rel}
    if any(record[k] > limit for k, limit in CONDITIONING_LIMITS.items()):
        raise SystemExit(f"{name} is ill-conditioned; pick other settings")
    return record


def save(
    out: pathlib.Path,
    arrays: dict[str, np.ndarray],
    script: str,
    leaves: dict[str, tuple[int, ...]],
    steps: int,
    runs: list[dict[str, Any]],
    **records: Any,
) -> None:
    """``np.savez_compressed`` of ``arrays`` plus a JSON ``manifest`` entry (with ``records``)."""
    manifest = {
        "peer": "torch",
        "torch_version": torch.__version__,
        "generated_by": f"scripts/{pathlib.Path(script).name}",
        "leaves": {k: list(v) for k, v in leaves.items()},
        "steps": steps,
        "runs": runs,
        **records,
    }
    arrays["manifest"] = np.asarray(json.dumps(manifest))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {len(runs)} runs to {out} ({out.stat().st_size / 1e6:.2f} MB)")
