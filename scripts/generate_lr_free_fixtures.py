"""Generates tests/fixtures/lr_free.npz: Prodigy and D-Adaptation runs, from the peers alone.

Run with a reference environment that has the peers (never optaxlr)::

    python -m venv /tmp/ref
    /tmp/ref/bin/pip install torch==2.13.0 prodigyopt==1.1.2 dadaptation==3.2 numpy
    /tmp/ref/bin/python scripts/generate_lr_free_fixtures.py

The problem is least squares from zero (see `_problem`: ``generate_optimizer_fixtures.py``'s
tanh network starts away from zero, where the first ``d0``-sized steps make ``p0 - p``
cancel in float32), 200 steps, minibatches of 16. For every run (``prodigyopt.Prodigy``,
``dadaptation.DAdaptAdam``, ``dadaptation.DAdaptSGD``: the defaults and
configurations with weight decay, decoupled or not, ``safeguard_warmup``, bias
correction, ``growth_rate``, a cosine schedule) the file holds, for ``dtype`` in
float32 and float64 (the same problem with ``torch.set_default_dtype``):

* ``<run>/<dtype>/grads`` and ``<run>/<dtype>/params`` (at the checkpoints);
* ``<run>/<dtype>/effective_lr``: the step size each ``step()`` took, from the
  peer's own numbers: ``d * lr * bias_correction`` for Prodigy and DAdaptAdam
  (``group["d"]`` and ``group["k"]`` before the step), ``d * lr / g0_norm`` for
  DAdaptSGD (``group["g0_norm"]`` after it);
* ``<run>/<dtype>/d``: ``group["d"]`` before each step (the ``d`` the step used);
* ``<run>/hparams/learning_rate`` for the scheduled run.

``manifest["conditioning"][run]`` records how far the peer's float64 run is from
its float32 run: the parameters (relative, as ``_torch_fixture.conditioning``), the
steps relative to the effective rate, and ``d`` and the effective rate themselves.
"""

from __future__ import annotations

import argparse
import math
import pathlib
from importlib.metadata import version

import dadaptation
import numpy as np
import prodigyopt
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save
from generate_optimizer_fixtures import BATCH, CHECKPOINTS, N_EXAMPLES, STEPS

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lr_free.npz"
LEAVES = {"w": (8, 3), "b": (3,)}
PEERS = {
    "prodigy": "prodigyopt.Prodigy",
    "dadapt_adam": "dadaptation.DAdaptAdam",
    "dadapt_sgd": "dadaptation.DAdaptSGD",
}


def _grid() -> list[dict]:
    runs = []

    def add(name, optimizer, torch_kwargs, alias_kwargs, cosine=False):
        scheduler = None
        schedules = {}
        if cosine:
            scheduler = {"class": "CosineAnnealingLR", "kwargs": {"T_max": STEPS, "eta_min": 0.0}}
            schedules = {
                "learning_rate": {
                    "schedule": "cosine",
                    "kwargs": {"init_value": 1.0, "decay_steps": STEPS, "end_value": 0.0},
                }
            }
        runs.append(
            {
                "name": name,
                "optimizer": optimizer,
                "peer": {"class": PEERS[optimizer], "kwargs": torch_kwargs, "scheduler": scheduler},
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules},
            }
        )

    add("prodigy_default", "prodigy", {}, {})
    add("prodigy_wd", "prodigy", {"weight_decay": 0.01}, {"weight_decay": 0.01})
    add(
        "prodigy_l2_safeguard",
        "prodigy",
        {
            "weight_decay": 1e-3,
            "decouple": False,
            "safeguard_warmup": True,
            "use_bias_correction": True,
            "d_coef": 0.5,
            "growth_rate": 1.05,
            "betas": (0.8, 0.99),
        },
        {
            "weight_decay": 1e-3,
            "decouple": False,
            "safeguard_warmup": True,
            "use_bias_correction": True,
            "d_coef": 0.5,
            "growth_rate": 1.05,
            "b1": 0.8,
            "b2": 0.99,
        },
    )
    add(
        "prodigy_no_momentum",
        "prodigy",
        {"betas": (0.0, 0.999), "d_coef": 0.1},
        {"b1": 0.0, "d_coef": 0.1},
    )
    add("prodigy_cosine_slice", "prodigy", {"slice_p": 3}, {"slice_p": 3}, cosine=True)
    add("dadapt_adam_default", "dadapt_adam", {}, {})
    add(
        "dadapt_adam_decoupled",
        "dadapt_adam",
        {"weight_decay": 0.01, "decouple": True, "use_bias_correction": True},
        {"weight_decay": 0.01, "decouple": True, "use_bias_correction": True},
        cosine=True,
    )
    add(
        "dadapt_adam_l2_growth",
        "dadapt_adam",
        {"weight_decay": 1e-3, "growth_rate": 1.1},
        {"weight_decay": 1e-3, "growth_rate": 1.1},
        cosine=True,
    )
    add("dadapt_sgd_default", "dadapt_sgd", {}, {})
    add(
        "dadapt_sgd_momentum_wd",
        "dadapt_sgd",
        {"momentum": 0.9, "weight_decay": 1e-3},
        {"momentum": 0.9, "weight_decay": 1e-3},
    )
    add(
        "dadapt_sgd_growth_cosine",
        "dadapt_sgd",
        {"momentum": 0.5, "growth_rate": 1.05},
        {"momentum": 0.5, "growth_rate": 1.05},
        cosine=True,
    )
    return runs


def _problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Least squares from zero: ``d`` is estimated from ``<g, p0 - p>``, and a nonzero ``p0``
    makes ``p0 - p`` cancel in float32 while the first steps are ``d0``-sized (1e-6),
    so the peer's own float32 and float64 runs part from step 3 (see the module doc)."""
    rng = np.random.default_rng(20260119)
    x = rng.standard_normal((N_EXAMPLES, 8)).astype(np.float32)
    teacher = rng.standard_normal((8, 3)).astype(np.float32)
    y = x @ teacher + 0.5 + 0.1 * rng.standard_normal((N_EXAMPLES, 3))
    init = {k: np.zeros(shape, np.float32) for k, shape in LEAVES.items()}
    return init, x, y.astype(np.float32)


def _optimizer(spec: dict, params: list[torch.Tensor]):
    kwargs = dict(spec["peer"]["kwargs"])
    cls = {
        "prodigy": prodigyopt.Prodigy,
        "dadapt_adam": dadaptation.DAdaptAdam,
        "dadapt_sgd": dadaptation.DAdaptSGD,
    }[spec["optimizer"]]
    opt = cls(params, **kwargs)
    scheduler = None
    if spec["peer"]["scheduler"] is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, **spec["peer"]["scheduler"]["kwargs"]
        )
    return opt, scheduler


def _rate_before(spec: dict, group: dict) -> float:
    """The step size the next ``step()`` takes, from the peer's own group (not DAdaptSGD)."""
    d, lr, k = group["d"], group["lr"], group["k"]
    if not group["use_bias_correction"]:
        return d * lr
    beta1, beta2 = group["betas"]
    return d * lr * ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w, b = params
    opt, scheduler = _optimizer(spec, params)
    group = opt.param_groups[0]
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, rates, ds = [], [], [], [], []
    trajectory = [_flat(params, np.float64)]
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        out = xt[rows] @ w + b
        loss = torch.mean((out - yt[rows]) ** 2)
        loss.backward()
        grads.append(_flat([p.grad for p in params], dtype))
        lrs.append(float(group["lr"]))
        d_before, k_before = float(group["d"]), group["k"]
        rate = None if spec["optimizer"] == "dadapt_sgd" else _rate_before(spec, group)
        opt.step()
        assert group["k"] == k_before + 1, "every step of these runs takes a step"
        if rate is None:
            rate = d_before * lrs[-1] / group["g0_norm"]
        rates.append(rate)
        ds.append(d_before)
        if scheduler is not None and t < STEPS - 1:
            scheduler.step()
        trajectory.append(_flat(params, np.float64))
        if t + 1 in CHECKPOINTS:
            snapshots.append(_flat(params, dtype))
    torch.set_default_dtype(torch.float32)
    return {
        "grads": np.stack(grads),
        "params": np.stack(snapshots),
        "effective_lr": np.asarray(rates, np.float64),
        "d": np.asarray(ds, np.float64),
        "lrs": np.asarray(rates, np.float64),  # for the conditioning: steps relative to the rate
        "schedule": np.asarray(lrs, np.float64),
        "steps": np.diff(np.stack(trajectory), axis=0),
    }


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


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
    }
    conditions = {}
    for spec in runs:
        name = spec["name"]
        by_dtype = {dt.__name__: _run(spec, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            for key in ("grads", "params", "effective_lr", "d"):
                arrays[f"{name}/{dtype}/{key}"] = result[key]
        if spec["peer"]["scheduler"] is not None:
            arrays[f"{name}/hparams/learning_rate"] = by_dtype["float32"]["schedule"]
        f32, f64 = by_dtype["float32"], by_dtype["float64"]
        record = conditioning(name, f32, f64)
        record["d_rel"] = _rel(f32["d"], f64["d"])
        record["effective_lr_rel"] = _rel(f32["effective_lr"], f64["effective_lr"])
        print(f"{'':20s} d {record['d_rel']:.2e}, effective rate {record['effective_lr_rel']:.2e}")
        if (
            not math.isfinite(record["d_rel"])
            or record["d_rel"] > CONDITIONING_LIMITS["params_rel"]
        ):
            raise SystemExit(f"{name}: d is ill-conditioned; pick other settings")
        conditions[name] = record
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        runs,
        versions={
            "torch": torch.__version__,
            "prodigyopt": version("prodigyopt"),
            "dadaptation": version("dadaptation"),
        },
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
    )


if __name__ == "__main__":
    main()
