"""Parity with torch.optim: 200 steps of every alias and option grid, plain and scheduled.

The fixtures (``tests/fixtures/optimizers.npz``) come from
``scripts/generate_optimizer_fixtures.py``, run with PyTorch alone; this test
needs no torch. Each run replays the exact float32 gradients torch computed at
every step, so it compares the optimizer arithmetic only, and checks the
parameters after steps 1, 2, 5, ..., 200.

Tolerance: ``|ours - torch| <= ATOL + RTOL * |torch|`` with ``RTOL = 1e-5`` and
``ATOL = 1e-6``: the absolute term only matters for parameters within 0.1 of
zero, where a relative error is not meaningful (a parameter crossing zero); the
parameters are O(0.1-1).
"""

from __future__ import annotations

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr

RTOL = 1e-5
ATOL = 1e-6
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizers.npz"


def load_npz(path: pathlib.Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest, arrays) of a fixture file written by a scripts/generate_*_fixtures.py."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("manifest"))), arrays


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _unflatten(flat: jax.Array, leaves: dict[str, list[int]]) -> dict[str, jax.Array]:
    out, i = {}, 0
    for name, shape in leaves.items():
        n = int(np.prod(shape))
        out[name] = flat[..., i : i + n].reshape(flat.shape[:-1] + tuple(shape))
        i += n
    return out


def _flatten(tree: dict[str, jax.Array], leaves: dict[str, list[int]]) -> jax.Array:
    return jnp.concatenate([tree[k].reshape(-1) for k in leaves])


def x64():
    """Float64 on for a block (``jax.enable_x64`` from jax 0.8, the experimental one before)."""
    enable = getattr(jax, "enable_x64", None)
    return enable(True) if enable is not None else jax.experimental.enable_x64()


def replay_steps(opt, init, grads, leaves, wrap):
    """Parameters after every step and the learning rate each used, step by step."""
    params = _unflatten(jnp.asarray(init), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        return optax.apply_updates(params, updates), state

    step = wrap(step)
    out, lrs = [], []
    for g in jnp.asarray(grads):
        params, state = step(params, state, g)
        out.append(np.asarray(_flatten(params, leaves)))
        lrs.append(np.asarray(optaxlr.hyperparams(state)["learning_rate"]))
    return np.stack(out), np.asarray(lrs)


def build(spec: dict) -> optax.GradientTransformation:
    """The optaxlr alias a manifest entry describes."""
    kwargs = dict(spec["optaxlr"]["kwargs"])
    for name, sched in spec["optaxlr"]["schedules"].items():
        kwargs[name] = getattr(optaxlr.schedules, sched["schedule"])(**sched["kwargs"])
    return getattr(optaxlr, spec["optimizer"])(**kwargs)


def replay(opt: optax.GradientTransformation, init: jax.Array, grads: jax.Array, leaves):
    """Parameters after every step and the hyperparameters each step used, in one scan."""

    @jax.jit
    def run(init, grads):
        params = _unflatten(init, leaves)

        def body(carry, g):
            p, state = carry
            updates, state = opt.update(_unflatten(g, leaves), state, p)
            p = optax.apply_updates(p, updates)
            return (p, state), (_flatten(p, leaves), optaxlr.hyperparams(state))

        _, (trajectory, hps) = jax.lax.scan(body, (params, opt.init(params)), grads)
        return trajectory, hps

    return run(init, grads)


def _max_rel(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), ATOL / RTOL)))


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_matches_torch(name):
    manifest, arrays = _data()
    spec = next(r for r in _runs() if r["name"] == name)
    leaves = manifest["leaves"]
    trajectory, hps = replay(build(spec), arrays["init"], arrays[f"{name}/grads"], leaves)
    checkpoints = arrays["checkpoints"]
    ours = np.asarray(trajectory)[checkpoints - 1]
    ref = arrays[f"{name}/params"]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=name)
    # The hyperparameters reported each step are the ones torch used.
    for key in ("learning_rate", "momentum", "b1"):
        if f"{name}/hparams/{key}" in arrays:
            np.testing.assert_allclose(
                np.asarray(hps[key]),
                arrays[f"{name}/hparams/{key}"],
                rtol=1e-6,
                atol=1e-12,
                err_msg=f"{name}: {key}",
            )
    if "step" in hps:
        np.testing.assert_array_equal(np.asarray(hps["step"]), np.arange(1, manifest["steps"] + 1))
    else:  # nothing counts: constant hyperparameters and no step-dependent rule
        assert spec["optimizer"] in {"sgd", "adagrad", "rmsprop", "adadelta"}, name
        assert not spec["optaxlr"]["schedules"], name


def parity_report() -> dict[str, float]:
    """Max relative error (with the documented atol floor) per run; for the docs."""
    manifest, arrays = _data()
    out = {}
    for spec in _runs():
        name = spec["name"]
        trajectory, _ = replay(
            build(spec), arrays["init"], arrays[f"{name}/grads"], manifest["leaves"]
        )
        ours = np.asarray(trajectory)[arrays["checkpoints"] - 1]
        out[name] = _max_rel(ours, arrays[f"{name}/params"])
    return out


if __name__ == "__main__":
    for k, v in parity_report().items():
        print(f"{k:28s} {v:.2e}")


def test_fixtures_come_from_torch_alone():
    manifest, _arrays = _data()
    assert manifest["torch_version"].startswith("2.13.0")
    assert FIXTURES.stat().st_size < 2_000_000
    script = FIXTURES.parents[2] / "scripts" / "generate_optimizer_fixtures.py"
    assert "import optaxlr" not in script.read_text()
    names = {r["optimizer"] for r in _runs()}
    assert names == {"sgd", "adagrad", "rmsprop", "adam", "adamw", "adadelta", "radam", "nadam"}
    schedulers = {r["torch"]["scheduler"]["class"] for r in _runs() if r["torch"]["scheduler"]}
    assert schedulers == {"OneCycleLR", "CosineAnnealingWarmRestarts", "StepLR"}
