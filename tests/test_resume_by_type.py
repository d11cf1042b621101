"""A resume decides by the state's types: parameters may be named like state fields.

The reference is the uninterrupted run: a run saved at step K and resumed with the
same optimizer holds, leaf for leaf, the state it saved, and continues bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training

K, N = 5, 9
# Every field name an optax or optaxlr state has, as parameter names.
NAMES = ("count", "record", "mu", "nu", "step", "inner_state", "values", "learning_rate",
         "hyperparams", "trace", "value")  # fmt: skip
LR = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.05, 20), 2)

OPTIMIZERS = {
    "adamw": lambda: optaxlr.adamw(LR, weight_decay=0.1),
    "sgd_momentum": lambda: optaxlr.sgd(LR, momentum=0.9, nesterov=True),
    "clip_adam": lambda: optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adam(LR)),
    "accumulate": lambda: training.accumulate(optaxlr.adamw(LR), every_k_steps=2),
    "plateau": lambda: optax.chain(
        optaxlr.adamw(LR), training.reduce_on_plateau(patience=0, factor=0.5)
    ),
}


def _params() -> dict:
    return {
        name: jnp.full((i % 3 + 1,), 0.1 * (i + 1), jnp.float32) for i, name in enumerate(NAMES)
    }


def _run(opt, params, state, start, stop):
    for i in range(start, stop):
        grads = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)) + 0.01 * i, params)
        # A loss that stops improving, so the plateau scale changes before the save.
        updates, state = opt.update(grads, state, params, value=jnp.float32(1.0 + (i < 2)))
        params = optax.apply_updates(params, updates)
    return params, state


def _bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resume_with_the_same_optimizer_is_the_saved_state(tmp_path, name):
    opt = OPTIMIZERS[name]()
    opt = optax.with_extra_args_support(opt)
    params, state = _run(opt, _params(), opt.init(_params()), 0, K)
    training.save(tmp_path / "ckpt", params, state)

    restored, resumed = training.resume(tmp_path / "ckpt", _params(), opt)
    _bitwise(restored, params)
    _bitwise(resumed, state)  # the records, the counts and every moment of "count", "mu"...
    _bitwise(training.transfer_state(state, opt.init(params)), state)  # in memory too

    expected = _run(opt, params, state, K, N)
    _bitwise(_run(opt, restored, resumed, K, N), expected)


def test_hyperparams_after_a_resume_are_those_of_the_carried_step(tmp_path):
    old = optaxlr.adamw(LR)
    params, state = _run(old, _params(), old.init(_params()), 0, K)
    training.save(tmp_path / "ckpt", params, state)
    before = optaxlr.hyperparams(state)
    # Which step's value the record holds: the last update's, at count - 1.
    np.testing.assert_array_equal(before["learning_rate"], np.float32(LR(K - 1)))

    _, same = training.resume(tmp_path / "ckpt", _params(), old)
    after = optaxlr.hyperparams(same)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])

    changed = optaxlr.schedules.linear(1e-2, 1e-3, 30)
    _, state = training.resume(tmp_path / "ckpt", _params(), optaxlr.adamw(changed))
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == K
    np.testing.assert_allclose(hps["learning_rate"], 1e-2 + (1e-3 - 1e-2) * (K - 1) / 30)


def test_observed_values_are_carried(tmp_path):
    opt = optax.with_extra_args_support(OPTIMIZERS["plateau"]())
    params, state = _run(opt, _params(), opt.init(_params()), 0, K)
    assert float(optaxlr.hyperparams(state)["scale"]) < 1.0  # the plateau reduced the rate
    training.save(tmp_path / "ckpt", params, state)
    _, resumed = training.resume(tmp_path / "ckpt", _params(), opt)
    assert optaxlr.hyperparams(resumed)["scale"] == optaxlr.hyperparams(state)["scale"]


def test_sgd_into_adamw_is_refused_naming_what_does_not_carry(tmp_path):
    params, state = _run(
        optaxlr.sgd(0.1, momentum=0.9),
        _params(),
        optaxlr.sgd(0.1, momentum=0.9).init(_params()),
        0,
        K,
    )
    training.save(tmp_path / "ckpt", params, state)
    with pytest.raises(
        ValueError, match=r"'0/mu/count'.*nothing saved.*'0/trace/count'.*strict=False"
    ):
        training.resume(tmp_path / "ckpt", _params(), optaxlr.adamw(1e-3), step=K)
    # Said explicitly: Adam's moments start at zero, the parameters and the step carry.
    restored, state = training.resume(
        tmp_path / "ckpt", _params(), optaxlr.adamw(LR), step=K, strict=False
    )
    _bitwise(restored, params)
    fresh = optaxlr.adamw(LR).init(params)
    _bitwise(state[0].mu, fresh[0].mu)
    assert int(optaxlr.hyperparams(state)["step"]) == K


def _saved_and_resumed(tmp_path, opt, params, steps, **resume_kwargs):
    params, state = _run(opt, params, opt.init(params), 0, steps)
    training.save(tmp_path / "ckpt", params, state)
    return params, state, training.resume(tmp_path / "ckpt", params, opt, **resume_kwargs)[1]


def test_values_injected_and_set_are_carried(tmp_path):
    opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=1e-2, weight_decay=0.1)
    params = _params()
    state = optaxlr.set_hyperparams(opt.init(params), learning_rate=1e-4)
    params, state = _run(opt, params, state, 0, K)
    training.save(tmp_path / "ckpt", params, state)
    _, resumed = training.resume(tmp_path / "ckpt", _params(), opt)
    _bitwise(resumed, state)  # 1e-4, not the constructor's 1e-2
    assert float(optaxlr.hyperparams(resumed)["learning_rate"]) == np.float32(1e-4)


def test_an_injected_schedule_resumes_as_saved(tmp_path):
    opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=optax.linear_schedule(1e-2, 0, 10))
    params, state, resumed = _saved_and_resumed(tmp_path, opt, _params(), K)
    _bitwise(resumed, state)
    expected = _run(opt, params, state, K, N)
    _bitwise(_run(opt, params, resumed, K, N), expected)


def test_optax_plateau_count_is_not_a_step_count(tmp_path):
    # optax.contrib.reduce_on_plateau's `count` counts the losses it has averaged.
    opt = optax.chain(optaxlr.adamw(LR), optax.contrib.reduce_on_plateau(patience=1))
    opt = optax.with_extra_args_support(opt)
    params, state, resumed = _saved_and_resumed(tmp_path, opt, _params(), K, step=K)
    _bitwise(resumed, state)
    _bitwise(_run(opt, params, resumed, K, N), _run(opt, params, state, K, N))


def test_a_new_count_starts_at_the_nearest_saved_count(tmp_path):
    # Outside accumulate the monitor counts micro-batches (K); inside, updates (K // 4).
    def make(lr):
        return optax.chain(training.accumulate(optaxlr.sgd(lr), 4), training.update_ratio_monitor())

    params, state = _run(make(0.1), _params(), make(0.1).init(_params()), 0, 4 * K)
    sched = optaxlr.schedules.linear(0.1, 0.0, 40)
    resumed = training.transfer_state(state, make(sched).init(params))
    hps = optaxlr.hyperparams(resumed)
    np.testing.assert_allclose(hps["learning_rate"], sched(K - 1))  # not sched(4 * K - 1)


def test_paths_that_read_alike_stay_apart():
    params = {"a/b": jnp.ones(2), "a": {"b": jnp.zeros(2)}}
    opt = optaxlr.adamw(LR)
    params, state = _run(opt, params, opt.init(params), 0, 3)
    _bitwise(training.transfer_state(state, opt.init(params)), state)


def test_step_may_be_a_count_array():
    opt = optaxlr.sgd(0.1, momentum=0.9)
    params, state = _run(opt, _params(), opt.init(_params()), 0, K)
    resumed = training.transfer_state(
        state, optaxlr.sgd(LR, momentum=0.9).init(params), step=jnp.int32(K)
    )
    assert int(optaxlr.hyperparams(resumed)["step"]) == K
    with pytest.raises(ValueError, match="step must be an integer in"):
        training.transfer_state(state, opt.init(params), step=-1)
