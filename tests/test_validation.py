"""The shared validation layer, optaxlr._validation: dtypes, int32, schedules as hyperparameters."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

import optaxlr.schedules as sch
from optaxlr._validation import (
    BoundedSchedule,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_number,
    check_schedule,
    check_sorted_ints,
    concrete_float,
    default_float_dtype,
    is_traced,
)
from tests.schedule_cases import enable_x64

# --- numbers, in the dtype they are used in --------------------------------------------------


def test_a_float_that_overflows_float32_is_refused_unless_x64_is_on():
    with pytest.raises(ValueError, match=re.escape(
            "learning_rate must be a finite number in [0, inf), got inf (the float32 rounding "
            "of 1e+39)")):
        check_number("learning_rate", 1e39, low=0.0)
    with enable_x64():
        assert default_float_dtype() == np.float64
        assert check_number("learning_rate", 1e39, low=0.0) == 1e39
        # A value explicitly used in float32 is refused even then.
        with pytest.raises(ValueError, match="float32 rounding"):
            check_number("learning_rate", 1e39, low=0.0, dtype=np.float32)
    assert default_float_dtype() == np.float32


def test_underflow_to_zero_fails_an_open_bound():
    with pytest.raises(ValueError, match=re.escape(
            "eps must be a finite number in (0, inf), got 0.0 (the float32 rounding of 1e-50)")):
        check_number("eps", 1e-50, low=0.0, low_open=True)
    assert check_number("eps", 1e-50, low=0.0) == 1e-50  # [0, inf): 0 is fine


def test_rounding_onto_an_open_bound_is_refused():
    with pytest.raises(ValueError, match=r"got 1\.0 \(the float32 rounding of 0\.9999999999\)"):
        check_number("b1", 0.9999999999, low=0.0, high=1.0, high_open=True)


def test_an_out_of_range_value_is_reported_as_given():
    with pytest.raises(ValueError, match=re.escape("gamma must be a finite number in (0, 1], "
                                                   "got -0.01")):
        check_number("gamma", -0.01, low=0.0, high=1.0, low_open=True)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64,
                                   np.int8, np.uint16, np.int64])
@pytest.mark.parametrize("kind", ["numpy", "jax"])
def test_every_real_scalar_dtype_is_accepted(dtype, kind):
    value = np.asarray(0.5 if np.issubdtype(np.dtype(dtype), np.inexact) or dtype is
                       ml_dtypes.bfloat16 else 1, dtype)
    value = value[()] if kind == "numpy" else jnp.asarray(value)
    assert check_number("momentum", value, low=0.0, high=1.0) is value


def test_bfloat16_is_checked_like_float16():
    for dtype in (np.float16, ml_dtypes.bfloat16):
        with pytest.raises(ValueError, match="momentum must be a finite number in"):
            check_number("momentum", np.asarray(1.5, dtype)[()], low=0.0, high=1.0)
        with pytest.raises(ValueError, match="momentum"):
            check_number("momentum", jnp.asarray(np.nan, dtype), low=0.0, high=1.0)


@pytest.mark.parametrize("value", ["0.1", None, [0.1], np.ones(2), jnp.ones(2), 1 + 2j,
                                   np.complex64(1), True, np.bool_(True)])
def test_non_numbers_are_type_errors_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"^learning_rate must be a number"):
        check_number("learning_rate", value)


def test_huge_python_integers_are_refused_not_crashed_on():
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number in \[0, inf\), "
                                         r"got -?\(an integer of about 401 digits\)"):
        check_number("weight_decay", 10**400, low=0.0)


def test_traced_values_pass_unchecked():
    assert jax.jit(lambda x: check_number("lr", x, low=0.0) * 2)(jnp.float32(-1.0)) == -2.0
    assert jax.jit(lambda n: check_int("steps", n, low=1) + 1)(jnp.int32(-5)) == -4
    with pytest.raises(TypeError, match="steps must be an integer, got a traced float32"):
        jax.jit(lambda n: check_int("steps", n))(jnp.float32(1.0))


def test_concrete_float_and_is_traced():
    assert concrete_float(np.float16(0.5)) == 0.5
    jax.jit(lambda x: (assert_traced(x), x)[1])(1.0)


def assert_traced(x):
    assert is_traced(x) and concrete_float(x) is None


# --- integers against int32 --------------------------------------------------------------


@pytest.mark.parametrize("value", [2**31, 10**30, np.int64(2**40), np.uint64(2**63)])
def test_integers_beyond_int32_are_refused_by_default(value):
    with pytest.raises(ValueError, match=r"patience must be an integer in \[0, 2147483647\]"):
        check_int("patience", value, low=0)


def test_int32_extremes_are_accepted_and_returned_as_python_ints():
    for value in (2**31 - 1, np.int64(2**31 - 1), jnp.int32(2**31 - 1), np.uint32(7)):
        out = check_int("every_k_steps", value, low=1)
        assert type(out) is int and out == int(value)
    assert check_int("offset", -(2**31)) == -(2**31)
    with pytest.raises(ValueError, match=r"\[-2147483648, 2147483647\]"):
        check_int("offset", -(2**31) - 1)


def test_other_integer_ranges_on_request():
    assert check_int("seed", 2**40, low=0, dtype=None) == 2**40
    assert check_int("seed", 2**32 - 1, dtype=np.uint32) == 2**32 - 1
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        check_int("seed", -1, dtype=np.uint32)


@pytest.mark.parametrize("value", [1.0, "3", True, np.bool_(False), np.ones(2, int), None])
def test_non_integers_are_type_errors(value):
    with pytest.raises(TypeError, match=r"^every_k_steps must be an integer, got"):
        check_int("every_k_steps", value)


def test_sorted_ints_flags_and_choices():
    assert check_sorted_ints("milestones", np.array([1, 5, 5])) == (1, 5, 5)
    with pytest.raises(ValueError, match=r"milestones\[1\] must be an integer in \[0, "):
        check_sorted_ints("milestones", [1, 2**31])
    with pytest.raises(TypeError, match="1-d"):
        check_sorted_ints("milestones", np.ones((2, 2), int))
    assert check_bool("nesterov", np.bool_(True)) is True
    with pytest.raises(TypeError, match="nesterov must be True or False, got 'false'"):
        check_bool("nesterov", "false")
    with pytest.raises(ValueError, match="mask must be one of 'all', 'none', got 5"):
        check_choice("mask", 5, ("all", "none"))


# --- schedules and callables as hyperparameters ----------------------------------------------


def test_an_optaxlr_schedule_is_checked_over_its_whole_range():
    check = functools.partial(check_number, "learning_rate", allow_callable=True, low=0.0)
    with pytest.raises(ValueError, match=re.escape(
            "learning_rate: the schedule reaches -0.1, must be >= 0")):
        check(sch.constant(-0.1))
    # Negative only from step 1000 on: the bounds see it.
    with pytest.raises(ValueError, match=re.escape("the schedule reaches -0.05, must be >= 0")):
        check(sch.join([sch.cosine(0.1, 1000), -0.05], [1000]))
    with pytest.raises(ValueError, match="the schedule reaches 0, must be > 0"):
        check_number("learning_rate", sch.cosine(0.1, 100), allow_callable=True, low=0.0,
                     low_open=True)
    with pytest.raises(ValueError, match=re.escape("b1: the schedule reaches 1.05, must be < 1")):
        check_number("b1", sch.linear(0.9, 1.05, 10), allow_callable=True, low=0.0, high=1.0,
                     high_open=True)
    schedule = sch.warmup(sch.cosine(0.1, 900), 100)
    assert check(schedule) is schedule


def test_a_schedule_built_from_traced_values_passes_unchecked():
    @jax.jit
    def f(lr):
        schedule = sch.cosine(lr, 100)
        assert schedule.bounds() is None
        check_number("learning_rate", schedule, allow_callable=True, low=0.0)
        return schedule(0)

    assert f(jnp.float32(-1.0)) == -1.0


def test_a_foreign_callable_is_accepted_unchecked():
    negative = optax.constant_schedule(-1.0)  # documented: nothing is known about it
    assert check_number("learning_rate", negative, allow_callable=True, low=0.0) is negative
    assert check_number("learning_rate", len, allow_callable=True) is len  # no signature


@pytest.mark.parametrize("value, text", [
    (dict, "got the class dict"),
    (sch.Schedule, "got the class Schedule"),
    (lambda: 0.1, "taking one positional argument (the step); <function"),
    (lambda step, lr: 0.1, "has the signature (step, lr)"),
    (lambda *, step: 0.1, "has the signature (*, step)"),
])
def test_callables_that_are_not_schedules_are_refused(value, text):
    with pytest.raises(TypeError, match=re.escape(text)):
        check_number("learning_rate", value, allow_callable=True, low=0.0)
    with pytest.raises(TypeError, match=r"^learning_rate must be"):
        check_schedule("learning_rate", value)


def test_callables_with_defaults_or_varargs_are_schedules():
    for fn in (lambda step, scale=2.0: 0.1, lambda *args: 0.1, functools.partial(
            lambda a, step: a, 0.1)):
        assert check_schedule("learning_rate", fn) is fn


def test_callables_are_refused_where_a_number_is_needed():
    with pytest.raises(TypeError, match="eps must be a number, got"):
        check_number("eps", sch.constant(0.1), low=0.0)


def test_check_callable_can_require_arguments():
    assert check_callable("loss_fn", lambda p, b: 0.0, num_args=2)
    with pytest.raises(TypeError, match=r"loss_fn must take 2 positional argument\(s\)"):
        check_callable("loss_fn", lambda p: 0.0, num_args=2)
    with pytest.raises(TypeError, match="loss_fn must be callable, got 3"):
        check_callable("loss_fn", 3)


def test_bounded_schedule_is_the_protocol():
    class Always(BoundedSchedule):
        def __call__(self, step):
            return 2.0

        def bounds(self, first=0, last=2**31 - 1):
            return 2.0, 2.0

    with pytest.raises(ValueError, match="p: the schedule reaches 2, must be <= 1"):
        check_number("p", Always(), allow_callable=True, high=1.0)
    assert isinstance(sch.constant(0.1), BoundedSchedule)
