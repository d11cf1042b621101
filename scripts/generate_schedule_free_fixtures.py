"""Generates tests/fixtures/schedule_free.npz: ``schedulefree`` 1.4.1's SGD and AdamW runs.

Run with a reference environment that has the peers (never optaxlr: the fixtures
must come from the peers alone)::

    python3.11 -m venv /tmp/sfref
    /tmp/sfref/bin/pip install torch==2.13.0 schedulefree==1.4.1 numpy  # the CPU wheel
    /tmp/sfref/bin/python scripts/generate_schedule_free_fixtures.py

The problem is ``generate_optimizer_fixtures.py``'s (a two-layer tanh network, 200
steps, minibatches of 16). For every run (``schedulefree.SGDScheduleFree`` or
``AdamWScheduleFree`` in train mode, with its default ``foreach``) the file holds,
for ``dtype`` in float32 and float64 (the float64 run is the same problem with
``torch.set_default_dtype(torch.float64)``):

* ``<run>/<dtype>/grads``: the gradients the peer computed, at ``y``, before each step;
* ``<run>/<dtype>/y``: the parameters after every step (the training point ``y``;
  float64: after the steps in ``checkpoints``);
* ``<run>/<dtype>/x``: the evaluation point after every step (float64: the
  checkpoints): what ``optimizer.eval()``
  makes of the parameters, computed as it does (``p.lerp(z, 1 - 1/beta1)``) on a copy,
  so that the run itself is not moved by a train/eval round trip;
* ``<run>/<dtype>/effective_learning_rate``: the group's ``scheduled_lr`` after each
  step (the warmup-scaled rate the step used);
* ``<run>/<dtype>/averaging_weight``: the step's ``ckp1``, recomputed from the group
  after the step with the reference's own formula
  (``(k+1)**r * lr_max**weight_lr_power / weight_sum``);
* ``<run>/hparams/learning_rate``: ``param_groups[0]["lr"]`` before each step, for
  the run driven by a ``CosineAnnealingLR``;
* ``complex/<run>/grads``, ``complex/<run>/y``, ``complex/<run>/x``, ``complex/init``:
  100 steps of a complex64 least-squares problem (``generate_rprop_asgd_fixtures``').

Each run is conditioned (``manifest["conditioning"]``, for ``y`` and ``x``): the
peer's own float64 and float32 runs agree within ``_torch_fixture.CONDITIONING_LIMITS``.
At the end of each float32 run the real ``optimizer.eval()`` is called and must give
the recorded ``x`` bit for bit.
"""

from __future__ import annotations

import argparse
import pathlib
from importlib.metadata import version

import numpy as np
import schedulefree
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import BATCH, CHECKPOINTS, LEAVES, N_EXAMPLES, STEPS, _problem
from generate_rprop_asgd_fixtures import COMPLEX_STEPS, _complex_problem

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "schedule_free.npz"
CLASSES = {"sgd": schedulefree.SGDScheduleFree, "adamw": schedulefree.AdamWScheduleFree}
ALIASES = {"sgd": "schedule_free_sgd", "adamw": "schedule_free_adamw"}
COMPLEX_RUNS = ("sgd_warmup_wd", "adamw_warmup_wd")


def _grid() -> list[dict]:
    runs = []

    def add(name, optimizer, peer_kwargs, alias_kwargs, cosine=None):
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
                        "init_value": peer_kwargs["lr"],
                        "decay_steps": STEPS,
                        "end_value": cosine,
                    },
                }
            }
        runs.append(
            {
                "name": name,
                "optimizer": ALIASES[optimizer],
                "peer": {
                    "class": f"schedulefree.{CLASSES[optimizer].__name__}",
                    "kwargs": peer_kwargs,
                    "scheduler": scheduler,
                },
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules or {}},
            }
        )

    add("sgd_default", "sgd", {}, {})
    add(
        "sgd_warmup_wd",
        "sgd",
        {"lr": 0.5, "warmup_steps": 20, "weight_decay": 1e-2},
        {"learning_rate": 0.5, "warmup_steps": 20, "weight_decay": 1e-2},
    )
    add(
        "sgd_r_power",
        "sgd",
        {"lr": 0.3, "momentum": 0.95, "r": 1.0, "weight_lr_power": 1.0, "warmup_steps": 5},
        {"learning_rate": 0.3, "momentum": 0.95, "r": 1.0, "weight_lr_power": 1.0,
         "warmup_steps": 5},
    )  # fmt: skip
    add("adamw_default", "adamw", {}, {})
    add(
        "adamw_warmup_wd",
        "adamw",
        {"lr": 5e-3, "warmup_steps": 50, "weight_decay": 0.1},
        {"learning_rate": 5e-3, "warmup_steps": 50, "weight_decay": 0.1},
    )
    add(
        "adamw_betas_r",
        "adamw",
        {"lr": 1e-2, "betas": (0.95, 0.99), "eps": 1e-6, "r": 0.5, "weight_lr_power": 1.0},
        {"learning_rate": 1e-2, "b1": 0.95, "b2": 0.99, "eps": 1e-6, "r": 0.5,
         "weight_lr_power": 1.0},
    )  # fmt: skip
    add(
        "adamw_cosine",
        "adamw",
        {"lr": 1e-2, "warmup_steps": 10, "weight_decay": 1e-2},
        {"warmup_steps": 10, "weight_decay": 1e-2},
        cosine=1e-4,
    )
    return runs


def _kind(spec: dict) -> str:
    return "sgd" if spec["optimizer"] == "schedule_free_sgd" else "adamw"


def _optimizer(spec: dict, params: list[torch.Tensor]):
    opt = CLASSES[_kind(spec)](params, **spec["peer"]["kwargs"])
    opt.train()
    scheduler = None
    if spec["peer"]["scheduler"] is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, **spec["peer"]["scheduler"]["kwargs"]
        )
    return opt, scheduler


def _beta1(group: dict) -> float:
    return group["momentum"] if "momentum" in group else group["betas"][0]


def _eval_point(opt, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """What ``opt.eval()`` would set each parameter to, computed on copies."""
    group = opt.param_groups[0]
    return [p.detach().clone().lerp_(opt.state[p]["z"], 1 - 1 / _beta1(group)) for p in params]


def _averaging_weight(group: dict) -> float:
    k = group["k"] - 1  # the step just taken
    weight = ((k + 1) ** group["r"]) * (group["lr_max"] ** group["weight_lr_power"])
    return weight / group["weight_sum"] if group["weight_sum"] else 0.0


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2 = params
    opt, scheduler = _optimizer(spec, params)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    out: dict[str, list] = {k: [] for k in ("grads", "y", "x", "lrs", "eff", "avg")}
    trajectory = [_flat(params, np.float64)]
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        pred = torch.tanh(xt[rows] @ w1 + b1) @ w2 + b2
        loss = torch.mean((pred - yt[rows]) ** 2)
        loss.backward()
        out["grads"].append(_flat([p.grad for p in params], dtype))
        out["lrs"].append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None and t < STEPS - 1:
            scheduler.step()
        group = opt.param_groups[0]
        out["eff"].append(group["scheduled_lr"])
        out["avg"].append(_averaging_weight(group))
        out["y"].append(_flat(params, dtype))
        out["x"].append(_flat(_eval_point(opt, params), dtype))
        trajectory.append(_flat(params, np.float64))
    opt.eval()  # the real switch, once the run is over: the recorded x is what it gives
    assert np.array_equal(_flat(params, dtype), out["x"][-1]), spec["name"]
    torch.set_default_dtype(torch.float32)
    result = {k: np.stack(out[k]) for k in ("grads", "y", "x")}
    result["effective_learning_rate"] = np.asarray(out["eff"], np.float64)
    result["averaging_weight"] = np.asarray(out["avg"], np.float64)
    result["lrs"] = np.asarray(out["lrs"], np.float64)
    # For the conditioning: steps relative to the rate each step took.
    result["steps"] = np.diff(np.stack(trajectory), axis=0)
    return result


def _complex_run(spec: dict) -> dict[str, np.ndarray]:
    a, b, p0 = (torch.from_numpy(v) for v in _complex_problem())
    p = torch.tensor(p0.numpy().copy(), requires_grad=True)
    opt, _ = _optimizer(spec, [p])
    grads, ys, xs = [], [], []
    for _ in range(COMPLEX_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = torch.sum(torch.abs(a @ p - b) ** 2) / 16
        loss.backward()
        assert p.grad is not None
        grads.append(p.grad.detach().numpy().copy())
        opt.step()
        ys.append(p.detach().numpy().copy())
        xs.append(_eval_point(opt, [p])[0].numpy().copy())
    return {"grads": np.stack(grads), "y": np.stack(ys), "x": np.stack(xs)}


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
        "complex/init": _complex_problem()[2],
        "checkpoints": np.asarray(CHECKPOINTS, np.int32),
    }
    conditions = {}
    for spec in runs:
        name = spec["name"]
        by_dtype = {dt.__name__: _run(spec, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            for key in ("grads", "y", "x", "effective_learning_rate", "averaging_weight"):
                value = result[key]
                if dtype == "float64" and key in ("y", "x"):
                    value = value[np.asarray(CHECKPOINTS) - 1]
                arrays[f"{name}/{dtype}/{key}"] = value
        if spec["peer"]["scheduler"] is not None:
            arrays[f"{name}/hparams/learning_rate"] = by_dtype["float32"]["lrs"]
        f32, f64 = by_dtype["float32"], by_dtype["float64"]
        rates = {"steps": None, "lrs": f64["effective_learning_rate"]}
        conditions[name] = {
            point: conditioning(
                f"{name}/{point}",
                {**f32, **rates, "params": f32[point], "steps": f32["steps"]},
                {**f64, **rates, "params": f64[point], "steps": f64["steps"]},
            )
            for point in ("y", "x")
        }
        if name in COMPLEX_RUNS:
            for key, value in _complex_run(spec).items():
                arrays[f"complex/{name}/{key}"] = value
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        runs,
        versions={"torch": torch.__version__, "schedulefree": version("schedulefree")},
        foreach=True,
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
        complex_runs=list(COMPLEX_RUNS),
        complex_steps=COMPLEX_STEPS,
    )


if __name__ == "__main__":
    main()
