"""Argument checks, as a user meets them: through the public constructors.

Every check here goes through a public entry point (an alias, a transformation, a
schedule, a training or tools function) and asserts what the user reads: the error's
type, the argument it names and the accepted range; or that the value is accepted and
used. The shared helpers behind them (``optaxlr._validation``) are free to change.
"""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

import optaxlr
import optaxlr.schedules as sch
from optaxlr import transforms as T
from optaxlr.training import accumulate, reduce_on_plateau
from tests.schedule_cases import enable_x64


def _raises(exc, *fragments):
    """pytest.raises matching every fragment, literally, in any order."""
    return pytest.raises(exc, match="".join(f"(?=.*{re.escape(f)})" for f in fragments))


def _first_update(opt, value=1.0):
    params = {"w": jnp.full(2, value, jnp.float32)}
    updates, state = opt.update(params, opt.init(params), params)
    return updates["w"], optaxlr.hyperparams(state)


# --- numbers, in the dtype they are used in --------------------------------------------------


def test_a_float_that_overflows_float32_is_refused_unless_x64_is_on():
    with _raises(ValueError, "learning_rate", "[0, inf)", "float32 rounding of 1e+39"):
        optaxlr.adam(1e39)
    with enable_x64():
        optaxlr.adam(1e39)  # float64 holds it


def test_underflow_to_zero_fails_an_open_bound():
    with _raises(ValueError, "max_norm", "(0, inf)", "got 0.0 (the float32 rounding of 1e-50)"):
        T.clip_by_norm(1e-50)
    optaxlr.adam(1e-3, eps=1e-50)  # eps is in [0, inf): 0 is fine


def test_rounding_onto_an_open_bound_is_refused():
    with _raises(ValueError, "b1", "[0, 1)", "got 1.0 (the float32 rounding of 0.9999999999)"):
        optaxlr.adam(1e-3, b1=0.9999999999)


def test_an_out_of_range_value_is_reported_as_given():
    with _raises(ValueError, "gamma", "(0, inf)", "got -0.01"):
        sch.step_decay(0.1, 30, gamma=-0.01)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64,
                                   np.int8, np.uint16, np.int64])
@pytest.mark.parametrize("kind", ["numpy", "jax"])
def test_every_real_scalar_dtype_is_accepted_and_used(dtype, kind):
    number = 0.5 if np.issubdtype(np.dtype(dtype), np.inexact) else 1
    value = np.asarray(number, dtype)
    value = value[()] if kind == "numpy" else jnp.asarray(value)
    opt = optaxlr.sgd(0.1, momentum=value)
    _, hps = _first_update(opt)
    assert float(hps["momentum"]) == number
    # Two updates: the second uses the momentum (the first only fills the buffer).
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    for _ in range(2):
        updates, state = opt.update(params, state, params)
    np.testing.assert_allclose(updates["w"], -0.1 * (1 + number), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_half_precision_values_are_checked_like_the_others(dtype):
    with _raises(ValueError, "momentum", "[0, 1]", "got 1.5"):
        optaxlr.sgd(0.1, momentum=np.asarray(1.5, dtype)[()])
    with _raises(ValueError, "momentum", "[0, 1]", "got nan"):
        optaxlr.sgd(0.1, momentum=jnp.asarray(np.nan, dtype))


@pytest.mark.parametrize("value", ["0.1", None, [0.1], np.ones(2), jnp.ones(2), 1 + 2j,
                                   np.complex64(1), True, np.bool_(True)])
def test_non_numbers_are_type_errors_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"^learning_rate must be a number"):
        optaxlr.adam(value)


def test_huge_python_integers_are_refused_not_crashed_on():
    with _raises(ValueError, "weight_decay", "[0, inf)", "(an integer of about 401 digits)"):
        optaxlr.adamw(1e-3, weight_decay=10**400)


def test_traced_values_pass_unchecked():
    """Only a value traced under jit escapes the range check (docs: it can't be read)."""

    def first_update(lr):
        return _first_update(optaxlr.sgd(lr))[0]

    np.testing.assert_array_equal(jax.jit(first_update)(jnp.float32(-1.0)), [1.0, 1.0])
    # A traced integer passes its range check, but not its type check.
    assert jax.jit(lambda n: sch.step_decay(0.1, n)(0))(jnp.int32(-5)) == np.float32(0.1)
    with _raises(TypeError, "step_size must be an integer", "traced float32"):
        jax.jit(lambda n: sch.step_decay(0.1, n)(0))(jnp.float32(1.0))


# --- integers against int32 --------------------------------------------------------------


@pytest.mark.parametrize("value", [2**31, 10**30, np.int64(2**40), np.uint64(2**63)])
def test_integers_beyond_int32_are_refused(value):
    with _raises(ValueError, "patience must be an integer in [0, 2147483647]"):
        reduce_on_plateau(patience=value)


@pytest.mark.parametrize("value", [2**31 - 1, np.int64(2**31 - 1), jnp.int32(2**31 - 1),
                                   np.uint32(2)])
def test_int32_extremes_and_any_integer_type_are_accepted(value):
    opt = accumulate(optaxlr.sgd(0.1), every_k_steps=value)
    params = {"w": jnp.ones(2)}
    updates, _ = opt.update(params, opt.init(params), params)
    # The first of `every_k_steps` micro-batches (k >= 2) applies nothing yet.
    np.testing.assert_array_equal(updates["w"], [0.0, 0.0])


@pytest.mark.parametrize("value", [1.0, "3", True, np.bool_(False), np.ones(2, int), None])
def test_non_integers_are_type_errors(value):
    with pytest.raises(TypeError, match=r"^every_k_steps must be an integer, got"):
        accumulate(optaxlr.sgd(0.1), every_k_steps=value)


def test_sorted_integer_sequences():
    schedule = sch.multistep(0.1, np.array([1, 5, 5]), gamma=0.5)
    np.testing.assert_allclose([schedule(0), schedule(1), schedule(5)], [0.1, 0.05, 0.0125])
    with _raises(ValueError, "milestones[1] must be an integer in [0, 2147483647]"):
        sch.multistep(0.1, [1, 2**31])
    with _raises(TypeError, "milestones", "1-d"):
        sch.multistep(0.1, np.ones((2, 2), int))


def test_flags_and_choices():
    amsgrad = optaxlr.adam(0.1, amsgrad=np.bool_(True))
    plain = optaxlr.adam(0.1)
    g = [{"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}]
    updates = []
    for opt in (amsgrad, plain):
        state = opt.init(g[0])
        for grad in g:
            u, state = opt.update(grad, state, g[0])
        updates.append(float(u["w"][0]))
    assert updates[0] != updates[1]  # np.bool_(True) turned AMSGrad on
    with _raises(TypeError, "nesterov must be True or False, got 'false'"):
        optaxlr.sgd(0.1, momentum=0.9, nesterov="false")
    with _raises(ValueError, "mode must be one of 'min', 'max', got 5"):
        reduce_on_plateau(mode=5)


# --- schedules and callables as hyperparameters ----------------------------------------------


def test_an_optaxlr_schedule_is_checked_over_its_whole_range():
    with _raises(ValueError, "learning_rate: the schedule reaches -0.1, must be >= 0"):
        optaxlr.adam(sch.constant(-0.1))
    # Negative only from step 1000 on: the bounds see it.
    with _raises(ValueError, "learning_rate: the schedule reaches -0.05, must be >= 0"):
        optaxlr.adam(sch.join([sch.cosine(0.1, 1000), -0.05], [1000]))
    with _raises(ValueError, "max_norm: the schedule reaches 0, must be > 0"):
        T.clip_by_norm(sch.cosine(0.1, 100))
    with _raises(ValueError, "b1: the schedule reaches 1.05, must be < 1"):
        optaxlr.adam(1e-3, b1=sch.linear(0.9, 1.05, 10))
    schedule = sch.warmup(sch.cosine(0.1, 900), 100)
    _, hps = _first_update(optaxlr.adam(schedule))
    assert float(hps["learning_rate"]) == float(schedule(0))


def test_a_schedule_built_from_traced_values_passes_unchecked():
    def first_update(lr):
        return _first_update(optaxlr.sgd(sch.cosine(lr, 100)))[0]

    np.testing.assert_array_equal(jax.jit(first_update)(jnp.float32(-1.0)), [1.0, 1.0])


def test_a_foreign_schedule_is_accepted_and_used():
    """optax's schedules carry no bounds: nothing is known about them before they run."""
    updates, hps = _first_update(optaxlr.sgd(optax.linear_schedule(0.5, 0.0, 10)))
    np.testing.assert_allclose(updates, [-0.5, -0.5])
    assert float(hps["learning_rate"]) == 0.5


@pytest.mark.parametrize("value, text", [
    (dict, "got the class dict"),
    (sch.Schedule, "got the class Schedule"),
    (lambda: 0.1, "taking one positional argument (the step); <function"),
    (lambda step, lr: 0.1, "has the signature (step, lr)"),
    (lambda *, step: 0.1, "has the signature (*, step)"),
])
def test_callables_that_are_not_schedules_are_refused(value, text):
    with _raises(TypeError, text):
        optaxlr.adam(value)
    with pytest.raises(TypeError, match=r"^learning_rate must be"):
        optaxlr.adam(value)
    with pytest.raises(TypeError, match=r"^schedule must be"):
        sch.warmup(value, 10)


@pytest.mark.parametrize("fn", [
    lambda step, scale=2.0: 0.25,
    lambda *args: 0.25,
    functools.partial(lambda a, step: a, 0.25),
], ids=["default", "varargs", "partial"])
def test_callables_with_defaults_or_varargs_are_schedules(fn):
    updates, _ = _first_update(optaxlr.sgd(fn))
    np.testing.assert_allclose(updates, [-0.25, -0.25])


def test_a_schedule_is_refused_where_a_number_is_needed():
    with _raises(TypeError, "initial_accumulator_value must be a number, got"):
        optaxlr.adagrad(0.1, initial_accumulator_value=sch.constant(0.1))


def test_a_function_argument_is_checked_for_callability_and_arity():
    with _raises(TypeError, "fn must take 2 positional argument(s)", "has the signature (e)"):
        sch.per_epoch(lambda e: 0.1, steps_per_epoch=1, num_epochs=3, init_value=0.1)
    with _raises(TypeError, "optimizer must be callable, got 3"):
        optaxlr.tools.find_lr(lambda p, b: 0.0, jnp.zeros(2), [0], 3)
