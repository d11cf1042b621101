"""Generates tests/fixtures/torch_signatures.json and tests/fixtures/torch_maximize.npz.

Run with the reference environment (torch, numpy; never optaxlr: the fixtures must
come from the peer alone)::

    /tmp/torchref/bin/python scripts/generate_torch_signatures.py

``torch_signatures.json``: for every ``torch.optim`` class an optaxlr alias mirrors,
the name, kind and default of each argument of ``__init__`` (``inspect.signature``;
tuples as lists, ``None`` as null, ``"required": true`` where there is no default).
``tests/test_torch_signatures.py`` checks each alias's signature against it, so an
argument a new torch release adds can't slip by.

``torch_maximize.npz``: 20 float32 steps of ``maximize=True`` runs (SGD with momentum
and L2 decay, Adam with L2 decay, Adam with ``decoupled_weight_decay=True``, AdamW) that
ascend ``J(w, b) = -mean((x w + b - y)^2) / 2`` on a fixed batch: ``<run>/grads/<leaf>``
are the gradients of ``J`` torch computed at each step, ``<run>/params/<leaf>`` the
parameters before the first step and after each one. The manifest lists the runs and
their torch and optaxlr arguments.
"""

from __future__ import annotations

import inspect
import json
import pathlib

import numpy as np
import torch
from _torch_fixture import save

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SIGNATURES = FIXTURES / "torch_signatures.json"
MAXIMIZE = FIXTURES / "torch_maximize.npz"

#: torch.optim class -> the optaxlr alias that mirrors it.
CLASSES = {
    "SGD": "sgd",
    "Adagrad": "adagrad",
    "RMSprop": "rmsprop",
    "Adam": "adam",
    "AdamW": "adamw",
    "Adadelta": "adadelta",
    "RAdam": "radam",
    "NAdam": "nadam",
    "Adamax": "adamax",
    "Rprop": "rprop",
    "ASGD": "asgd",
    "Adafactor": "adafactor",
    "Muon": "muon",
}

STEPS = 20
LEAVES = {"w": (4, 3), "b": (3,)}

#: name -> (torch class, torch kwargs, optaxlr alias, optaxlr kwargs)
RUNS = {
    "sgd_momentum_wd": (
        "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
        "sgd", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
    ),
    "adam_wd": (
        "Adam", {"lr": 1e-2, "weight_decay": 1e-2},
        "adam", {"learning_rate": 1e-2, "weight_decay": 1e-2},
    ),
    "adam_decoupled": (
        "Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True},
        "adam", {"learning_rate": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    "adamw": (
        "AdamW", {"lr": 1e-2, "weight_decay": 0.1},
        "adamw", {"learning_rate": 1e-2, "weight_decay": 0.1},
    ),
}


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"default {value!r} is not a JSON value")


def signatures() -> dict:
    optimizers = {}
    for cls_name, alias in CLASSES.items():
        cls = getattr(torch.optim, cls_name)
        params = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self":
                continue
            entry = {"name": p.name, "kind": p.kind.name}
            if p.default is inspect.Parameter.empty:
                entry["required"] = True
            else:
                entry["default"] = _jsonable(p.default)
            params.append(entry)
        optimizers[cls_name] = {
            "class": f"torch.optim.{cls_name}",
            "alias": alias,
            "parameters": params,
        }
    return {
        "generated_by": "scripts/generate_torch_signatures.py",
        "versions": {"torch": torch.__version__},
        "optimizers": optimizers,
    }


def maximize_runs() -> tuple[dict[str, np.ndarray], list[dict]]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=gen, dtype=torch.float32)
    y = torch.randn(16, 3, generator=gen, dtype=torch.float32)
    init = {k: torch.randn(*s, generator=gen, dtype=torch.float32) for k, s in LEAVES.items()}
    arrays: dict[str, np.ndarray] = {f"init/{k}": v.numpy().copy() for k, v in init.items()}
    runs = []
    for name, (cls_name, torch_kwargs, alias, alias_kwargs) in RUNS.items():
        params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
        opt = getattr(torch.optim, cls_name)(
            list(params.values()), **torch_kwargs, maximize=True, foreach=False
        )
        grads = {k: [] for k in LEAVES}
        trajectory = {k: [v.detach().numpy().copy()] for k, v in params.items()}
        for _ in range(STEPS):
            opt.zero_grad()
            objective = -0.5 * ((x @ params["w"] + params["b"] - y) ** 2).mean()
            objective.backward()
            for k, p in params.items():
                grads[k].append(p.grad.detach().numpy().copy())
            opt.step()
            for k, p in params.items():
                trajectory[k].append(p.detach().numpy().copy())
        for k in LEAVES:
            arrays[f"{name}/grads/{k}"] = np.stack(grads[k])
            arrays[f"{name}/params/{k}"] = np.stack(trajectory[k])
        runs.append(
            {
                "name": name,
                "peer": {"class": f"torch.optim.{cls_name}", "kwargs": {**torch_kwargs,
                                                                        "maximize": True}},
                "optaxlr": {"alias": alias, "kwargs": {**alias_kwargs, "maximize": True}},
            }
        )
    return arrays, runs


def main() -> None:
    SIGNATURES.parent.mkdir(parents=True, exist_ok=True)
    SIGNATURES.write_text(json.dumps(signatures(), indent=1) + "\n")
    print(f"wrote {SIGNATURES}")
    arrays, runs = maximize_runs()
    save(MAXIMIZE, arrays, __file__, LEAVES, STEPS, runs)


if __name__ == "__main__":
    main()
