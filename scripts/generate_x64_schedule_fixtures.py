"""Generates tests/fixtures/schedule_float64.npz: torch.optim with an LR scheduler, in float64.

Run with a reference environment that has torch (never optaxlr)::

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/generate_x64_schedule_fixtures.py

Each run gives a torch optimizer on float64 parameters fixed gradients
(``p.grad = g``, drawn from a seeded generator) for ``STEPS`` steps, calls its
scheduler's ``step()`` after every ``optimizer.step()``, and records the
parameters after the steps in ``checkpoints``. ``torch.set_default_dtype(torch.float64)``
makes torch's scalar state float64 too, so the learning rate of every step,
the schedule's value, is a float64 number: optaxlr under ``jax_enable_x64``,
whose schedules then compute in float64, must match to rtol 1e-10 (a schedule
computed in float32 and cast to float64 is off by about 1e-8).

``manifest`` (JSON) lists each run's torch optimizer and scheduler with their
kwargs, the matching optaxlr alias kwargs and schedule config, the torch version
and this script's path.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import torch
from _torch_fixture import save

LEAVES = {"w": (8, 4), "b": (4,)}
STEPS = 200
CHECKPOINTS = [1, 2, 10, 50, 100, 150, 200]
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "schedule_float64.npz"

# name: (optaxlr alias, alias kwargs, optaxlr schedule config,
#        torch optimizer, its kwargs, torch scheduler, its kwargs)
RUNS = {
    "adamw_cosine": (
        "adamw", {"weight_decay": 0.1},
        {"name": "cosine", "init_value": 1e-2, "decay_steps": STEPS, "end_value": 1e-4},
        "AdamW", {"lr": 1e-2, "weight_decay": 0.1},
        "CosineAnnealingLR", {"T_max": STEPS, "eta_min": 1e-4},
    ),
    "sgd_momentum_one_cycle": (
        "sgd", {"momentum": 0.9},
        {"name": "one_cycle", "max_value": 0.05, "total_steps": STEPS},
        "SGD", {"lr": 0.05, "momentum": 0.9},
        "OneCycleLR", {"max_lr": 0.05, "total_steps": STEPS, "cycle_momentum": False},
    ),
}


def _unflat(flat: np.ndarray) -> list[np.ndarray]:
    out, i = [], 0
    for shape in LEAVES.values():
        n = int(np.prod(shape))
        out.append(flat[i : i + n].reshape(shape))
        i += n
    return out


def _run(opt_cls: str, opt_kwargs: dict, sched_cls: str, sched_kwargs: dict,
         init: np.ndarray, grads: np.ndarray) -> np.ndarray:
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in _unflat(init)]
    opt = getattr(torch.optim, opt_cls)(params, foreach=False, **opt_kwargs)
    scheduler = getattr(torch.optim.lr_scheduler, sched_cls)(opt, **sched_kwargs)
    out = []
    for step in range(1, STEPS + 1):
        for p, g in zip(params, _unflat(grads[step - 1]), strict=True):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        if step < STEPS:  # OneCycleLR raises when stepped past total_steps
            scheduler.step()
        if step in CHECKPOINTS:
            out.append(np.concatenate([p.detach().numpy().reshape(-1) for p in params]))
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    size = sum(int(np.prod(s)) for s in LEAVES.values())
    init = rng.uniform(-1, 1, size).astype(np.float64)
    grads = 0.1 * rng.standard_normal((STEPS, size))
    arrays: dict[str, np.ndarray] = {"checkpoints": np.asarray(CHECKPOINTS), "init": init,
                                     "grads": grads}
    runs = []
    torch.set_default_dtype(torch.float64)
    for name, (alias, alias_kwargs, schedule, opt_cls, opt_kwargs, sched_cls,
               sched_kwargs) in RUNS.items():
        arrays[name] = _run(opt_cls, opt_kwargs, sched_cls, sched_kwargs, init, grads)
        runs.append({"name": name, "optimizer": alias, "optaxlr": alias_kwargs,
                     "schedule": schedule,
                     "torch": {"class": opt_cls, "kwargs": opt_kwargs,
                               "scheduler": sched_cls, "scheduler_kwargs": sched_kwargs}})
    if "optaxlr" in sys.modules:
        raise RuntimeError("a peer imported optaxlr; the references would not be independent")
    save(args.out, arrays, __file__, LEAVES, STEPS, runs)


if __name__ == "__main__":
    main()
