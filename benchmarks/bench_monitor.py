"""What `update_ratio_monitor` costs a step, and what ``every_k_steps`` saves.

The monitor's norms are reductions over every parameter. With ``every_k_steps=N``
they sit inside a ``jax.lax.cond`` branch, so the updates in between skip them
instead of computing and discarding them. This prints, for SGD with momentum alone
and with the monitor at ``every_k_steps`` 1 and 100: the step time (paired ratios
against SGD alone, see `_common.interleaved`), and the ``reduce_sum`` operations the
step's jaxpr runs outside any ``cond`` (the ones every update pays for).

    python benchmarks/bench_monitor.py                     # 100 leaves, 4M parameters
    python benchmarks/bench_monitor.py --leaves 10 --total 100000 --rounds 3
"""

from __future__ import annotations

import argparse

import _common as C
import jax
import optax

import optaxlr
from optaxlr.training import update_ratio_monitor


def _unconditional_reductions(opt: optax.GradientTransformation, params) -> int:
    """``reduce_sum`` equations at the top level of the step's jaxpr (not in a cond)."""
    jaxpr = jax.make_jaxpr(opt.update)(params, opt.init(params), params)
    return sum(e.primitive.name == "reduce_sum" for e in jaxpr.jaxpr.eqns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100)
    parser.add_argument("--total", type=int, default=4_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block-s", type=float, default=0.2)
    args = parser.parse_args()

    params = C.make_tree(args.leaves, args.total)
    base = optaxlr.sgd(1e-2, momentum=0.9)
    contenders = {
        "sgd momentum": base,
        "+ monitor, every step": optax.chain(base, update_ratio_monitor()),
        "+ monitor, every_k_steps=100": optax.chain(base, update_ratio_monitor(every_k_steps=100)),
    }
    runners = {name: C.optimizer_runner(opt, params) for name, opt in contenders.items()}
    times = C.interleaved(runners, args.rounds, args.block_s)
    C.header(f"bench_monitor: {args.leaves} leaves, {C.human(C.num_params(params))} parameters")
    rows = [
        [
            name,
            C.median(times[name]) * 1e3,
            C.paired_ratio(times[name], times["sgd momentum"]),
            _unconditional_reductions(opt, params),
        ]
        for name, opt in contenders.items()
    ]
    print(C.table(["optimizer", "ms / step", "x sgd", "reduce_sum outside a cond"], rows))


if __name__ == "__main__":
    main()
