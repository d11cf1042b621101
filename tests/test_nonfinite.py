"""skip_nonfinite: NaN/Inf steps leave everything untouched, are counted, and are bounded."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.training import SkipNonfiniteState, reduce_on_plateau, skip_nonfinite

NAN, INF = float("nan"), float("inf")


def _setup(max_consecutive=3):
    lr = optaxlr.schedules.linear(0.1, 0.0, transition_steps=100)
    opt = skip_nonfinite(optaxlr.adam(lr), max_consecutive=max_consecutive)
    params = {"w": jnp.array([1.0, 2.0]), "b": jnp.zeros((), jnp.bfloat16)}
    return opt, params


def _grads(value):
    return {"w": jnp.array([0.5, value]), "b": jnp.ones((), jnp.bfloat16)}


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_a_nonfinite_step_changes_nothing_and_is_counted(variant, bad):
    opt, params = _setup()
    update = variant(opt.update)
    state = opt.init(params)
    updates, state = update(_grads(1.0), state, params)
    params = optax.apply_updates(params, updates)
    before_params, before_inner = params, state.inner_state.inner_state
    updates, state = update(_grads(bad), state, params)
    for u in jax.tree.leaves(updates):
        np.testing.assert_array_equal(u, 0.0)
    assert updates["b"].dtype == jnp.bfloat16
    _assert_trees_equal(optax.apply_updates(params, updates), before_params)
    _assert_trees_equal(state.inner_state.inner_state, before_inner)
    hp = optaxlr.hyperparams(state)
    assert float(hp["skipped"]) == 1 and float(hp["consecutive_nonfinite"]) == 1
    assert int(hp["step"]) == 1  # the skipped step did not count, nor move the schedule
    np.testing.assert_allclose(hp["learning_rate"], 0.1)
    updates, state = update(_grads(1.0), state, params)  # a finite step resets the run
    hp = optaxlr.hyperparams(state)
    assert float(hp["skipped"]) == 1 and float(hp["consecutive_nonfinite"]) == 0
    assert int(hp["step"]) == 2
    np.testing.assert_allclose(hp["learning_rate"], 0.1 * 0.99)


def test_stops_skipping_after_max_consecutive():
    opt, params = _setup(max_consecutive=3)
    state = opt.init(params)
    for i in range(3):
        updates, state = opt.update(_grads(NAN), state, params)
        assert float(jnp.abs(updates["w"]).sum()) == 0.0, i
    # The 4th non-finite step in a row is applied: the NaN reaches the parameters.
    updates, state = opt.update(_grads(NAN), state, params)
    assert np.isnan(np.asarray(optax.apply_updates(params, updates)["w"])).any()
    hp = optaxlr.hyperparams(state)
    assert float(hp["skipped"]) == 3 and float(hp["consecutive_nonfinite"]) == 4
    assert int(hp["step"]) == 1 and int(state.skipped) == 3


def test_none_skips_for_ever_and_zero_never_skips():
    opt, params = _setup(max_consecutive=None)
    state, update = opt.init(params), jax.jit(opt.update)
    for _ in range(20):
        updates, state = update(_grads(INF), state, params)
    assert float(jnp.abs(updates["w"]).sum()) == 0.0 and int(state.skipped) == 20
    opt, params = _setup(max_consecutive=0)
    updates, state = opt.update(_grads(NAN), opt.init(params), params)
    assert np.isnan(np.asarray(updates["w"])).any() and int(state.skipped) == 0


def test_extra_args_and_the_state_convention():
    opt = skip_nonfinite(optax.chain(optaxlr.sgd(1.0), reduce_on_plateau(patience=0)))
    params = jnp.ones(2)
    state = opt.init(params)
    assert isinstance(state, SkipNonfiniteState) and state.skipped.dtype == jnp.int32
    assert {"skipped", "consecutive_nonfinite"} <= set(optaxlr.hyperparams(state))
    _, state = opt.update(jnp.ones(2), state, params, value=1.0)
    _, state = opt.update(jnp.ones(2), state, params, value=1.0)
    assert float(optaxlr.hyperparams(state)["scale"]) == np.float32(0.1)
    full = state._replace(skipped=jnp.int32(np.iinfo(np.int32).max))
    _, after = opt.update(jnp.full(2, NAN), full, params)
    assert int(after.skipped) == np.iinfo(np.int32).max  # saturates


INVALID = [
    (dict(max_consecutive=-1), ValueError, "max_consecutive must be an integer in [0, "),
    (dict(max_consecutive=2.5), TypeError, "max_consecutive must be an integer"),
    (dict(max_consecutive="3"), TypeError, "max_consecutive must be an integer"),
    (dict(inner=None), TypeError, "inner must be an optax.GradientTransformation"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    kwargs = {"inner": optaxlr.sgd(0.1), **kwargs}
    with pytest.raises(error) as info:
        skip_nonfinite(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(skip_nonfinite).parameters) <= covered
