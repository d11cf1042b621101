"""optaxlr against optax (same math) and torch.optim, on trees of 1 to 1000 leaves.

For every tree shape and optimizer kind (``adamw``, ``sgdm``, ``clip_adamw``):
compile time, step time and peak memory of ``optax``, the ``optaxlr`` alias and
``optaxlr.multi_tensor``, timed side by side (interleaved rounds), and, when
torch is importable, ``torch.optim`` with ``foreach=True`` and ``fused=True`` on
the same shapes (CPU). Ratios are paired medians (see ``_common``).

    python benchmarks/bench_optimizers.py                  # the full grid (~6 min)
    python benchmarks/bench_optimizers.py --preset quick   # a minute
    python benchmarks/bench_optimizers.py --shapes 1x1e4 100x1e6 --kinds adamw

Shapes are ``LEAVESxPARAMS`` (total parameters, split evenly over the leaves).
The 5000-leaf tree is in ``bench_many_leaves.py`` (its per-leaf compile alone
takes minutes).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HAVE_TORCH,
    RESULTS,
    TorchRunner,
    header,
    human,
    interleaved,
    make_tree,
    median,
    paired_ratio,
    save,
    table,
)
from contenders import KINDS, compile_contender

PRESETS = {
    "smoke": ["1x1e3", "20x1e3"],
    "quick": ["1x1e4", "1x1e6", "100x1e5", "1000x2e5"],
    "full": ["1x1e4", "1x1e6", "1x1e8", "4x6.4e7", "10x1e6", "100x1e6", "1000x2e5"],
}
JAX = ("optax", "optaxlr", "multi_tensor")


def parse_shape(text: str) -> tuple[int, int]:
    leaves, total = text.lower().split("x")
    return int(leaves), int(float(total))


def run_shape(leaves, total, kind, torch_impls, rounds, block_s, jax_rounds, jax_block_s):
    params = make_tree(leaves, total)
    # The JAX contenders among themselves first: many short blocks, no pauses, so
    # that the optaxlr/optax ratio is not disturbed by torch's spinning workers.
    # Half the rounds with the contenders built in one order, half in the reverse
    # order: on 1000 leaves whichever contender's buffers were allocated first runs
    # a few percent faster (allocation_order.py).
    times: dict = {name: [] for name in JAX}
    for order in (JAX, JAX[::-1]):
        runners, compiled = {}, {}
        gc.collect()
        for name in order:
            compiled[name], runners[name] = compile_contender(name, kind, params)
        for name, t in interleaved(runners, -(-jax_rounds // 2), jax_block_s, 0.0).items():
            times[name] += t
    torch_bytes = None
    if torch_impls:
        for impl in torch_impls:
            runner = TorchRunner(params, kind, impl)
            runners[f"torch.{impl}"] = runner
            torch_bytes = runner.state_bytes
        names = ("optaxlr", "multi_tensor", *(f"torch.{i}" for i in torch_impls))
        with_torch = interleaved({n: runners[n] for n in names}, rounds, block_s)
    row = {
        "leaves": leaves,
        "params": leaves * max(1, total // leaves),
        "kind": kind,
        "compile_s": {n: compiled[n].total_compile_s for n in JAX},
        "fusions": {n: compiled[n].fusions for n in JAX},
        "peak_bytes": {n: compiled[n].peak_bytes for n in JAX},
        "torch_state_bytes": torch_bytes,
        "step_s": {n: median(t) for n, t in times.items()},
        "ratio_optaxlr_optax": paired_ratio(times["optaxlr"], times["optax"]),
        "ratio_multi_tensor_optax": paired_ratio(times["multi_tensor"], times["optax"]),
        "rounds": jax_rounds,
    }
    if torch_impls:
        t = with_torch
        best = [min(a, b) for a, b in zip(t["optaxlr"], t["multi_tensor"], strict=True)]
        row["torch_rounds"] = rounds
        for impl in torch_impls:
            row["step_s"][f"torch.{impl}"] = median(t[f"torch.{impl}"])
            row[f"ratio_best_jax_torch_{impl}"] = paired_ratio(best, t[f"torch.{impl}"])
            row[f"ratio_optaxlr_torch_{impl}"] = paired_ratio(t["optaxlr"], t[f"torch.{impl}"])
    del runners, compiled, params
    gc.collect()
    return row


def print_tables(rows, torch_impls):
    print("### optaxlr vs optax (same math): compile, step, memory\n")
    heads = [
        "leaves",
        "params",
        "kind",
        "compile s optax",
        "optaxlr",
        "multi_tensor",
        "step ms optax",
        "optaxlr",
        "multi_tensor",
        "optaxlr/optax",
        "multi_tensor/optax",
        "peak MB optax",
        "optaxlr",
        "multi_tensor",
    ]
    body = []
    for r in rows:
        mb = {n: (v / 2**20 if v else None) for n, v in r["peak_bytes"].items()}
        body.append(
            [
                r["leaves"],
                human(r["params"]),
                r["kind"],
                r["compile_s"]["optax"],
                r["compile_s"]["optaxlr"],
                r["compile_s"]["multi_tensor"],
                r["step_s"]["optax"] * 1e3,
                r["step_s"]["optaxlr"] * 1e3,
                r["step_s"]["multi_tensor"] * 1e3,
                r["ratio_optaxlr_optax"],
                r["ratio_multi_tensor_optax"],
                mb["optax"],
                mb["optaxlr"],
                mb["multi_tensor"],
            ]
        )
    print(table(heads, body), "\n", flush=True)
    if not torch_impls:
        print("(torch not installed: no torch.optim columns)\n")
        return
    print("### against torch.optim on the CPU (step ms; ratio = best optaxlr / torch)\n")
    heads = ["leaves", "params", "kind", "optaxlr", "multi_tensor"]
    heads += [f"torch {i}" for i in torch_impls]
    heads += [f"best/torch {i}" for i in torch_impls]
    heads += ["torch MB (p+g+state)"]
    body = []
    for r in rows:
        line = [r["leaves"], human(r["params"]), r["kind"]]
        line += [r["step_s"]["optaxlr"] * 1e3, r["step_s"]["multi_tensor"] * 1e3]
        line += [r["step_s"][f"torch.{i}"] * 1e3 for i in torch_impls]
        line += [r[f"ratio_best_jax_torch_{i}"] for i in torch_impls]
        line += [r["torch_state_bytes"] / 2**20 if r["torch_state_bytes"] else None]
        body.append(line)
    print(table(heads, body), "\n", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--shapes", nargs="*", help="LEAVESxPARAMS, e.g. 100x1e6 (overrides --preset)")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    ap.add_argument("--rounds", type=int, default=7, help="rounds with torch")
    ap.add_argument("--block", type=float, default=0.15, help="seconds per timed block with torch")
    ap.add_argument("--jax-rounds", type=int, default=21, help="rounds of the JAX contenders")
    ap.add_argument("--jax-block", type=float, default=0.1, help="seconds per JAX block")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results folder")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    shapes = [parse_shape(s) for s in (args.shapes or PRESETS[args.preset])]
    torch_impls = [] if (args.no_torch or not HAVE_TORCH) else ["foreach", "fused"]
    header("bench_optimizers: optaxlr vs optax vs torch.optim")
    rows = []
    for leaves, total in shapes:
        for kind in args.kinds:
            rows.append(
                run_shape(
                    leaves, total, kind, torch_impls, args.rounds, args.block,
                    args.jax_rounds, args.jax_block,
                )
            )
            r = rows[-1]
            print(
                f"  {leaves} leaves, {human(r['params'])} params, {kind}: optaxlr/optax "
                f"{r['ratio_optaxlr_optax']:.3f}, multi_tensor/optax "
                f"{r['ratio_multi_tensor_optax']:.3f}",
                flush=True,
            )
    print()
    print_tables(rows, torch_impls)
    path = save("bench_optimizers", {"rows": rows}, None if args.no_save else args.out)
    if path:
        print(f"results: {path}")
    return rows


if __name__ == "__main__":
    main()
