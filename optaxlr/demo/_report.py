"""The demo's outputs: the results table, the figures and the JSON file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optaxlr.demo._configs import UNTUNED
from optaxlr.demo._train import TARGET_ACCURACY, RunResult
from optaxlr.tools import LRFinderResult
from optaxlr.tools._common import format_table, json_list

__all__ = ["results_table", "best_run", "write_plots", "write_json", "PLOT_FILES"]

PLOT_FILES = ("lr_range_test.png", "loss_curves.png", "accuracy_curves.png", "lr_curves.png")


def best_run(runs: Sequence[RunResult]) -> RunResult:
    """The run with the highest final test accuracy (ties: the higher best accuracy)."""
    return max(runs, key=lambda r: (np.nan_to_num(r.final_acc, nan=-1.0), r.best_acc))


def results_table(runs: Sequence[RunResult]) -> str:
    """Final and best test accuracy, steps to 90% and wall time, one row per run."""
    best = best_run(runs)
    headers = ["run", "lr", "final acc", "best acc", f"steps to {TARGET_ACCURACY:.0%}", "time (s)"]
    rows = []
    for r in runs:
        reached = r.steps_to_target
        rows.append([
            ("* " if r is best else "  ") + r.name,
            f"{r.lr:.3g}",
            f"{r.final_acc:.1%}",
            f"{r.best_acc:.1%}",
            "-" if reached is None else str(reached),
            f"{r.wall_time:.1f}",
        ])
    return format_table(headers, rows)


def _groups(runs: Sequence[RunResult], schedule_optimizer: str) -> list[tuple[str, list]]:
    by_optimizer = [r for r in runs if r.schedule == "constant"]
    by_schedule = [r for r in runs if r.optimizer == schedule_optimizer and r.schedule != UNTUNED]
    untuned = [r for r in runs if r.schedule == UNTUNED]
    groups = []
    if by_optimizer:
        groups.append(("optimizers (constant learning rate)", by_optimizer))
    if len(by_schedule) > 1 or not (groups or untuned):
        groups.append((f"schedules ({schedule_optimizer})", by_schedule or list(runs)))
    if untuned:
        groups.append(("no tuning (default rates)", untuned))
    return groups


def _label(r: RunResult, title: str) -> str:
    return r.schedule if title.startswith("schedules") else r.optimizer


def write_plots(
    out: Path,
    runs: Sequence[RunResult],
    range_tests: dict[str, LRFinderResult],
    schedule_optimizer: str,
    dpi: int = 100,
) -> list[Path]:
    """Writes `PLOT_FILES` into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(runs, schedule_optimizer)
    paths = []

    def save(fig, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)

    # The range tests, one panel per optimizer.
    n = max(1, len(range_tests))
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), layout="constrained",
                             squeeze=False)
    for ax, (name, result) in zip(axes.flat, range_tests.items(), strict=False):
        result.plot(ax=ax, title=name, show_raw=False)
        ax.set_xlabel("learning rate", fontsize="small")
        ax.legend(fontsize="x-small")
    for ax in list(axes.flat)[len(range_tests):]:
        ax.axis("off")
    if not range_tests:
        axes.flat[0].text(0.5, 0.5, "every learning rate was given:\nno range test",
                          ha="center", va="center")
    fig.suptitle("LR range tests on MNIST-1D (smoothed training loss)")
    save(fig, "lr_range_test.png")

    # Loss and accuracy curves, one panel per comparison.
    for name, key, ylabel in (
        ("loss_curves.png", "loss", "loss"),
        ("accuracy_curves.png", "test_acc", "test accuracy"),
    ):
        fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4),
                                 layout="constrained", squeeze=False)
        for ax, (title, members) in zip(axes.flat, groups, strict=True):
            for i, r in enumerate(members):
                color = f"C{i % 10}"
                if key == "loss":
                    ax.plot(r.eval_steps, r.train_loss, color=color, label=_label(r, title))
                    ax.plot(r.eval_steps, r.test_loss, color=color, ls=":", lw=1)
                else:
                    ax.plot(r.eval_steps, r.test_acc, color=color, label=_label(r, title))
            if key == "loss":
                ax.set_yscale("log")
                ax.set_title(f"{title}\n(solid: train, dotted: test)", fontsize="medium")
            else:
                ax.axhline(TARGET_ACCURACY, color="0.5", ls="--", lw=0.8)
                low = min(float(np.nanmin(r.test_acc)) for r in members)
                ax.set_ylim(max(0.0, min(low, 0.8)), 1.0)
                ax.set_title(title, fontsize="medium")
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        save(fig, name)

    # Learning rate (and momentum) per step: the scheduled runs and, beside them, the
    # rates the untuned optimizers chose.
    members = [r for title, rs in groups if not title.startswith("optimizers") for r in rs]
    members = members or groups[-1][1]
    has_momentum = any(r.momentum is not None for r in members)
    fig, axes = plt.subplots(1, 2 if has_momentum else 1, figsize=(11 if has_momentum else 6, 3.6),
                             layout="constrained", squeeze=False)
    for i, r in enumerate(members):
        steps = np.arange(len(r.lrs))
        axes[0, 0].plot(steps, r.lrs, color=f"C{i % 10}", label=r.name)
        if has_momentum and r.momentum is not None:
            axes[0, 1].plot(steps, r.momentum, color=f"C{i % 10}", label=r.name)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("learning rate")
    axes[0, 0].set_title("learning rate used at each step (optaxlr.hyperparams)",
                         fontsize="medium")
    if has_momentum:
        axes[0, 1].set_ylabel("momentum / b1")
        axes[0, 1].set_title("momentum used at each step", fontsize="medium")
    for ax in axes.flat:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    save(fig, "lr_curves.png")
    return paths


def _run_json(r: RunResult) -> dict[str, Any]:
    out = r.summary()
    out["history"] = {
        "eval_steps": r.eval_steps.tolist(),
        "train_loss": json_list(r.train_loss),
        "test_loss": json_list(r.test_loss),
        "test_acc": json_list(r.test_acc),
        "lrs": json_list(r.lrs),
        "momentum": None if r.momentum is None else json_list(r.momentum),
    }
    return out


def write_json(
    path: Path,
    *,
    config: dict[str, Any],
    data_info: dict[str, Any],
    range_tests: dict[str, LRFinderResult],
    runs: Sequence[RunResult],
    total_time: float,
    device: str,
) -> Path:
    best = best_run(runs)
    payload = {
        "config": config,
        "data": data_info,
        "device": device,
        "total_time_s": round(total_time, 3),
        "best_run": best.name,
        "range_tests": {name: r.to_dict() for name, r in range_tests.items()},
        "runs": [_run_json(r) for r in runs],
    }
    path.write_text(json.dumps(payload, indent=1, allow_nan=False))
    return path
