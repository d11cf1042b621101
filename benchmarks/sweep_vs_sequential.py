"""K training runs at once (``optaxlr.sweep``, vmap) against K runs one after another.

The model is the demo's MNIST-1D CNN (5,210 parameters), the optimizer SGD with
momentum 0.9 and a cosine learning rate, each copy with its own peak learning
rate (log-uniform in [1e-2, --max-lr]). Four ways to train the K copies:

- ``python loop``: K runs, each a Python loop of a jitted step (the usual code);
- ``recompiled``: K runs, each one compiled ``lax.scan`` over the steps with
  its learning rate a constant, so every run compiles anew (what a loop
  ``for lr in lrs: train(optaxlr.sgd(lr, ...))`` does);
- ``sequential``: the same K runs with the learning rate an argument, so they
  share one compilation;
- ``sweep``: one ``optaxlr.sweep`` call, the K copies ``vmap``-ed in one program.

Each is timed on a first call (compilation included) and then on calls with
new learning rates (no recompilation; ``recompiled`` compiles every time and is
timed once), best of ``--repeats``; the ratio is against ``sequential``.

The losses of the sweep and of the sequential runs are compared: they agree to
float32 rounding at first, and the rounding differences (vmap changes the order
of some reductions) can grow through a long, chaotic high-learning-rate run,
as between any two float32 implementations.

Run: ``python benchmarks/sweep_vs_sequential.py [--k 8] [--steps 500]``
"""

from __future__ import annotations

import argparse
import functools
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optaxlr
from optaxlr.demo import prepare
from optaxlr.demo._train import batch_indices, make_loss


def _mlp():
    sizes = (40, 100, 100, 10)
    keys = jax.random.split(jax.random.key(0), len(sizes) - 1)
    params = [
        (jax.random.normal(key, (a, b)) / np.sqrt(a), jnp.zeros(b))
        for key, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]

    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        logits = h @ params[-1][0] + params[-1][1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return params, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=8, help="number of copies (default 8)")
    parser.add_argument("--steps", type=int, default=500, help="steps per run (default 500)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--model",
        choices=("cnn", "mlp"),
        default="cnn",
        help="the demo CNN, or the MNIST-1D paper's MLP (40-100-100-10)",
    )
    parser.add_argument("--max-lr", type=float, default=0.3)
    args = parser.parse_args()
    k, steps = args.k, args.steps

    data, graphdef, params = prepare()
    loss = make_loss(graphdef)
    if args.model == "mlp":
        params, loss = _mlp()
    x, y = data["x_train"], data["y_train"]
    idx = jnp.asarray(batch_indices(len(y), args.batch_size, steps, seed=0))

    def loss_fn(p, i):  # the batch is a row of indices into the device-resident data
        return loss(p, x[i], y[i])

    def optimizer(learning_rate):
        return optaxlr.sgd(optaxlr.schedules.cosine(learning_rate, steps), momentum=0.9)

    batches = list(np.asarray(idx))

    # sequential: one compiled run, called K times.
    def run_body(learning_rate, params, idx):
        tx = optimizer(learning_rate)

        def step(carry, i):
            p, s = carry
            value, grads = jax.value_and_grad(loss_fn)(p, i)
            updates, s = tx.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), value

        _, losses = jax.lax.scan(step, (params, tx.init(params)), idx)
        return losses

    run_one = jax.jit(run_body)

    def sequential(lrs):
        return np.stack([np.asarray(run_one(jnp.float32(lr), params, idx)) for lr in lrs])

    # recompiled: each learning rate baked in as a constant, as a loop
    # `for lr in lrs: train(optaxlr.sgd(lr, ...))` does: K compilations.
    def recompiled(lrs):
        runs = [jax.jit(functools.partial(run_body, float(lr))) for lr in lrs]
        return np.stack([np.asarray(run(params, idx)) for run in runs])

    # python loop: a jitted step per call, the learning rate as an argument.
    @jax.jit
    def py_step(learning_rate, p, s, i):
        tx = optimizer(learning_rate)
        value, grads = jax.value_and_grad(loss_fn)(p, i)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    def python_loop(lrs):
        out = []
        for lr in lrs:
            lr = jnp.float32(lr)
            p, s = params, optimizer(lr).init(params)
            losses = []
            for i in idx:
                p, s, value = py_step(lr, p, s, i)
                losses.append(value)
            out.append(np.asarray(jnp.stack(losses)))
        return np.stack(out)

    def swept(lrs):
        return optaxlr.sweep(
            loss_fn, params, batches, optimizer, {"learning_rate": lrs}, num_steps=steps
        ).losses

    results = {}
    methods = {
        "python loop": python_loop,
        "recompiled": recompiled,
        "sequential": sequential,
        "sweep": swept,
    }
    for name, fn in methods.items():
        lrs = optaxlr.tools.log_uniform(0, k, 1e-2, args.max_lr)
        t = time.perf_counter()
        losses = fn(lrs)
        first = best = time.perf_counter() - t  # `recompiled` compiles every call: timed once
        for r in range(args.repeats if name != "recompiled" else 0):
            lrs = optaxlr.tools.log_uniform(r + 1, k, 1e-2, args.max_lr)
            t = time.perf_counter()
            losses = fn(lrs)
            best = time.perf_counter() - t if r == 0 else min(best, time.perf_counter() - t)
        results[name] = (first, best, losses)

    peer = results["sequential"][1]
    model = "CNN (5,210 parameters)" if args.model == "cnn" else "MLP (15,210 parameters)"
    print(
        f"{k} copies x {steps} steps, MNIST-1D {model}, batch {args.batch_size}; "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {platform.processor() or ''} "
        f"{jax.local_device_count()} device(s)"
    )
    print(
        f"{'method':<14}{'first call (s)':>16}{'steady (s)':>12}{'per copy (s)':>14}"
        f"{'vs sequential':>15}"
    )
    for name, (first, best, _) in results.items():
        print(f"{name:<14}{first:>16.2f}{best:>12.2f}{best / k:>14.3f}{peer / best:>14.2f}x")
    a, b = results["sweep"][2], results["sequential"][2]
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-6)
    print(
        f"sweep vs sequential, relative loss difference: first 50 steps max "
        f"{rel[:, :50].max():.1e}, all steps median {np.median(rel):.1e}, max {rel.max():.1e}"
    )


if __name__ == "__main__":
    main()
