"""The multi-tensor fast path's structure: what XLA compiles, counted rather than timed.

Counts hold on a loaded machine, where timings don't. For trees of N leaves of 200
floats this prints:

* the XLA ``fusion`` instructions of the compiled AdamW step (``opt.update`` +
  ``optax.apply_updates``, donated): per leaf (optaxlr's alias, about three loops per
  leaf on the CPU) against ``optaxlr.multi_tensor`` on a ``FlatParams``, a constant
  whatever N;
* the gradient of a loss read through ``FlatParams.unflatten``: the ``concatenate`` and
  ``pad`` operations of its jaxpr, the fusions of the compiled gradient and its time (the
  median of ``--rounds`` calls), against the same loss on plain slices of one buffer
  (JAX's transpose of a slice is a full-size pad per leaf, summed).

    python benchmarks/bench_multi_tensor_hlo.py                # 10, 100, 1000 leaves
    python benchmarks/bench_multi_tensor_hlo.py --leaves 5 50
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections import Counter

import _common as C
import jax
import jax.numpy as jnp
from jax import lax

import optaxlr

LEAF_SIZE = 200


def _primitives(jaxpr) -> Counter:
    """The primitives of a jaxpr, those of its sub-jaxprs (custom VJPs, pjit) included."""
    counts: Counter = Counter()
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    counts += _primitives(inner)
    return counts


def _loss(tree) -> jax.Array:
    return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(tree))


def _gradient_row(name: str, grad_fn, arg, rounds: int) -> list:
    counts = _primitives(jax.make_jaxpr(grad_fn)(arg).jaxpr)
    compiled = jax.jit(grad_fn).lower(arg).compile()
    jax.block_until_ready(compiled(arg))
    times = []
    for _ in range(rounds):  # a median of a few calls: the gap is ~100x at 1000 leaves
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(arg))
        times.append(time.perf_counter() - t0)
    return [
        name,
        counts["concatenate"],
        counts["pad"],
        C.count_fusions(compiled),
        C.median(times) * 1e3,
    ]


def measure(leaves: int, rounds: int) -> tuple[list, list[list]]:
    params = C.make_tree(leaves, leaves * LEAF_SIZE)
    flat = optaxlr.FlatParams.from_tree(params)
    opt = optaxlr.adamw(1e-3)
    fast = optaxlr.multi_tensor(opt)
    per_leaf = C.Compiled(C.jax_step(opt), params, opt.init(params), params)
    fused = C.Compiled(C.jax_step(fast), flat, fast.init(flat), flat)
    step_row = [leaves, per_leaf.fusions, fused.fusions]

    # The same loss on plain slices of one buffer: JAX's own transpose.
    shapes = [x.shape for x in jax.tree.leaves(params)]
    treedef = jax.tree.structure(params)
    ends = list(itertools.accumulate(math.prod(s) for s in shapes))

    def sliced_loss(buffer):
        parts = [
            lax.slice_in_dim(buffer, start, end).reshape(s)
            for start, end, s in zip([0, *ends[:-1]], ends, shapes, strict=True)
        ]
        return _loss(jax.tree.unflatten(treedef, parts))

    def flat_loss(f):
        return _loss(f.unflatten())

    buffer = jnp.concatenate([x.reshape(-1) for x in jax.tree.leaves(params)])
    grad_rows = [
        [leaves, *_gradient_row("FlatParams.unflatten", jax.grad(flat_loss), flat, rounds)],
        [leaves, *_gradient_row("plain slices", jax.grad(sliced_loss), buffer, rounds)],
    ]
    return step_row, grad_rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=5, help="timed calls of each gradient")
    args = parser.parse_args(argv)
    steps, grads = [], []
    for leaves in args.leaves:
        step_row, grad_rows = measure(leaves, args.rounds)
        steps.append(step_row)
        grads.extend(grad_rows)
    C.header(f"bench_multi_tensor_hlo: leaves of {LEAF_SIZE} floats")
    print("### fusions in the compiled AdamW step\n")
    print(C.table(["leaves", "per leaf (optaxlr.adamw)", "multi_tensor on FlatParams"], steps))
    print("\n### the gradient of a loss read through the buffer\n")
    print(
        C.table(["leaves", "read as", "concatenate", "pad", "fusions", "ms / gradient"], grads),
        flush=True,
    )


if __name__ == "__main__":
    main()
