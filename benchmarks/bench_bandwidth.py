"""Large leaves: how close a step gets to the memory bandwidth, against torch's fused AdamW.

On ``--leaves`` arrays of ``--size`` floats (default 4 x 16M = 64M parameters,
256 MiB per array) this times, side by side:

* ``copy (jax)`` / ``copy (torch)``: ``y = x + 1`` in place, one read and one
  write of every byte: the bandwidth a streaming kernel can reach here;
* AdamW steps: ``optax`` and the ``optaxlr`` alias with and without buffer
  donation, ``optaxlr`` with a bfloat16 first moment, ``multi_tensor`` on one
  flat buffer, ``torch.optim.AdamW`` foreach and fused.

Effective bandwidth = the bytes a step must move at least (AdamW in float32
reads params, grads, m, v and writes params, m, v: 28 bytes per parameter; 24
with a bfloat16 m) / step time. ``floor ms`` is that byte count at the copy's
bandwidth: no implementation can beat it. ``XLA bytes`` is what the compiled
program reads and writes according to XLA's cost analysis: above 28 B/param
when XLA runs the step as several loops (one per output array).

``--threads`` repeats the copy and the donated optaxlr step pinned to one core
(``taskset``), to show whether the step uses both.

    python benchmarks/bench_bandwidth.py                    # 4 x 16M (~2 min)
    python benchmarks/bench_bandwidth.py --threads
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import jax.numpy as jnp
from _common import (
    HAVE_TORCH,
    RESULTS,
    Compiled,
    JaxRunner,
    TorchRunner,
    bytes_accessed,
    header,
    interleaved,
    make_tree,
    median,
    paired_ratio,
    save,
    table,
)
from contenders import build, jax_step

ADAMW_BYTES = {"float32": 28, "bf16 mu": 24}


class TorchCopy:
    def __init__(self, params):
        import numpy as np
        import torch

        self.torch = torch
        self.xs = [torch.from_numpy(np.array(x)) for x in jax.tree.leaves(params)]
        self(1)

    def __call__(self, n):
        for _ in range(n):
            for x in self.xs:
                x.add_(1.0)


def jax_copy(params):
    step = jax.jit(lambda p: jax.tree.map(lambda x: x + 1.0, p), donate_argnums=0)
    state = {"p": jax.tree.map(jnp.copy, params)}

    def run(n):
        p = state["p"]
        for _ in range(n):
            p = step(p)
        jax.block_until_ready(p)
        state["p"] = p

    run(1)
    return run


def measure(leaves, size, rounds, block, torch_impls, contenders=None):
    params = make_tree(leaves, leaves * size)
    n = leaves * size
    runners, info = {}, {}
    runners["copy (jax)"] = jax_copy(params)
    info["copy (jax)"] = {"min_bytes": 8 * n}
    if torch_impls:
        runners["copy (torch)"] = TorchCopy(params)
        info["copy (torch)"] = {"min_bytes": 8 * n}
    jax_contenders = contenders or [
        ("optax", True),
        ("optax", False),
        ("optaxlr", True),
        ("optaxlr", False),
        ("optaxlr(mu bf16)", True),
        ("multi_tensor", True),
    ]
    for name, donate in jax_contenders:
        label = f"{name} {'donated' if donate else 'not donated'}"
        p, g, s, opt = build(name, "adamw", params)
        compiled = Compiled(jax_step(opt), p, s, g, donate=donate)
        runner = JaxRunner(compiled, p, s, g) if donate else _Undonated(compiled, p, s, g)
        runners[label] = runner
        info[label] = {
            "min_bytes": n * ADAMW_BYTES["bf16 mu" if "bf16" in name else "float32"],
            "xla_bytes": bytes_accessed(compiled.executable),
            "fusions": compiled.fusions,
        }
    for impl in torch_impls:
        runners[f"torch {impl}"] = TorchRunner(params, "adamw", impl)
        info[f"torch {impl}"] = {"min_bytes": n * 28}
    times = interleaved(runners, rounds, block)
    copy_bw = max(info[k]["min_bytes"] / median(times[k]) for k in runners if k.startswith("copy"))
    ref = "torch fused" if "torch fused" in times else None
    rows = []
    for k, t in times.items():
        step = median(t)
        row = {
            "name": k,
            "step_s": step,
            "GBps": info[k]["min_bytes"] / step / 1e9,
            "floor_s": info[k]["min_bytes"] / copy_bw,
            "xla_bytes_per_param": (info[k].get("xla_bytes") or 0) / n or None,
            "fusions": info[k].get("fusions"),
            "vs_torch_fused": paired_ratio(t, times[ref]) if ref else None,
        }
        rows.append(row)
    del runners
    gc.collect()
    return {"leaves": leaves, "size": size, "copy_GBps": copy_bw / 1e9, "rows": rows}


class _Undonated:
    """Runs a non-donated step: a fresh output buffer every step, as without donate_argnums."""

    def __init__(self, compiled, params, state, grads):
        self.f = compiled.executable
        self.p, self.s, self.g = jax.tree.map(jnp.copy, params), state, grads
        self(1)

    def __call__(self, n):
        p, s = self.p, self.s
        for _ in range(n):
            p, s = self.f(p, s, self.g)
        jax.block_until_ready((p, s))
        self.p, self.s = p, s


def print_result(res):
    print(
        f"### {res['leaves']} x {res['size']:,} floats "
        f"(copy bandwidth {res['copy_GBps']:.1f} GB/s)\n"
    )
    heads = [
        "step",
        "ms",
        "effective GB/s",
        "floor ms",
        "x floor",
        "XLA bytes/param",
        "fusions",
        "vs torch fused",
    ]
    body = []
    for r in res["rows"]:
        body.append(
            [
                r["name"],
                r["step_s"] * 1e3,
                r["GBps"],
                r["floor_s"] * 1e3,
                r["step_s"] / r["floor_s"],
                r["xla_bytes_per_param"],
                r["fusions"],
                r["vs_torch_fused"],
            ]
        )
    print(table(heads, body), "\n", flush=True)


def threads_table(leaves, size, rounds, block):
    """The copy and the donated optaxlr step on one core (taskset) and on all."""
    if shutil.which("taskset") is None:
        print("(taskset not found: no thread comparison)\n")
        return None
    out = {}
    for label, prefix in (("1 core", ["taskset", "-c", "0"]), ("all cores", [])):
        cmd = [
            *prefix,
            sys.executable,
            __file__,
            "--child-threads",
            "--leaves",
            str(leaves),
            "--size",
            str(size),
            "--rounds",
            str(rounds),
            "--block",
            str(block),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=590)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        out[label] = json.loads(lines[-1]) if lines else {}
    print("### threads: the same on one core and on all cores (ms)\n")
    names = list(out["all cores"])
    body = [
        [
            n,
            out["1 core"].get(n, float("nan")) * 1e3,
            out["all cores"][n] * 1e3,
            out["1 core"].get(n, float("nan")) / out["all cores"][n],
        ]
        for n in names
    ]
    print(table(["step", "1 core", "all cores", "speed-up"], body), "\n", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leaves", type=int, default=4)
    ap.add_argument("--size", type=float, default=16 * 2**20, help="floats per leaf")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--block", type=float, default=0.5)
    ap.add_argument("--threads", action="store_true", help="add the 1-core comparison")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--child-threads", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    size = int(args.size)
    torch_impls = [] if (args.no_torch or not HAVE_TORCH) else ["foreach", "fused"]
    if args.child_threads:
        res = measure(
            args.leaves,
            size,
            args.rounds,
            args.block,
            torch_impls[-1:],
            contenders=[("optaxlr", True)],
        )
        print(json.dumps({r["name"]: r["step_s"] for r in res["rows"]}))
        return res
    header("bench_bandwidth: large leaves against the memory bandwidth and torch fused AdamW")
    res = measure(args.leaves, size, args.rounds, args.block, torch_impls)
    print_result(res)
    if args.threads:
        res["threads"] = threads_table(args.leaves, size, args.rounds, args.block)
    path = save("bench_bandwidth", res, None if args.no_save else args.out)
    if path:
        print(f"results: {path}")
    return res


if __name__ == "__main__":
    main()
