"""Shared machinery for the benchmarks: trees, timing, XLA statistics, tables, results.

Method
------
* Compile time: ``jax.jit(step).lower(...)`` and ``.compile()`` timed separately,
  on a fresh function, so no cache is hit.
* Step time: the jitted step ``(params, state, grads) -> (params, state)`` with
  ``donate_argnums=(0, 1)``, run ``inner`` times between two
  ``block_until_ready``; that block is repeated ``rounds`` times for every
  contender *in turn* (A B C A B C ...), so a change of machine load hits all of
  them alike. Reported: the median time per step; a ratio is the median over
  rounds of the per-round ratio (paired), which cancels most of the load drift.
* Memory: XLA's ``memory_analysis()`` of the compiled step: arguments + outputs
  - donated aliases + temporaries, the peak a step needs.
* Fusions: the number of ``fusion`` instructions in the optimized HLO: each is
  one loop nest XLA compiles and runs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

RESULTS = HERE / "results"
SETTLE_S = 0.02  # pause after each timed block (see `interleaved`)

try:  # optional peer
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_TORCH = False


# --- trees ---------------------------------------------------------------------


def make_tree(leaves: int, total: int, dtype: Any = jnp.float32, seed: int = 0) -> dict:
    """``leaves`` float arrays of ``total // leaves`` elements each, distinct values."""
    size = max(1, total // leaves)
    key = jax.random.key(seed)
    base = jax.random.normal(key, (size,), jnp.float32)
    return {f"w{i:05d}": (base * (1.0 + i * 1e-3)).astype(dtype) for i in range(leaves)}


def grads_like(params: Any, scale: float = 1e-2) -> Any:
    return jax.tree.map(lambda p: (p * scale + 1e-3).astype(p.dtype), params)


def copy_tree(tree: Any) -> Any:
    return jax.tree.map(jnp.copy, tree)


def num_params(tree: Any) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def nbytes(tree: Any) -> int:
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def human(n: float) -> str:
    for unit, div in (("e8", 1e8), ("e7", 1e7), ("e6", 1e6), ("e5", 1e5), ("e4", 1e4)):
        if n >= div and n % div == 0:
            return f"{int(n // div)}{unit}"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return str(int(n))


# --- JAX steps -------------------------------------------------------------------


def jax_step(opt: optax.GradientTransformation) -> Callable:
    """The train-step tail every benchmark times: update + apply_updates."""

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


class Compiled:
    """A compiled donated step with its compile statistics."""

    def __init__(self, step: Callable, params: Any, state: Any, grads: Any, donate: bool = True):
        fn = jax.jit(step, donate_argnums=(0, 1) if donate else ())
        t0 = time.perf_counter()
        lowered = fn.lower(params, state, grads)
        t1 = time.perf_counter()
        self.executable = lowered.compile()
        t2 = time.perf_counter()
        self.lower_s = t1 - t0
        self.compile_s = t2 - t1
        self.fusions = count_fusions(self.executable)
        self.peak_bytes = peak_bytes(self.executable)

    @property
    def total_compile_s(self) -> float:
        return self.lower_s + self.compile_s


def count_fusions(executable: Any) -> int:
    """The ``fusion`` instructions of a compiled executable's optimized HLO."""
    hlo = executable.as_text() or ""
    return len(re.findall(r"^\s*\S+ = \S+ fusion\(", hlo, re.MULTILINE))


def peak_bytes(executable: Any) -> int | None:
    try:
        m = executable.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if m is None:
        return None
    return int(
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        - m.alias_size_in_bytes
        + m.temp_size_in_bytes
    )


def bytes_accessed(executable: Any) -> float | None:
    try:
        cost = executable.cost_analysis()
    except Exception:
        return None
    if isinstance(cost, list):
        cost = cost[0] if cost else None
    if not cost:
        return None
    return float(cost.get("bytes accessed", float("nan")))


class JaxRunner:
    """Runs a compiled donated step in place: ``params, state = step(params, state, grads)``."""

    def __init__(self, compiled: Compiled, params: Any, state: Any, grads: Any, keep_initial=False):
        self.compiled = compiled
        self._start = (copy_tree(params), copy_tree(state)) if keep_initial else None
        self.params, self.state, self.grads = copy_tree(params), copy_tree(state), grads
        self(2)  # warm up

    def initial(self) -> tuple[Any, Any]:
        """Fresh copies of the starting parameters and state (needs ``keep_initial``)."""
        return copy_tree(self._start[0]), copy_tree(self._start[1])

    def __call__(self, n: int) -> None:
        f, p, s, g = self.compiled.executable, self.params, self.state, self.grads
        for _ in range(n):
            p, s = f(p, s, g)
        jax.block_until_ready((p, s))
        self.params, self.state = p, s


def optimizer_runner(opt: optax.GradientTransformation, params: Any) -> JaxRunner:
    """A `JaxRunner` of ``opt``'s donated step on ``params`` with `grads_like` gradients."""
    grads = grads_like(params)
    state = opt.init(params)
    return JaxRunner(Compiled(jax_step(opt), params, state, grads), params, state, grads)


# --- torch peer ------------------------------------------------------------------


class TorchRunner:
    """``torch.optim`` on the same shapes: ``optimizer.step()`` with fixed ``.grad``."""

    def __init__(self, params: Any, kind: str, impl: str, lr: float = 1e-3):
        import torch

        self.torch = torch
        self.tensors = [
            torch.from_numpy(np.array(x, dtype=np.float32)) for x in jax.tree.leaves(params)
        ]
        for t in self.tensors:
            t.grad = t * 1e-2 + 1e-3
        flags = {"foreach": True} if impl == "foreach" else {"fused": True}
        self.clip = kind == "clip_adamw"
        if kind in ("adamw", "clip_adamw"):
            self.opt = torch.optim.AdamW(self.tensors, lr=lr, weight_decay=1e-2, **flags)
        elif kind == "sgdm":
            self.opt = torch.optim.SGD(self.tensors, lr=lr, momentum=0.9, **flags)
        else:
            raise ValueError(kind)
        self.foreach = impl == "foreach"
        self(2)

    def __call__(self, n: int) -> None:
        torch = self.torch
        with torch.no_grad():
            for _ in range(n):
                if self.clip:
                    torch.nn.utils.clip_grad_norm_(self.tensors, 1.0, foreach=True)
                self.opt.step()

    @property
    def state_bytes(self) -> int:
        total = sum(t.numel() * t.element_size() * 2 for t in self.tensors)  # params + grads
        for st in self.opt.state.values():
            for v in st.values():
                if hasattr(v, "numel"):
                    total += v.numel() * v.element_size()
        return total


def torch_version() -> str | None:
    if not HAVE_TORCH:
        return None
    import torch

    return torch.__version__


# --- interleaved timing ------------------------------------------------------------


def calibrate(run: Callable[[int], None], target_s: float) -> int:
    """Steps per timed block so that a block lasts about ``target_s``."""
    t0 = time.perf_counter()
    run(1)
    dt = max(time.perf_counter() - t0, 1e-6)
    return int(max(1, min(100_000, target_s / dt)))


def interleaved(
    runners: dict[str, Callable[[int], None]],
    rounds: int,
    block_s: float,
    settle_s: float = SETTLE_S,
) -> dict[str, list[float]]:
    """Seconds per step of every runner, ``rounds`` blocks each, run in turn.

    A short sleep (``settle_s``) follows every block: torch's OpenMP workers
    spin for a while after a parallel region, and would otherwise slow
    whichever runner comes next (0 where no torch runner takes part). Each round
    runs the runners in a new random order (seeded, so reruns are alike): on
    small steps the position in a round, and which runner came just before,
    moved a runner's time by more than the differences being measured, so a
    fixed order (or a rotation, which keeps the neighbours) would bias the
    ratios.
    """
    inner = {name: calibrate(run, block_s) for name, run in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    order = random.Random(0)
    for _ in range(rounds):
        for name in order.sample(list(runners), len(runners)):
            run = runners[name]
            n = inner[name]
            t0 = time.perf_counter()
            run(n)
            times[name].append((time.perf_counter() - t0) / n)
            time.sleep(settle_s)
    return times


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a[i] / b[i]."""
    if not a or not b:
        return float("nan")
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


# --- output ------------------------------------------------------------------------


def fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:.{decimals}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, sep, *body])


def environment() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {
        "jax": jax.__version__,
        "optax": optax.__version__,
        "torch": torch_version(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "loadavg": [round(x, 2) for x in load],
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def load_line() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover
        return "load average: unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def save(name: str, payload: dict[str, Any], out_dir: Path | None) -> Path | None:
    if out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {"environment": environment(), **payload}
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path


def header(title: str) -> None:
    env = environment()
    print(f"\n## {title}\n")
    print(
        f"jax {env['jax']} ({env['backend']}), optax {env['optax']}, "
        f"torch {env['torch'] or 'not installed'}; {load_line()}\n",
        flush=True,
    )
