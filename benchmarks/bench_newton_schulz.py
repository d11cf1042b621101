"""Muon's Newton-Schulz iteration: optaxlr's jitted `newton_schulz` against torch's, on the CPU.

One ``n x n`` float32 matrix (4096 by default), 5 iterations with Muon's coefficients:

* ``optaxlr float32``: ``jax.jit(optaxlr.transforms.newton_schulz)``, the default
  (float32 iteration);
* ``optaxlr bfloat16``: the same with ``dtype=jnp.bfloat16`` (torch's numbers);
* ``torch bfloat16``: ``torch.optim._muon._zeropower_via_newtonschulz`` as torch ships
  it (it casts to bfloat16);
* ``torch float32``: torch's own lines with ``grad.bfloat16()`` replaced by a float32
  copy, as ``scripts/generate_muon_fixtures.py`` runs it.

Each round times every contender once, in an order rotated from round to round; the
table gives the median over rounds and the ratio to ``torch float32`` (the same math in
the same dtype). Skips the torch rows (and says so) where torch is not installed.

    python benchmarks/bench_newton_schulz.py                 # 4096 x 4096, 5 rounds
    python benchmarks/bench_newton_schulz.py --size 1024 --rounds 9
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import jax.numpy as jnp
import numpy as np
from _common import RESULTS, header, median, save, table

from optaxlr.transforms import newton_schulz

COEFFICIENTS = (3.4445, -4.775, 2.0315)
STEPS, EPS = 5, 1e-7


def _optaxlr(x: np.ndarray, dtype) -> Callable[[], None]:
    fn = jax.jit(lambda m: newton_schulz(m, COEFFICIENTS, STEPS, EPS, dtype))
    arg = jnp.asarray(x)
    fn(arg).block_until_ready()  # compile
    return lambda: fn(arg).block_until_ready()


def _torch(x: np.ndarray) -> dict[str, Callable[[], None]]:
    try:
        import torch
        from torch.optim import _muon
    except ImportError:
        return {}

    def float32(grad, ns_coefficients, ns_steps, eps):
        # torch 2.13's _zeropower_via_newtonschulz with grad.bfloat16() -> a float32 copy
        a, b, c = ns_coefficients
        ortho_grad = grad.to(torch.float32, copy=True)
        if grad.size(0) > grad.size(1):
            ortho_grad = ortho_grad.T
        ortho_grad.div_(ortho_grad.norm().clamp(min=eps))
        for _ in range(ns_steps):
            gram_matrix = ortho_grad @ ortho_grad.T
            gram_update = torch.addmm(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
            ortho_grad = torch.addmm(ortho_grad, gram_update, ortho_grad, beta=a)
        if grad.size(0) > grad.size(1):
            ortho_grad = ortho_grad.T
        return ortho_grad

    t = torch.from_numpy(x)
    with torch.no_grad():
        shipped = _muon._zeropower_via_newtonschulz
        return {
            "torch bfloat16": lambda: shipped(t, COEFFICIENTS, STEPS, EPS),
            "torch float32": lambda: float32(t, COEFFICIENTS, STEPS, EPS),
        }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=4096, help="the matrix is size x size")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results folder")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    header(f"bench_newton_schulz: {args.size}x{args.size} float32, {STEPS} iterations")
    x = np.random.default_rng(0).standard_normal((args.size, args.size)).astype(np.float32)
    contenders = {
        "optaxlr float32": _optaxlr(x, None),
        "optaxlr bfloat16": _optaxlr(x, jnp.bfloat16),
        **_torch(x),
    }
    if "torch float32" not in contenders:
        print("torch is not installed: its rows are skipped\n")
    names = list(contenders)
    for name in names:  # warm up (torch's first call allocates)
        contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
        print(f"  round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names))
    base = median(times["torch float32"]) if "torch float32" in times else None
    rows = [
        {
            "contender": n,
            "median_s": median(times[n]),
            "ratio_to_torch_float32": None if base is None else median(times[n]) / base,
        }
        for n in names
    ]
    print()
    print(
        table(
            ["contender", "median s", "/ torch float32"],
            [[r["contender"], r["median_s"], r["ratio_to_torch_float32"] or "-"] for r in rows],
        ),
        "\n",
        flush=True,
    )
    payload = {"size": args.size, "steps": STEPS, "rounds": args.rounds, "rows": rows}
    path = save("bench_newton_schulz", payload, None if args.no_save else args.out)
    if path:
        print(f"results: {path}")
    return rows


if __name__ == "__main__":
    main()
