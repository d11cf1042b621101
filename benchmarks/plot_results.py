"""Plots step time against parameter count and against leaf count from the saved results.

Reads ``results/bench_optimizers.json`` (one-leaf trees of growing size) and
``results/bench_many_leaves*.json`` (growing leaf counts) and writes
``results/step_time.png``:

    python benchmarks/plot_results.py [--results benchmarks/results] [--kind adamw]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

STYLE = {
    "optax": dict(color="tab:gray", marker="o"),
    "optaxlr": dict(color="tab:blue", marker="s"),
    "multi_tensor": dict(color="tab:green", marker="^"),
    "optax.flatten": dict(color="tab:orange", marker="v"),
    "torch.foreach": dict(color="tab:red", marker="x", linestyle="--"),
    "torch.fused": dict(color="tab:purple", marker="+", linestyle="--"),
}


def _by_params(results: Path, kind: str):
    path = results / "bench_optimizers.json"
    if not path.exists():
        return {}
    rows = [r for r in json.loads(path.read_text())["rows"] if r["kind"] == kind]
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["leaves"] != 1:
            continue
        for name, t in r["step_s"].items():
            lines.setdefault(name, []).append((r["params"], t))
    return lines


def _by_leaves(results: Path, kind: str):
    lines: dict[str, dict[int, float]] = {}
    compile_lines: dict[str, dict[int, float]] = {}
    for path in sorted(results.glob("bench_many_leaves*.json")):
        data = json.loads(path.read_text())
        if data.get("train"):
            continue
        for r in data["results"]:
            if r["kind"] != kind:
                continue
            for name, c in r["contenders"].items():
                if "compile_s" not in c:
                    continue
                step = r.get("step_s", {}).get(name, c["step_s_alone"])
                lines.setdefault(name, {})[r["leaves"]] = step
                compile_lines.setdefault(name, {})[r["leaves"]] = c["lower_s"] + c["compile_s"]
    return (
        {k: sorted(v.items()) for k, v in lines.items()},
        {k: sorted(v.items()) for k, v in compile_lines.items()},
    )


def plot(results: Path, kind: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_params = _by_params(results, kind)
    by_leaves, compile_by_leaves = _by_leaves(results, kind)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = [
        (axes[0], by_params, "parameters (one leaf)", "step time (ms)", 1e3),
        (axes[1], by_leaves, "leaves (200 floats each)", "step time (ms)", 1e3),
        (axes[2], compile_by_leaves, "leaves (200 floats each)", "compile time (s)", 1.0),
    ]
    titles = [
        f"{kind}: step time vs size",
        f"{kind}: step time vs leaf count",
        f"{kind}: compile time vs leaf count",
    ]
    for (ax, lines, xlabel, ylabel, scale), title in zip(panels, titles, strict=True):
        for name, pts in sorted(lines.items()):
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, [y * scale for y in ys], label=name, **STYLE.get(name, {}))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--kind", default="adamw")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or args.results / "step_time.png"
    path = plot(args.results, args.kind, out)
    print(f"plot: {path}")
    return path


if __name__ == "__main__":
    main()
