"""update refuses arguments that don't fit before any arithmetic, naming what differs."""

from __future__ import annotations

import jax.numpy as jnp
import optax
import pytest

import optaxlr
from optaxlr import transforms as T


def _params():
    return {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


ALIASES = [getattr(optaxlr, n)(learning_rate=0.1) for n in optaxlr.aliases.__all__]
TRANSFORMS = [
    T.scale_by_adam(),
    T.trace(0.9),
    T.scale_by_adagrad(),
    T.scale_by_rmsprop(),
    T.scale_by_adadelta(),
    T.scale_by_radam(),
    T.scale_by_nadam(),
    T.scale_by_learning_rate(0.1),
    T.add_decayed_weights(0.1),
    T.decoupled_weight_decay(0.1, 0.1),
]
ALL = ALIASES + TRANSFORMS
IDS = [*optaxlr.aliases.__all__, "adam_t", "trace", "adagrad_t", "rmsprop_t", "adadelta_t",
       "radam_t", "nadam_t", "lr", "l2", "decoupled"]  # fmt: skip


@pytest.mark.parametrize("opt", ALL, ids=IDS)
def test_gradients_that_broadcast_are_refused(opt):
    params = _params()
    grads = {"w": jnp.ones(3), "b": jnp.zeros(3)}  # (3,) would broadcast against (2, 3)
    with pytest.raises(ValueError, match=r"'w' has shape \(3,\).*\(2, 3\).*no broadcasting"):
        opt.update(grads, opt.init(params), params)


@pytest.mark.parametrize("opt", ALL, ids=IDS)
def test_gradients_of_another_structure_are_refused(opt):
    params = _params()
    with pytest.raises(ValueError, match="different tree structures"):
        opt.update({"w": jnp.ones((2, 3))}, opt.init(params), params)


@pytest.mark.parametrize("opt", ALL, ids=IDS)
def test_integer_gradients_are_refused(opt):
    params = _params()
    grads = {"w": jnp.ones((2, 3), jnp.int32), "b": jnp.zeros(3)}
    with pytest.raises(TypeError, match=r"updates at 'w' must be a floating-point"):
        opt.update(grads, opt.init(params), params)


@pytest.mark.parametrize("name", optaxlr.aliases.__all__)
def test_a_missing_or_foreign_state_is_named(name):
    params = _params()
    opt = getattr(optaxlr, name)(learning_rate=0.1)
    with pytest.raises(TypeError, match=rf"{name}: state must be the state its init returned"):
        opt.update(params, None, params)
    foreign = optax.adam(1e-3).init(params)  # an optax state, wrong members
    with pytest.raises(TypeError, match="state must be the"):
        opt.update(params, (*foreign, None)[: len(opt.init(params))], params)


def test_a_transformation_names_the_state_it_wanted():
    params = _params()
    with pytest.raises(TypeError, match="ScaleByAdamState that its init returned, got TraceState"):
        T.scale_by_adam().update(params, T.trace(0.9).init(params))


def test_valid_updates_still_run_under_jit():
    import jax

    params = _params()
    opt = optaxlr.adamw(1e-3)
    updates, _ = jax.jit(opt.update)(params, opt.init(params), params)
    assert updates["w"].shape == (2, 3)


@pytest.mark.parametrize("mask", ["decay everything", 1, [None], {"w": "yes"}])
def test_a_mask_that_is_not_booleans_is_refused_when_built(mask):
    with pytest.raises(TypeError, match="mask must be None, a tree of booleans"):
        optaxlr.adamw(1e-3, mask=mask)
    with pytest.raises(TypeError, match="mask must be None, a tree of booleans"):
        T.add_decayed_weights(0.1, mask=mask)


def test_a_mask_of_another_structure_is_refused_at_init():
    params = _params()
    opt = optaxlr.adamw(1e-3, mask={"w": True})
    with pytest.raises(ValueError, match="the mask must have the parameters' tree structure"):
        opt.init(params)
