"""Generates tests/fixtures/optimizers.npz: torch.optim trajectories for the parity tests.

Run with a reference environment that has torch (never optaxlr: the fixtures must
come from PyTorch alone)::

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/generate_optimizer_fixtures.py

The problem: a two-layer tanh network with parameters {"w1": (8, 4), "b1": (4,),
"w2": (4, 3), "b2": (3,)} regressing a fixed teacher on 64 float32 examples, in
minibatches of 16 (step t uses batch t % 4), mean squared error. For every run
(an optimizer, a point of its option grid, optionally an LR scheduler) the file
records, in float32:

* ``<run>/grads``: the gradient torch computed at each of the 200 steps, flattened
  in the leaf order above. The JAX side replays these exact gradients, so the
  comparison measures the optimizer arithmetic alone, not autodiff or matmul
  summation order.
* ``<run>/params``: the parameters after the steps in ``checkpoints``.
* ``<run>/hparams/<name>`` (scheduled runs): the learning rate and momentum/beta1
  torch used at each step, read from ``param_groups`` before ``optimizer.step()``.

``manifest`` (JSON) lists every run with the torch construction and the
matching optaxlr alias arguments, schedules given as ``{"schedule": name,
"kwargs": {...}}`` of ``optaxlr.schedules``.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from _torch_fixture import save

LEAVES = {"w1": (8, 4), "b1": (4,), "w2": (4, 3), "b2": (3,)}
STEPS = 200
CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100, 150, 200]
N_EXAMPLES, BATCH = 64, 16

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optimizers.npz"


def _grid() -> list[dict]:
    """Every run: name, torch optimizer class and kwargs, optaxlr alias and kwargs."""
    runs = []

    def add(name, optimizer, torch_cls, torch_kwargs, alias_kwargs, scheduler=None, schedules=None):
        runs.append(
            {
                "name": name,
                "optimizer": optimizer,
                "torch": {"class": torch_cls, "kwargs": torch_kwargs, "scheduler": scheduler},
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules or {}},
            }
        )

    # SGD: momentum / nesterov / dampening x weight decay.
    sgd_grid = {
        "plain": {},
        "wd": {"weight_decay": 1e-2},
        "momentum": {"momentum": 0.9},
        "momentum_wd": {"momentum": 0.9, "weight_decay": 1e-2},
        "nesterov": {"momentum": 0.9, "nesterov": True},
        "nesterov_wd": {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
        "dampening": {"momentum": 0.9, "dampening": 0.5},
        "dampening_wd": {"momentum": 0.5, "dampening": 0.1, "weight_decay": 1e-3},
    }
    for key, kw in sgd_grid.items():
        add(f"sgd_{key}", "sgd", "SGD", {"lr": 0.05, **kw}, {"learning_rate": 0.05, **kw})

    adagrad_grid = {
        "default": {},
        "wd": {"weight_decay": 1e-2},
        "init_acc": {"initial_accumulator_value": 0.1},
        "lr_decay": {"lr_decay": 1e-2},
        "eps": {"eps": 1e-3, "weight_decay": 1e-3},
    }
    for key, kw in adagrad_grid.items():
        add(
            f"adagrad_{key}",
            "adagrad",
            "Adagrad",
            {"lr": 0.05, **kw},
            {"learning_rate": 0.05, **kw},
        )

    rmsprop_grid = {
        "default": {},
        "centered": {"centered": True},
        "momentum": {"momentum": 0.9},
        "centered_momentum": {"centered": True, "momentum": 0.9},
        "wd": {"weight_decay": 1e-2},
        "alpha_wd_momentum": {"alpha": 0.9, "weight_decay": 1e-3, "momentum": 0.5},
    }
    for key, kw in rmsprop_grid.items():
        add(
            f"rmsprop_{key}",
            "rmsprop",
            "RMSprop",
            {"lr": 3e-3, **kw},
            {"learning_rate": 3e-3, **kw},
        )

    def betas(kw):
        torch_kw = dict(kw)
        if "b1" in kw or "b2" in kw:
            torch_kw["betas"] = (torch_kw.pop("b1", 0.9), torch_kw.pop("b2", 0.999))
        return torch_kw

    adam_grid = {
        "default": {},
        "amsgrad": {"amsgrad": True},
        "wd": {"weight_decay": 1e-2},
        "amsgrad_wd": {"amsgrad": True, "weight_decay": 1e-2},
        "betas_eps": {"b1": 0.8, "b2": 0.99, "eps": 1e-6},
    }
    for key, kw in adam_grid.items():
        add(f"adam_{key}", "adam", "Adam", {"lr": 3e-3, **betas(kw)}, {"learning_rate": 3e-3, **kw})

    adamw_grid = {
        "default": {},
        "amsgrad": {"amsgrad": True},
        "wd": {"weight_decay": 0.1},
    }
    for key, kw in adamw_grid.items():
        add(f"adamw_{key}", "adamw", "AdamW", {"lr": 3e-3, **kw}, {"learning_rate": 3e-3, **kw})

    adadelta_grid = {"default": {}, "wd": {"weight_decay": 1e-2}, "rho": {"rho": 0.95, "lr": 0.5}}
    for key, kw in adadelta_grid.items():
        alias_kw = {("learning_rate" if k == "lr" else k): v for k, v in kw.items()}
        add(f"adadelta_{key}", "adadelta", "Adadelta", dict(kw), alias_kw)

    for key, kw in {
        "default": {},
        "wd": {"weight_decay": 1e-2},
        "decoupled_wd": {"weight_decay": 1e-2, "decoupled_weight_decay": True},
    }.items():
        add(f"radam_{key}", "radam", "RAdam", {"lr": 3e-3, **kw}, {"learning_rate": 3e-3, **kw})
        add(f"nadam_{key}", "nadam", "NAdam", {"lr": 2e-3, **kw}, {"learning_rate": 2e-3, **kw})

    # Scheduled runs: torch scheduler + the optaxlr alias given the matching schedules.
    add(
        "onecycle_sgd_momentum",
        "sgd",
        "SGD",
        {"lr": 0.1, "momentum": 0.9},
        {"momentum": None},
        scheduler={
            "class": "OneCycleLR",
            "kwargs": {"max_lr": 0.1, "total_steps": STEPS, "cycle_momentum": True},
        },
        schedules={
            "learning_rate": {
                "schedule": "one_cycle",
                "kwargs": {"max_value": 0.1, "total_steps": STEPS},
            },
            "momentum": {
                "schedule": "one_cycle_momentum",
                "kwargs": {"total_steps": STEPS, "base_value": 0.85, "max_value": 0.95},
            },
        },
    )
    add(
        "onecycle_adam_b1",
        "adam",
        "Adam",
        {"lr": 1e-2},
        {},
        scheduler={
            "class": "OneCycleLR",
            "kwargs": {"max_lr": 1e-2, "total_steps": STEPS, "cycle_momentum": True},
        },
        schedules={
            "learning_rate": {
                "schedule": "one_cycle",
                "kwargs": {"max_value": 1e-2, "total_steps": STEPS},
            },
            "b1": {
                "schedule": "one_cycle_momentum",
                "kwargs": {"total_steps": STEPS, "base_value": 0.85, "max_value": 0.95},
            },
        },
    )
    add(
        "cosine_restarts_adamw",
        "adamw",
        "AdamW",
        {"lr": 3e-3, "weight_decay": 1e-2},
        {"weight_decay": 1e-2},
        scheduler={
            "class": "CosineAnnealingWarmRestarts",
            "kwargs": {"T_0": 20, "T_mult": 2, "eta_min": 1e-5},
        },
        schedules={
            "learning_rate": {
                "schedule": "cosine_restarts",
                "kwargs": {
                    "init_value": 3e-3,
                    "first_cycle_steps": 20,
                    "cycle_mult": 2.0,
                    "cycle_decay": 1.0,
                    "end_value": 1e-5,
                },
            },
        },
    )
    add(
        "steplr_sgd_nesterov",
        "sgd",
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
        scheduler={"class": "StepLR", "kwargs": {"step_size": 50, "gamma": 0.5}},
        schedules={
            "learning_rate": {
                "schedule": "step_decay",
                "kwargs": {"init_value": 0.05, "step_size": 50, "gamma": 0.5},
            },
        },
    )
    add(
        "steplr_rmsprop_centered",
        "rmsprop",
        "RMSprop",
        {"lr": 3e-3, "centered": True, "momentum": 0.9},
        {"centered": True, "momentum": 0.9},
        scheduler={"class": "StepLR", "kwargs": {"step_size": 30, "gamma": 0.7}},
        schedules={
            "learning_rate": {
                "schedule": "step_decay",
                "kwargs": {"init_value": 3e-3, "step_size": 30, "gamma": 0.7},
            },
        },
    )
    for run in runs:
        # A momentum entry of None means "given by the schedule only".
        run["optaxlr"]["kwargs"] = {
            k: v for k, v in run["optaxlr"]["kwargs"].items() if v is not None
        }
    return runs


def _problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240531)
    x = rng.standard_normal((N_EXAMPLES, 8)).astype(np.float32)
    teacher_1 = rng.standard_normal((8, 4)).astype(np.float32)
    teacher_2 = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.tanh(x @ teacher_1) @ teacher_2 + 0.1 * rng.standard_normal((N_EXAMPLES, 3))
    init = {
        "w1": 0.5 * rng.standard_normal((8, 4)),
        "b1": 0.1 * rng.standard_normal(4),
        "w2": 0.5 * rng.standard_normal((4, 3)),
        "b2": 0.1 * rng.standard_normal(3),
    }
    init = {k: v.astype(np.float32) for k, v in init.items()}
    return init, x, y.astype(np.float32)


def _flat(tensors: list[torch.Tensor]) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(np.float32)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    params = [torch.tensor(init[k].copy(), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2 = params
    kwargs = dict(spec["torch"]["kwargs"])
    kwargs["foreach"] = False  # the single-tensor path (PyTorch's default on CPU)
    opt = getattr(torch.optim, spec["torch"]["class"])(params, **kwargs)
    sched_spec = spec["torch"]["scheduler"]
    scheduler = None
    if sched_spec is not None:
        scheduler = getattr(torch.optim.lr_scheduler, sched_spec["class"])(
            opt, **sched_spec["kwargs"]
        )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    grads, snapshots, lrs, momenta = [], [], [], []
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        out = torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2
        loss = torch.mean((out - yt[rows]) ** 2)
        loss.backward()
        grads.append(_flat([p.grad for p in params]))
        group = opt.param_groups[0]
        lrs.append(float(group["lr"]))
        momenta.append(float(group["betas"][0] if "betas" in group else group.get("momentum", 0.0)))
        opt.step()
        if scheduler is not None and t < STEPS - 1:
            scheduler.step()
        if t + 1 in CHECKPOINTS:
            snapshots.append(_flat(params))
    out = {"grads": np.stack(grads), "params": np.stack(snapshots)}
    if scheduler is not None:
        out["hparams/learning_rate"] = np.asarray(lrs, np.float64)
        key = "b1" if "betas" in opt.param_groups[0] else "momentum"
        out[f"hparams/{key}"] = np.asarray(momenta, np.float64)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    init, x, y = _problem()
    runs = _grid()
    arrays: dict[str, np.ndarray] = {
        "init": np.concatenate([init[k].reshape(-1) for k in LEAVES]),
        "checkpoints": np.asarray(CHECKPOINTS, np.int32),
    }
    for spec in runs:
        for key, value in _run(spec, init, x, y).items():
            arrays[f"{spec['name']}/{key}"] = value
    save(args.out, arrays, __file__, LEAVES, STEPS, runs)


if __name__ == "__main__":
    main()
