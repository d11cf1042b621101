"""Hyperparameters that are neither numbers nor schedules are refused when the optimizer is built.

A ``fractions.Fraction`` passes for a real number and another optimizer passes for
a function of one argument; both used to be accepted and fail at the first update,
inside JAX. Each is now a TypeError at construction that names the argument.
"""

from __future__ import annotations

import decimal
import fractions

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr import transforms as T

ALIASES = optaxlr.aliases.__all__

NOT_NUMBERS = {
    "fraction": fractions.Fraction(1, 1000),
    "decimal": decimal.Decimal("0.001"),
}

NOT_SCHEDULES = {
    "optax.adam, the function": optax.adam,
    "optaxlr.sgd, the function": optaxlr.sgd,
    "a string per step": lambda step: "0.1",
    "a vector per step": lambda step: jnp.full((3,), 0.1),
    "a complex rate": lambda step: 0.1 + 0.0j * step,
    "a bool per step": lambda step: step > 3,
    "a schedule that fails on any step": lambda step: step.no_such_method(),
}


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("kind", sorted(NOT_NUMBERS))
def test_a_number_jax_cannot_take_is_refused_naming_the_argument(alias, kind):
    with pytest.raises(TypeError, match=r"learning_rate must be a number.*float\(\)"):
        getattr(optaxlr, alias)(NOT_NUMBERS[kind])


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("kind", sorted(NOT_SCHEDULES))
def test_a_callable_that_is_not_a_schedule_is_refused_naming_the_argument(alias, kind):
    # rprop's learning_rate is its initial step size: it refuses every callable
    match = "learning_rate is Rprop's initial" if alias == "rprop" else "^learning_rate must be"
    with pytest.raises(TypeError, match=match + r".*a schedule"):
        getattr(optaxlr, alias)(NOT_SCHEDULES[kind])


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda v: optaxlr.adam(1e-3, b1=v), "b1"),
        (lambda v: optaxlr.adamw(1e-3, weight_decay=v), "weight_decay"),
        (lambda v: T.clip_by_global_norm(v), "max_norm"),
        (lambda v: T.scale_by_path({"w": v}), "w"),
        (lambda v: training.param_ema(v), "decay"),
        (lambda v: optaxlr.schedules.join([v, 0.1], [5]), "schedules[0]"),
    ],
)
def test_every_hyperparameter_is_checked_the_same_way(build, name):
    for value in (fractions.Fraction(1, 2), optax.adam):
        with pytest.raises(TypeError) as info:
            build(value)
        assert name in str(info.value)


def test_an_optimizer_object_is_refused_as_before():
    with pytest.raises(TypeError, match="learning_rate must be a number or a schedule"):
        optaxlr.adamw(optax.adam(1e-3))  # type: ignore[arg-type]


SCHEDULES = {
    "python": lambda step: 0.1,
    "jnp": lambda step: 0.1 / (1.0 + step),
    "numpy_float32": lambda step: np.float32(0.1),
    "integer": lambda step: 1,
    "optax": optax.cosine_decay_schedule(0.1, 10),
}


@pytest.mark.parametrize("kind", sorted(SCHEDULES))
def test_schedules_are_accepted_and_used(kind, variant):
    schedule = SCHEDULES[kind]
    opt = optaxlr.sgd(schedule)
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    for step in range(3):
        updates, state = variant(opt.update)(params, state, params)
        np.testing.assert_allclose(updates["w"], -float(schedule(jnp.int32(step))), rtol=1e-6)


def test_a_schedule_that_needs_a_concrete_step_is_accepted_and_runs_eagerly():
    # Python control flow on the step cannot be traced; it is checked when called.
    opt = optaxlr.sgd(lambda step: 0.1 if step < 2 else 0.01)
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    got = []
    for _ in range(3):
        updates, state = opt.update(params, state, params)
        got.append(float(updates["w"][0]))
    np.testing.assert_allclose(got, [-0.1, -0.1, -0.01], rtol=1e-6)


def test_a_schedule_built_inside_vmap_is_still_accepted():
    params = {"w": jnp.ones(2)}

    def first_update(scale):
        opt = optaxlr.sgd(lambda step: scale / (1.0 + step))
        return opt.update(params, opt.init(params), params)[0]["w"]

    out = jax.vmap(first_update)(jnp.asarray([0.1, 0.2]))
    np.testing.assert_allclose(out, [[-0.1, -0.1], [-0.2, -0.2]], rtol=1e-6)
