"""``optaxlr.sweep`` on one device against the same sweep split over a mesh of 8.

The model is the demo's MNIST-1D CNN (5,210 parameters), the optimizer AdamW with a
cosine learning rate, K copies each with its own peak rate. The mesh is 8 CPU
devices of this machine (``--xla_force_host_platform_device_count=8``, set here
before JAX starts); on a pod it is the TPU/GPU devices of every host. Both sweeps
run in turn, in alternating order, ``--repeats`` times after a first (compiling)
call; the table gives the best steady time and the first call. The losses of the
two are compared (they agree to float32 rounding).

Run: ``python benchmarks/sweep_mesh.py [--k 16] [--steps 300] [--repeats 3]``
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import argparse
import time

import jax
import numpy as np
from jax.sharding import Mesh

import optaxlr
from optaxlr.demo import prepare
from optaxlr.demo._train import batch_indices, make_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data, graphdef, params = prepare()
    loss = make_loss(graphdef)
    idx = batch_indices(len(data["y_train"]), args.batch_size, args.steps, 1)
    x, y = data["x_train"], data["y_train"]

    def batch(step):
        rows = jax.numpy.asarray(idx)[step]
        return x[rows], y[rows]

    def optimizer(learning_rate):
        return optaxlr.adamw(optaxlr.schedules.cosine(learning_rate, args.steps))

    hparams = {"learning_rate": optaxlr.tools.log_uniform(0, args.k, 1e-4, 3e-2)}
    mesh = Mesh(np.asarray(jax.devices()), ("copies",))
    ways = {"1 device": None, f"mesh of {mesh.size}": mesh}

    def run(m):
        return optaxlr.sweep(lambda p, b: loss(p, *b), params, batch, optimizer, hparams,
                             num_steps=args.steps, mesh=m)

    first, best, losses = {}, dict.fromkeys(ways, float("inf")), {}
    for name, m in ways.items():
        t = time.perf_counter()
        losses[name] = run(m).losses
        first[name] = time.perf_counter() - t
    for r in range(args.repeats):
        for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
            t = time.perf_counter()
            run(ways[name])
            best[name] = min(best[name], time.perf_counter() - t)

    a, b = losses.values()
    print(f"{args.k} copies x {args.steps} steps, MNIST-1D CNN, batch {args.batch_size}; "
          f"jax {jax.__version__}, {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'':>12}  first call (s)  steady (s)  vs 1 device")
    for name in ways:
        print(f"{name:>12}  {first[name]:14.2f}  {best[name]:10.2f}  "
              f"{best[name] / best['1 device']:11.2f}x")
    rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-12)
    first_diff = np.flatnonzero((a != b).any(axis=0))
    print(f"losses: bitwise equal up to step {first_diff[0] if first_diff.size else args.steps}; "
          f"max relative difference over the first 10 steps {rel[:, :10].max():.1e}, "
          f"over all {rel.max():.1e}")


if __name__ == "__main__":
    main()
