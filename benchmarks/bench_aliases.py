"""Every optaxlr alias against optax's closest optimizer, on a small model.

On one array of 1e4 floats a jitted step takes 10-20 us on the CPU, and what a
step passes in and out (buffers, pytree nodes) is a visible part of it: this is
where the state's design costs or saves time. Each pair does the same math
where optax can (``rmsprop`` with ``eps_in_sqrt=False``; optax's ``nadam``,
``radam`` and ``adadelta`` differ from PyTorch's, so their ratios mix the math
in). Scheduled learning rates are compared twice: with optax's plain optimizer,
which cannot report the rate it used, and with ``optax.inject_hyperparams``,
optax's way to make it observable (what ``optaxlr.hyperparams`` reads).
The "public chain" rows time the chains of optaxlr's public transformations that
an alias runs as one fused state (``trace`` + ``scale_by_learning_rate``;
``scale_by_learning_rate`` + ``decoupled_weight_decay``): the same optimizer,
what the fusion saves.

    python benchmarks/bench_aliases.py                  # every pair (~1 min)
    python benchmarks/bench_aliases.py --only adamw sgd_momentum --size 1e6
    python benchmarks/bench_aliases.py --only "lars (other math)" --size 16e6 --leaves 4 --rows 1000
    python benchmarks/bench_aliases.py --hashes   # no timing: is the program the same?
    python benchmarks/bench_aliases.py --only "adafactor (other eps, no relative step)" \
        --shape 100 100                           # one matrix instead of a vector

``--hashes`` prints, per pair, a hash of optaxlr's lowered step (source locations
stripped) and of its state's tree structure: two commits that print the same hashes
compile every alias to the same program with the same state, so a refactor's timings
can differ by noise alone.

Step time: the jitted, donated step (``_common.Compiled``), the pairs timed in
interleaved rounds; ratio = optaxlr / optax, the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import optax
import optax.contrib
from _common import (
    RESULTS,
    grads_like,
    header,
    interleaved,
    jax_step,
    make_tree,
    median,
    optimizer_runner,
    paired_ratio,
    save,
    table,
)

import optaxlr

LR = 1e-3
optax_cosine = optax.cosine_decay_schedule(LR, 1000)
optaxlr_cosine = optaxlr.schedules.cosine(LR, 1000)
inject = optax.inject_hyperparams

Pair = tuple[Callable[[], optax.GradientTransformation], Callable[[], optax.GradientTransformation]]

#: name -> (optax, optaxlr), the same hyperparameters (PyTorch's defaults where optax's differ).
PAIRS: dict[str, Pair] = {
    "sgd": (lambda: optax.sgd(LR), lambda: optaxlr.sgd(LR)),
    "sgd_momentum": (lambda: optax.sgd(LR, 0.9), lambda: optaxlr.sgd(LR, 0.9)),
    "sgd_nesterov": (
        lambda: optax.sgd(LR, 0.9, nesterov=True),
        lambda: optaxlr.sgd(LR, 0.9, nesterov=True),
    ),
    "adam": (lambda: optax.adam(LR), lambda: optaxlr.adam(LR)),
    "adamw": (
        lambda: optax.adamw(LR, weight_decay=1e-2),
        lambda: optaxlr.adamw(LR, weight_decay=1e-2),
    ),
    "adagrad": (
        lambda: optax.adagrad(LR, initial_accumulator_value=0.0, eps=1e-10),
        lambda: optaxlr.adagrad(LR),
    ),
    "rmsprop": (
        lambda: optax.rmsprop(LR, decay=0.99, eps_in_sqrt=False),
        lambda: optaxlr.rmsprop(LR),
    ),
    "rmsprop_momentum": (
        lambda: optax.rmsprop(LR, decay=0.99, eps_in_sqrt=False, momentum=0.9),
        lambda: optaxlr.rmsprop(LR, momentum=0.9),
    ),
    "nadam (other math)": (lambda: optax.nadam(LR), lambda: optaxlr.nadam(LR)),
    "radam (other math)": (lambda: optax.radam(LR), lambda: optaxlr.radam(LR)),
    "adadelta (other math)": (lambda: optax.adadelta(1.0), lambda: optaxlr.adadelta(1.0)),
    # The same rule as optax.adamax (eps inside the max in both).
    "adamax": (lambda: optax.adamax(LR), lambda: optaxlr.adamax(LR)),
    "lion": (
        lambda: optax.lion(LR, weight_decay=1e-2),
        lambda: optaxlr.lion(LR, weight_decay=1e-2),
    ),
    # Other math (pytorch_optimizer's LAMB/LARS, see docs/optimizers.md), the same work per
    # leaf: a moment or momentum update and two norms. Time them on matrices (--rows):
    # LARS leaves 1-D arrays out of its trust ratio.
    "lamb (other math)": (
        lambda: optax.lamb(LR, weight_decay=1e-2),
        lambda: optaxlr.lamb(LR, weight_decay=1e-2),
    ),
    "lars (other math)": (
        lambda: optax.lars(LR, weight_decay=1e-2),
        lambda: optaxlr.lars(LR, weight_decay=1e-2),
    ),
    # optax's is the T5 variant (eps added to g^2, a plain rate, no relative step); with
    # min_dim_size_to_factor=0 it factors every matrix too, so the work is the same: the
    # factored moments, the update's block RMS clipping and the parameter-scale factor.
    # Time it on a matrix (--shape) for the factored path, on --size for the vector one.
    "adafactor (other eps, no relative step)": (
        lambda: optax.adafactor(1e-2, min_dim_size_to_factor=0),
        lambda: optaxlr.adafactor(1e-2),
    ),
    # The same math without warmup (optax's warmup starts a step earlier, at 0); the whole
    # step, y and z, in both.
    "schedule_free_adamw": (
        lambda: optax.contrib.schedule_free_adamw(LR, weight_decay=1e-2),
        lambda: optaxlr.schedule_free_adamw(LR, weight_decay=1e-2),
    ),
    "schedule_free_sgd": (
        lambda: optax.contrib.schedule_free_sgd(LR, weight_decay=1e-2),
        lambda: optaxlr.schedule_free_sgd(LR, weight_decay=1e-2),
    ),
    # On the array as a square matrix (MATRIX). Other math: optax's momentum is
    # bias-corrected, its norm gets eps=1e-8 added (torch clamps at 1e-7), its weight
    # decay defaults to 0 (0.1 given here, torch's default) and it scales by the (in, out)
    # shape; the Newton-Schulz steps (5, float32) are the same in both.
    "muon (other math)": (
        lambda: optax.contrib.muon(LR, weight_decay=0.1),
        lambda: optaxlr.muon(LR),
    ),
    # Learning-rate-free: optax.contrib's, with bias correction on and decoupled decay as
    # optax has them (the same math; optaxlr also reports d and the step size it took).
    "prodigy": (
        lambda: optax.contrib.prodigy(weight_decay=1e-2),
        lambda: optaxlr.prodigy(weight_decay=1e-2, use_bias_correction=True),
    ),
    "dadapt_adam (dadapt_adamw)": (
        lambda: optax.contrib.dadapt_adamw(weight_decay=1e-2),
        lambda: optaxlr.dadapt_adam(weight_decay=1e-2, decouple=True, use_bias_correction=True),
    ),
    "adamw cosine": (
        lambda: optax.adamw(optax_cosine, weight_decay=1e-2),
        lambda: optaxlr.adamw(optaxlr_cosine, weight_decay=1e-2),
    ),
    "adamw cosine vs inject": (
        lambda: inject(optax.adamw)(learning_rate=optax_cosine, weight_decay=1e-2),
        lambda: optaxlr.adamw(optaxlr_cosine, weight_decay=1e-2),
    ),
    "sgd_momentum cosine": (
        lambda: optax.sgd(optax_cosine, 0.9),
        lambda: optaxlr.sgd(optaxlr_cosine, 0.9),
    ),
    "sgd_momentum cosine vs inject": (
        lambda: inject(optax.sgd)(learning_rate=optax_cosine, momentum=0.9),
        lambda: optaxlr.sgd(optaxlr_cosine, 0.9),
    ),
    "sgd_momentum, public chain": (
        lambda: optax.sgd(LR, 0.9),
        lambda: optax.chain(optaxlr.trace(0.9), optaxlr.scale_by_learning_rate(LR)),
    ),
    "adamw cosine, public chain": (
        lambda: optax.adamw(optax_cosine, weight_decay=1e-2),
        lambda: optax.chain(
            optaxlr.scale_by_adam(),
            optaxlr.scale_by_learning_rate(optaxlr_cosine),
            optaxlr.decoupled_weight_decay(optaxlr_cosine, 1e-2),
        ),
    ),
}


#: Pairs timed on the array reshaped to a matrix (Muon orthogonalizes matrices only).
MATRIX = {"muon (other math)"}


def as_matrices(params):
    """Each leaf as the squarest matrix of its size (1e4 floats: 100 x 100)."""

    def square(x):
        rows = max(d for d in range(1, int(x.size**0.5) + 1) if x.size % d == 0)
        return x.reshape(rows, -1)

    return jax.tree.map(square, params)


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def print_hashes(params) -> None:
    """Per pair: hashes of optaxlr's lowered step and of its state's tree structure."""
    for name, (_, make_optaxlr) in PAIRS.items():
        opt = make_optaxlr()
        pair_params = as_matrices(params) if name in MATRIX else params
        state = opt.init(pair_params)
        lowered = jax.jit(jax_step(opt)).lower(pair_params, state, grads_like(pair_params))
        program = re.sub(r"loc\([^)]*\)", "", lowered.as_text())
        print(f"  {name:32s} step {_hash(program)}  state {_hash(str(jax.tree.structure(state)))}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=sorted(PAIRS), help="pairs to run")
    ap.add_argument("--size", type=float, default=1e4, help="floats in all arrays together")
    ap.add_argument("--leaves", type=int, default=1, help="arrays (of size / leaves floats)")
    ap.add_argument("--rows", type=int, default=0, help="each array as a matrix of these rows")
    ap.add_argument(
        "--shape", type=int, nargs="+", help="one array of this shape instead (e.g. 100 100)"
    )
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--block", type=float, default=0.1, help="seconds per timed block")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results folder")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--hashes", action="store_true", help="print program hashes, time nothing")
    args = ap.parse_args(argv)
    header("bench_aliases: every optaxlr alias vs optax")
    if args.shape:
        args.size, args.leaves = math.prod(args.shape), 1
    params = make_tree(args.leaves, int(args.size))
    if args.shape:
        params = jax.tree.map(lambda p: p.reshape(args.shape), params)
    elif args.rows:
        params = jax.tree.map(lambda p: p.reshape(args.rows, -1), params)
    if args.hashes:
        print_hashes(params)
        return []
    rows = []
    for name in args.only or PAIRS:
        make_optax, make_optaxlr = PAIRS[name]
        pair_params = as_matrices(params) if name in MATRIX else params
        runners = {
            "optax": optimizer_runner(make_optax(), pair_params),
            "optaxlr": optimizer_runner(make_optaxlr(), pair_params),
        }
        times = interleaved(runners, args.rounds, args.block, 0.0)
        rows.append(
            {
                "pair": name,
                "params": int(args.size),
                "shape": list(jax.tree.leaves(params)[0].shape),
                "step_s": {k: median(v) for k, v in times.items()},
                "ratio_optaxlr_optax": paired_ratio(times["optaxlr"], times["optax"]),
            }
        )
        print(f"  {name}: optaxlr/optax {rows[-1]['ratio_optaxlr_optax']:.3f}", flush=True)
    print()
    heads = ["pair", "step us optax", "optaxlr", "optaxlr/optax"]
    body = [
        [
            r["pair"],
            r["step_s"]["optax"] * 1e6,
            r["step_s"]["optaxlr"] * 1e6,
            r["ratio_optaxlr_optax"],
        ]
        for r in rows
    ]
    print(table(heads, body), "\n", flush=True)
    path = save("bench_aliases", {"rows": rows}, None if args.no_save else args.out)
    if path:
        print(f"results: {path}")
    return rows


if __name__ == "__main__":
    main()
