"""How much the order in which contenders are built moves the optaxlr/optax ratio.

On a tree of many small leaves, the contender whose buffers were allocated first
can run a few percent faster, whichever it is. This script builds optaxlr and
optax in both orders and prints the paired step-time ratio for each, which is
why ``bench_optimizers.py`` times half its rounds in each order. The control
column times optax against a second copy of optax built last (the same program):
how far apart two identical contenders measure on this machine.

    python benchmarks/allocation_order.py                     # 1000 leaves of 200 floats
    python benchmarks/allocation_order.py --leaves 100 --kinds adamw
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, interleaved, make_tree, paired_ratio
from contenders import KINDS, compile_contender


def ratio(kind: str, leaves: int, order: tuple[str, ...], rounds: int, block: float):
    """(optaxlr / optax, optax copy / optax), the contenders built in ``order``."""
    params = make_tree(leaves, leaves * 200)
    runners = {name: compile_contender(name, kind, params)[1] for name in order}
    runners["optax copy"] = compile_contender("optax", kind, params)[1]
    times = interleaved(runners, rounds, block, settle_s=0.0)
    del runners
    gc.collect()
    return (
        paired_ratio(times["optaxlr"], times["optax"]),
        paired_ratio(times["optax copy"], times["optax"]),
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leaves", type=int, default=1000)
    ap.add_argument("--kinds", nargs="*", default=["adamw", "clip_adamw"], choices=KINDS)
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--block", type=float, default=0.1)
    args = ap.parse_args(argv)
    header(f"allocation order: optaxlr / optax step time, {args.leaves} leaves of 200 floats")
    print(
        "| kind | optaxlr built first | control | optax built first | control |\n"
        "|---|---:|---:|---:|---:|"
    )
    for kind in args.kinds:
        first = ratio(kind, args.leaves, ("optaxlr", "optax"), args.rounds, args.block)
        second = ratio(kind, args.leaves, ("optax", "optaxlr"), args.rounds, args.block)
        cells = " | ".join(f"{x:.3f}" for x in (*first, *second))
        print(f"| {kind} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
