"""Generates tests/fixtures/optimizers_adafactor.npz: torch.optim.Adafactor runs.

Run with a reference environment that has the peer (never optaxlr: the fixtures
must come from the peer alone)::

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 numpy
    /tmp/ref/bin/python scripts/generate_adafactor_fixtures.py

The problem mixes parameters of every rank Adafactor treats differently: a 3-D
``w1`` (two heads of an ``8 -> 4`` layer: one factored moment per head), a 1-D
bias ``b1``, a 2-D ``w2``, a 1-D ``b2`` and a 0-D skip weight ``s``::

    h = tanh(einsum("bi,kij->bkj", x, w1) + b1).reshape(batch, 8)
    out = h @ w2 + b2 + s * x[:, :1]

(``s`` is a skip weight, not a gain on ``h @ w2``: a gain would leave the scale
between ``s`` and ``w2`` free, along which the peer's float32 and float64 runs drift
apart.) The loss is the mean squared error on minibatches of 16 (of 64 examples).
For every run (``torch.optim.Adafactor`` with ``foreach=False``, its default: the
defaults, two other configurations, a ``CosineAnnealingLR`` schedule, and a large
rate, where the relative step takes over) the file holds:

* ``<run>/<dtype>/grads``, ``<run>/<dtype>/params`` for ``dtype`` in float32 and
  float64 (the float64 run is the same problem with
  ``torch.set_default_dtype(torch.float64)``: float64 data, parameters and grads,
  and ``eps1=None`` is float64's machine epsilon there);
* ``<run>/checkpoints``: the updates after which the parameters were saved (200
  updates for every run but ``adafactor_relative_step``, which has 20: see `_grid`);
* ``<run>/hparams/learning_rate`` for the scheduled run, read from the param group
  before each ``step()``.

The manifest records torch's refusal of complex parameters (``complex_refused``).

Each run is conditioned: ``manifest["conditioning"][run]`` is the largest
``|p64 - p32| / max(|p64|, 0.1)`` over the checkpoints between the peer's own
float64 and float32 runs, and the largest per-step disagreement as a fraction of
the rate, which must be well within the tests' rtol of 1e-5.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save

OUT = (
    pathlib.Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "optimizers_adafactor.npz"
)
LEAVES = {"w1": (2, 8, 4), "b1": (4,), "w2": (8, 3), "b2": (3,), "s": ()}
STEPS = 200
CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100, 150, 200]
SHORT_STEPS = 20
SHORT_CHECKPOINTS = [1, 2, 5, 10, 15, 20]
N_EXAMPLES, BATCH = 64, 16


def _grid() -> list[dict]:
    runs = []

    def add(name, torch_kwargs, alias_kwargs, cosine=None, steps=STEPS):
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
                "optimizer": "adafactor",
                "peer": {
                    "class": "torch.optim.Adafactor",
                    "kwargs": torch_kwargs,
                    "scheduler": scheduler,
                },
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules or {}},
                "steps": steps,
            }
        )

    add("adafactor_default", {}, {})
    # Decoupled weight decay, a slower second-moment decay, a looser clipping threshold.
    add(
        "adafactor_wd_beta2_d",
        {"lr": 1e-2, "beta2_decay": -0.5, "d": 2.0, "weight_decay": 0.5},
        {"learning_rate": 1e-2, "beta2_decay": -0.5, "d": 2.0, "weight_decay": 0.5},
    )
    # eps1 given, and an eps2 above the biases' RMS (~0.1), which floors their scale.
    add(
        "adafactor_eps",
        {"lr": 1e-2, "beta2_decay": -0.6, "eps": (1e-3, 0.3)},
        {"learning_rate": 1e-2, "beta2_decay": -0.6, "eps": (1e-3, 0.3)},
    )
    add(
        "adafactor_cosine",
        {"lr": 1e-2, "weight_decay": 1e-2},
        {"weight_decay": 1e-2},
        cosine=1e-4,
    )
    # A rate above 1/sqrt(t): the relative step min(lr, 1/sqrt(t)) is 1/sqrt(t) from the
    # 5th update, and the decay lr * weight_decay is 5% a step. Steps this large (up to
    # half the parameters' RMS) make the peer's own float32 and float64 runs part after
    # ~25 updates (1e-4 at 50, 1e-1 at 200), so this run is 20 updates long.
    add(
        "adafactor_relative_step",
        {"lr": 0.5, "weight_decay": 0.1},
        {"learning_rate": 0.5, "weight_decay": 0.1},
        steps=SHORT_STEPS,
    )
    return runs


def _problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260518)
    x = rng.standard_normal((N_EXAMPLES, 8)).astype(np.float32)
    teacher_1 = rng.standard_normal((2, 8, 4))
    teacher_2 = rng.standard_normal((8, 3))
    h = np.tanh(np.einsum("bi,kij->bkj", x, teacher_1)).reshape(N_EXAMPLES, 8)
    y = h @ teacher_2 + 0.5 * x[:, :1] + 0.1 * rng.standard_normal((N_EXAMPLES, 3))
    init = {
        "w1": 0.5 * rng.standard_normal((2, 8, 4)),
        "b1": 0.1 * rng.standard_normal(4),
        "w2": 0.5 * rng.standard_normal((8, 3)),
        "b2": 0.1 * rng.standard_normal(3),
        "s": np.asarray(-0.3),
    }
    init = {k: np.asarray(v, np.float32) for k, v in init.items()}
    return init, x, y.astype(np.float32)


def _optimizer(spec: dict, params: list[torch.Tensor]):
    kwargs = dict(spec["peer"]["kwargs"], foreach=False)  # the single-tensor path
    opt = torch.optim.Adafactor(params, **kwargs)
    scheduler = None
    if spec["peer"]["scheduler"] is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, **spec["peer"]["scheduler"]["kwargs"]
        )
    return opt, scheduler


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _checkpoints(spec: dict) -> list[int]:
    return CHECKPOINTS if spec["steps"] == STEPS else SHORT_CHECKPOINTS


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, b1, w2, b2, s = params
    opt, scheduler = _optimizer(spec, params)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, trajectory = [], [], [], [_flat(params, np.float64)]
    steps, checkpoints = spec["steps"], _checkpoints(spec)
    for t in range(steps):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        h = torch.tanh(torch.einsum("bi,kij->bkj", xt[rows], w1) + b1).reshape(BATCH, 8)
        out = h @ w2 + b2 + s * xt[rows][:, :1]
        loss = torch.mean((out - yt[rows]) ** 2)
        loss.backward()
        grads.append(_flat([p.grad for p in params], dtype))
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None and t < steps - 1:
            scheduler.step()
        trajectory.append(_flat(params, np.float64))
        if t + 1 in checkpoints:
            snapshots.append(_flat(params, dtype))
    torch.set_default_dtype(torch.float32)
    out = {"grads": np.stack(grads), "params": np.stack(snapshots)}
    out["lrs"] = np.asarray(lrs, np.float64)
    out["steps"] = np.diff(np.stack(trajectory), axis=0)  # not saved: for the conditioning
    return out


def _complex_refusal() -> str:
    p = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    p.grad = torch.ones_like(p)
    try:
        torch.optim.Adafactor([p]).step()
    except RuntimeError as e:
        return str(e)
    raise SystemExit("torch.optim.Adafactor accepted a complex parameter: add complex runs")


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
    }
    conditions = {}
    for spec in runs:
        by_dtype = {dt.__name__: _run(spec, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            arrays[f"{spec['name']}/{dtype}/grads"] = result["grads"]
            arrays[f"{spec['name']}/{dtype}/params"] = result["params"]
        arrays[f"{spec['name']}/checkpoints"] = np.asarray(_checkpoints(spec), np.int32)
        if spec["peer"]["scheduler"] is not None:
            arrays[f"{spec['name']}/hparams/learning_rate"] = by_dtype["float32"]["lrs"]
        conditions[spec["name"]] = conditioning(
            spec["name"], by_dtype["float32"], by_dtype["float64"]
        )
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
        complex_refused=_complex_refusal(),
    )


if __name__ == "__main__":
    main()
