"""accumulate: k micro-batches give one k-times-larger batch; the inner optimizer steps once."""

from __future__ import annotations

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.training import AccumulateState, accumulate, reduce_on_plateau

K, MICRO, STEPS = 4, 8, 6


def _problem():
    kx, kw, kn = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (STEPS * K * MICRO, 5))
    w_true = jax.random.normal(kw, (5, 3))
    y = jnp.tanh(x @ w_true) + 0.1 * jax.random.normal(kn, (x.shape[0], 3))
    params = {"w": jnp.zeros((5, 3)), "b": jnp.full((3,), 0.1)}
    return params, x, y


def _loss(params, x, y):  # the mean loss
    return jnp.mean((jnp.tanh(x @ params["w"] + params["b"]) - y) ** 2)


_grad = jax.jit(jax.grad(_loss))


def _train(opt, params, x, y, batch):
    @jax.jit
    def step(params, state, xb, yb):
        updates, state = opt.update(_grad(params, xb, yb), state, params)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    xs, ys = x.reshape(-1, batch, x.shape[1]), y.reshape(-1, batch, y.shape[1])
    for xb, yb in zip(xs, ys, strict=True):
        params, state = step(params, state, xb, yb)
    return params, state


OPTIMIZERS = {
    "sgd_momentum": lambda: optaxlr.sgd(optaxlr.schedules.cosine(0.5, STEPS), momentum=0.9),
    "adam": lambda: optaxlr.adam(optaxlr.schedules.warmup(0.05, 2)),
    "adamw_clip": lambda: optax.chain(optaxlr.clip_by_global_norm(0.5),
                                      optaxlr.adamw(0.05, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_k_micro_batches_equal_one_large_batch(name):
    params, x, y = _problem()
    big, big_state = _train(OPTIMIZERS[name](), params, x, y, K * MICRO)
    acc, acc_state = _train(accumulate(OPTIMIZERS[name](), K), params, x, y, MICRO)
    for leaf_big, leaf_acc in zip(jax.tree.leaves(big), jax.tree.leaves(acc), strict=True):
        np.testing.assert_allclose(leaf_acc, leaf_big, rtol=2e-6, atol=2e-7)
    assert not np.array_equal(big["w"], params["w"])
    # The inner optimizer and its schedules advanced once per real update.
    hp_big, hp_acc = optaxlr.hyperparams(big_state), optaxlr.hyperparams(acc_state)
    assert int(hp_acc["step"]) == int(hp_big["step"]) == STEPS
    for key in hp_big:
        np.testing.assert_allclose(hp_acc[key], hp_big[key], rtol=1e-6)


def test_matches_optax_multisteps():
    params, x, y = _problem()
    ours, _ = _train(accumulate(optaxlr.adam(0.05), K), params, x, y, MICRO)
    theirs, _ = _train(optax.MultiSteps(optaxlr.adam(0.05), K).gradient_transformation(),
                       params, x, y, MICRO)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-7)


def test_micro_steps_return_zeros_and_the_schedule_waits(variant):
    lr = optaxlr.schedules.linear(1.0, 0.0, transition_steps=10)
    opt = accumulate(optaxlr.sgd(lr), 3)
    params = {"w": jnp.ones(2)}
    update = variant(opt.update)
    state = opt.init(params)
    for i in range(7):
        grads = {"w": jnp.full(2, float(i + 1))}
        updates, state = update(grads, state, params)
        if i % 3 == 2:
            mean = float(np.mean([i - 1, i, i + 1]))
            step = i // 3  # the inner update's schedule step
            np.testing.assert_allclose(updates["w"], -mean * float(lr(step)), rtol=1e-6)
        else:
            np.testing.assert_array_equal(updates["w"], 0.0)
    hp = optaxlr.hyperparams(state)
    assert int(hp["step"]) == 2 and int(state.micro_step) == 1 and int(state.count) == 2
    np.testing.assert_allclose(hp["learning_rate"], lr(1))
    assert float(hp["every_k_steps"]) == 3.0
    np.testing.assert_array_equal(state.acc_grads["w"], 7.0)


def test_one_params_sized_buffer_and_dtypes():
    params = {"w": jnp.ones((64, 32), jnp.float32), "h": jnp.ones((16,), jnp.bfloat16)}
    inner = optaxlr.adam(1e-3)
    inner_bytes = sum(x.nbytes for x in jax.tree.leaves(inner.init(params)))
    state = accumulate(inner, 4).init(params)
    assert isinstance(state, AccumulateState)
    extra = sum(x.nbytes for x in jax.tree.leaves(state)) - inner_bytes
    # every_k_steps is a number: static in the record, not a buffer.
    assert optaxlr.hyperparams(state)["every_k_steps"] == 4.0 and not jax.tree.leaves(state.record)
    scalars = sum(x.nbytes for x in jax.tree.leaves((state.count, state.micro_step)))
    # float32 params: the buffer is their size; bfloat16 ones are summed in float32.
    assert extra - scalars == 64 * 32 * 4 + 16 * 4
    assert state.acc_grads["h"].dtype == jnp.float32
    grads = jax.tree.map(jnp.ones_like, params)
    opt = accumulate(inner, 2)
    state = opt.init(params)
    for _ in range(2):
        updates, state = opt.update(grads, state, params)
        assert updates["h"].dtype == jnp.bfloat16 and updates["w"].dtype == jnp.float32


def test_every_k_steps_1_is_the_inner_optimizer():
    params, x, y = _problem()
    a, _ = _train(accumulate(optaxlr.rmsprop(1e-2, momentum=0.9), 1), params, x, y, MICRO)
    b, _ = _train(optaxlr.rmsprop(1e-2, momentum=0.9), params, x, y, MICRO)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        # The same arithmetic; XLA may fuse it differently inside the cond.
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)


def test_extra_args_reach_the_inner_optimizer_on_the_updating_call():
    params = {"w": jnp.ones(2)}
    grads = {"w": jnp.ones(2)}
    inside = accumulate(optax.chain(optaxlr.sgd(1.0), reduce_on_plateau(patience=0)), 2)
    state = inside.init(params)
    for _ in range(4):
        _, state = inside.update(grads, state, params, value=1.0)
    # Two updating calls saw a metric: the first improved, the second reduced.
    assert int(state.inner_state[1].num_evaluations) == 2
    assert float(optaxlr.hyperparams(state)["scale"]) == np.float32(0.1)
    after = optax.chain(accumulate(optaxlr.sgd(1.0), 2), reduce_on_plateau(patience=0))
    state = after.init(params)
    for _ in range(4):
        _, state = after.update(grads, state, params, value=1.0)
    assert int(state[1].num_evaluations) == 4  # every metric counted
    assert int(optaxlr.hyperparams(state)["step"]) == 2  # real updates


def test_count_saturates():
    opt = accumulate(optaxlr.sgd(0.1), 1)
    params = {"w": jnp.ones(2)}
    state = opt.init(params)._replace(count=jnp.int32(np.iinfo(np.int32).max))
    _, state = opt.update(params, state, params)
    assert int(state.count) == np.iinfo(np.int32).max


INVALID = [
    (dict(every_k_steps=0), ValueError, "every_k_steps must be an integer in [1, 2147483647]"),
    (dict(every_k_steps=-3), ValueError, "every_k_steps"),
    (dict(every_k_steps=2.0), TypeError, "every_k_steps must be an integer"),
    (dict(every_k_steps=True), TypeError, "every_k_steps must be an integer"),
    (dict(inner="adam", every_k_steps=2), TypeError,
     "inner must be an optax.GradientTransformation"),
    (dict(every_k_steps=optaxlr.schedules.linear(4.0, 0.0, 10)), ValueError,
     "every_k_steps: the schedule reaches 0, must be >= 1"),
    (dict(every_k_steps=lambda: 2), TypeError, "every_k_steps must be a number or a schedule"),
    (dict(every_k_steps=2, rule="square"), ValueError, "rule must be one of 'linear', 'sqrt'"),
    (dict(every_k_steps=2, rule="sqrt", base_every_k_steps=0), ValueError,
     "base_every_k_steps must be an integer in [1, "),
    (dict(every_k_steps=2, base_every_k_steps=1.5), TypeError,
     "base_every_k_steps must be an integer"),
]


# Ids without object addresses, so every xdist worker collects the same tests.
@pytest.mark.parametrize("kwargs, error, text", INVALID,
                         ids=[re.sub(r" at 0x[0-9a-f]+", "", str(k)) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    kwargs = {"inner": optaxlr.sgd(0.1), **kwargs}
    with pytest.raises(error) as info:
        accumulate(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(accumulate).parameters) <= covered
