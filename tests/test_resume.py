"""Continuing a run with a changed optimizer, and checkpoints that don't fit or are damaged."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training

K = 5  # updates before the checkpoint
SCHED_A = optaxlr.schedules.cosine(1e-2, 20)
SCHED_B = optaxlr.schedules.warmup(optaxlr.schedules.linear(5e-3, 1e-3, 20), 2)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.full((3,), 0.5)}


def _grads(params, i):
    return jax.tree.map(lambda p: 0.2 * p + 0.05 * (i + 1), params)


def _train(opt, params, state, steps, start=0):
    for i in range(start, start + steps):
        updates, state = opt.update(_grads(params, i), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def _saved(tmp_path, opt):
    params, state = _train(opt, _params(), opt.init(_params()), K)
    training.save(tmp_path / "ckpt", params, state)
    return params, state


def _expected_next(new_opt, params, state_with_saved_buffers):
    updates, state = new_opt.update(_grads(params, K), state_with_saved_buffers, params)
    return optax.apply_updates(params, updates), state


@pytest.mark.parametrize(
    "old, new",
    [
        (lambda: optaxlr.adamw(1e-3), lambda: optaxlr.adamw(5e-4, weight_decay=0.1)),
        (lambda: optaxlr.adamw(SCHED_A), lambda: optaxlr.adamw(SCHED_B)),
        (lambda: optaxlr.adamw(1e-3), lambda: optaxlr.adamw(SCHED_B)),
        (lambda: optaxlr.adamw(SCHED_A), lambda: optaxlr.adamw(1e-3)),
    ],
    ids=["number", "schedule", "number_to_schedule", "schedule_to_number"],
)
def test_resume_carries_moments_and_step_into_the_new_optimizer(tmp_path, old, new):
    params, saved = _saved(tmp_path, old())
    new_opt = new()
    restored, state = training.resume(tmp_path / "ckpt", _params(), new_opt)
    jax.tree.map(np.testing.assert_array_equal, restored, params)
    # By hand: the new optimizer's fresh state, with the saved moments and step.
    fresh = new_opt.init(params)
    count = jnp.int32(K)
    adam = fresh[0]._replace(count=count, mu=saved[0].mu, nu=saved[0].nu)
    lr = fresh[1] if fresh[1].count is None else fresh[1]._replace(count=count)
    expected, expected_state = _expected_next(new_opt, params, (adam, lr))
    ours, state = _expected_next(new_opt, restored, state)
    jax.tree.map(np.testing.assert_array_equal, ours, expected)
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == K + 1
    if isinstance(new_opt, optax.GradientTransformation) and fresh[1].count is not None:
        np.testing.assert_allclose(hps["learning_rate"], SCHED_B(K), rtol=1e-6)
    assert hps.keys() == optaxlr.hyperparams(expected_state).keys()


def test_a_state_without_a_count_needs_the_step(tmp_path):
    params, saved = _saved(tmp_path, optaxlr.sgd(0.1, momentum=0.9))
    scheduled = optaxlr.sgd(SCHED_A, momentum=0.9)
    with pytest.raises(ValueError, match="pass step="):
        training.resume(tmp_path / "ckpt", _params(), scheduled)
    _, state = training.resume(tmp_path / "ckpt", _params(), scheduled, step=K)
    np.testing.assert_array_equal(state[0].trace["w"], saved[0].trace["w"])
    _, state = scheduled.update(_grads(params, K), state, params)
    np.testing.assert_allclose(optaxlr.hyperparams(state)["learning_rate"], SCHED_A(K))


def test_transfer_state_in_memory_into_inject_hyperparams():
    params, saved = _train(
        optaxlr.adam(SCHED_A), _params(), optaxlr.adam(SCHED_A).init(_params()), K
    )
    injected = optax.inject_hyperparams(optaxlr.adam)(learning_rate=2e-3)
    # The wrapper moves every moment to another path: carrying nothing would lose them.
    with pytest.raises(ValueError, match=r"'inner_state/.*mu/w'.* nothing saved.*'0/mu/w'"):
        training.transfer_state(saved, injected.init(params))
    # Asked for explicitly: the step carries, the moments start afresh.
    state = training.transfer_state(saved, injected.init(params), strict=False)
    assert int(state.count) == K
    assert float(state.hyperparams["learning_rate"]) == np.float32(2e-3)  # the new value
    for ours, fresh in zip(
        jax.tree.leaves(state.inner_state),
        jax.tree.leaves(injected.init(params).inner_state),
        strict=False,
    ):
        expected = K if jnp.issubdtype(fresh.dtype, jnp.integer) else fresh  # counts, moments
        np.testing.assert_array_equal(ours, expected)


def test_a_carried_leaf_of_another_shape_is_named():
    old = optaxlr.adam(1e-3).init({"w": jnp.ones(3)})
    new = optaxlr.adam(1e-3).init({"w": jnp.ones(4)})
    with pytest.raises(ValueError, match=r"'0/mu/w' is float32\[3\] in the saved state"):
        training.transfer_state(old, new)


def test_restore_names_the_leaf_whose_dtype_differs(tmp_path):
    params, _state = _saved(tmp_path, optaxlr.adam(1e-3))
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    with pytest.raises(
        ValueError,
        match=r"differ at '.*b': the checkpoint holds float32\[3\], the template bfloat16",
    ):
        training.restore(tmp_path / "ckpt", half, optaxlr.adam(1e-3).init(half))


def test_restore_into_another_optimizer_names_the_missing_leaf(tmp_path):
    _saved(tmp_path, optaxlr.adam(1e-3))
    other = optaxlr.sgd(0.1, momentum=0.9).init(_params())
    with pytest.raises(ValueError, match=r"'opt_state/0/trace/b'.*transfer_state"):
        training.restore(tmp_path / "ckpt", _params(), other)


@pytest.mark.parametrize("damage", ["metadata", "truncate", "missing"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    _saved(tmp_path, optaxlr.adam(1e-3))
    ckpt = tmp_path / "ckpt"
    if damage == "metadata":
        (ckpt / "_METADATA").unlink()
    elif damage == "truncate":
        for f in ckpt.rglob("*"):
            if f.is_file() and f.parent.name == "d":
                f.write_bytes(f.read_bytes()[:7])
    else:
        ckpt = tmp_path / "nowhere"
    template = optaxlr.adam(1e-3).init(_params())
    with pytest.raises(ValueError, match=r"incomplete or corrupt|no checkpoint"):
        training.restore(ckpt, _params(), template)
    with pytest.raises(ValueError, match=r"incomplete or corrupt|no checkpoint"):
        training.resume(ckpt, _params(), optaxlr.adam(1e-3))


def test_resume_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    pathlib.Path(tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="incomplete or corrupt"):
        training.resume(tmp_path / "empty", _params(), optaxlr.adam(1e-3))
