"""param_ema / ema_params: the parameter average for evaluation."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.training import ParamEmaState, ema_params, param_ema, skip_nonfinite

GRADS = np.random.default_rng(0).normal(size=(15, 3)).astype(np.float32)
P0 = np.array([1.0, -2.0, 0.5], np.float32)


def _trajectory(opt, update=None):
    """Params after each step and the EMA read after each step."""
    update = update or opt.update
    params = jnp.asarray(P0)
    state = opt.init(params)
    np.testing.assert_array_equal(ema_params(state), P0)  # before any update
    thetas, emas = [], []
    for g in GRADS:
        updates, state = update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
        thetas.append(np.asarray(params, np.float64))
        emas.append(np.asarray(ema_params(state)))
    return np.array(thetas), np.array(emas), state


def test_debias_false_is_keras_use_ema(variant):
    """keras/src/optimizers/base_optimizer.py, _update_model_variables_moving_average:
    momentum = ema_momentum, except 0 at iteration 0; avg = m * avg + (1 - m) * var."""
    opt = optax.chain(optaxlr.sgd(0.1, momentum=0.5), param_ema(0.9, debias=False))
    thetas, emas, _ = _trajectory(opt, variant(opt.update))
    avg = thetas[0]
    expected = [avg]
    for theta in thetas[1:]:
        avg = 0.9 * avg + 0.1 * theta
        expected.append(avg)
    np.testing.assert_allclose(emas, expected, rtol=1e-6, atol=1e-7)


def test_debias_true_is_the_bias_corrected_zero_initialized_average(variant):
    opt = optax.chain(optaxlr.adam(0.05), param_ema(0.8))
    thetas, emas, state = _trajectory(opt, variant(opt.update))
    z = np.zeros(3)
    expected = []
    for t, theta in enumerate(thetas, start=1):
        z = 0.8 * z + 0.2 * theta
        expected.append(z / (1 - 0.8**t))
    np.testing.assert_allclose(emas, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(emas[0], thetas[0], rtol=1e-7)  # the first update copies
    hp = optaxlr.hyperparams(state)
    np.testing.assert_allclose(hp["ema_decay"], 0.8)
    assert int(hp["step"]) == len(GRADS)


def test_scheduled_decay_is_bias_corrected_with_the_product_of_decays():
    decay = optaxlr.schedules.linear(0.5, 0.95, transition_steps=10)
    opt = optax.chain(optaxlr.sgd(0.1), param_ema(decay))
    thetas, emas, state = _trajectory(opt)
    z, prod = np.zeros(3), 1.0
    for t, theta in enumerate(thetas):
        d = float(decay(t))
        z, prod = d * z + (1 - d) * theta, prod * d
    np.testing.assert_allclose(emas[-1], z / (1 - prod), rtol=1e-6)
    np.testing.assert_allclose(optaxlr.hyperparams(state)["ema_decay"], decay(len(GRADS) - 1))


def test_updates_pass_through_and_state_follows_the_convention():
    params = {"w": jnp.ones((2, 2)), "h": jnp.ones(3, jnp.bfloat16)}
    inner = optaxlr.sgd(0.1)
    opt = optax.chain(inner, param_ema(0.99))
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    updates, state = opt.update(grads, opt.init(params), params)
    expected, _ = inner.update(grads, inner.init(params), params)
    jax.tree.map(np.testing.assert_array_equal, updates, expected)
    ema_state = state[1]
    assert isinstance(ema_state, ParamEmaState)
    assert ema_state.count.dtype == jnp.int32
    # bfloat16 params are averaged in float32, and can be read back in their dtype.
    assert ema_state.ema["h"].dtype == jnp.float32
    assert ema_params(state, like=params)["h"].dtype == jnp.bfloat16
    full = ema_state._replace(count=jnp.int32(np.iinfo(np.int32).max))
    _, after = param_ema(0.99).update(grads, full, params)
    assert int(after.count) == np.iinfo(np.int32).max


def test_init_copies_the_params_so_they_can_be_donated():
    params = {"w": jnp.ones(4)}
    state = param_ema(0.9).init(params)
    assert state.ema["w"] is not params["w"]
    assert state.ema["w"].unsafe_buffer_pointer() != params["w"].unsafe_buffer_pointer()


def test_skipped_steps_leave_the_average_alone():
    opt = skip_nonfinite(optax.chain(optaxlr.sgd(0.1), param_ema(0.5)))
    params = jnp.ones(2)
    state = opt.init(params)
    updates, state = opt.update(jnp.ones(2), state, params)
    params = optax.apply_updates(params, updates)
    before = np.asarray(ema_params(state))
    _, state = opt.update(jnp.array([np.nan, 1.0]), state, params)
    np.testing.assert_array_equal(ema_params(state), before)


def test_needs_params_and_exactly_one_ema():
    opt = param_ema(0.9)
    with pytest.raises(ValueError, match="param_ema needs the parameters"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))
    with pytest.raises(ValueError, match="found no param_ema state"):
        ema_params(optaxlr.sgd(0.1).init(jnp.ones(2)))
    two = optax.chain(param_ema(0.9), param_ema(0.5))
    with pytest.raises(ValueError, match="found 2 param_ema states"):
        ema_params(two.init(jnp.ones(2)))


INVALID = [
    (dict(decay=1.5), ValueError, "decay must be a finite number in [0, 1]"),
    (dict(decay=-0.1), ValueError, "decay"),
    (dict(decay=float("nan")), ValueError, "decay"),
    (dict(decay="0.9"), TypeError, "decay must be a number or a schedule"),
    (dict(decay=0.9, debias=1), TypeError, "debias must be True or False"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    with pytest.raises(error) as info:
        param_ema(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(param_ema).parameters) <= covered
