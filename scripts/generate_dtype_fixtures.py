"""Generates tests/fixtures/optimizer_dtypes.npz: torch.optim in float64, complex64 and float16.

Run with a reference environment that has torch (never optaxlr)::

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/generate_dtype_fixtures.py

Each run gives a torch optimizer fixed gradients (``p.grad = g``, drawn from a
seeded generator) for 200 steps and records the parameters after the steps in
``checkpoints``:

* ``float64/<run>``: every optimizer on float64 parameters and gradients, with
  ``torch.set_default_dtype(torch.float64)`` so that torch's own scalar state
  (NAdam's ``mu_product``) is float64 too: the whole update in float64. optaxlr
  under ``jax_enable_x64`` must match to rtol 1e-10.
* ``complex64/<run>``: complex parameters, which torch updates as their real
  view (``torch.view_as_real``): real and imaginary parts are independent.
* ``float16/<run>``: gradients of magnitude ~1e-5, whose squares underflow in
  float16. The reference is torch on float32 parameters (starting from the same
  float16 values, fed the same float16-exact gradients); optaxlr on float16
  parameters must stay within float16 rounding of it, which it does only if its
  second moments are not kept in float16. (Adadelta, whose step at such
  gradients is set by ``eps``, and centered RMSprop, whose variance estimate is
  near zero, move by amounts float16 parameters quantize: they are left out.)
  ``float16_torch/<run>`` records what torch itself gives on float16 parameters
  (moments in float16), for comparison.

``manifest`` (JSON) lists each run's torch class and kwargs and the matching
optaxlr alias kwargs, the torch version and this script's path.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from _torch_fixture import save

LEAVES = {"w": (8, 4), "b": (4,)}
STEPS = 200
CHECKPOINTS = [1, 2, 10, 50, 100, 200]
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optimizer_dtypes.npz"

# name: (optaxlr alias, alias kwargs, torch class, torch kwargs)
RUNS = {
    "sgd_momentum": ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
                     "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2}),
    "sgd_dampening": ("sgd", {"learning_rate": 0.05, "momentum": 0.5, "dampening": 0.1},
                      "SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.1}),
    "rmsprop_plain": ("rmsprop", {"learning_rate": 1e-3}, "RMSprop", {"lr": 1e-3}),
    "adagrad": ("adagrad", {"learning_rate": 0.05, "lr_decay": 1e-2, "weight_decay": 1e-3},
                "Adagrad", {"lr": 0.05, "lr_decay": 1e-2, "weight_decay": 1e-3}),
    "rmsprop": ("rmsprop", {"learning_rate": 1e-2, "momentum": 0.9, "centered": True},
                "RMSprop", {"lr": 1e-2, "momentum": 0.9, "centered": True}),
    "adam": ("adam", {"learning_rate": 1e-2, "weight_decay": 1e-3},
             "Adam", {"lr": 1e-2, "weight_decay": 1e-3}),
    "adam_amsgrad": ("adam", {"learning_rate": 1e-2, "amsgrad": True},
                     "Adam", {"lr": 1e-2, "amsgrad": True}),
    "adamw": ("adamw", {"learning_rate": 1e-2, "weight_decay": 0.1},
              "AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    "adadelta": ("adadelta", {"learning_rate": 1.0, "weight_decay": 1e-3},
                 "Adadelta", {"lr": 1.0, "weight_decay": 1e-3}),
    "radam": ("radam", {"learning_rate": 1e-2, "weight_decay": 1e-2,
                        "decoupled_weight_decay": True},
              "RAdam", {"lr": 1e-2, "weight_decay": 1e-2, "decoupled_weight_decay": True}),
    "nadam": ("nadam", {"learning_rate": 1e-2, "weight_decay": 1e-3},
              "NAdam", {"lr": 1e-2, "weight_decay": 1e-3}),
}
FLOAT16_ONLY = {"rmsprop_plain"}
FLOAT16_RUNS = ["adam", "adamw", "rmsprop_plain", "adagrad", "radam", "nadam"]


def _data(rng: np.random.Generator, dtype: str) -> tuple[dict, np.ndarray]:
    """Initial parameters and the gradients of every step, flattened in LEAVES order."""
    size = sum(int(np.prod(s)) for s in LEAVES.values())
    if dtype == "complex64":
        init = (rng.uniform(-1, 1, size) + 1j * rng.uniform(-1, 1, size)).astype(np.complex64)
        grads = (0.1 * (rng.standard_normal((STEPS, size))
                        + 1j * rng.standard_normal((STEPS, size)))).astype(np.complex64)
    elif dtype == "float16":
        init = rng.uniform(-1, 1, size).astype(np.float16)
        grads = (1e-5 * rng.standard_normal((STEPS, size))).astype(np.float16)
    else:
        init = rng.uniform(-1, 1, size).astype(np.float64)
        grads = 0.1 * rng.standard_normal((STEPS, size))
    return init, grads


def _unflat(flat: np.ndarray) -> list[np.ndarray]:
    out, i = [], 0
    for shape in LEAVES.values():
        n = int(np.prod(shape))
        out.append(flat[i : i + n].reshape(shape))
        i += n
    return out


def _run(torch_cls: str, kwargs: dict, init: np.ndarray, grads: np.ndarray, dtype) -> np.ndarray:
    params = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in _unflat(init)]
    opt = getattr(torch.optim, torch_cls)(params, foreach=False, **kwargs)
    out = []
    for step in range(1, STEPS + 1):
        for p, g in zip(params, _unflat(grads[step - 1]), strict=True):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        if step in CHECKPOINTS:
            out.append(np.concatenate([p.detach().numpy().reshape(-1) for p in params]))
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    arrays: dict[str, np.ndarray] = {"checkpoints": np.asarray(CHECKPOINTS)}
    runs = []
    for group, seed in (("float64", 1), ("complex64", 2), ("float16", 3)):
        rng = np.random.default_rng(seed)
        init, grads = _data(rng, group)
        arrays[f"{group}/init"], arrays[f"{group}/grads"] = init, grads
        names = FLOAT16_RUNS if group == "float16" else [n for n in RUNS if n not in FLOAT16_ONLY]
        for name in names:
            alias, alias_kwargs, torch_cls, torch_kwargs = RUNS[name]
            if group == "float16":
                ref = _run(torch_cls, torch_kwargs, init.astype(np.float32),
                           grads.astype(np.float32), torch.float32)
                arrays[f"float16_torch/{name}"] = _run(
                    torch_cls, torch_kwargs, init, grads, torch.float16
                )
            elif group == "float64":
                torch.set_default_dtype(torch.float64)
                try:
                    ref = _run(torch_cls, torch_kwargs, init, grads, torch.float64)
                finally:
                    torch.set_default_dtype(torch.float32)
            else:
                ref = _run(torch_cls, torch_kwargs, init, grads, getattr(torch, group))
            arrays[f"{group}/{name}"] = ref
            runs.append({"group": group, "name": name, "optimizer": alias,
                         "optaxlr": alias_kwargs,
                         "torch": {"class": torch_cls, "kwargs": torch_kwargs}})
    save(args.out, arrays, __file__, LEAVES, STEPS, runs)


if __name__ == "__main__":
    main()
