"""Generates tests/fixtures/plateau.json: PyTorch's and Keras's ReduceLROnPlateau decisions.

Run it in a reference environment outside the repository (it never imports
optaxlr: the numbers must come from the peers alone)::

    python3 -m venv /tmp/plateauref
    /tmp/plateauref/bin/pip install torch==2.13.0 keras numpy scipy jax
    KERAS_BACKEND=numpy /tmp/plateauref/bin/python scripts/generate_plateau_fixtures.py
    KERAS_BACKEND=numpy /tmp/plateauref/bin/python scripts/generate_plateau_fixtures.py --check

(Keras 3's numpy backend imports scipy and jax.) Each case feeds a sequence of
metric values to the peer's scheduler/callback driving an optimizer whose base
learning rate is 1, so the learning rate after each value is the scale
`optaxlr.training.reduce_on_plateau` must report:

* torch: ``ReduceLROnPlateau(SGD(lr=1.0), ...)``, ``scheduler.step(value)``, then
  ``param_groups[0]["lr"]``;
* Keras: ``keras.callbacks.ReduceLROnPlateau`` on a one-unit model compiled
  with ``SGD(learning_rate=1.0)``: ``on_epoch_end(epoch, {"val_loss": value})``,
  then ``model.optimizer.learning_rate``.

Every case records ``config`` (the optaxlr arguments), ``values`` (``null`` is
NaN), ``scales`` (the peer's learning rates, float64) and ``reductions`` (the
indices of the values after which the rate dropped). The peers compare in
float64 and optaxlr in float32, so every comparison the peer makes is checked
here to keep its answer when the value moves by 1e-5 relative (unless it equals
the best: values are exact in float32, so equality is decided alike): no case
sits on a float32 knife edge.

A case where optaxlr deliberately differs carries ``"known_difference"`` (the
reason) and ``"expected"``: the scales optaxlr must give instead, from the same
peer on an equivalent sequence (torch's relative threshold on negative values:
``mode="max"`` on the negated values), or ``null`` when there is none.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import warnings

os.environ.setdefault("KERAS_BACKEND", "numpy")

import keras
import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "plateau.json"
NAN = float("nan")
GUARD = 1e-5


def _perturbed(v: float) -> tuple[float, float]:
    d = GUARD * max(1.0, abs(v))
    return v - d, v + d


# --- torch ---------------------------------------------------------------------


def run_torch(values: list[float], config: dict) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode=config.get("mode", "min"),
        factor=config.get("factor", 0.1),
        patience=config.get("patience", 10),
        threshold=config.get("threshold", 1e-4),
        threshold_mode=config.get("threshold_mode", "rel"),
        cooldown=config.get("cooldown", 0),
        min_lr=config.get("min_scale", 0.0),
        eps=config.get("eps", 1e-8),
    )
    out = []
    for v in values:
        if not math.isnan(v) and v != sched.best:
            lo, hi = _perturbed(v)
            answers = {sched._is_better(x, sched.best) for x in (v, lo, hi)}
            if len(answers) > 1:
                raise AssertionError(f"torch: {v} is on a knife edge against best={sched.best}")
        opt.step()
        sched.step(v)
        out.append(float(opt.param_groups[0]["lr"]))
    return out


# --- keras ---------------------------------------------------------------------


def run_keras(values: list[float], config: dict) -> list[float]:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    cb = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        mode=config.get("mode", "min"),
        factor=config.get("factor", 0.1),
        patience=config.get("patience", 10),
        min_delta=config.get("threshold", 1e-4),
        cooldown=config.get("cooldown", 0),
        min_lr=config.get("min_scale", 0.0),
    )
    cb.set_model(model)
    cb.on_train_begin()
    out = []
    for epoch, v in enumerate(values):
        if cb.monitor_op is None:
            cb._set_monitor_op()
        if not math.isnan(v) and cb.best is not None and v != cb.best:
            lo, hi = _perturbed(v)
            answers = {bool(cb._is_improvement(x, cb.best)) for x in (v, lo, hi)}
            if len(answers) > 1:
                raise AssertionError(f"keras: {v} is on a knife edge against best={cb.best}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cb.on_epoch_end(epoch, {"val_loss": v})
        out.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return out


# --- cases ---------------------------------------------------------------------


def _grid_walk(rng: np.random.Generator, n: int, start: float, low: float) -> list[float]:
    """A noisy, mostly decreasing walk on multiples of 1/256 (exact in float32)."""
    v, out = start, []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.35:
            v -= rng.integers(1, 40) / 256
        elif kind < 0.5:
            v += rng.integers(1, 20) / 256
        # else: a repeat (a plateau)
        v = max(v, low)
        out.append(float(v))
    return out


def torch_cases() -> list[dict]:
    decreasing = [1.0 - i / 20 for i in range(10)]
    cases = [
        ("defaults", {}, decreasing + [0.55] * 30),
        ("patience2_small_improvements", {"patience": 2},
         [1.0, 0.9, 0.89995, 0.89993, 0.8998, 0.8, 0.79999, 0.79998, 0.79997, 0.79996, 0.7,
          0.7, 0.7, 0.70001]),
        ("cooldown_improvements_inside", {"patience": 1, "cooldown": 3, "factor": 0.5},
         [1.0, 1.0, 1.0, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.75, 0.75, 0.75, 0.75,
          0.75, 0.75]),
        ("abs_mode", {"patience": 1, "threshold": 0.05, "threshold_mode": "abs"},
         [1.0, 0.97, 0.96, 0.9, 0.86, 0.84, 0.7, 0.69, 0.68, 0.67, 0.6]),
        ("max_rel", {"mode": "max", "patience": 2},
         [0.1, 0.3, 0.5, 0.6, 0.6, 0.60003, 0.6, 0.7, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7]),
        ("max_abs", {"mode": "max", "patience": 1, "threshold": 0.02, "threshold_mode": "abs",
                     "cooldown": 1},
         [0.1, 0.2, 0.21, 0.215, 0.3, 0.31, 0.33, 0.34, 0.345, 0.4, 0.4, 0.4, 0.4]),
        ("min_scale_clamp", {"patience": 0, "factor": 0.5, "min_scale": 0.1}, [2.0] * 12),
        ("eps_stops_reductions", {"patience": 0, "factor": 0.1}, [3.0] * 14),
        ("eps_large", {"patience": 0, "factor": 0.5, "eps": 0.1}, [3.0] * 8),
        ("negative_abs", {"patience": 1, "threshold": 0.01, "threshold_mode": "abs"},
         [-1.0, -1.0, -1.2, -1.205, -1.3, -1.3, -1.3, -1.295, -2.0, -2.0, -2.0]),
        ("nan_values", {"patience": 2, "cooldown": 1},
         [1.0, NAN, 0.9, NAN, NAN, NAN, 0.8, NAN, 0.8, 0.7, NAN, NAN, NAN, NAN]),
        ("patience0_cooldown2", {"patience": 0, "cooldown": 2, "factor": 0.5},
         [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.9, 0.5, 0.4, 0.4]),
        ("improvement_ends_cooldown_run", {"patience": 1, "cooldown": 2, "factor": 0.5,
                                           "threshold_mode": "abs", "threshold": 0.0},
         [5.0, 5.0, 5.0, 4.0, 5.0, 5.0, 5.0, 5.0, 3.0, 3.0, 3.0, 3.0]),
    ]
    rng = np.random.default_rng(0)
    for i in range(6):
        config = {
            "patience": int(rng.integers(0, 5)),
            "cooldown": int(rng.integers(0, 4)),
            "factor": float(rng.choice([0.1, 0.25, 0.5])),
            "min_scale": float(rng.choice([0.0, 0.01])),
        }
        if i % 2:
            config.update(threshold_mode="abs", threshold=float(rng.choice([0.0, 0.01, 0.05])))
            values = _grid_walk(rng, 80, 2.0, -3.0)
        else:
            config.update(threshold=float(rng.choice([1e-4, 1e-2])))
            values = _grid_walk(rng, 80, 4.0, 0.25)
        if i == 4:
            config["mode"] = "max"
            values = [-v for v in values]
            config.update(threshold_mode="abs", threshold=0.01)
        cases.append((f"random_{i}", config, values))

    out = [_case("torch", name, config, values, run_torch(values, config))
           for name, config, values in cases]

    # Relative threshold, negative metric: torch's bar best * (1 - threshold)
    # lies above a negative best, so a constant or worsening metric counts as
    # improving. optaxlr uses best - threshold * |best|: on all-negative values
    # that is torch's "max" mode on the negated values.
    for name, config, values in [
        ("negative_rel_constant", {"patience": 1}, [-1.0] * 8),
        ("negative_rel_worsening", {"patience": 2, "factor": 0.5},
         [-2.0, -1.99995, -1.9999, -1.9998, -1.9, -1.8, -1.8, -3.0, -3.0, -3.0, -3.0]),
        ("negative_rel_random", {"patience": 2, "cooldown": 1, "factor": 0.5, "threshold": 1e-3},
         [v - 8.0 for v in _grid_walk(rng, 60, 4.0, 0.25)]),
    ]:
        case = _case("torch", name, config, values, run_torch(values, config))
        mirrored = dict(config, mode="max")
        case["known_difference"] = (
            "torch's relative threshold on a negative best (pytorch#47513): optaxlr compares "
            "with best - threshold * |best|, torch with best * (1 - threshold)"
        )
        case["expected"] = run_torch([-v for v in values], mirrored)
        out.append(case)
    return out


def keras_cases() -> list[dict]:
    decreasing = [1.0 - i / 20 for i in range(10)]
    cases = [
        ("defaults", {}, decreasing + [0.55] * 30),
        ("patience2_small_improvements", {"patience": 2},
         [1.0, 0.9, 0.89995, 0.89993, 0.8998, 0.8, 0.79999, 0.79998, 0.79997, 0.79996, 0.7,
          0.7, 0.7, 0.70001]),
        ("cooldown_improvements_inside", {"patience": 1, "cooldown": 3, "factor": 0.5},
         [1.0, 1.0, 1.0, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.75, 0.75, 0.75, 0.75,
          0.75, 0.75]),
        ("min_delta", {"patience": 2, "threshold": 0.05},
         [1.0, 0.97, 0.96, 0.9, 0.86, 0.84, 0.7, 0.69, 0.68, 0.67, 0.6, 0.6]),
        ("max_mode", {"mode": "max", "patience": 2, "threshold": 0.01, "cooldown": 1},
         [0.1, 0.3, 0.5, 0.6, 0.6, 0.605, 0.6, 0.7, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7, 0.7]),
        ("min_scale_clamp", {"patience": 1, "factor": 0.5, "min_scale": 0.1}, [2.0] * 14),
        ("negative_values", {"patience": 2, "threshold": 0.01},
         [-1.0, -1.0, -1.2, -1.205, -1.3, -1.3, -1.3, -1.295, -2.0, -2.0, -2.0, -2.0]),
        ("negative_constant", {"patience": 1},
         [-1.0] * 8),
        ("nan_values", {"patience": 2, "cooldown": 1},
         [1.0, NAN, 0.9, NAN, NAN, NAN, 0.8, NAN, 0.8, 0.7, NAN, NAN, NAN, NAN]),
        ("patience0_cooldown2", {"patience": 0, "cooldown": 2, "factor": 0.5},
         [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.9, 0.5, 0.4, 0.4]),
        ("cooldown_ends_then_counts", {"patience": 2, "cooldown": 2, "factor": 0.5,
                                       "threshold": 0.0},
         [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 4.0, 5.0, 5.0, 5.0, 5.0]),
    ]
    rng = np.random.default_rng(1)
    for i in range(6):
        config = {
            "patience": int(rng.integers(0, 5)),
            "cooldown": int(rng.integers(0, 4)),
            "factor": float(rng.choice([0.1, 0.25, 0.5])),
            "min_scale": float(rng.choice([0.0, 0.01])),
            "threshold": float(rng.choice([0.0, 1e-4, 0.01, 0.05])),
        }
        values = _grid_walk(rng, 80, 2.0, -3.0)
        if i == 3:
            config["mode"] = "max"
            values = [-v for v in values]
        cases.append((f"random_{i}", config, values))
    out = [_case("keras", name, dict(config, convention="keras"), values,
                 run_keras(values, config))
           for name, config, values in cases]

    # Keras takes the first value as the best whatever it is, NaN included, and
    # then never sees an improvement: optaxlr counts a NaN as a bad evaluation.
    values = [NAN, 1.0, 0.9, 0.8, 0.7, 0.7, 0.7, 0.7]
    config = {"patience": 2}
    case = _case("keras", "first_value_nan", dict(config, convention="keras"), values,
                 run_keras(values, config))
    case["known_difference"] = (
        "Keras records a first NaN metric as the best and then never improves on it; "
        "optaxlr counts NaN as a bad evaluation"
    )
    case["expected"] = None
    out.append(case)
    return out


def _case(peer: str, name: str, config: dict, values: list[float], scales: list[float]) -> dict:
    reductions = [i for i in range(len(scales)) if scales[i] < (scales[i - 1] if i else 1.0)]
    return {
        "peer": peer,
        "name": f"{peer}/{name}",
        "config": config,
        "values": [None if math.isnan(v) else v for v in values],
        "scales": scales,
        "reductions": reductions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed JSON instead of writing it")
    args = parser.parse_args()
    data = {
        # Provenance: this script and the peers' versions (tests/test_fixture_provenance.py).
        "generated_by": "scripts/generate_plateau_fixtures.py",
        "versions": {"torch": torch.__version__, "keras": keras.__version__,
                     "keras_backend": keras.backend.backend(), "numpy": np.__version__},
        "cases": torch_cases() + keras_cases(),
    }
    text = json.dumps(data, indent=1) + "\n"
    if args.check:
        old = json.loads(OUT.read_text())
        if old["cases"] != data["cases"]:
            raise SystemExit(f"{OUT} differs from what the peers give now")
        if old.get("versions") != data["versions"]:
            print(f"note: recorded with {old.get('versions')}, checked with {data['versions']}")
        print(f"{OUT}: {len(data['cases'])} cases, unchanged")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}: {len(data['cases'])} cases")


if __name__ == "__main__":
    main()
