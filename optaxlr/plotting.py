"""Plots of schedules (matplotlib, or the terminal through plotext)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from optaxlr._validation import check_int

__all__ = ["plot_schedule", "schedule_values", "terminal_plot"]


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
    import matplotlib.pyplot as plt

    items = _as_list(schedule_or_list)
    names = _labels(items, labels)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    else:
        fig = ax.figure
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
    import plotext as plt

    items = _as_list(schedule_or_list)
    names = _labels(items, labels)
    plt.clear_figure()
    plt.theme("clear")
    if width or height:
        plt.plotsize(width or 100, height or 25)
    for schedule, name in zip(items, names, strict=True):
        xs, ys = schedule_values(schedule, steps)
        plt.plot(xs.tolist(), ys.tolist(), label=name)
    if log_y:
        plt.yscale("log")
    plt.xlabel("step")
    return plt.build()
