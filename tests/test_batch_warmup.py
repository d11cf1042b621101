"""accumulate with a scheduled k (batch-size warmup), against a torch loop doing the same.

Fixture: ``tests/fixtures/batch_warmup.npz`` from ``scripts/generate_batch_warmup_fixtures.py``
(torch alone). Each run replays the micro-batch gradients torch computed, in float32 and
float64, and compares the parameters at the checkpoints (real updates) with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``, and the rate of every real update.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr.training import accumulate
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "batch_warmup.npz"


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _run(name: str) -> dict:
    return next(r for r in _data()[0]["runs"] if r["name"] == name)


def _k_schedule():
    manifest = _data()[0]
    return optaxlr.schedules.piecewise_constant(
        manifest["k_boundaries"], [float(v) for v in manifest["k_values"]]
    )


def _build(run: dict) -> optax.GradientTransformation:
    kwargs = dict(run["peer"]["kwargs"])
    lr = kwargs.pop("lr")
    steps = _data()[0]["steps"]
    if run["cosine_end"] is not None:
        lr = optaxlr.schedules.cosine(lr, steps, end_value=run["cosine_end"] * lr)
    inner = getattr(optaxlr, run["peer"]["class"].lower())(lr, **kwargs)
    return accumulate(inner, _k_schedule(), rule=run["rule"], base_every_k_steps=run["base_k"])


def _replay(run: dict, dtype: str, wrap):
    manifest, arrays = _data()
    leaves = manifest["leaves"]
    opt = _build(run)
    params = _unflatten(jnp.asarray(arrays["init"].astype(dtype)), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        return optax.apply_updates(params, updates), state

    step = wrap(step)
    snapshots, lrs, scales = {}, [], []
    for g in jnp.asarray(arrays[f"{run['name']}/{dtype}/grads"]):
        before = int(state.count)
        params, state = step(params, state, g)
        if int(state.count) > before:  # a real update
            hp = optaxlr.hyperparams(state)
            lrs.append(float(hp["learning_rate"]) * float(hp.get("lr_scale", 1.0)))
            scales.append(float(hp["every_k_steps"]))
            snapshots[int(state.count)] = np.asarray(_flatten(params, leaves))
    return snapshots, np.asarray(lrs), np.asarray(scales), state


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [r["name"] for r in _data()[0]["runs"]])
def test_matches_the_torch_loop(name, dtype):
    """Under jit (the step without jit: ``test_micro_batches_per_update_follow_the_schedule``)."""
    manifest, arrays = _data()
    # jax.enable_x64 from jax 0.8; jax.experimental.enable_x64 before
    enable = getattr(jax, "enable_x64", None)  # a config State: no truth value
    enable = jax.experimental.enable_x64 if enable is None else enable
    with enable(dtype == "float64"):
        snapshots, lrs, ks, state = _replay(_run(name), dtype, jax.jit)
    checkpoints = arrays["checkpoints"]
    ours = np.stack([snapshots[int(c)] for c in checkpoints])
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours, arrays[f"{name}/{dtype}/params"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lrs, arrays[f"{name}/hparams/learning_rate"], rtol=1e-6)
    # Every k of the warmup was used, and the inner optimizer counted real updates only.
    steps = manifest["steps"]
    expected_k = [
        manifest["k_values"][sum(t >= b for b in manifest["k_boundaries"])] for t in range(steps)
    ]
    np.testing.assert_array_equal(ks, expected_k)
    assert int(optaxlr.hyperparams(state)["step"]) == steps == len(lrs)


def test_micro_batches_per_update_follow_the_schedule(variant):
    """k = 1, 3, 2 for updates 0, 1, 2+: zeros between, the mean of the k micro-batches, the
    inner schedule at the real update count, the rate scaled by sqrt(k / 2)."""
    k = optaxlr.schedules.piecewise_constant([1, 2], [1.0, 3.0, 2.0])
    lr = optaxlr.schedules.linear(1.0, 0.0, transition_steps=10)
    opt = accumulate(optaxlr.sgd(lr), k, rule="sqrt", base_every_k_steps=2)
    params = {"w": jnp.zeros(2)}
    update = variant(opt.update)
    state = opt.init(params)
    hp = optaxlr.hyperparams(state)
    assert float(hp["every_k_steps"]) == 1.0 and float(hp["lr_scale"]) == pytest.approx(0.5**0.5)
    grads = [float(i + 1) for i in range(8)]
    # updates: [g0] | [g1 g2 g3] | [g4 g5] | [g6 g7]
    groups = [[0], [1, 2, 3], [4, 5], [6, 7]]
    real = {group[-1]: (t, group) for t, group in enumerate(groups)}
    for i, g in enumerate(grads):
        updates, state = update({"w": jnp.full(2, g)}, state, params)
        if i in real:
            t, group = real[i]
            size = len(group)
            mean = np.mean([grads[j] for j in group])
            expected = -mean * float(lr(t)) * np.sqrt(size / 2)
            np.testing.assert_allclose(updates["w"], expected, rtol=1e-6, err_msg=str(i))
            hp = optaxlr.hyperparams(state)
            assert float(hp["every_k_steps"]) == size and int(hp["step"]) == t + 1
            np.testing.assert_allclose(hp["lr_scale"], np.sqrt(size / 2), rtol=1e-6)
        else:
            np.testing.assert_array_equal(updates["w"], 0.0)


def test_a_lambda_k_rounds_and_a_linear_rule_scales():
    opt = accumulate(optaxlr.sgd(0.1), lambda t: 1.6 + t, rule="linear")  # k = 2, 3, 4 ...
    params = {"w": jnp.zeros(1)}
    state = opt.init(params)
    applied = []
    for _ in range(9):  # 2 + 3 + 4 micro-batches
        updates, state = opt.update({"w": jnp.ones(1)}, state, params)
        if float(updates["w"][0]) != 0:
            applied.append(float(updates["w"][0]))
    np.testing.assert_allclose(applied, [-0.2, -0.3, -0.4], rtol=1e-6)


def test_resume_mid_warmup_bit_for_bit(tmp_path):
    run = _run("adamw_sqrt_cosine")
    _, arrays = _data()
    leaves = _data()[0]["leaves"]
    grads = jnp.asarray(arrays[f"{run['name']}/float32/grads"][:40])
    params0 = _unflatten(jnp.asarray(arrays["init"]), leaves)

    @jax.jit
    def step(params, state, g):
        updates, state = _build(run).update(_unflatten(g, leaves), state, params)
        return optax.apply_updates(params, updates), state

    def go(params, state, start, stop):
        for g in grads[start:stop]:
            params, state = step(params, state, g)
        return params, state

    want = go(params0, _build(run).init(params0), 0, 40)
    saved = go(params0, _build(run).init(params0), 0, 25)  # mid-update, k = 2
    assert int(saved[1].micro_step) == 1
    training.save(tmp_path / "ckpt", saved[0], saved[1])
    restored, resumed = training.resume(tmp_path / "ckpt", params0, _build(run))
    got = go(restored, resumed, 25, 40)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(optaxlr.hyperparams(got[1])["every_k_steps"]) == 2.0
