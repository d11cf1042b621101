"""Every benchmark on tiny sizes, in seconds: that they run and print their tables.

CI runs this through ``tests/test_benchmarks_smoke.py``. The numbers it prints
mean nothing (tiny shapes, a shared machine, one round): it checks the scripts,
never the timings.

    python benchmarks/smoke.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import allocation_order
import bench_aliases
import bench_bandwidth
import bench_big_leaf
import bench_many_leaves
import bench_multi_tensor_hlo
import bench_optimizers
import bench_schedules
import plot_results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        common = ["--rounds", "1", "--block", "0.002", "--out", str(out)]
        bench_optimizers.main(
            ["--shapes", "1x1e3", "8x1e3", "--kinds", "adamw", "clip_adamw", *common,
             "--jax-rounds", "1", "--jax-block", "0.002"]
        )
        bench_aliases.main(
            ["--only", "adamw", "sgd_momentum cosine vs inject", "--size", "100",
             "--rounds", "1", "--block", "0.002", "--out", str(out)]
        )
        bench_many_leaves.main(
            ["--leaves", "1", "8", "--kinds", "adamw", "--limit", "120", *common]
        )
        bench_multi_tensor_hlo.main(["--leaves", "2", "4", "--rounds", "1"])
        bench_bandwidth.main(["--leaves", "2", "--size", "1e4", "--no-torch", *common])
        bench_schedules.main(["--size", "100", "--only", "constant", "cosine", *common])
        bench_big_leaf.main(
            ["--shapes", "2x1e4", "--torch-python", "/nonexistent", "--block", "0.002",
             "--rounds", "1", "--out", str(out)]
        )
        allocation_order.main(
            ["--leaves", "4", "--kinds", "adamw", "--rounds", "1", "--block", "0.002"]
        )
        plot_results.main(["--results", str(out)])
    print("\nsmoke: all benchmarks ran")


if __name__ == "__main__":
    main()
