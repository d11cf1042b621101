"""The PyTorch-style aliases: defaults, schedules everywhere, validation, composition.

Trajectory parity with torch.optim is in test_optimizer_fixtures.py.
"""

from __future__ import annotations

import functools
import inspect
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr

ALIASES = ["sgd", "adagrad", "rmsprop", "adam", "adamw", "adadelta", "radam", "nadam"]

# torch.optim's defaults, as optaxlr's keyword names.
TORCH_DEFAULTS = {
    "sgd": {
        "learning_rate": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
        "maximize": False,
    },
    "adagrad": {
        "learning_rate": 0.01,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
        "weight_decay": 0.0,
        "lr_decay": 0.0,
        "maximize": False,
    },
    "rmsprop": {
        "learning_rate": 0.01,
        "alpha": 0.99,
        "eps": 1e-8,
        "momentum": 0.0,
        "centered": False,
        "weight_decay": 0.0,
        "maximize": False,
    },
    "adam": {
        "learning_rate": 1e-3,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": False,
        "maximize": False,
        "decoupled_weight_decay": False,
    },
    "adamw": {
        "learning_rate": 1e-3,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 1e-2,
        "amsgrad": False,
        "maximize": False,
    },
    "adadelta": {
        "learning_rate": 1.0,
        "rho": 0.9,
        "eps": 1e-6,
        "weight_decay": 0.0,
        "maximize": False,
    },
    "radam": {
        "learning_rate": 1e-3,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "decoupled_weight_decay": False,
        "maximize": False,
    },
    "nadam": {
        "learning_rate": 2e-3,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum_decay": 4e-3,
        "decoupled_weight_decay": False,
        "maximize": False,
    },
}

# Every numeric hyperparameter of each alias, with an in-range value to schedule.
NUMERIC = {
    "sgd": {"learning_rate": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3},
    "adagrad": {"learning_rate": 0.1, "eps": 1e-10, "weight_decay": 1e-3, "lr_decay": 1e-2},
    "rmsprop": {
        "learning_rate": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "momentum": 0.9,
        "weight_decay": 1e-3,
    },
    "adam": {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-3},
    "adamw": {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "adadelta": {"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 1e-3},
    "radam": {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-3},
    "nadam": {
        "learning_rate": 1e-2,
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 1e-3,
        "momentum_decay": 4e-3,
    },
}

# Names `hyperparams` reports for the alias built with NUMERIC's values.
REPORTED = {
    "sgd": {"learning_rate", "momentum", "dampening", "weight_decay"},
    "adagrad": {"learning_rate", "eps", "weight_decay"},
    "rmsprop": {"learning_rate", "decay", "eps", "momentum", "weight_decay"},
    "adam": {"learning_rate", "b1", "b2", "eps", "weight_decay"},
    "adamw": {"learning_rate", "b1", "b2", "eps", "weight_decay"},
    "adadelta": {"learning_rate", "rho", "eps", "weight_decay"},
    "radam": {"learning_rate", "b1", "b2", "eps", "weight_decay"},
    "nadam": {"learning_rate", "b1", "b2", "eps", "weight_decay", "momentum_decay"},
}
# Those whose state counts with constant arguments: bias corrections, adagrad's lr_decay.
COUNTED = {"adam", "adamw", "radam", "nadam", "adagrad"}
RENAMED = {"alpha": "decay"}  # rmsprop's alpha is scale_by_rmsprop's decay


def _params():
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    return {
        "w1": jax.random.normal(k1, (8, 4)),
        "b1": jnp.full((4,), 0.2, jnp.float32),
        "w2": jax.random.normal(k2, (4, 3)),
        "b2": jnp.full((3,), -0.1, jnp.float32),
    }


def _loss(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - 1.0) ** 2)


_X = jax.random.normal(jax.random.PRNGKey(2), (16, 8))
_value_and_grad = jax.jit(jax.value_and_grad(_loss))


def _train(opt, steps=5, update=None):
    update = update or opt.update
    params = _params()
    state = opt.init(params)
    losses = []
    for _ in range(steps):
        loss, grads = _value_and_grad(params, _X)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    return params, state, losses


def _const(value):
    """A schedule that returns ``value`` at every step."""
    return lambda step: jnp.full(jnp.shape(step), value, jnp.float32)


@pytest.mark.parametrize("name", ALIASES)
def test_alias_trains(name, variant):
    opt = getattr(optaxlr, name)(**NUMERIC[name])
    params, state, losses = _train(opt, steps=6, update=variant(opt.update))
    chex.assert_tree_all_finite(params)
    assert losses[-1] < losses[0]
    hps = optaxlr.hyperparams(state)
    counts = name in COUNTED or name == "sgd"  # sgd: its dampening keeps a count
    assert set(hps) == REPORTED[name] | ({"step"} if counts else set())
    assert int(hps.get("step", 6)) == 6
    for arg, value in NUMERIC[name].items():
        if name == "adagrad" and arg in ("learning_rate", "lr_decay"):
            continue  # reported as the decayed rate, checked below
        np.testing.assert_allclose(hps[RENAMED.get(arg, arg)], value, rtol=1e-6)


@pytest.mark.parametrize("name", ALIASES)
def test_torch_defaults(name):
    signature = inspect.signature(getattr(optaxlr, name))
    for arg, default in TORCH_DEFAULTS[name].items():
        assert signature.parameters[arg].default == default, (name, arg)


@functools.cache
def _with_constants(name):
    opt = getattr(optaxlr, name)(**NUMERIC[name])
    return _train(opt, steps=4, update=jax.jit(opt.update))[0]


@pytest.mark.parametrize("name", ALIASES)
def test_every_numeric_hyperparameter_takes_a_schedule(name):
    """A schedule in every slot gives the trajectory of the same constants."""
    scheduled = getattr(optaxlr, name)(**{k: _const(v) for k, v in NUMERIC[name].items()})
    p1 = _with_constants(name)
    p2, s2, _ = _train(scheduled, steps=4, update=jax.jit(scheduled.update))
    chex.assert_trees_all_close(p1, p2, rtol=1e-5, atol=1e-6)
    assert set(optaxlr.hyperparams(s2)) == REPORTED[name] | {"step"}


@pytest.mark.parametrize("name", ALIASES)
def test_every_numeric_hyperparameter_takes_an_array(name):
    arrays = getattr(optaxlr, name)(**{k: jnp.float32(v) for k, v in NUMERIC[name].items()})
    p1 = _with_constants(name)
    p2, _, _ = _train(arrays, steps=4, update=jax.jit(arrays.update))
    chex.assert_trees_all_close(p1, p2, rtol=1e-5, atol=1e-6)


def test_adagrad_lr_decay_reports_the_decayed_rate():
    opt = optaxlr.adagrad(0.1, lr_decay=0.5)
    _, state, _ = _train(opt, steps=3)
    # torch: clr = lr / (1 + (step - 1) * lr_decay), step = 3 for the third update
    np.testing.assert_allclose(optaxlr.hyperparams(state)["learning_rate"], 0.1 / 2.0, rtol=1e-6)


def _buffers(opt):
    """The shapes and dtypes of the arrays a state carries through a compiled step."""
    return sorted((x.shape, x.dtype.name) for x in jax.tree.leaves(opt.init(_params())))


def test_terms_that_are_off_are_left_out():
    """A term that is off costs no buffer and reports nothing (design.md's table)."""
    params = [(x.shape, x.dtype.name) for x in jax.tree.leaves(_params())]
    assert _buffers(optaxlr.sgd(0.1)) == []
    assert set(optaxlr.hyperparams(optaxlr.sgd(0.1).init(_params()))) == {"learning_rate"}
    # with momentum: one buffer per parameter, and the rate scales it in the same step
    assert _buffers(optaxlr.sgd(0.1, momentum=0.9)) == sorted(params)
    with_decay = optaxlr.sgd(0.1, momentum=0.9, weight_decay=1e-4)
    assert _buffers(with_decay) == sorted(params)
    assert set(optaxlr.hyperparams(with_decay.init(_params()))) == {
        "weight_decay", "momentum", "learning_rate"}
    # adamw without decay carries what adam carries, which is what optax's adam carries
    assert _buffers(optaxlr.adamw(weight_decay=0.0)) == _buffers(optaxlr.adam())
    assert _buffers(optaxlr.adam()) == _buffers(optax.adam(1e-3))
    # an array or a schedule keeps the term (structure must not depend on values)
    for momentum in (jnp.float32(0.0), _const(0.0)):
        opt = optaxlr.sgd(0.1, momentum=momentum)
        assert set(params) <= set(_buffers(opt))
        assert "momentum" in optaxlr.hyperparams(opt.init(_params()))


def test_adamw_mask():
    mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    params = _params()
    opt = optaxlr.adamw(learning_rate=0.0, weight_decay=0.5, mask=mask)
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = opt.update(zero, opt.init(params), params)
    chex.assert_trees_all_close(updates, zero)  # lr = 0: nothing moves
    opt = optax.chain(
        optaxlr.scale_by_learning_rate(1.0, flip_sign=False),
        optaxlr.decoupled_weight_decay(0.1, 0.5, mask=mask),
    )
    updates, _ = opt.update(zero, opt.init(params), params)
    assert float(jnp.max(jnp.abs(updates["b1"]))) == 0.0
    assert float(jnp.max(jnp.abs(updates["w1"]))) > 0.0


def test_adamw_is_decoupled_and_adam_is_coupled():
    params = {"w": jnp.array([1.0])}
    grads = {"w": jnp.array([0.0])}
    # No gradient: AdamW still shrinks the weight by lr * wd; Adam's L2 term goes
    # through the preconditioner (a unit step at t = 1).
    u, _ = optaxlr.adamw(0.1, weight_decay=0.5).update(
        grads, optaxlr.adamw(0.1).init(params), params
    )
    np.testing.assert_allclose(u["w"], [-0.05], rtol=1e-6)
    opt = optaxlr.adam(0.1, weight_decay=0.5)
    u, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_allclose(u["w"], [-0.1], rtol=1e-5)


def test_one_cycle_with_sgd_momentum_and_adam_b1():
    steps = 20
    lr = optaxlr.schedules.one_cycle(0.1, steps)
    mom = optaxlr.schedules.one_cycle_momentum(steps)
    for opt, key in [(optaxlr.sgd(lr, momentum=mom), "momentum"), (optaxlr.adam(lr, b1=mom), "b1")]:
        state = opt.init(_params())
        update = jax.jit(opt.update)
        for step in range(steps):
            _, grads = _value_and_grad(_params(), _X)
            _, state = update(grads, state, _params())
            hps = optaxlr.hyperparams(state)
            np.testing.assert_allclose(hps["learning_rate"], lr(step), rtol=1e-6)
            np.testing.assert_allclose(hps[key], mom(step), rtol=1e-6)


def test_inject_hyperparams_of_an_alias():
    opt = optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.1, momentum=0.9)
    traces = []

    @jax.jit
    def update(grads, state, params):
        traces.append(None)  # once per trace, not per call
        return opt.update(grads, state, params)

    p, state, _ = _train(opt, steps=3, update=update)
    ref, _, _ = _train(optaxlr.sgd(0.1, momentum=0.9), steps=3)
    chex.assert_trees_all_close(p, ref, rtol=1e-6)
    # inject_hyperparams turns every numeric argument into an array, so the zero
    # dampening and weight decay stay in the chain (and are reported, once each).
    assert set(optaxlr.hyperparams(state)) == {
        "step",
        "learning_rate",
        "momentum",
        "dampening",
        "weight_decay",
    }
    assert len(traces) == 1
    state.hyperparams["learning_rate"] = jnp.float32(0.01)
    _, state = update(jax.grad(_loss)(p, _X), state, p)
    assert len(traces) == 1  # a new value, no retrace
    np.testing.assert_allclose(optaxlr.hyperparams(state)["learning_rate"], 0.01)


def test_inside_multisteps_and_chain():
    opt = optax.MultiSteps(optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(1e-2)), 2)
    _, state, _ = _train(opt, steps=5, update=jax.jit(opt.update))
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == 2  # gradient steps, not mini-steps
    assert {"max_norm", "learning_rate", "b1", "weight_decay"} <= set(hps)


# --- invalid arguments: each names the argument -------------------------------------

INVALID = [
    ("sgd", {"learning_rate": -0.1}, ValueError, "learning_rate"),
    ("sgd", {"learning_rate": None}, TypeError, "learning_rate"),
    ("sgd", {"learning_rate": 0.1, "momentum": -0.9}, ValueError, "momentum"),
    ("sgd", {"learning_rate": 0.1, "momentum": 1.5}, ValueError, "momentum"),
    ("sgd", {"learning_rate": 0.1, "dampening": -0.1, "momentum": 0.9}, ValueError, "dampening"),
    ("sgd", {"learning_rate": 0.1, "nesterov": True}, ValueError, "nesterov"),
    (
        "sgd",
        {"learning_rate": 0.1, "nesterov": True, "momentum": 0.9, "dampening": 0.1},
        ValueError,
        "dampening",
    ),
    ("sgd", {"learning_rate": 0.1, "nesterov": "no"}, TypeError, "nesterov"),
    ("sgd", {"learning_rate": 0.1, "weight_decay": -1e-4}, ValueError, "weight_decay"),
    ("sgd", {"learning_rate": float("inf")}, ValueError, "learning_rate"),
    ("adagrad", {"learning_rate": -0.01}, ValueError, "learning_rate"),
    ("adagrad", {"initial_accumulator_value": -0.1}, ValueError, "initial_accumulator_value"),
    ("adagrad", {"eps": -1e-10}, ValueError, "eps"),
    ("adagrad", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("adagrad", {"lr_decay": -1.0}, ValueError, "lr_decay"),
    ("rmsprop", {"learning_rate": -0.01}, ValueError, "learning_rate"),
    ("rmsprop", {"alpha": -0.1}, ValueError, "alpha"),
    ("rmsprop", {"alpha": 1.1}, ValueError, "alpha"),
    ("rmsprop", {"eps": -1e-8}, ValueError, "eps"),
    ("rmsprop", {"momentum": -0.1}, ValueError, "momentum"),
    ("rmsprop", {"centered": 1}, TypeError, "centered"),
    ("rmsprop", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("adam", {"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ("adam", {"b1": 1.0}, ValueError, "b1"),
    ("adam", {"b1": -0.1}, ValueError, "b1"),
    ("adam", {"b2": 1.0}, ValueError, "b2"),
    ("adam", {"b2": 1.5}, ValueError, "b2"),
    ("adam", {"eps": -1e-8}, ValueError, "eps"),
    ("adam", {"weight_decay": -1e-2}, ValueError, "weight_decay"),
    ("adam", {"amsgrad": "yes"}, TypeError, "amsgrad"),
    ("adamw", {"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ("adamw", {"b1": 1.0}, ValueError, "b1"),
    ("adamw", {"b2": -0.5}, ValueError, "b2"),
    ("adamw", {"eps": -1.0}, ValueError, "eps"),
    ("adamw", {"weight_decay": -1e-2}, ValueError, "weight_decay"),
    ("adamw", {"amsgrad": 1}, TypeError, "amsgrad"),
    ("adadelta", {"learning_rate": -1.0}, ValueError, "learning_rate"),
    ("adadelta", {"rho": 1.5}, ValueError, "rho"),
    ("adadelta", {"eps": -1e-6}, ValueError, "eps"),
    ("adadelta", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("radam", {"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ("radam", {"b1": 1.0}, ValueError, "b1"),
    ("radam", {"b2": 1.0}, ValueError, "b2"),
    ("radam", {"eps": -1e-8}, ValueError, "eps"),
    ("radam", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("radam", {"decoupled_weight_decay": 1}, TypeError, "decoupled_weight_decay"),
    ("nadam", {"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ("nadam", {"b1": 1.0}, ValueError, "b1"),
    ("nadam", {"b2": 1.0}, ValueError, "b2"),
    ("nadam", {"eps": -1e-8}, ValueError, "eps"),
    ("nadam", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("nadam", {"momentum_decay": -4e-3}, ValueError, "momentum_decay"),
    ("nadam", {"decoupled_weight_decay": "no"}, TypeError, "decoupled_weight_decay"),
    ("adam", {"decoupled_weight_decay": 1}, TypeError, "decoupled_weight_decay"),
    *[(name, {"maximize": "yes"}, TypeError, "maximize") for name in ALIASES],
]


@pytest.mark.parametrize(
    "name, kwargs, exc, arg",
    INVALID,
    ids=[f"{n}-{a}-{i}" for i, (n, _, _, a) in enumerate(INVALID)],
)
def test_invalid_arguments_name_the_argument(name, kwargs, exc, arg):
    with pytest.raises(exc, match=rf"\b{re.escape(arg)}\b"):
        getattr(optaxlr, name)(**kwargs)


def test_every_alias_argument_has_an_invalid_case():
    covered = {(n, a) for n, _, _, a in INVALID}
    for name in ALIASES:
        for arg in inspect.signature(getattr(optaxlr, name)).parameters:
            if arg in ("mask", "mu_dtype", "nu_dtype"):
                continue
            assert (name, arg) in covered, (name, arg)


def test_range_messages_give_the_interval():
    with pytest.raises(ValueError, match=re.escape("b1 must be a finite number in [0, 1)")):
        optaxlr.adam(b1=1.0)


def test_traced_hyperparameters_are_accepted():
    # A hyperparameter swept with vmap is traced: it cannot be range-checked and
    # is accepted as it is.
    def loss_after(lr):
        opt = optaxlr.sgd(lr, momentum=0.9)
        params = _params()
        state = opt.init(params)
        for _ in range(2):
            updates, state = opt.update(jax.grad(_loss)(params, _X), state, params)
            params = optax.apply_updates(params, updates)
        return _loss(params, _X)

    losses = jax.jit(jax.vmap(loss_after))(jnp.array([0.0, 0.01, 0.1]))
    assert losses.shape == (3,) and bool(jnp.all(jnp.isfinite(losses)))
    assert float(losses[2]) < float(losses[0])
