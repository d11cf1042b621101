"""Regenerates the tutorial's figures (docs/images/tutorial/*.png) from the MNIST-1D demo.

Run from the repository root (about two minutes on a 2-core CPU):

    .venv/bin/python docs/gen_tutorial_plots.py

It runs a reduced ``optaxlr demo`` (1000 steps per run) and four small sweeps
with ``optaxlr.sweep``, writes the figures, and prints the numbers the tutorial
quotes (they also go to ``docs/images/tutorial/numbers.json``). Not run by the
docs build (``exclude_docs: *.py``); the PNGs are committed.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import optaxlr
from optaxlr.demo import DemoConfig, make_optimizer, run_demo
from optaxlr.demo._model import accuracy, cross_entropy
from optaxlr.demo._report import write_plots
from optaxlr.demo._train import batch_indices

OUT = Path(__file__).resolve().parent / "images" / "tutorial"
STEPS = 1000
DPI = 72


def _sweep(data, graphdef, params, optimizer: str, schedule: str, lrs, steps: int, every: int):
    """``optaxlr.sweep`` of the demo model over peak learning rates."""
    x, y = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]
    idx = batch_indices(len(y), 100, steps, seed=0)

    def loss_fn(p, i):
        return cross_entropy(nnx.merge(graphdef, p)(x[i]), y[i])

    def eval_fn(p):
        logits = nnx.merge(graphdef, p)(x_test)
        return {"test_acc": accuracy(logits, y_test), "test_loss": cross_entropy(logits, y_test)}

    def factory(learning_rate):
        return make_optimizer(optimizer, schedule, learning_rate, steps)

    return optaxlr.sweep(loss_fn, params, list(idx), factory,
                         {"learning_rate": np.asarray(lrs, np.float32)}, num_steps=steps,
                         eval_fn=eval_fn, eval_every=every)


def _shrink(path: Path) -> None:
    """Rewrites a PNG with a 96-colour palette: line plots lose nothing visible, size /3."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    print(f"  docs/images/tutorial/{path.name}: {path.stat().st_size // 1024} KB")


def _save(fig, name: str) -> None:
    path = OUT / name
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    _shrink(path)


def _log_ticks(ax, values) -> None:
    """Ticks at the swept values on a log axis, without the crowded minor labels."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.2g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _smooth(values: np.ndarray, window: int = 20) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    numbers: dict = {}

    # The reduced demo: range tests, the optimizer and the schedule comparisons.
    with tempfile.TemporaryDirectory() as tmp:
        config = DemoConfig(steps=STEPS, eval_every=50, output=tmp, quiet=True)
        results = run_demo(config)
        print(results.table())
        data, graphdef, params = optaxlr.demo.prepare(cache_dir=Path(tmp))
    data = {k: jnp.asarray(v) for k, v in data.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for path in write_plots(Path(tmp), results.runs, results.range_tests, "momentum", dpi=DPI):
            target = OUT / f"demo_{path.name}"
            target.write_bytes(path.read_bytes())
            _shrink(target)
    numbers["demo"] = {  # the wall times change every run: left out
        r.name: {k: v for k, v in r.summary().items() if k != "wall_time_s"} for r in results.runs
    }
    numbers["range_tests"] = {k: v.suggestions for k, v in results.range_tests.items()}

    # The momentum range test alone, large.
    fig = results.range_tests["momentum"].plot(title="LR range test: SGD + momentum, MNIST-1D")
    _save(fig, "range_test_momentum.png")

    # Lesson 1: too small, right, too large.
    suggested = results.range_tests["momentum"].suggestions["minimum"]
    lrs = [suggested / 30, suggested, suggested * 10]
    sweep = _sweep(data, graphdef, params, "momentum", "constant", lrs, STEPS, 50)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
    labels = ["too small (suggestion / 30)", "suggestion (minimum / 10)", "too large (x 10)"]
    for k, label in enumerate(labels):
        left.plot(np.arange(len(_smooth(sweep.losses[k]))), _smooth(sweep.losses[k]),
                  label=f"{label}: {lrs[k]:.2g}")
        right.plot(sweep.eval_steps, sweep.metrics["test_acc"][k], label=f"{lrs[k]:.2g}")
    left.set_yscale("log")
    left.set(xlabel="step", ylabel="training loss (mean of 20)",
             title="SGD + momentum, constant learning rate")
    right.set(xlabel="step", ylabel="test accuracy", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize="small")
    _save(fig, "lr_too_small_too_large.png")
    numbers["lesson_lr"] = {f"{lr:.3g}": float(a) for lr, a in zip(
        lrs, sweep.final["test_acc"], strict=True)}

    # Lesson 2: warmup. Adam with cosine, with and without a 5% linear warmup.
    adam = results.range_tests["adam"].suggestions["minimum"]
    lrs = [adam, 2 * adam, 4 * adam, 8 * adam]
    plain = _sweep(data, graphdef, params, "adam", "cosine", lrs, STEPS, 50)
    warm = _sweep(data, graphdef, params, "adam", "warmup-cosine", lrs, STEPS, 50)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
    k = 3
    left.plot(_smooth(plain.losses[k], 5)[:300], label="cosine")
    left.plot(_smooth(warm.losses[k], 5)[:300], label="warmup (50 steps) + cosine")
    left.set(xlabel="step", ylabel="training loss (mean of 5)", yscale="log",
             title=f"Adam, peak lr {lrs[k]:.2g}: the first 300 steps")
    right.plot(lrs, plain.final["test_acc"], "o-", label="cosine")
    right.plot(lrs, warm.final["test_acc"], "s-", label="warmup + cosine")
    right.set(xlabel="peak learning rate", ylabel="final test accuracy",
              title=f"Adam, {STEPS} steps")
    _log_ticks(right, lrs)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save(fig, "warmup.png")
    numbers["lesson_warmup"] = {
        f"{lr:.3g}": {"cosine": float(a), "warmup": float(b)}
        for lr, a, b in zip(lrs, plain.final["test_acc"], warm.final["test_acc"], strict=True)
    }

    # Lesson 3: one-cycle. A short budget, each schedule over a range of peak rates.
    short = 500
    lrs = np.geomspace(0.02, 0.8, 7)
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    numbers["lesson_one_cycle"] = {}
    for schedule, marker in (("constant", "o"), ("cosine", "^"), ("one-cycle", "s")):
        result = _sweep(data, graphdef, params, "momentum", schedule, lrs, short, short // 5)
        ax.plot(lrs, result.final["test_acc"], marker + "-", label=schedule)
        numbers["lesson_one_cycle"][schedule] = {
            f"{lr:.3g}": float(a) for lr, a in zip(lrs, result.final["test_acc"], strict=True)
        }
    ax.set(xlabel="(peak) learning rate", ylabel="final test accuracy",
           title=f"SGD + momentum, {short} steps: accuracy by peak learning rate", ylim=(0, 1))
    _log_ticks(ax, lrs)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, "one_cycle_lr_tolerance.png")

    (OUT / "numbers.json").write_text(json.dumps(numbers, indent=1))
    print(json.dumps({k: v for k, v in numbers.items() if k.startswith("lesson")}, indent=1))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
