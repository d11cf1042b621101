"""Generates tests/fixtures/optimizers_2026.npz: Adamax (torch) and Lion (lion_pytorch) runs.

Run with a reference environment that has the peers (never optaxlr: the fixtures
must come from the peers alone)::

    /tmp/torchref/bin/pip install torch==2.13.0 lion-pytorch==0.2.5 numpy
    /tmp/torchref/bin/python scripts/generate_new_optimizer_fixtures.py

The problem is ``generate_optimizer_fixtures.py``'s (a two-layer tanh network, 200
steps, minibatches of 16). For every run (``torch.optim.Adamax`` or
``lion_pytorch.Lion``: the defaults, two other configurations, and a
``CosineAnnealingLR`` schedule) the file holds, as that script's:

* ``<run>/<dtype>/grads``, ``<run>/<dtype>/params`` for ``dtype`` in float32 and
  float64 (the float64 run is the same problem with
  ``torch.set_default_dtype(torch.float64)``: float64 data, parameters and grads);
* ``<run>/hparams/learning_rate`` for the scheduled runs, read from the param group
  before each ``step()``.
* ``complex/<run>/grads``, ``complex/<run>/params``, ``complex/init``: 100 steps of a
  complex64 least-squares problem (the gradients torch computed for complex
  parameters), for the runs listed under ``complex_runs``.

Each run is conditioned: ``manifest["conditioning"][run]`` is the largest
``|p64 - p32| / max(|p64|, 0.1)`` over the checkpoints between the peer's own
float64 and float32 runs, which must be well within the tests' rtol of 1e-5 (sign
updates, Lion's, flip where the float32 and float64 runs round differently near an
optimum; the settings here keep that from happening).
"""

from __future__ import annotations

import argparse
import pathlib

import lion_pytorch
import numpy as np
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import BATCH, CHECKPOINTS, LEAVES, N_EXAMPLES, STEPS, _problem

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optimizers_2026.npz"
COMPLEX_STEPS = 100
COMPLEX_CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100]


def _grid() -> list[dict]:
    runs = []

    def add(name, optimizer, torch_kwargs, alias_kwargs, cosine=None):
        scheduler = schedules = None
        if cosine is not None:
            scheduler = {
                "class": "CosineAnnealingLR",
                "kwargs": {"T_max": STEPS, "eta_min": cosine},
            }
            schedules = {
                "learning_rate": {
                    "schedule": "cosine",
                    "kwargs": {
                        "init_value": torch_kwargs["lr"],
                        "decay_steps": STEPS,
                        "end_value": cosine,
                    },
                }
            }
        runs.append(
            {
                "name": name,
                "optimizer": optimizer,
                "peer": {
                    "class": "torch.optim.Adamax" if optimizer == "adamax" else "lion_pytorch.Lion",
                    "kwargs": torch_kwargs,
                    "scheduler": scheduler,
                },
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules or {}},
            }
        )

    add("adamax_default", "adamax", {}, {})
    add(
        "adamax_wd_betas",
        "adamax",
        {"lr": 5e-3, "betas": (0.8, 0.99), "weight_decay": 1e-2},
        {"learning_rate": 5e-3, "b1": 0.8, "b2": 0.99, "weight_decay": 1e-2},
    )
    add(
        "adamax_eps",
        "adamax",
        {"lr": 1e-2, "eps": 1e-2},
        {"learning_rate": 1e-2, "eps": 1e-2},
    )
    add(
        "adamax_cosine",
        "adamax",
        {"lr": 1e-2, "weight_decay": 1e-3},
        {"weight_decay": 1e-3},
        cosine=1e-4,
    )
    add("lion_default", "lion", {}, {})
    add(
        "lion_wd",
        "lion",
        {"lr": 1e-4, "weight_decay": 1.0},
        {"learning_rate": 1e-4, "weight_decay": 1.0},
    )
    add(
        "lion_betas",
        "lion",
        {"lr": 2e-4, "betas": (0.95, 0.98)},
        {"learning_rate": 2e-4, "b1": 0.95, "b2": 0.98},
    )
    add(
        "lion_cosine", "lion", {"lr": 3e-4, "weight_decay": 0.1}, {"weight_decay": 0.1}, cosine=1e-5
    )
    return runs


def _optimizer(spec: dict, params: list[torch.Tensor]):
    kwargs = dict(spec["peer"]["kwargs"])
    if spec["optimizer"] == "adamax":
        kwargs["foreach"] = False  # the single-tensor path (PyTorch's default on CPU)
        opt = torch.optim.Adamax(params, **kwargs)
    else:
        opt = lion_pytorch.Lion(params, **kwargs)
    scheduler = None
    if spec["peer"]["scheduler"] is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, **spec["peer"]["scheduler"]["kwargs"]
        )
    return opt, scheduler


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2 = params
    opt, scheduler = _optimizer(spec, params)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, trajectory = [], [], [], [_flat(params, np.float64)]
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
    torch.set_default_dtype(torch.float32)
    out = {"grads": np.stack(grads), "params": np.stack(snapshots)}
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
    grads, snapshots = [], []
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
    return {"grads": np.stack(grads), "params": np.stack(snapshots)}


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
        if spec["peer"]["scheduler"] is not None:
            arrays[f"{spec['name']}/hparams/learning_rate"] = by_dtype["float32"]["lrs"]
        conditions[spec["name"]] = conditioning(
            spec["name"], by_dtype["float32"], by_dtype["float64"]
        )
        if spec["name"] in ("adamax_default", "adamax_wd_betas", "lion_wd", "lion_betas"):
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
        versions={"torch": torch.__version__, "lion_pytorch": _lion_version()},
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
        complex_runs=complex_runs,
        complex_steps=COMPLEX_STEPS,
    )


def _lion_version() -> str:
    from importlib.metadata import version

    return version("lion-pytorch")


if __name__ == "__main__":
    main()
