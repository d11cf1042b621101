"""`decay_from`: a WSD cooldown branched off any step, and continued from a saved run.

The values are checked against the formula written out in NumPy (and, in
``test_schedule_timm_hf.py``, against HF's ``get_wsd_schedule`` and timm's
``WSDLRScheduler``). A branch is then taken from a real checkpoint: a run saved
in its stable phase, restored with ``training.resume`` into an optimizer whose
schedule is the branch, must continue from the saved step exactly as a run
built with the branch from the start does, in plain optax trees and in a Flax
NNX training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
import optaxlr.schedules as sch
from optaxlr import training


def _rsqrt(t):
    return 1.0 / np.sqrt(1.0 + np.maximum(t - 10, 0) / 10.0)


WEIGHTS = {
    "linear": lambda x: 1.0 - x,
    "cosine": lambda x: (1.0 + np.cos(np.pi * x)) / 2.0,
    "1-sqrt": lambda x: 1.0 - np.sqrt(x),
}


@pytest.mark.parametrize("shape", sorted(WEIGHTS))
def test_values_against_the_formula(shape):
    # From a decaying schedule: the cooldown starts from its value at the branch step and
    # ignores what it would have done after.
    branch = sch.decay_from(sch.rsqrt(1.0, 10), step=100, length=50, shape=shape, end_value=0.01)
    t = np.arange(0, 200)
    x = np.clip(t - 100, 0, 50) / 50
    want = np.where(t < 100, _rsqrt(t), 0.01 + (_rsqrt(100) - 0.01) * WEIGHTS[shape](x))
    for fn in (branch, jax.jit(branch)):
        np.testing.assert_allclose(np.asarray(fn(t.astype(np.int32))), want, rtol=1e-6)
    low, high = branch.bounds()
    assert (low, high) == pytest.approx((0.01, 1.0), rel=1e-12)
    assert branch.bounds(100, 10**6) == pytest.approx((0.01, _rsqrt(100)), rel=1e-12)


def test_the_same_as_the_wsd_run_that_ends_there():
    # A branch off the plateau of a warmed-up constant is the WSD run ending at step + length.
    for shape in WEIGHTS:
        plateau = sch.warmup(sch.constant(0.3), 20, start_value=0.01)
        branch = sch.decay_from(plateau, 500, 120, shape, end_value=0.003)
        wsd = sch.warmup_stable_decay(0.3, 620, 20, 120, 0.003, shape, 0.01)
        steps = np.arange(700, dtype=np.int32)
        np.testing.assert_allclose(branch(steps), wsd(steps), rtol=2e-7, atol=1e-9)


def test_opposite_extremes_of_float32_stay_finite():
    branch = sch.decay_from(3e38, step=10, length=4, end_value=-3e38)
    values = np.asarray(branch(np.arange(20, dtype=np.int32)), np.float64)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(
        values[[0, 10, 12, 14, 19]], [3e38, 3e38, 0.0, -3e38, -3e38], rtol=1e-6, atol=1e32
    )


# --- a branch from a checkpoint ---------------------------------------------------------

SAVE, COOL, EXTRA = 12, 8, 4
RUN = sch.warmup_stable_decay(1e-2, 100, warmup_steps=4, decay_steps=20)
BRANCH = sch.decay_from(RUN, step=SAVE, length=COOL, shape="1-sqrt", end_value=1e-4)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.full((3,), 0.5)}


def _run(opt, params, state, start, stop):
    lrs = []
    for i in range(start, stop):
        grads = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)) + 0.01 * i, params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        lrs.append(float(optaxlr.hyperparams(state)["learning_rate"]))
    return params, state, lrs


def _bitwise(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_branch_from_a_saved_run_continues_its_step(tmp_path):
    run = optaxlr.adamw(RUN, weight_decay=0.01)
    params, state, _ = _run(run, _params(), run.init(_params()), 0, SAVE)
    training.save(tmp_path / "ckpt", params, state)

    branch = optaxlr.adamw(BRANCH, weight_decay=0.01)
    restored, resumed = training.resume(tmp_path / "ckpt", _params(), branch)
    assert int(optaxlr.hyperparams(resumed)["step"]) == SAVE
    got, _, lrs = _run(branch, restored, resumed, SAVE, SAVE + COOL + EXTRA)

    # The branch built from step 0: the same steps before SAVE (the run's), then the cooldown.
    want, _, want_lrs = _run(branch, _params(), branch.init(_params()), 0, SAVE + COOL + EXTRA)
    _bitwise(got, want)
    assert lrs == want_lrs[SAVE:]
    # Update SAVE + i used the cooldown's value i steps in: 1e-2 at first, 1e-4 at the end.
    np.testing.assert_allclose(lrs, BRANCH(np.arange(SAVE, SAVE + COOL + EXTRA)), rtol=1e-7)
    assert lrs[0] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-4)
    assert lrs[COOL // 4] == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.5, rel=1e-6)


def test_a_branch_from_an_nnx_training_step(tmp_path):
    nnx = pytest.importorskip("flax.nnx")
    x = jax.random.normal(jax.random.key(0), (8, 3))
    y = jnp.tanh(x @ jnp.array([[1.0], [-2.0], [0.5]]))

    def train(graphdef, params, opt, state, start, stop):
        @jax.jit
        def step(params, state):
            grads = jax.grad(lambda p: jnp.mean((nnx.merge(graphdef, p)(x) - y) ** 2))(params)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        for _ in range(start, stop):
            params, state = step(params, state)
        return params, state

    graphdef, params = nnx.split(nnx.Linear(3, 1, rngs=nnx.Rngs(0)))
    run, branch = optaxlr.adamw(RUN), optaxlr.adamw(BRANCH)
    saved, state = train(graphdef, params, run, run.init(params), 0, SAVE)
    path = training.save(tmp_path / "ckpt", saved, state)

    _, fresh = nnx.split(nnx.Linear(3, 1, rngs=nnx.Rngs(1)))
    restored, resumed = training.resume(path, fresh, branch)
    got, got_state = train(graphdef, restored, branch, resumed, SAVE, SAVE + COOL)
    want, want_state = train(graphdef, params, branch, branch.init(params), 0, SAVE + COOL)
    _bitwise(got, want)
    _bitwise(got_state, want_state)
    hps = optaxlr.hyperparams(got_state)
    assert int(hps["step"]) == SAVE + COOL
    assert float(hps["learning_rate"]) == pytest.approx(float(BRANCH(SAVE + COOL - 1)))
