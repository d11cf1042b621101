"""What a schedule costs inside a training step.

A schedule is evaluated once per step, on a scalar: its cost is a few scalar
XLA operations, independent of the model size. This measures it three ways:

* ``in a step``: an ``optaxlr.adamw`` step on a small tree (``--leaves`` x
  ``--size``, default 1 x 10,000 floats, where the fixed cost of a step is most
  visible) with a float learning rate against the same step with each schedule,
  timed side by side; ``+us`` is the paired median difference;
* ``vs optax``: for the schedules optax also has, optax's schedule in the same
  ``optaxlr.adamw`` step against optaxlr's;
* ``ns/eval``: the schedule alone, ``jax.vmap``-ed over 2^20 steps in one jitted
  call, per step (pure arithmetic, no dispatch);
* ``HLO ops``: the number of instructions in the jitted ``schedule(step)``.

    python benchmarks/bench_schedules.py          # ~1 min
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import jax.numpy as jnp
import optax
from _common import (
    RESULTS,
    header,
    interleaved,
    make_tree,
    median,
    optimizer_runner,
    save,
    table,
)

import optaxlr
import optaxlr.schedules as sch

T = 10_000
LR = 1e-3


def schedules() -> dict[str, tuple[object, object | None]]:
    """name -> (optaxlr schedule, optax equivalent or None)."""
    return {
        "constant": (sch.constant(LR), optax.constant_schedule(LR)),
        "linear": (sch.linear(LR, 0.0, T), optax.linear_schedule(LR, 0.0, T)),
        "cosine": (sch.cosine(LR, T), optax.cosine_decay_schedule(LR, T)),
        "warmup(cosine)": (
            sch.warmup(sch.cosine(LR, T - 500), 500),
            optax.warmup_cosine_decay_schedule(0.0, LR, 500, T),
        ),
        "exponential": (sch.exponential(LR, 0.999), optax.exponential_decay(LR, 1, 0.999)),
        "piecewise_constant": (
            sch.piecewise_constant([1000, 5000, 8000], [LR, LR / 10, LR / 100, LR / 1000]),
            optax.piecewise_constant_schedule(LR, {1000: 0.1, 5000: 0.1, 8000: 0.1}),
        ),
        "polynomial": (
            sch.polynomial(LR, 0.0, T, power=2.0),
            optax.polynomial_schedule(LR, 0.0, 2.0, T),
        ),
        "one_cycle": (sch.one_cycle(LR, T), optax.cosine_onecycle_schedule(T, LR)),
        "multistep": (sch.multistep(LR, [3000, 6000, 9000]), None),
        "cosine_restarts": (sch.cosine_restarts(LR, 1000, cycle_mult=2.0), None),
        "cyclic": (sch.cyclic(LR / 10, LR, 500), None),
        "warmup_stable_decay": (sch.warmup_stable_decay(LR, T, 500, 2000), None),
        "rsqrt": (sch.rsqrt(LR, 500), None),
    }


def ns_per_eval(schedule, n=2**20) -> float:
    f = jax.jit(jax.vmap(schedule))
    steps = jnp.arange(n, dtype=jnp.int32)
    jax.block_until_ready(f(steps))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(f(steps))
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9


def hlo_ops(schedule) -> int:
    text = jax.jit(schedule).lower(jnp.int32(0)).as_text(dialect="hlo")
    return sum(1 for line in text.splitlines() if " = " in line and "parameter(" not in line)


def runner(learning_rate, params):
    return optimizer_runner(optaxlr.adamw(learning_rate), params)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leaves", type=int, default=1)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--block", type=float, default=0.1)
    ap.add_argument("--only", nargs="*", help="schedule names")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    header("bench_schedules: the cost of a schedule inside a step")
    params = make_tree(args.leaves, args.leaves * args.size)
    table_rows, rows = [], []
    scheds = schedules()
    if args.only:
        scheds = {k: v for k, v in scheds.items() if k in args.only}
    base = runner(LR, params)
    for name, (ours, theirs) in scheds.items():
        runners = {"float": base, "optaxlr": runner(ours, params)}
        if theirs is not None:
            runners["optax"] = runner(theirs, params)
        times = interleaved(runners, args.rounds, args.block)
        base_t = median(times["float"])
        extra = median([a - b for a, b in zip(times["optaxlr"], times["float"], strict=True)])
        vs_optax = None
        if "optax" in times:
            vs_optax = median(
                [a / b for a, b in zip(times["optaxlr"], times["optax"], strict=True)]
            )
        row = {
            "schedule": name,
            "step_us_float_lr": base_t * 1e6,
            "step_us": median(times["optaxlr"]) * 1e6,
            "extra_us": extra * 1e6,
            "ratio_vs_optax_schedule": vs_optax,
            "ns_per_eval": ns_per_eval(ours),
            "ns_per_eval_optax": ns_per_eval(theirs) if theirs is not None else None,
            "hlo_ops": hlo_ops(ours),
            "hlo_ops_optax": hlo_ops(theirs) if theirs is not None else None,
        }
        rows.append(row)
        table_rows.append(
            [
                name,
                row["step_us_float_lr"],
                row["step_us"],
                row["extra_us"],
                row["ratio_vs_optax_schedule"],
                row["ns_per_eval"],
                row["ns_per_eval_optax"],
                row["hlo_ops"],
                row["hlo_ops_optax"],
            ]
        )
        print(f"  {name}: +{row['extra_us']:.2f} us/step", flush=True)
    print()
    print(f"### adamw step on {args.leaves} x {args.size:,} floats: float lr vs schedule\n")
    heads = [
        "schedule",
        "step us (float lr)",
        "step us (schedule)",
        "+us",
        "vs optax schedule",
        "ns/eval",
        "ns/eval optax",
        "HLO ops",
        "HLO ops optax",
    ]
    print(table(heads, table_rows), "\n", flush=True)
    path = save(
        "bench_schedules",
        {"leaves": args.leaves, "size": args.size, "rows": rows},
        None if args.no_save else args.out,
    )
    if path:
        print(f"results: {path}")
    return rows


if __name__ == "__main__":
    main()
