"""Large leaves: the fused CPU step against torch's fused optimizers and the bandwidth floor.

One run, side by side, alternating order: AdamW and SGD with momentum (0.9) on
4 x 16M, 1 x 64M and 64 x 1M float32 parameters, donated and jitted:

* ``optaxlr fused``: the alias in a process started with
  ``XLA_FLAGS=--xla_backend_extra_options=xla_cpu_use_multi_output_fusion``
  (`optaxlr.fast.enable_cpu_fusion`), where it takes the fused form;
* ``optaxlr default`` and ``optax``: a process without the option (today's);
* ``torch fused``: ``torch.optim.AdamW(fused=True)`` / ``torch.optim.SGD(fused=True)``
  (``--torch-python``, default ``/tmp/torchref/bin/python``);
* ``floor``: a streaming C loop (compiled here with the system ``cc -O3 -fopenmp``,
  loaded with ctypes, for this benchmark only) that reads and writes exactly the
  arrays the step must (AdamW: reads p, g, m, v, writes p, m, v, 28 bytes per
  parameter; SGD: reads p, g, b, writes p, b, 20 bytes) with next to no arithmetic:
  what the memory bandwidth allows a single pass.

Each contender lives in its own worker process (the XLA option is fixed when the
backend starts, and torch comes from another virtualenv); the driver asks them in
turn, in a new random order every round, to run a block of steps, and each times
its own block. A ratio is the median over rounds of the per-round ratio.

``--train`` instead times a whole training step of an MLP (jitted, AdamW inside)
with and without the option, and the forward and backward pass alone, to check
that the option does not slow the model's own loops.

    python benchmarks/bench_big_leaf.py                 # ~5 min
    python benchmarks/bench_big_leaf.py --train
    python benchmarks/bench_big_leaf.py --shapes 2x1e4 --rounds 1   # seconds (smoke.py)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLAG = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
SHAPES = ((4, 1 << 24), (1, 1 << 26), (64, 1 << 20))
KINDS = ("adamw", "sgdm")
BYTES = {"adamw": 28, "sgdm": 20}  # per float32 parameter, one pass
LR = 1e-3

FLOOR_C = r"""
// One pass over the arrays an optimizer step must read and write, nothing more; all
// leaves in one parallel region (one barrier a step, however many leaves).
void adamw_floor(float **p, float **g, float **m, float **v, long leaves, long n, float a) {
  #pragma omp parallel
  for (long j = 0; j < leaves; j++) {
    float *pj = p[j], *gj = g[j], *mj = m[j], *vj = v[j];
    #pragma omp for simd schedule(static) nowait
    for (long i = 0; i < n; i++) {
      float gi = gj[i];
      float mi = mj[i] + a * gi;
      float vi = vj[i] + a * gi * gi;
      mj[i] = mi;
      vj[i] = vi;
      pj[i] = pj[i] - a * (mi + vi);
    }
  }
}
void sgdm_floor(float **p, float **g, float **b, long leaves, long n, float a) {
  #pragma omp parallel
  for (long j = 0; j < leaves; j++) {
    float *pj = p[j], *gj = g[j], *bj = b[j];
    #pragma omp for simd schedule(static) nowait
    for (long i = 0; i < n; i++) {
      float bi = 0.9f * bj[i] + gj[i];
      bj[i] = bi;
      pj[i] = pj[i] - a * bi;
    }
  }
}
"""


# --- workers: one process each, driven over stdin/stdout -------------------------


class JaxContenders:
    """optaxlr / optax steps (this process's XLA_FLAGS decides the form)."""

    def __init__(self, names):
        self.names = names
        self.runners = {}
        self.info = {}

    def setup(self, kind, leaves, size):
        import jax
        import optax

        import optaxlr

        make = {
            ("adamw", "optaxlr"): lambda: optaxlr.adamw(LR, weight_decay=1e-2),
            ("adamw", "optax"): lambda: optax.adamw(LR, weight_decay=1e-2),
            ("sgdm", "optaxlr"): lambda: optaxlr.sgd(LR, momentum=0.9),
            ("sgdm", "optax"): lambda: optax.sgd(LR, momentum=0.9),
        }
        key = jax.random.key(0)
        for name in self.names:
            opt = make[(kind, name.split()[0])]()
            params = {
                f"w{i:03d}": jax.random.normal(jax.random.fold_in(key, i), (size,))
                for i in range(leaves)
            }
            grads = jax.tree.map(lambda p: p * 1e-2 + 1e-3, params)

            def step(p, s, g, opt=opt):
                u, s = opt.update(g, s, p)
                return optax.apply_updates(p, u), s

            state = opt.init(params)
            f = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
            cost = f.cost_analysis()
            cost = (cost[0] if isinstance(cost, list) else cost) or {}
            box = {"p": params, "s": state}

            def run(n, f=f, box=box, grads=grads):
                p, s = box["p"], box["s"]
                for _ in range(n):
                    p, s = f(p, s, grads)
                jax.block_until_ready((p, s))
                box["p"], box["s"] = p, s

            run(2)
            self.runners[name] = run
            self.info[name] = {
                "xla_bytes_per_param": float(cost["bytes accessed"]) / (leaves * size),
                "fused": optaxlr.fast.cpu_fusion_active(),
            }
        return self.info

    def teardown(self):
        self.runners.clear()
        import gc

        gc.collect()


class TorchContenders:
    def __init__(self, names):
        self.names = names
        self.runners = {}

    def setup(self, kind, leaves, size):
        import torch

        torch.manual_seed(0)
        tensors = [torch.randn(size) for _ in range(leaves)]
        for t in tensors:
            t.grad = t * 1e-2 + 1e-3
        if kind == "adamw":
            opt = torch.optim.AdamW(tensors, lr=LR, weight_decay=1e-2, fused=True)
        else:
            opt = torch.optim.SGD(tensors, lr=LR, momentum=0.9, fused=True)

        def run(n):
            with torch.no_grad():
                for _ in range(n):
                    opt.step()

        run(2)
        self.runners["torch fused"] = run
        return {"torch fused": {"torch": torch.__version__, "threads": torch.get_num_threads()}}

    def teardown(self):
        self.runners.clear()


class FloorContenders:
    def __init__(self, names, library):
        import ctypes

        self.lib = ctypes.CDLL(library)
        self.runners = {}

    def setup(self, kind, leaves, size):
        import ctypes

        import numpy as np

        rng = np.random.default_rng(0)
        count = 4 if kind == "adamw" else 3
        arrays = [
            [rng.standard_normal(size, dtype=np.float32) for _ in range(count)]
            for _ in range(leaves)
        ]
        fn = getattr(self.lib, f"{kind}_floor")
        pointers = ctypes.c_void_p * leaves
        # One C array of pointers per operand (p, g, m, v), each listing the leaves.
        args = [pointers(*[arrs[k].ctypes.data for arrs in arrays]) for k in range(count)]
        sizes = (ctypes.c_long(leaves), ctypes.c_long(size), ctypes.c_float(1e-7))

        def run(k):
            for _ in range(k):
                fn(*args, *sizes)

        run(2)
        self.arrays = arrays
        self.runners["floor"] = run
        return {"floor": {}}

    def teardown(self):
        self.runners.clear()
        self.arrays = None


class TrainContenders:
    """An MLP's whole jitted training step (AdamW inside), and its gradient alone."""

    def __init__(self, names):
        self.names = names
        self.runners = {}

    def setup(self, kind, leaves, size):
        import jax
        import jax.numpy as jnp
        import optax

        import optaxlr

        widths = (784, 2048, 2048, 2048, 10)
        key = jax.random.key(0)
        params = [
            {
                "w": jax.random.normal(jax.random.fold_in(key, i), (a, b)) / a**0.5,
                "b": jnp.zeros(b),
            }
            for i, (a, b) in enumerate(itertools.pairwise(widths))
        ]
        x = jax.random.normal(jax.random.fold_in(key, 99), (256, widths[0]))
        y = jax.random.randint(jax.random.fold_in(key, 98), (256,), 0, widths[-1])

        def loss(params):
            h = x
            for layer in params[:-1]:
                h = jax.nn.relu(h @ layer["w"] + layer["b"])
            logits = h @ params[-1]["w"] + params[-1]["b"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        opt = optaxlr.adamw(LR, weight_decay=1e-2)
        suffix = " (option)" if os.environ.get("XLA_FLAGS") else " (no option)"

        def train(p, s):
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s

        state = opt.init(params)
        step = jax.jit(train, donate_argnums=(0, 1)).lower(params, state).compile()
        grad = jax.jit(jax.grad(loss)).lower(params).compile()
        box = {"p": params, "s": state}

        def run_train(n):
            p, s = box["p"], box["s"]
            for _ in range(n):
                p, s = step(p, s)
            jax.block_until_ready((p, s))
            box["p"], box["s"] = p, s

        def run_grad(n):
            for _ in range(n):
                g = grad(box["p"])
            jax.block_until_ready(g)

        run_train(2)
        run_grad(2)
        self.runners["train step" + suffix] = run_train
        self.runners["forward+backward" + suffix] = run_grad
        n = sum(v.size for v in jax.tree.leaves(params))
        return {k: {"params": n} for k in self.runners}

    def teardown(self):
        self.runners.clear()


def worker(role: str, names: list[str], library: str | None) -> None:
    if role == "floor":
        contenders = FloorContenders(names, library)
    elif role == "torch":
        contenders = TorchContenders(names)
    elif role == "train":
        contenders = TrainContenders(names)
    else:
        contenders = JaxContenders(names)
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "setup":
            reply = contenders.setup(msg["kind"], msg["leaves"], msg["size"])
        elif msg["cmd"] == "run":
            t0 = time.perf_counter()
            contenders.runners[msg["name"]](msg["n"])
            reply = time.perf_counter() - t0
        elif msg["cmd"] == "teardown":
            contenders.teardown()
            reply = None
        else:
            return
        print(json.dumps(reply), flush=True)


# --- driver ---------------------------------------------------------------------------


class Worker:
    def __init__(self, role, names, python, xla_flags, library=None):
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        env["JAX_PLATFORMS"] = "cpu"
        if xla_flags:
            env["XLA_FLAGS"] = xla_flags
        cmd = [python, str(Path(__file__).resolve()), "--worker", role, "--names", *names]
        if library:
            cmd += ["--library", library]
        self.names = names
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )

    def ask(self, **msg):
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.names} died")
        return json.loads(line)

    def close(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def build_floor(tmp: Path) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc) on PATH: the floor kernel needs one")
    src, lib = tmp / "floor.c", tmp / "floor.so"
    src.write_text(FLOOR_C)
    subprocess.run(
        [cc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", str(src), "-o", str(lib)],
        check=True,
    )
    return str(lib)


def interleave(workers, config, rounds, block_s, settle_s=0.02):
    """Seconds per step for every contender: ``rounds`` blocks each, in a new order each round."""
    owner = {name: w for w in workers for name in w.names}
    info = {}
    for w in workers:
        info.update(w.ask(cmd="setup", **config))
    steps = {}
    for name, w in owner.items():
        t = w.ask(cmd="run", name=name, n=1)
        steps[name] = max(1, round(block_s / max(t, 1e-6)))
    times = {name: [] for name in owner}
    order = random.Random(0)
    for _ in range(rounds):
        for name in order.sample(list(owner), len(owner)):
            times[name].append(owner[name].ask(cmd="run", name=name, n=steps[name]) / steps[name])
            time.sleep(settle_s)
    for w in workers:
        w.ask(cmd="teardown")
    return times, info


def paired(a, b):
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def run_optimizers(args, tmp):
    workers = [
        Worker("jax", ["optaxlr fused"], sys.executable, FLAG),
        Worker("jax", ["optaxlr default", "optax"], sys.executable, None),
    ]
    if shutil.which("cc") or shutil.which("gcc"):
        workers.append(Worker("floor", ["floor"], sys.executable, None, build_floor(tmp)))
    if Path(args.torch_python).exists():
        workers.append(Worker("torch", ["torch fused"], args.torch_python, None))
    results = []
    try:
        for kind in args.kinds:
            for leaves, size in args.shapes:
                before = loadavg()
                config = {"kind": kind, "leaves": leaves, "size": size}
                times, info = interleave(workers, config, args.rounds, args.block)
                results.append(
                    {**config, "times": times, "info": info, "load": [before, loadavg()]}
                )
                report_one(results[-1])
    finally:
        for w in workers:
            w.close()
    return results


def report_one(r):
    n = r["leaves"] * r["size"]
    times = r["times"]
    torch_t = times.get("torch fused")
    print(
        f"\n### {r['kind']}, {r['leaves']} x {r['size'] / 2**20:g}M "
        f"(load {r['load'][0]} -> {r['load'][1]})\n"
    )
    print("| step | ms | GB/s | x torch fused | x floor | XLA bytes/param |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        ms = statistics.median(t) * 1e3
        gbps = BYTES[r["kind"]] * n / (ms / 1e3) / 1e9
        vs_torch = f"{paired(t, torch_t):.2f}" if torch_t else "-"
        vs_floor = f"{paired(t, times['floor']):.2f}" if "floor" in times else "-"
        xb = r["info"].get(name, {}).get("xla_bytes_per_param")
        xb = f"{xb:.0f}" if xb else "-"
        print(f"| {name} | {ms:.1f} | {gbps:.1f} | {vs_torch} | {vs_floor} | {xb} |")
    sys.stdout.flush()


def run_train(args):
    workers = [
        Worker("train", ["train step (option)", "forward+backward (option)"], sys.executable, FLAG),
        Worker(
            "train",
            ["train step (no option)", "forward+backward (no option)"],
            sys.executable,
            None,
        ),
    ]
    try:
        before = loadavg()
        times, info = interleave(
            workers, {"kind": "mlp", "leaves": 0, "size": 0}, args.rounds, args.block
        )
    finally:
        for w in workers:
            w.close()
    print(f"\n### MLP 784-2048-2048-2048-10, batch 256, AdamW (load {before} -> {loadavg()})\n")
    print("| step | ms | x without the option |")
    print("|---|---:|---:|")
    for what in ("train step", "forward+backward"):
        for flag in ("option", "no option"):
            t = times[f"{what} ({flag})"]
            ratio = paired(t, times[f"{what} (no option)"])
            print(f"| {what} ({flag}) | {statistics.median(t) * 1e3:.1f} | {ratio:.3f} |")
    return [{"kind": "mlp", "times": times, "info": info, "load": [before, loadavg()]}]


def shape(text: str) -> tuple[int, int]:
    leaves, size = text.split("x")
    return int(leaves), int(float(size))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--names", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--library", help=argparse.SUPPRESS)
    parser.add_argument("--train", action="store_true", help="the whole-train-step check")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--shapes", nargs="*", type=shape, default=list(SHAPES), help="LxN")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=float, default=0.25, help="seconds per timed block")
    parser.add_argument("--torch-python", default="/tmp/torchref/bin/python")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.names or [], args.library)
        return
    print("\n## bench_big_leaf\n")
    print(f"load average {loadavg()} on {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory() as tmp:
        results = run_train(args) if args.train else run_optimizers(args, Path(tmp))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        name = "bench_big_leaf_train.json" if args.train else "bench_big_leaf.json"
        (args.out / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
