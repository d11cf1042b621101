"""Plots of schedules (matplotlib, or the terminal through plotext) and of the tuning
tools' results (`optaxlr.find_lr`, `optaxlr.sweep`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from optaxlr._validation import check_choice, check_int

__all__ = ["plot_schedule", "schedule_values", "terminal_plot", "plot_lr_find", "plot_sweep"]


def _as_list(schedules: Callable | Sequence[Callable]) -> list[Callable]:
    items = list(schedules) if isinstance(schedules, Sequence) else [schedules]
    for i, s in enumerate(items):
        if not callable(s):
            raise TypeError(f"schedule_or_list[{i}] must be a schedule, got {s!r}")
    return items


def _labels(items: list[Callable], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [getattr(s, "name", f"schedule {i}") for i, s in enumerate(items)]
    if len(labels) != len(items):
        raise ValueError(f"labels must have {len(items)} entries, got {len(labels)}")
    return list(labels)


def _figure(ax: Any, figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def schedule_values(schedule: Callable, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` as NumPy arrays for ``0 .. steps - 1``, in one jitted call."""
    n = check_int("steps", steps, low=1)
    xs = np.arange(n, dtype=np.int32)
    return xs, np.asarray(jax.jit(jax.vmap(schedule))(xs))


def plot_schedule(
    schedule_or_list: Callable | Sequence[Callable],
    steps: int,
    *,
    labels: Sequence[str] | None = None,
    ax: Any = None,
    log_y: bool = False,
    title: str | None = None,
):
    """Plots one or more schedules over ``steps`` steps; returns the matplotlib Figure.

    Examples:
      >>> fig = optaxlr.plot_schedule(
      ...     [optaxlr.schedules.cosine(0.1, 1000), optaxlr.schedules.one_cycle(0.1, 1000)], 1000)
      >>> fig.savefig("schedules.png")
    """
    items = _as_list(schedule_or_list)
    names = _labels(items, labels)
    fig, ax = _figure(ax, (6.4, 3.6))
    for schedule, name in zip(items, names, strict=True):
        xs, ys = schedule_values(schedule, steps)
        ax.plot(xs, ys, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    if log_y:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(items) > 1 or labels is not None:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _positive(xs: list, ys: list) -> tuple[list, list]:
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
    return [x for x, _ in kept], [y for _, y in kept]


def terminal_plot(
    schedule_or_list: Callable | Sequence[Callable],
    steps: int,
    *,
    labels: Sequence[str] | None = None,
    log_y: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> str:
    """The same plot drawn with characters for a terminal (plotext); returns the text."""
    import plotext as module

    plotext: Any = module  # the API of plotext 5 or 6, whichever is installed
    items = _as_list(schedule_or_list)
    curves = [
        (name, *(v.tolist() for v in schedule_values(schedule, steps)))
        for schedule, name in zip(items, _labels(items, labels), strict=True)
    ]
    if log_y:  # a log axis has no place for a value <= 0 (plotext fails on its log)
        curves = [(name, *_positive(xs, ys)) for name, xs, ys in curves]
    size = (width or 100, height or 25) if width or height else None
    if not hasattr(plotext, "clear_figure"):  # plotext 6: one figure object, drawn signals
        fig = plotext.figure
        fig.clear()
        if size:
            fig.plot_size(*size)
        for name, xs, ys in curves:
            fig.draw(fig.signal(xs, ys).label(name).lines())
        if log_y:
            fig.ruler(1).scale("log")
        fig.label("step", axis=0)
        return fig.build().string(colorless=True)
    plotext.clear_figure()  # plotext 5
    plotext.theme("clear")
    if size:
        plotext.plotsize(*size)
    for name, xs, ys in curves:
        plotext.plot(xs, ys, label=name)
    if log_y:
        plotext.yscale("log")
    plotext.xlabel("step")
    return plotext.build()


# Suggestion rule -> (marker, color, legend label), in the order they are drawn.
_SUGGESTION_MARKERS = {
    "minimum": ("s", "C1", "minimum/10"),
    "steep": ("^", "C2", "steep"),
    "valley": ("o", "C3", "valley"),
}


def plot_lr_find(result: Any, ax: Any = None, *, title: str | None = None, show_raw: bool = True):
    """An `optaxlr.LRFinderResult`: smoothed loss against learning rate, suggestions marked.

    Returns the matplotlib Figure. The raw losses are drawn faintly behind;
    the y-axis is cut above the loss at the start of the sweep, so the
    explosion at the end does not flatten the interesting part.
    """
    fig, ax = _figure(ax, (6.4, 3.8))
    lrs, smoothed = result.lrs, result.smoothed
    if len(lrs) == 0:
        ax.text(0.5, 0.5, "no finite loss", ha="center", transform=ax.transAxes)
        return fig
    if show_raw:
        ax.plot(lrs, result.losses, color="0.75", lw=0.8, label="loss")
    ax.plot(lrs, smoothed, color="C0", lw=1.8, label="smoothed loss")
    x = np.log(np.maximum(lrs, np.finfo(np.float64).tiny))
    for rule, (marker, color, label) in _SUGGESTION_MARKERS.items():
        lr = result.suggestions.get(rule)
        if lr is None:
            continue
        y = np.interp(math.log(lr), x, smoothed)
        ax.plot([lr], [y], marker, color=color, ms=8, label=f"{label}: {lr:.2g}", zorder=5)
    if result.mode == "exp" or lrs[0] > 0:
        ax.set_xscale("log")
    lo = float(np.min(smoothed))
    hi = float(np.max(smoothed[: int(np.argmin(smoothed)) + 1]))
    pad = 0.1 * (hi - lo) if hi > lo else 0.1 * abs(hi) + 1e-3
    ax.set_ylim(lo - pad, hi + 2 * pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(title or f"LR range test ({result.stop_reason})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def plot_sweep(result: Any, metric: str = "train_loss", hparam: str | None = None):
    """An `optaxlr.SweepResult`: every copy's loss curve, and a final metric against a
    hyperparameter (default: the first one). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    check_choice("metric", metric, tuple(result.final))
    name = next(iter(result.hparams)) if hparam is None else hparam
    check_choice("hparam", name, tuple(result.hparams))
    x = result.hparams[name]
    log_x = bool(np.all(x > 0) and x.max() > 10 * x.min())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    # Each curve coloured by its copy's rank in the swept hyperparameter.
    order = np.argsort(x)
    rank = np.empty(len(x))
    rank[order] = np.linspace(0, 1, len(x))
    cmap = plt.get_cmap("viridis")
    window = max(1, result.losses.shape[1] // 50)
    kernel = np.ones(window) / window
    for k, losses in enumerate(result.losses):
        curve = np.convolve(losses, kernel, mode="valid")
        left.plot(np.arange(len(curve)) + window, curve, color=cmap(rank[k]), lw=1)
    left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel(f"training loss (mean of {window})")
    left.grid(alpha=0.3)
    right.plot(x[order], result.final[metric][order], "o-", color="C0")
    if log_x:
        right.set_xscale("log")
    right.set_xlabel(name)
    right.set_ylabel(metric)
    right.grid(alpha=0.3, which="both")
    fig.suptitle(f"sweep of {len(result.losses)} copies")
    return fig
