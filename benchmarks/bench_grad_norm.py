"""What `grad_norm_monitor` and `spike_guard` cost a step, against the chain without them.

Paired step-time ratios (`_common.interleaved`, as ``bench_aliases.py``) on AdamW:

* ``grad_norm_monitor(1.0)`` in place of ``clip_by_global_norm(1.0)`` (the same updates),
  with per-path norms every update and every 100 updates, against the clipped chain;
* ``grad_norm_monitor()`` (no clipping: a monitor alone) against AdamW alone;
* ``spike_guard`` on the gradient norm, and on a loss, against AdamW alone, beside
  ``skip_nonfinite`` (the same skip: ``inner`` behind a ``jax.lax.cond``).

The compiled step's fusions and peak memory (XLA's ``memory_analysis``) do not depend on
the machine's load, which the timings do.

    python benchmarks/bench_grad_norm.py                       # 1 leaf of 1e4 floats
    python benchmarks/bench_grad_norm.py --leaves 100 --total 4000000
"""

from __future__ import annotations

import argparse

import _common as C
import optax

import optaxlr
from optaxlr.training import grad_norm_monitor, skip_nonfinite, spike_guard


def _loss_runner(opt: optax.GradientTransformation, params) -> C.JaxRunner:
    """A donated step of ``opt`` that passes a constant ``loss=`` to ``update``."""

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params, loss=1.0)
        return optax.apply_updates(params, updates), state

    grads = C.grads_like(params)
    state = opt.init(params)
    compiled = C.Compiled(step, params, state, grads)
    return C.JaxRunner(compiled, params, state, grads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1)
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block-s", type=float, default=0.1)
    args = parser.parse_args(argv)

    params = C.make_tree(args.leaves, args.total)

    def adamw():
        return optaxlr.adamw(1e-3)

    contenders = {
        "adamw": (adamw(), None),
        "clip + adamw": (optax.chain(optaxlr.clip_by_global_norm(1.0), adamw()), None),
        "monitor(1.0) + adamw": (optax.chain(grad_norm_monitor(1.0), adamw()), "clip + adamw"),
        "monitor(1.0, per_path_every=1) + adamw": (
            optax.chain(grad_norm_monitor(1.0, per_path_every=1), adamw()),
            "clip + adamw",
        ),
        "monitor(1.0, per_path_every=100) + adamw": (
            optax.chain(grad_norm_monitor(1.0, per_path_every=100), adamw()),
            "clip + adamw",
        ),
        "monitor() + adamw": (optax.chain(grad_norm_monitor(), adamw()), "adamw"),
        "skip_nonfinite(adamw)": (skip_nonfinite(adamw()), "adamw"),
        "spike_guard(adamw)": (spike_guard(adamw()), "adamw"),
        "spike_guard(adamw, watch=loss)": (spike_guard(adamw(), watch="loss"), "adamw"),
    }
    runners = {
        name: (_loss_runner if "loss" in name else C.optimizer_runner)(opt, params)
        for name, (opt, _) in contenders.items()
    }
    times = C.interleaved(runners, args.rounds, args.block_s)
    C.header(f"bench_grad_norm: {args.leaves} leaves, {C.human(C.num_params(params))} parameters")
    rows = [
        [
            name,
            C.median(times[name]) * 1e6,
            base or "-",
            C.paired_ratio(times[name], times[base]) if base else None,
            runners[name].compiled.fusions,
            (runners[name].compiled.peak_bytes or 0) / 1e6,
        ]
        for name, (_, base) in contenders.items()
    ]
    headers = ["optimizer", "us / step", "against", "ratio", "fusions", "peak MB"]
    print(C.table(headers, rows))


if __name__ == "__main__":
    main()
