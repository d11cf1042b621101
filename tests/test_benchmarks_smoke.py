"""The benchmarks run: ``benchmarks/smoke.py`` on tiny sizes, checking tables, never timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_smoke():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "smoke.py")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for title in (
        "## bench_optimizers",
        "### optaxlr vs optax (same math)",
        "## bench_many_leaves",
        "### fast path: speed-up over optax and same numbers",
        "## bench_bandwidth",
        "## bench_schedules",
        "## bench_big_leaf",
        "plot: ",
        "smoke: all benchmarks ran",
    ):
        assert title in out, f"{title!r} missing from the smoke output:\n{out[-3000:]}"
    # Markdown tables with a header separator.
    assert out.count("|---") >= 5
