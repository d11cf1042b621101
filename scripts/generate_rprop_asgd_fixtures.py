"""Generates tests/fixtures/optimizers_rprop_asgd.npz: torch.optim.Rprop and torch.optim.ASGD runs.

Run with a reference environment that has the peer (never optaxlr: the fixtures
must come from the peer alone)::

    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/generate_rprop_asgd_fixtures.py

The problem is ``generate_optimizer_fixtures.py``'s (a two-layer tanh network, 200
steps, minibatches of 16), as in ``generate_new_optimizer_fixtures.py``. For every
run (the defaults and two other configurations of each, ``foreach=False``: the
single-tensor path) the file holds:

* ``<run>/<dtype>/grads``, ``<run>/<dtype>/params`` for ``dtype`` in float32 and
  float64 (the float64 run is the same problem with
  ``torch.set_default_dtype(torch.float64)``);
* ``<run>/<dtype>/ax`` for ASGD: its averaged parameters at the checkpoints;
* ``complex/<run>/grads``, ``complex/<run>/params``, ``complex/init``: 100 steps of a
  complex64 least-squares problem, for the runs listed under ``complex_runs``.

No run has a schedule: Rprop reads ``lr`` once (the initial step size), and a
PyTorch LR scheduler reaches ASGD's rate one step late (ASGD computes the next
step's rate at the end of a step).

Each run is conditioned: ``manifest["conditioning"][run]`` is the largest
``|p64 - p32| / max(|p64|, 0.1)`` over the checkpoints between the peer's own
float64 and float32 runs, and the largest per-step disagreement as a fraction of
the rate. Rprop's sign logic makes the two diverge once a gradient's sign differs
between float32 and float64; the settings here (and the check) keep that out.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import BATCH, CHECKPOINTS, LEAVES, N_EXAMPLES, STEPS, _problem

OUT = (
    pathlib.Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "optimizers_rprop_asgd.npz"
)
COMPLEX_STEPS = 100
COMPLEX_CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100]
CLASSES = {"rprop": "torch.optim.Rprop", "asgd": "torch.optim.ASGD"}


def _grid() -> list[dict]:
    runs = []

    def add(name, optimizer, torch_kwargs, alias_kwargs):
        runs.append(
            {
                "name": name,
                "optimizer": optimizer,
                "peer": {"class": CLASSES[optimizer], "kwargs": torch_kwargs, "scheduler": None},
                "optaxlr": {"kwargs": alias_kwargs, "schedules": {}},
            }
        )

    add("rprop_default", "rprop", {}, {})
    add(
        "rprop_etas",
        "rprop",
        {"lr": 1e-2, "etas": (0.4, 1.3)},
        {"learning_rate": 1e-2, "etas": (0.4, 1.3)},
    )
    add(
        "rprop_step_sizes",
        "rprop",
        {"lr": 5e-3, "step_sizes": (1e-4, 2e-2)},
        {"learning_rate": 5e-3, "step_sizes": (1e-4, 2e-2)},
    )
    add("asgd_default", "asgd", {}, {})
    add(
        "asgd_average",
        "asgd",
        {"lr": 5e-2, "lambd": 1e-3, "alpha": 0.6, "t0": 50.0},
        {"learning_rate": 5e-2, "lambd": 1e-3, "alpha": 0.6, "t0": 50.0},
    )
    add(
        "asgd_wd",
        "asgd",
        {"lr": 1e-2, "t0": 20.0, "weight_decay": 1e-3},
        {"learning_rate": 1e-2, "t0": 20.0, "weight_decay": 1e-3},
    )
    return runs


def _optimizer(spec: dict, params: list[torch.Tensor]):
    kwargs = dict(spec["peer"]["kwargs"], foreach=False)  # the single-tensor path
    cls = torch.optim.Rprop if spec["optimizer"] == "rprop" else torch.optim.ASGD
    return cls(params, **kwargs), None


def _ax(opt, params: list[torch.Tensor], dtype) -> np.ndarray | None:
    if not isinstance(opt, torch.optim.ASGD):
        return None
    return _flat([opt.state[p]["ax"] for p in params], dtype)


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2 = params
    opt, scheduler = _optimizer(spec, params)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, axs, lrs, trajectory = [], [], [], [], [_flat(params, np.float64)]
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        out = torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2
        loss = torch.mean((out - yt[rows]) ** 2)
        loss.backward()
        grads.append(_flat([p.grad for p in params], dtype))
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None and t < STEPS - 1:
            scheduler.step()
        trajectory.append(_flat(params, np.float64))
        if t + 1 in CHECKPOINTS:
            snapshots.append(_flat(params, dtype))
            axs.append(_ax(opt, params, dtype))
    torch.set_default_dtype(torch.float32)
    out = {"grads": np.stack(grads), "params": np.stack(snapshots)}
    if axs[0] is not None:
        out["ax"] = np.stack(axs)
    out["lrs"] = np.asarray(lrs, np.float64)
    out["steps"] = np.diff(np.stack(trajectory), axis=0)  # not saved: for the conditioning
    return out


def _complex_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260118)
    a = (rng.standard_normal((16, 6)) + 1j * rng.standard_normal((16, 6))).astype(np.complex64)
    b = (rng.standard_normal(16) + 1j * rng.standard_normal(16)).astype(np.complex64)
    p0 = (0.5 * (rng.standard_normal(6) + 1j * rng.standard_normal(6))).astype(np.complex64)
    return a, b, p0


def _complex_run(spec: dict) -> dict[str, np.ndarray]:
    a, b, p0 = (torch.from_numpy(v) for v in _complex_problem())
    p = torch.tensor(p0.numpy().copy(), requires_grad=True)
    opt, scheduler = _optimizer(spec, [p])
    grads, snapshots, axs = [], [], []
    for t in range(COMPLEX_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = torch.sum(torch.abs(a @ p - b) ** 2) / 16
        loss.backward()
        assert p.grad is not None
        grads.append(p.grad.detach().numpy().copy())
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if t + 1 in COMPLEX_CHECKPOINTS:
            snapshots.append(p.detach().numpy().copy())
            if isinstance(opt, torch.optim.ASGD):
                axs.append(opt.state[p]["ax"].numpy().copy())
    out = {"grads": np.stack(grads), "params": np.stack(snapshots)}
    if axs:
        out["ax"] = np.stack(axs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init, x, y = _problem()
    runs = _grid()
    arrays: dict[str, np.ndarray] = {
        "init": np.concatenate([init[k].reshape(-1) for k in LEAVES]),
        "checkpoints": np.asarray(CHECKPOINTS, np.int32),
        "complex/init": _complex_problem()[2],
        "complex/checkpoints": np.asarray(COMPLEX_CHECKPOINTS, np.int32),
    }
    conditions = {}
    complex_runs = []
    for spec in runs:
        by_dtype = {dt.__name__: _run(spec, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            arrays[f"{spec['name']}/{dtype}/grads"] = result["grads"]
            arrays[f"{spec['name']}/{dtype}/params"] = result["params"]
            if "ax" in result:
                arrays[f"{spec['name']}/{dtype}/ax"] = result["ax"]
        conditions[spec["name"]] = conditioning(
            spec["name"], by_dtype["float32"], by_dtype["float64"]
        )
        if spec["name"] in ("rprop_default", "rprop_etas", "asgd_default", "asgd_average"):
            for key, value in _complex_run(spec).items():
                arrays[f"complex/{spec['name']}/{key}"] = value
            complex_runs.append(spec["name"])
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        runs,
        versions={"torch": torch.__version__},
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
        complex_runs=complex_runs,
        complex_steps=COMPLEX_STEPS,
    )


if __name__ == "__main__":
    main()
