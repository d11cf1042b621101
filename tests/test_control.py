"""`optaxlr.set_hyperparams`: a new value is read by the next update, without a recompile."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr

F32 = jnp.float32


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 6, dtype=F32).reshape(2, 3), "b": jnp.ones(3, F32)}


def _grads(params):
    return jax.tree.map(lambda p: 0.1 * p + 0.01, params)


def test_the_next_update_uses_the_new_value_without_recompiling():
    opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=1e-2, weight_decay=0.1)
    params = _params()

    @jax.jit
    def step(params, state):
        updates, state = opt.update(_grads(params), state, params)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    params, state = step(params, state)
    state = optaxlr.set_hyperparams(state, learning_rate=0.0, weight_decay=0.0)
    frozen, state = step(params, state)  # a zero rate: the parameters don't move
    jax.tree.map(np.testing.assert_array_equal, frozen, params)
    hps = optaxlr.hyperparams(state)
    assert float(hps["learning_rate"]) == 0.0 and float(hps["weight_decay"]) == 0.0
    state = optaxlr.set_hyperparams(state, learning_rate=3e-3)
    moved, state = step(frozen, state)
    assert not np.array_equal(moved["w"], frozen["w"])
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == np.float32(3e-3)
    assert step._cache_size() == 1


def test_it_matches_an_optimizer_built_with_the_new_value():
    params = _params()
    injected = optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.5, momentum=0.9)
    state = injected.init(params)
    state = optaxlr.set_hyperparams(state, learning_rate=0.1, momentum=0.5)
    ours, _ = injected.update(_grads(params), state, params)
    plain = optaxlr.sgd(0.1, momentum=0.5)
    theirs, _ = plain.update(_grads(params), plain.init(params), params)
    jax.tree.map(np.testing.assert_allclose, ours, theirs)


def test_works_inside_jit():
    opt = optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.5)
    params = _params()

    @jax.jit
    def halve(state):
        lr = optaxlr.hyperparams(state)["learning_rate"]
        return optaxlr.set_hyperparams(state, learning_rate=lr / 2)

    state = halve(opt.init(params))
    _, state = opt.update(_grads(params), state, params)  # the record shows the value used
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == 0.25


def test_keys_follow_hyperparams_where_names_clash():
    opt = optax.partition(
        {
            "a": optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.1),
            "b": optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.2),
        },
        {"w": "a", "b": "b"},
    )
    params = _params()
    state = optaxlr.set_hyperparams(opt.init(params), **{"b/learning_rate": 0.05})
    _, state = opt.update(_grads(params), state, params)
    hps = optaxlr.hyperparams(state)
    assert float(hps["a/learning_rate"]) == np.float32(0.1)
    assert float(hps["b/learning_rate"]) == np.float32(0.05)


def test_value_keeps_the_dtype_of_the_state():
    opt = optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.1)
    state = opt.init(_params())
    new = optaxlr.set_hyperparams(state, learning_rate=np.float64(0.2))
    assert jax.tree.structure(new) == jax.tree.structure(state)
    assert [x.dtype for x in jax.tree.leaves(new)] == [x.dtype for x in jax.tree.leaves(state)]


@pytest.mark.parametrize(
    "opt, key, fragment",
    [
        (optaxlr.adamw(1e-3), "learning_rate", "inject_hyperparams"),
        (optaxlr.adamw(optaxlr.schedules.cosine(0.1, 10)), "learning_rate", "inject_hyperparams"),
        (
            optax.inject_hyperparams(optaxlr.sgd)(learning_rate=optaxlr.schedules.cosine(0.1, 10)),
            "learning_rate",
            "follows a schedule",
        ),
        (optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.1), "lr", "has no hyperparameter"),
    ],
    ids=["number", "schedule", "injected_schedule", "unknown"],
)
def test_what_cannot_change_says_why(opt, key, fragment):
    with pytest.raises(ValueError, match=fragment):
        optaxlr.set_hyperparams(opt.init(_params()), **{key: 0.1})


@pytest.mark.parametrize(
    "value, error",
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("0.1", TypeError),
        ([0.1, 0.2], TypeError),
        (1j, TypeError),
    ],
)
def test_bad_values_are_refused(value, error):
    state = optax.inject_hyperparams(optaxlr.sgd)(learning_rate=0.1).init(_params())
    with pytest.raises(error, match="set_hyperparams: learning_rate must be a"):
        optaxlr.set_hyperparams(state, learning_rate=value)


@pytest.mark.parametrize(
    "factory, key, value, accepted",
    [
        (optaxlr.adamw, "learning_rate", -1e-2, r"\[0, inf\)"),
        (optaxlr.adamw, "b2", 1.0, r"\[0, 1\)"),
        (optaxlr.adamw, "b1", -0.1, r"\[0, 1\)"),
        (optaxlr.adamw, "weight_decay", -1.0, r"\[0, inf\)"),
        (optaxlr.sgd, "momentum", 1.5, r"\[0, 1\]"),
        (optaxlr.nadam, "momentum_decay", -1.0, r"\[0, inf\)"),
        (optaxlr.adagrad, "eps", -1.0, r"\[0, inf\)"),
        (optaxlr.rmsprop, "alpha", 1.5, r"\[0, 1\]"),  # scale_by_rmsprop's decay
    ],
)
def test_values_the_constructor_refuses_are_refused(factory, key, value, accepted):
    # The reference: the constructor's own refusal of the same value.
    with pytest.raises(ValueError, match=accepted):
        factory(**{"learning_rate": 0.1, key: value})
    opt = optax.inject_hyperparams(factory)(
        learning_rate=0.1, **({key: 0.5} if key != "learning_rate" else {})
    )
    state = opt.init(_params())
    with pytest.raises(ValueError, match=rf"set_hyperparams: {key} must be .*{accepted}"):
        optaxlr.set_hyperparams(state, **{key: value})
    # A value in range is taken, and the next update uses it.
    optaxlr.set_hyperparams(state, **{key: 0.25})


def test_a_traced_value_of_another_shape_is_refused_naming_it():
    opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=0.1)
    state = opt.init(_params())

    @jax.jit
    def set_rate(state, lr):
        return optaxlr.set_hyperparams(state, learning_rate=lr)

    with pytest.raises(ValueError, match=r"learning_rate must have the shape \(\) .* shape \(3,\)"):
        set_rate(state, jnp.ones(3))
    with pytest.raises(
        TypeError, match="learning_rate must be a real number, got a traced complex64"
    ):
        set_rate(state, jnp.complex64(1.0))
    # Traced values are not range-checked: their numbers are not known while tracing.
    state = set_rate(state, jnp.float32(-1.0))
    assert float(state.hyperparams["learning_rate"]) == -1.0


def test_nesterov_momentum_must_stay_above_zero():
    with pytest.raises(ValueError, match="nesterov=True requires a nonzero momentum"):
        optaxlr.sgd(0.1, momentum=0.0, nesterov=True)
    opt = optax.inject_hyperparams(optaxlr.sgd, static_args="nesterov")(
        learning_rate=0.1, momentum=0.9, nesterov=True
    )
    state = opt.init(_params())
    with pytest.raises(ValueError, match=r"set_hyperparams: momentum must be .*\(0, 1\]"):
        optaxlr.set_hyperparams(state, momentum=0.0)
    optaxlr.set_hyperparams(state, momentum=0.5)
