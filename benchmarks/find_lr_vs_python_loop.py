"""``optaxlr.find_lr`` (one compiled ``while_loop``) against the usual Python loop.

The usual range test (fastai's ``lr_find``, ``torch-lr-finder``) is a Python
loop over a jitted training step that reads every loss back to the host to
smooth it and check for divergence. ``find_lr`` runs the same sweep, smoothing
and stopping rule inside one compiled ``lax.while_loop``.

Both run the same range test on the same batches (the demo's MNIST-1D CNN,
Adam, ``--steps`` steps from 1e-7 to 10, stopping at 4x the best smoothed
loss), timed on a first call (compilation included) and on later calls (the
compiled program reused), best of ``--repeats``; the ratio is against the
Python loop. The recorded losses are compared.

Run: ``python benchmarks/find_lr_vs_python_loop.py [--steps 100]``
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optaxlr
from optaxlr.demo import prepare
from optaxlr.demo._train import batch_indices, make_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    steps, beta, threshold = args.steps, 0.98, 4.0

    data, graphdef, params = prepare()
    loss = make_loss(graphdef)
    idx = batch_indices(len(data["y_train"]), args.batch_size, steps, seed=1)
    xs, ys = np.asarray(data["x_train"])[idx], np.asarray(data["y_train"])[idx]
    batches = list(zip(xs, ys, strict=True))

    def loss_fn(p, batch):
        return loss(p, batch[0], batch[1])

    def optimizer(lr):
        return optaxlr.adam(lr)

    def compiled():
        return optaxlr.find_lr(loss_fn, params, batches, optimizer, num_steps=steps).losses

    schedule = optaxlr.schedules.lr_range(1e-7, 10.0, steps)
    tx = optimizer(schedule)
    xs_dev, ys_dev = jnp.asarray(xs), jnp.asarray(ys)

    @jax.jit
    def step(p, s, x, y):
        value, grads = jax.value_and_grad(loss_fn)(p, (x, y))
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    def python_loop():
        p, s = params, tx.init(params)
        average, best, losses = 0.0, None, []
        for i in range(steps):
            p, s, value = step(p, s, xs_dev[i], ys_dev[i])
            value = float(value)  # one device-to-host transfer per step
            if not np.isfinite(value):
                break
            losses.append(value)
            average = beta * average + (1 - beta) * value
            smooth = average / (1 - beta ** (i + 1))
            best = smooth if best is None or smooth < best else best
            if smooth > threshold * best:
                break
        return np.asarray(losses)

    results = {}
    for name, fn in (("python loop", python_loop), ("find_lr", compiled)):
        t = time.perf_counter()
        fn()
        first = time.perf_counter() - t
        best_time = np.inf
        for _ in range(args.repeats):
            t = time.perf_counter()
            losses = fn()
            best_time = min(best_time, time.perf_counter() - t)
        results[name] = (first, best_time, losses)

    peer = results["python loop"]
    print(
        f"LR range test, {steps} steps, MNIST-1D CNN, Adam, batch {args.batch_size}; "
        f"jax {jax.__version__} on {jax.devices()[0].platform} {platform.processor() or ''}"
    )
    print(
        f"{'method':<13}{'steps run':>10}{'first call (s)':>16}{'repeat (s)':>12}"
        f"{'ms/step':>9}{'vs loop':>9}"
    )
    for name, (first, best_time, losses) in results.items():
        print(
            f"{name:<13}{len(losses):>10}{first:>16.3f}{best_time:>12.3f}"
            f"{1e3 * best_time / len(losses):>9.2f}{peer[1] / best_time:>8.2f}x"
        )
    a, b = results["find_lr"][2], peer[2]
    n = min(len(a), len(b))
    rel = np.abs(a[:n] - b[:n]) / np.abs(b[:n])
    print(
        f"same losses: max relative difference {rel[: n // 2].max():.1e} over the first "
        f"{n // 2} steps, {rel.max():.1e} over all {n} (the last ones at exploding rates)"
    )


if __name__ == "__main__":
    main()
