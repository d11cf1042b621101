"""Generates tests/fixtures/lamb_lars.npz: ``pytorch_optimizer.Lamb`` and ``.LARS`` runs.

Run with a reference environment that has the peer (never optaxlr: the fixtures
must come from the peer alone)::

    python -m venv /tmp/ref && /tmp/ref/bin/pip install numpy pytorch_optimizer==4.1.0 \
        torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu
    /tmp/ref/bin/python scripts/generate_lamb_lars_fixtures.py

The problem is ``generate_optimizer_fixtures.py``'s (a two-layer tanh network, 200
steps, minibatches of 16): two matrices and two bias vectors, so LARS's rule for
1-D parameters (no trust ratio, no decay) is exercised next to its matrix rule. For
every run (the defaults, non-default configurations, a ``CosineAnnealingLR``
schedule, and a ``maximize=True`` run that ascends the negated loss) the file holds:

* ``<run>/<dtype>/grads``, ``<run>/<dtype>/params`` for ``dtype`` in float32 and
  float64 (the float64 run is the same problem in ``torch.float64``);
* ``<run>/hparams/learning_rate`` for the scheduled runs, read before each ``step()``;
* ``complex/<run>/grads``, ``complex/<run>/params``, ``complex/init``: 100 steps of
  a complex64 least-squares problem with a (6, 2) matrix and a (2,) vector
  parameter (flattened, matrix first), for the runs under ``complex_runs``.

The manifest records the peer's versions, each run's conditioning (the peer's
float64 run against its float32 run, as ``_torch_fixture.conditioning``) and the
peer classes' signatures (name and default of every ``__init__`` argument), which
``tests/test_lamb_lars.py`` compares with the aliases'.
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
from importlib.metadata import version

import numpy as np
import pytorch_optimizer
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import BATCH, CHECKPOINTS, LEAVES, N_EXAMPLES, STEPS, _problem

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lamb_lars.npz"
COMPLEX_STEPS = 100
COMPLEX_CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100]
COMPLEX_LEAVES = {"w": (6, 2), "b": (2,)}
COMPLEX_RUNS = ("lamb_default", "lamb_coupled", "lars_nesterov_wd", "lars_dampening")
CLASSES = {"lamb": pytorch_optimizer.Lamb, "lars": pytorch_optimizer.LARS}

#: torch's argument names -> optaxlr's (``betas`` splits into two).
NAMES = {"lr": "learning_rate"}


def _alias_kwargs(kwargs: dict) -> dict:
    out = {}
    for k, v in kwargs.items():
        if k == "betas":
            out["b1"], out["b2"] = v
        else:
            out[NAMES.get(k, k)] = v
    return out


def _grid() -> list[dict]:
    runs = []

    def add(name, optimizer, kwargs, cosine=None):
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
                        "init_value": kwargs["lr"],
                        "decay_steps": STEPS,
                        "end_value": cosine,
                    },
                }
            }
        alias = _alias_kwargs(kwargs)
        if cosine is not None:
            del alias["learning_rate"]
        runs.append(
            {
                "name": name,
                "optimizer": optimizer,
                "peer": {
                    "class": f"pytorch_optimizer.{CLASSES[optimizer].__name__}",
                    "kwargs": kwargs,
                    "scheduler": scheduler,
                },
                "optaxlr": {"kwargs": alias, "schedules": schedules or {}},
            }
        )

    add("lamb_default", "lamb", {})
    add(
        "lamb_coupled",
        "lamb",
        {"lr": 5e-3, "betas": (0.8, 0.99), "weight_decay": 1e-2, "weight_decouple": False},
    )
    add(
        "lamb_decoupled_prenorm",
        "lamb",
        {"lr": 5e-4, "weight_decay": 1e-2, "pre_norm": True, "max_grad_norm": 0.5},
    )
    add(
        "lamb_fixed_noavg",
        "lamb",
        {"lr": 5e-4, "weight_decay": 1e-4, "fixed_decay": True, "grad_averaging": False},
    )
    add("lamb_cosine", "lamb", {"lr": 1e-2, "weight_decay": 1e-2}, cosine=1e-4)
    add("lamb_maximize", "lamb", {"lr": 1e-3, "weight_decay": 1e-2, "maximize": True})
    add("lars_default", "lars", {})
    add(
        "lars_nesterov_wd",
        "lars",
        {"lr": 0.1, "weight_decay": 1e-3, "trust_coefficient": 2e-2, "nesterov": True},
    )
    add(
        "lars_dampening",
        "lars",
        {
            "lr": 0.05,
            "momentum": 0.8,
            "dampening": 0.1,
            "weight_decay": 5e-3,
            "trust_coefficient": 1e-2,
        },
    )
    add("lars_no_momentum", "lars", {"lr": 0.05, "momentum": 0.0, "trust_coefficient": 1e-2})
    add(
        "lars_cosine",
        "lars",
        {"lr": 0.1, "weight_decay": 1e-4, "trust_coefficient": 1e-2},
        cosine=1e-3,
    )
    add(
        "lars_maximize",
        "lars",
        {"lr": 0.05, "weight_decay": 1e-3, "trust_coefficient": 1e-2, "maximize": True},
    )
    return runs


def _optimizer(spec: dict, params: list[torch.Tensor]):
    opt = CLASSES[spec["optimizer"]](params, **spec["peer"]["kwargs"])
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
    sign = -1.0 if spec["peer"]["kwargs"].get("maximize") else 1.0
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, trajectory = [], [], [], [_flat(params, np.float64)]
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        out = torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2
        objective = sign * torch.mean((out - yt[rows]) ** 2)  # maximize: ascend -loss
        objective.backward()
        grads.append(_flat([p.grad for p in params], dtype))
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None and t < STEPS - 1:
            scheduler.step()
        trajectory.append(_flat(params, np.float64))
        if t + 1 in CHECKPOINTS:
            snapshots.append(_flat(params, dtype))
    torch.set_default_dtype(torch.float32)
    return {
        "grads": np.stack(grads),
        "params": np.stack(snapshots),
        "lrs": np.asarray(lrs, np.float64),
        "steps": np.diff(np.stack(trajectory), axis=0),  # not saved: for the conditioning
    }


def _complex_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260119)
    c = lambda *shape: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    a, target = c(16, 6).astype(np.complex64), c(16, 2).astype(np.complex64)
    w0, b0 = (0.5 * c(6, 2)).astype(np.complex64), (0.1 * c(2)).astype(np.complex64)
    return a, target, w0, b0


def _complex_run(spec: dict) -> dict[str, np.ndarray]:
    a, target, w0, b0 = (torch.from_numpy(v) for v in _complex_problem())
    w = torch.tensor(w0.numpy().copy(), requires_grad=True)
    b = torch.tensor(b0.numpy().copy(), requires_grad=True)
    opt, scheduler = _optimizer(spec, [w, b])
    grads, snapshots = [], []
    for t in range(COMPLEX_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = torch.sum(torch.abs(a @ w + b - target) ** 2) / 16
        loss.backward()
        assert w.grad is not None and b.grad is not None
        grads.append(np.concatenate([w.grad.numpy().reshape(-1), b.grad.numpy()]))
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if t + 1 in COMPLEX_CHECKPOINTS:
            snapshots.append(np.concatenate([w.detach().numpy().reshape(-1), b.detach().numpy()]))
    return {"grads": np.stack(grads), "params": np.stack(snapshots)}


def _signature(cls) -> list[dict]:
    out = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        entry: dict = {"name": p.name, "kind": p.kind.name}
        if p.default is inspect.Parameter.empty:
            entry["required"] = True
        else:
            entry["default"] = list(p.default) if isinstance(p.default, tuple) else p.default
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init, x, y = _problem()
    runs = _grid()
    _, _, w0, b0 = _complex_problem()
    arrays: dict[str, np.ndarray] = {
        "init": np.concatenate([init[k].reshape(-1) for k in LEAVES]),
        "checkpoints": np.asarray(CHECKPOINTS, np.int32),
        "complex/init": np.concatenate([w0.reshape(-1), b0]),
        "complex/checkpoints": np.asarray(COMPLEX_CHECKPOINTS, np.int32),
    }
    conditions = {}
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
        if spec["name"] in COMPLEX_RUNS:
            for key, value in _complex_run(spec).items():
                arrays[f"complex/{spec['name']}/{key}"] = value
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        runs,
        versions={"torch": torch.__version__, "pytorch_optimizer": version("pytorch_optimizer")},
        signatures={name: _signature(cls) for name, cls in CLASSES.items()},
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
        complex_runs=list(COMPLEX_RUNS),
        complex_leaves={k: list(v) for k, v in COMPLEX_LEAVES.items()},
        complex_steps=COMPLEX_STEPS,
    )


if __name__ == "__main__":
    main()
