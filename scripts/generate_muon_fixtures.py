"""Generates tests/fixtures/optimizers_muon.npz: ``torch.optim.Muon`` (torch 2.13) runs.

Run with a reference environment that has torch (never optaxlr: the fixtures must
come from the peer alone)::

    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/generate_muon_fixtures.py

(on 2026-12-05 the shared /tmp/torchref held torch 2.14.1; the fixture was made with
a torch 2.13.0+cpu environment, which ``versions`` records)

torch's Muon runs Newton-Schulz in bfloat16 (``grad.bfloat16()`` in
``torch.optim._muon._zeropower_via_newtonschulz``), whose rounding hides any
float32 difference. For the parity runs that function is replaced, in the module
``torch.optim._muon`` (where ``_single_tensor_muon`` looks it up), by
`_newton_schulz_float32`: torch's own lines with ``grad.bfloat16()`` replaced by
``grad.to(torch.promote_types(grad.dtype, torch.float32), copy=True)`` (float32, and float64
for the float64 run); nothing else of torch's Muon changes. The runs named in
``bfloat16_runs`` are also made with torch's own bfloat16 iteration, unpatched, as
``<run>/float32_bf16ns/...``.

Problem: ``tanh(tanh(x W1) W2) W3`` with ``W1`` (6, 16) (wide: more columns than
rows), ``W2`` (16, 16) and ``W3`` (16, 3) (tall: torch transposes it before the
iteration), all matrices (torch's Muon takes nothing else), a mean squared error on
minibatches of 16 of 64 examples, 200 steps. For every run (the defaults, two other
configurations, a ``CosineAnnealingLR`` schedule) the file holds:

* ``<run>/<dtype>/grads``, ``<run>/<dtype>/params`` (at ``checkpoints``) for
  ``dtype`` in float32 and float64 (``torch.set_default_dtype(torch.float64)``);
* ``<run>/hparams/learning_rate`` for the scheduled run.

Each run is conditioned: the peer's float64 run agrees with its float32 run within
``CONDITIONING_LIMITS`` (``manifest["conditioning"]``).
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
import torch.optim._muon as torch_muon
from _torch_fixture import CONDITIONING_LIMITS, conditioning, save

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optimizers_muon.npz"
STEPS = 200
CHECKPOINTS = [1, 2, 5, 10, 25, 50, 100, 150, 200]
N_EXAMPLES, BATCH = 64, 16
LEAVES = {"w1": (6, 16), "w2": (16, 8), "w3": (8, 3)}
BFLOAT16_RUNS = ("muon_default",)
TORCH_NEWTON_SCHULZ = torch_muon._zeropower_via_newtonschulz


def _newton_schulz_float32(grad, ns_coefficients, ns_steps, eps):
    """torch 2.13's ``_zeropower_via_newtonschulz`` with the iteration in float32 (or float64)."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    # torch: grad.bfloat16(), always a copy; the copy matters, as div_ below would otherwise
    # scale the momentum buffer itself (nesterov=False passes the buffer in).
    ortho_grad = grad.to(torch.promote_types(grad.dtype, torch.float32), copy=True)
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    ortho_grad.div_(ortho_grad.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram_matrix = ortho_grad @ ortho_grad.T
        gram_update = torch.addmm(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
        ortho_grad = torch.addmm(ortho_grad, gram_update, ortho_grad, beta=a)
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    return ortho_grad


def _grid() -> list[dict]:
    runs = []

    def add(name, torch_kwargs, alias_kwargs, cosine=None):
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
                "optimizer": "muon",
                "peer": {
                    "class": "torch.optim.Muon",
                    "kwargs": torch_kwargs,
                    "scheduler": scheduler,
                },
                "optaxlr": {"kwargs": alias_kwargs, "schedules": schedules or {}},
            }
        )

    add("muon_default", {}, {})
    add(
        "muon_rms_plain",
        {
            "lr": 2**-10,
            "weight_decay": 0.125,
            "momentum": 0.9,
            "nesterov": False,
            "adjust_lr_fn": "match_rms_adamw",
        },
        {
            "learning_rate": 2**-10,
            "weight_decay": 0.125,
            "momentum": 0.9,
            "nesterov": False,
            "adjust_lr_fn": "match_rms_adamw",
        },
    )
    add(
        "muon_ns_original",
        {
            "lr": 2e-3,
            "weight_decay": 0.0,
            "ns_coefficients": (1.875, -1.25, 0.375),
            "ns_steps": 7,
            "eps": 1e-5,
            "adjust_lr_fn": "original",
        },
        {
            "learning_rate": 2e-3,
            "weight_decay": 0.0,
            "ns_coefficients": (1.875, -1.25, 0.375),
            "ns_steps": 7,
            "eps": 1e-5,
            "adjust_lr_fn": "original",
        },
    )
    add("muon_cosine", {"lr": 5e-3, "weight_decay": 0.05}, {"weight_decay": 0.05}, cosine=1e-4)
    return runs


def _problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261205)
    x = rng.standard_normal((N_EXAMPLES, 6)).astype(np.float32)
    teacher = [rng.standard_normal(s).astype(np.float32) / np.sqrt(s[0]) for s in LEAVES.values()]
    y = np.tanh(np.tanh(x @ teacher[0]) @ teacher[1]) @ teacher[2]
    y = y + 0.05 * rng.standard_normal(y.shape)
    # Weights of magnitude 0.3 and more: none crosses zero within 200 steps, where the
    # relative check would compare rounding noise.
    z = {k: rng.standard_normal(s) for k, s in LEAVES.items()}
    init = {k: (np.sign(v) * (0.3 + 0.5 * np.abs(v))).astype(np.float32) for k, v in z.items()}
    return init, x, y.astype(np.float32)


def _flat(tensors: list[torch.Tensor], dtype) -> np.ndarray:
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors]).astype(dtype)


def _run(spec: dict, init: dict, x: np.ndarray, y: np.ndarray, dtype) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    params = [torch.tensor(init[k].astype(dtype), requires_grad=True) for k in LEAVES]
    w1, w2, w3 = params
    opt = torch.optim.Muon(params, **spec["peer"]["kwargs"])
    scheduler = None
    if spec["peer"]["scheduler"] is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, **spec["peer"]["scheduler"]["kwargs"]
        )
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    grads, snapshots, lrs, trajectory = [], [], [], [_flat(params, np.float64)]
    for t in range(STEPS):
        rows = slice((t % (N_EXAMPLES // BATCH)) * BATCH, (t % (N_EXAMPLES // BATCH) + 1) * BATCH)
        opt.zero_grad(set_to_none=True)
        out = torch.tanh(torch.tanh(xt[rows] @ w1) @ w2) @ w3
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
    for spec in _grid():
        torch_muon._zeropower_via_newtonschulz = _newton_schulz_float32
        by_dtype = {dt.__name__: _run(spec, init, x, y, dt) for dt in (np.float32, np.float64)}
        for dtype, result in by_dtype.items():
            arrays[f"{spec['name']}/{dtype}/grads"] = result["grads"]
            arrays[f"{spec['name']}/{dtype}/params"] = result["params"]
        if spec["peer"]["scheduler"] is not None:
            arrays[f"{spec['name']}/hparams/learning_rate"] = by_dtype["float32"]["lrs"]
        conditions[spec["name"]] = conditioning(
            spec["name"], by_dtype["float32"], by_dtype["float64"]
        )
        if spec["name"] in BFLOAT16_RUNS:
            torch_muon._zeropower_via_newtonschulz = TORCH_NEWTON_SCHULZ
            bf16 = _run(spec, init, x, y, np.float32)
            arrays[f"{spec['name']}/float32_bf16ns/grads"] = bf16["grads"]
            arrays[f"{spec['name']}/float32_bf16ns/params"] = bf16["params"]
    torch_muon._zeropower_via_newtonschulz = TORCH_NEWTON_SCHULZ
    save(
        args.out,
        arrays,
        __file__,
        LEAVES,
        STEPS,
        _grid(),
        versions={"torch": torch.__version__},
        newton_schulz=(
            "parity runs: torch.optim._muon._zeropower_via_newtonschulz replaced by a copy "
            "with grad.bfloat16() -> grad.to(torch.promote_types(grad.dtype, torch.float32), "
            "copy=True); "
            "<run>/float32_bf16ns: torch's own bfloat16 iteration"
        ),
        bfloat16_runs=list(BFLOAT16_RUNS),
        conditioning=conditions,
        conditioning_limits=CONDITIONING_LIMITS,
    )


if __name__ == "__main__":
    main()
