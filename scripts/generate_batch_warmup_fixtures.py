"""Generates tests/fixtures/batch_warmup.npz: torch loops accumulating a scheduled k.

Run with a reference environment that has torch (never optaxlr: the fixture must
come from the peer alone)::

    /tmp/torchref/bin/python scripts/generate_batch_warmup_fixtures.py

The problem is ``generate_optimizer_fixtures.py``'s two-layer tanh network, in
micro-batches of ``MICRO`` examples. Batch-size warmup: real update ``t`` averages
``k_t`` micro-batch gradients, ``k_t = 1, 2, 4`` from updates ``0, 20, 60`` on
(``K_BOUNDARIES``, ``K_VALUES``), for ``STEPS`` real updates. Each micro-batch
gradient is taken alone (``torch.autograd.grad``) and summed in order; the
update sets ``.grad`` to the sum over ``k_t``, and the rate to the base
schedule times the batch rule's factor (``LambdaLR``, stepped once per real
update): ``k_t / base_k`` (linear) or its square root (sqrt), or 1 (no rule).

For every run the file holds, for ``dtype`` in float32 and float64 (the same loop
under ``torch.set_default_dtype(torch.float64)``):

* ``<run>/<dtype>/grads``: every micro-batch's gradient, flattened;
* ``<run>/<dtype>/params``: the parameters after the real updates in ``checkpoints``;
* ``<run>/hparams/learning_rate``: the rate of each real update (the param group's).

``manifest["conditioning"][run]`` compares the float64 run with the float32 one.
"""

from __future__ import annotations

import argparse
import math
import pathlib

import numpy as np
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import CHECKPOINTS, LEAVES, N_EXAMPLES, STEPS, _problem

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "batch_warmup.npz"
MICRO = 4
K_BOUNDARIES, K_VALUES = (20, 60), (1, 2, 4)

RUNS = [
    {
        "name": "adamw_sqrt_cosine",
        "peer": {"class": "AdamW", "kwargs": {"lr": 1e-2, "weight_decay": 1e-2}},
        "cosine_end": 0.1,
        "rule": "sqrt",
        "base_k": 1,
    },
    {
        "name": "sgd_momentum_linear",
        "peer": {"class": "SGD", "kwargs": {"lr": 2e-2, "momentum": 0.9}},
        "cosine_end": None,
        "rule": "linear",
        "base_k": 2,
    },
    {
        "name": "adam_no_rule",
        "peer": {"class": "Adam", "kwargs": {"lr": 5e-3}},
        "cosine_end": 0.1,
        "rule": None,
        "base_k": 1,
    },
]


def k_at(t: int) -> int:
    """Micro-batches averaged by real update ``t``."""
    return K_VALUES[sum(t >= b for b in K_BOUNDARIES)]


def _factor(t: int, run: dict) -> float:
    """The base schedule (a cosine over STEPS from 1 to ``cosine_end``, or 1) times the batch
    rule's factor."""
    end = run["cosine_end"]
    base = 1.0 if end is None else end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t / STEPS))
    ratio = k_at(t) / run["base_k"]
    rule = {"linear": ratio, "sqrt": math.sqrt(ratio), None: 1.0}[run["rule"]]
    return base * rule


def _flat(tensors, dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(run: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2 = params
    opt = getattr(torch.optim, run["peer"]["class"])(params, **run["peer"]["kwargs"], foreach=False)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: _factor(t, run))
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, trajectory = [], [], [], [_flat(params, np.float64)]
    micro, t, acc = 0, 0, None
    while t < STEPS:
        first = (micro % (N_EXAMPLES // MICRO)) * MICRO
        rows = slice(first, first + MICRO)
        out = torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2
        g = torch.autograd.grad(torch.mean((out - yt[rows]) ** 2), params)
        grads.append(_flat(g, dtype))
        acc = (
            [gi.clone() for gi in g]
            if acc is None
            else [a + gi for a, gi in zip(acc, g, strict=True)]
        )
        micro += 1
        if len(grads) == sum(k_at(s) for s in range(t + 1)):  # the k_t-th of this update
            for p, a in zip(params, acc, strict=True):
                p.grad = a / k_at(t)
            lrs.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            scheduler.step()
            acc, t = None, t + 1
            trajectory.append(_flat(params, np.float64))
            if t in CHECKPOINTS:
                snapshots.append(_flat(params, dtype))
    torch.set_default_dtype(torch.float32)
    return {
        "grads": np.stack(grads),
        "params": np.stack(snapshots),
        "lrs": np.asarray(lrs, np.float64),
        "steps": np.diff(np.stack(trajectory), axis=0),  # not saved: for the conditioning
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init, x, y = _problem()
    arrays: dict[str, np.ndarray] = {
        "init": np.concatenate([init[k].reshape(-1) for k in LEAVES]),
        "checkpoints": np.asarray(CHECKPOINTS, np.int32),
    }
    conditions = {}
    for run in RUNS:
        by_dtype = {dt.__name__: _run(run, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            arrays[f"{run['name']}/{dtype}/grads"] = result["grads"]
            arrays[f"{run['name']}/{dtype}/params"] = result["params"]
        arrays[f"{run['name']}/hparams/learning_rate"] = by_dtype["float32"]["lrs"]
        conditions[run["name"]] = conditioning(
            run["name"], by_dtype["float32"], by_dtype["float64"]
        )
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        RUNS,
        versions={"torch": torch.__version__},
        micro_batch=MICRO,
        k_boundaries=list(K_BOUNDARIES),
        k_values=list(K_VALUES),
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
    )


if __name__ == "__main__":
    main()
