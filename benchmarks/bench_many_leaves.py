"""Many small leaves: per-leaf optimizers against the multi-tensor fast path.

Trees of 1 to 5000 leaves of 200 floats (the shape of a deep model's biases,
norms and small kernels). For ``adamw`` and ``clip_adamw``: compile time, XLA
fusion count, step time and peak memory of ``optax`` (per leaf), the
``optaxlr`` alias (per leaf), ``optax.flatten`` (concatenates every step) and
``optaxlr.multi_tensor`` on a ``FlatParams``; then a check that the fast path
gives the per-leaf alias's numbers (``identical``: bitwise after 3 steps) and
optax's (``max rel diff``).

Every (leaves, kind) runs in its own process under a time limit, fast
contenders first: a per-leaf compile that would take longer than the limit
(optax's ``clip_by_global_norm`` on 5000 leaves: ~11 min) is reported as
``> limit`` and the others still are.

    python benchmarks/bench_many_leaves.py                         # 1..1000 leaves (~3 min)
    python benchmarks/bench_many_leaves.py --leaves 5000 --kinds adamw      # ~5 min
    python benchmarks/bench_many_leaves.py --leaves 5000 --kinds clip_adamw --limit 590
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
from _common import RESULTS, header, human, save, table

LEAF_SIZE = 200
CONTENDERS = ("multi_tensor", "optax.flatten", "optaxlr", "optax")


def child(
    leaves: int, kind: str, contenders: list[str], rounds: int, block: float, train: bool
) -> None:
    """Measures one (leaves, kind); prints one JSON object per line as results arrive."""
    import numpy as np
    from _common import interleaved, make_tree, median, paired_ratio
    from contenders import compile_contender

    def emit(**kw):
        print(json.dumps(kw), flush=True)

    params = make_tree(leaves, leaves * LEAF_SIZE)
    runners, after_three = {}, {}
    for name in contenders:
        t0 = time.perf_counter()
        emit(event="start", name=name)
        compiled, runner = compile_contender(name, kind, params, train=train, keep_initial=True)
        # Same numbers? The parameters after three steps from the same start, with the
        # executable just compiled (the runner has taken its warm-up steps from a copy).
        p, s = runner.initial()
        for _ in range(3):
            p, s = compiled.executable(p, s, runner.grads)
        tree = p.unflatten() if hasattr(p, "unflatten") else p
        after_three[name] = [np.asarray(x) for x in jax.tree.leaves(tree)]
        runners[name] = runner
        single = interleaved({name: runner}, 3, block)[name]
        emit(
            event="compiled",
            name=name,
            lower_s=compiled.lower_s,
            compile_s=compiled.compile_s,
            fusions=compiled.fusions,
            peak_bytes=compiled.peak_bytes,
            step_s_alone=median(single),
            wall_s=time.perf_counter() - t0,
        )
        if "multi_tensor" in after_three and name != "multi_tensor":
            fast, other = after_three["multi_tensor"], after_three[name]
            same = all(bool((a == b).all()) for a, b in zip(fast, other, strict=True))
            rel = max(
                float(np.max(np.abs(a - b) / (np.abs(b) + 1e-30)))
                for a, b in zip(fast, other, strict=True)
            )
            emit(event="check", name=name, identical=same, max_rel_diff=rel)
    times = interleaved(runners, rounds, block, settle_s=0.0)  # no torch here: no pauses
    ratios = {}
    if "optax" in times:
        ratios = {n: paired_ratio(t, times["optax"]) for n, t in times.items()}
    emit(event="steps", step_s={n: median(t) for n, t in times.items()}, ratio_to_optax=ratios)


def run_child(leaves, kind, contenders, rounds, block, limit, train=False):
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--leaves",
        str(leaves),
        "--kinds",
        kind,
        "--contenders",
        *contenders,
        "--rounds",
        str(rounds),
        "--block",
        str(block),
        *(["--train"] if train else []),
    ]
    t0 = time.perf_counter()
    result = {"leaves": leaves, "kind": kind, "contenders": {}, "timed_out": None}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        out = proc.stdout
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        result["timed_out"] = time.perf_counter() - t0
    started = None
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        ev = json.loads(line)
        if ev["event"] == "start":
            started = ev["name"]
        elif ev["event"] == "compiled":
            result["contenders"][ev["name"]] = ev
            started = None
        elif ev["event"] == "steps":
            result["step_s"] = ev["step_s"]
            result["ratio_to_optax"] = ev["ratio_to_optax"]
        elif ev["event"] == "check":
            result.setdefault("check", {})[ev["name"]] = {
                "identical": ev["identical"],
                "max_rel_diff": ev["max_rel_diff"],
            }
    if result["timed_out"] is not None and started is not None:
        done = sum(c["wall_s"] for c in result["contenders"].values())
        result["contenders"][started] = {"compile_over_s": result["timed_out"] - done}
    return result


def print_tables(results):
    print("### compile time, fusions, step time\n")
    heads = [
        "leaves",
        "params",
        "kind",
        "contender",
        "compile s",
        "fusions",
        "step ms",
        "vs optax (step)",
        "peak MB",
    ]
    body = []
    for r in results:
        for name, c in r["contenders"].items():
            if "compile_over_s" in c:
                body.append(
                    [
                        r["leaves"],
                        human(r["leaves"] * LEAF_SIZE),
                        r["kind"],
                        name,
                        f"> {c['compile_over_s']:.0f}",
                        None,
                        None,
                        None,
                        None,
                    ]
                )
                continue
            step = r.get("step_s", {}).get(name, c["step_s_alone"])
            ratio = r.get("ratio_to_optax", {}).get(name)
            peak = c["peak_bytes"] / 2**20 if c["peak_bytes"] else None
            body.append(
                [
                    r["leaves"],
                    human(r["leaves"] * LEAF_SIZE),
                    r["kind"],
                    name,
                    c["lower_s"] + c["compile_s"],
                    c["fusions"],
                    step * 1e3,
                    ratio,
                    peak,
                ]
            )
    print(table(heads, body), "\n")
    print("### fast path: speed-up over optax and same numbers\n")
    heads = [
        "leaves",
        "kind",
        "compile x (optax/fast)",
        "step x (optax/fast)",
        "identical to optaxlr",
        "max rel diff vs optax",
    ]
    body = []
    for r in results:
        c = r["contenders"]
        fast = c.get("multi_tensor", {})
        ref = c.get("optax", {})
        cx = sx = None
        if "compile_s" in fast:
            fast_c = fast["lower_s"] + fast["compile_s"]
            if "compile_s" in ref:
                cx = (ref["lower_s"] + ref["compile_s"]) / fast_c
            elif "compile_over_s" in ref:
                cx = f"> {ref['compile_over_s'] / fast_c:.0f}"
        if r.get("ratio_to_optax", {}).get("multi_tensor"):
            sx = 1.0 / r["ratio_to_optax"]["multi_tensor"]
        chk = r.get("check", {})
        same = chk.get("optaxlr", {}).get("identical")
        rel = chk.get("optax", {}).get("max_rel_diff")
        body.append([r["leaves"], r["kind"], cx, sx, "-" if same is None else str(same), rel])
    print(table(heads, body), "\n", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leaves", type=int, nargs="*", default=[1, 10, 100, 1000])
    ap.add_argument("--kinds", nargs="*", default=["adamw", "clip_adamw"])
    ap.add_argument("--contenders", nargs="*", default=list(CONTENDERS), choices=CONTENDERS)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=float, default=0.1)
    ap.add_argument("--limit", type=float, default=540, help="seconds per (leaves, kind)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="bench_many_leaves", help="results file name")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument(
        "--train",
        action="store_true",
        help="time a whole training step (gradient of a toy loss + update), not the update alone",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.leaves[0], args.kinds[0], args.contenders, args.rounds, args.block, args.train)
        return None
    what = "whole training step" if args.train else "optimizer step"
    header(f"bench_many_leaves: per-leaf optimizers vs the multi-tensor fast path ({what})")
    results = []
    for leaves in args.leaves:
        for kind in args.kinds:
            r = run_child(
                leaves, kind, args.contenders, args.rounds, args.block, args.limit, args.train
            )
            results.append(r)
            print(
                f"  {leaves} leaves, {kind}: "
                + ", ".join(
                    f"{n} {c['lower_s'] + c['compile_s']:.2f}s"
                    if "compile_s" in c
                    else f"{n} > {c['compile_over_s']:.0f}s"
                    for n, c in r["contenders"].items()
                ),
                flush=True,
            )
    print()
    print_tables(results)
    name = args.name + ("_train" if args.train and args.name == "bench_many_leaves" else "")
    payload = {"leaf_size": LEAF_SIZE, "train": args.train, "results": results}
    path = save(name, payload, None if args.no_save else args.out)
    if path:
        print(f"results: {path}")
    return results


if __name__ == "__main__":
    main()
