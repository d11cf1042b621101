"""Schedule-free SGD and AdamW (``schedulefree`` 1.4.1), issue 19.

Fixtures: ``tests/fixtures/schedule_free.npz`` from
``scripts/generate_schedule_free_fixtures.py`` (the peer alone). Each run replays the
gradients the peer computed (at its ``y``), in float32 and in float64, and compares
the parameters ``y`` and the evaluation point ``x`` after every recorded step with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``, and the reported effective rate and averaging
weight with the peer's.
"""

from __future__ import annotations

import functools
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "schedule_free.npz"
ALIASES = ("schedule_free_sgd", "schedule_free_adamw")


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _spec(name: str) -> dict:
    return next(r for r in _runs() if r["name"] == name)


def _build(spec: dict) -> optax.GradientTransformation:
    kwargs = dict(spec["optaxlr"]["kwargs"])
    for name, sched in spec["optaxlr"]["schedules"].items():
        kwargs[name] = getattr(optaxlr.schedules, sched["schedule"])(**sched["kwargs"])
    return getattr(optaxlr, spec["optimizer"])(**kwargs)


def _x64():
    enable = getattr(jax, "enable_x64", None)
    return enable(True) if enable is not None else jax.experimental.enable_x64()


def _replay(opt, init, grads, leaves, wrap):
    """y, x and the reported values after every step."""
    params = _unflatten(jnp.asarray(init), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        params = optax.apply_updates(params, updates)
        return params, state, optaxlr.schedule_free_eval_params(state, params)

    step = wrap(step)
    out: dict[str, list] = {"y": [], "x": [], "hp": []}
    for g in jnp.asarray(grads):
        params, state, x = step(params, state, g)
        out["y"].append(np.asarray(_flatten(params, leaves)))
        out["x"].append(np.asarray(_flatten(x, leaves)))
        out["hp"].append(jax.tree.map(np.asarray, optaxlr.hyperparams(state)))
    return np.stack(out["y"]), np.stack(out["x"]), out["hp"]


def _check(name: str, dtype: str, wrap) -> None:
    manifest, arrays = _data()
    ys, xs, hps = _replay(
        _build(_spec(name)),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
    )
    assert ys.dtype == xs.dtype == np.dtype(dtype)
    if dtype == "float64":  # recorded at the checkpoints
        ys, xs = ys[arrays["checkpoints"] - 1], xs[arrays["checkpoints"] - 1]
    else:
        assert len(ys) == len(arrays[f"{name}/{dtype}/y"]) == 200
    for point, ours in (("y", ys), ("x", xs)):
        np.testing.assert_allclose(
            ours, arrays[f"{name}/{dtype}/{point}"], rtol=RTOL, atol=ATOL, err_msg=point
        )
    for key in ("effective_learning_rate", "averaging_weight"):
        got = np.asarray([hp[key] for hp in hps], np.float64)
        np.testing.assert_allclose(got, arrays[f"{name}/{dtype}/{key}"], rtol=1e-6, err_msg=key)
    if f"{name}/hparams/learning_rate" in arrays:
        got = np.asarray([hp["learning_rate"] for hp in hps], np.float64)
        np.testing.assert_allclose(got, arrays[f"{name}/hparams/learning_rate"], rtol=1e-6)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float32_y_and_x_match_the_peer_at_every_step(name, variant):
    _check(name, "float32", variant)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float64_y_and_x_match_the_peer(name):
    with _x64():
        _check(name, "float64", jax.jit)


def test_every_run_is_conditioned_and_the_fixture_records_its_peers():
    manifest, _ = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["schedulefree"] == "1.4.1"
    assert manifest["generated_by"] == "scripts/generate_schedule_free_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(ALIASES)
    for run in _runs():
        for point in ("y", "x"):
            cond = manifest["conditioning"][run["name"]][point]
            assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
            assert cond["step_rel_to_lr"] < 1e-2, run["name"]
    for alias in ALIASES:
        kwargs = [r["peer"]["kwargs"] for r in _runs() if r["optimizer"] == alias]
        assert {} in kwargs  # the defaults
        assert any("warmup_steps" in k and "weight_decay" in k for k in kwargs)


@pytest.mark.parametrize("name", _data()[0]["complex_runs"])
def test_complex64_matches_the_peer(name):
    _, arrays = _data()
    opt = _build(_spec(name))
    params = jnp.asarray(arrays["complex/init"])
    assert params.dtype == jnp.complex64
    state = opt.init(params)

    @jax.jit
    def step(p, s, g):
        u, s = opt.update(g, s, p)
        p = optax.apply_updates(p, u)
        return p, s, optaxlr.schedule_free_eval_params(s, p)

    ys, xs = [], []
    for g in arrays[f"complex/{name}/grads"]:
        params, state, x = step(params, state, jnp.asarray(g))
        ys.append(np.asarray(params))
        xs.append(np.asarray(x))
    for point, ours in (("y", np.stack(ys)), ("x", np.stack(xs))):
        ref = arrays[f"complex/{name}/{point}"]
        assert ours.dtype == np.complex64
        for part in (np.real, np.imag):
            np.testing.assert_allclose(part(ours), part(ref), rtol=RTOL, atol=ATOL, err_msg=point)
