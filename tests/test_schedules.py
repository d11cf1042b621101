"""The schedule library: behaviour every schedule shares, then each schedule's own numbers."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
import optaxlr.schedules as sch
from tests.public_schedules import CONSTRUCTORS, TOOLS
from tests.schedule_cases import CASES, COVERS, FAR, INT32_MAX, enable_x64

STEPS = np.array([0, 1, 2, 5, 9, 10, 11, 19, 20, 21, 29, 30, 31, 49, 50, 58, 59, 60, 79, 80,
                  81, 99, 100, 101, 139, 140, 141, 150, 199, 200, 250, 1000, 12_345],
                 dtype=np.int32)


def _steps_for(case) -> np.ndarray:
    edges = [e + d for e in case.edges for d in (-1, 0, 1)]
    return np.unique(np.concatenate([STEPS, np.array(edges, np.int32).clip(0)]))


def test_every_public_schedule_has_a_case():
    covered = {COVERS.get(name, name) for name in CASES}
    assert TOOLS <= set(sch.__all__)
    assert covered == set(CONSTRUCTORS)


# --- behaviour shared by every schedule ---------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
class TestEverySchedule:

    def test_jit_and_eager_agree_per_step(self, name, variant):
        schedule = CASES[name].make()
        steps = _steps_for(CASES[name])
        batched = np.asarray(schedule(steps))
        evaluate = variant(lambda t: schedule(t))
        for t, want in zip(steps, batched, strict=True):
            got = evaluate(jnp.int32(t))
            assert got.dtype == jnp.float32 and got.shape == ()
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)

    def test_vmap_over_steps_matches_batched_call(self, name):
        schedule = CASES[name].make()
        steps = _steps_for(CASES[name])
        np.testing.assert_allclose(jax.vmap(schedule)(jnp.asarray(steps)), schedule(steps),
                                   rtol=1e-6, atol=1e-12)

    def test_output_is_float32_with_the_shape_of_step(self, name):
        schedule = CASES[name].make()
        for step in (3, np.int64(3), jnp.int32(3), np.arange(6).reshape(2, 3),
                     jnp.arange(4, dtype=jnp.int16)):
            value = schedule(step)
            assert value.dtype == jnp.float32
            assert value.shape == np.shape(step)

    def test_values_stay_within_bounds_and_finite(self, name):
        case = CASES[name]
        values = np.asarray(case.make()(np.arange(3000, dtype=np.int32)))
        assert np.all(np.isfinite(values))
        tol = 1e-6 * max(abs(case.high), 1e-12)
        assert values.min() >= case.low - tol and values.max() <= case.high + tol

    def test_int32_extremes_and_far_past_the_end(self, name):
        case = CASES[name]
        schedule = case.make()
        steps = np.array([FAR, FAR + 1, INT32_MAX - 1, INT32_MAX], np.int32)
        far = np.asarray(schedule(steps), np.float64)
        assert np.all(np.isfinite(far))
        # Relative tolerance only: a tail of 4e-7 (one_cycle) must be 4e-7, not anything below
        # some fraction of the peak; a tail that underflows to 0 must be exactly 0.
        np.testing.assert_allclose(far, case.tail(steps.astype(np.int64)), rtol=2e-6, atol=0)
        # Python ints beyond int32 saturate instead of wrapping (to float32 rounding: XLA may
        # round a scalar and a vector computation differently).
        np.testing.assert_allclose(schedule(10**12), far[-1], rtol=1e-6, atol=0)
        np.testing.assert_allclose(schedule(np.array([10**12], np.int64)), far[-1:], rtol=1e-6,
                                   atol=0)

    def test_negative_steps_are_step_zero(self, name):
        schedule = CASES[name].make()
        assert schedule(-5) == schedule(0)

    def test_config_round_trip_is_exact_and_json(self, name):
        schedule = CASES[name].make()
        config = sch.to_config(schedule)
        rebuilt = sch.from_config(json.loads(json.dumps(config)))
        steps = _steps_for(CASES[name])
        np.testing.assert_array_equal(rebuilt(steps), schedule(steps))
        assert sch.to_config(rebuilt) == config

    def test_usable_as_an_optax_learning_rate(self, name):
        schedule = CASES[name].make()
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
        params = {"w": jnp.ones(3)}
        state = opt.init(params)
        step = jax.jit(opt.update)
        for _ in range(3):
            _, state = step({"w": jnp.ones(3)}, state, params)
        np.testing.assert_allclose(state.hyperparams["learning_rate"], schedule(2), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.monotone))
def test_monotone_where_promised(name):
    case = CASES[name]
    values = np.asarray(case.make()(np.arange(2000, dtype=np.int32)), np.float64)
    diffs = np.diff(values) * (1 if case.monotone == "inc" else -1)
    assert np.all(diffs >= -1e-6 * abs(case.high))


def test_negative_int64_steps_do_not_wrap_with_x64():
    # -2**33 + 5 wraps to +5 when cast to int32; as_step saturates in the wide type first.
    schedule = sch.linear(1.0, 0.0, 10)
    with enable_x64():
        steps = jnp.array([-(2**33) + 5, -(2**40), -1, 2**33 + 5, 5], jnp.int64)
        assert steps.dtype == jnp.int64
        got = np.asarray(schedule(steps))
        traced = np.asarray(jax.jit(schedule)(steps))
        unsigned = np.asarray(schedule(jnp.array([2**63 + 5, 3], jnp.uint64)))
    want = [1.0, 1.0, 1.0, 0.0, 0.5]  # negative: step 0; beyond int32: the int32 maximum
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(traced, want)
    np.testing.assert_allclose(unsigned, [0.0, 0.7], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "step, shown",
    [("10", "str '10'"), (None, "NoneType None"), (1.5, "float"), (True, "bool True"),
     ([1, None], "list"), (np.array(["3"]), "ndarray"), (jnp.ones(3), "dtype float32")],
    ids=["str", "None", "float", "bool", "mixed-list", "str-array", "float-array"],
)
def test_a_step_that_is_not_an_integer_is_a_clear_type_error(name, step, shown):
    schedule = CASES[name].make()
    with pytest.raises(TypeError, match=r"step must be an integer: a Python int, or an integer "
                       r"NumPy or JAX array \(traced or not\), got ") as info:
        schedule(step)
    assert shown in str(info.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_traced_float_step_is_a_clear_type_error(name):
    with pytest.raises(TypeError, match="step must be an integer.*dtype float32"):
        jax.jit(CASES[name].make())(jnp.float32(3.0))


# --- traced hyperparameters: sweeps never recompile ---------------------------------------

def test_hyperparameters_passed_as_arrays_compile_once():
    traces = []

    @jax.jit
    def evaluate(init_value, end_value, decay_rate, max_value, step):
        traces.append(1)
        return (sch.cosine(init_value, 100, end_value=end_value)(step)
                + sch.exponential(init_value, decay_rate, 10)(step)
                + sch.one_cycle(max_value, 100)(step)
                + sch.warmup(sch.cosine(init_value, 90), 10)(step))

    for i, lr in enumerate([0.1, 0.3, 1.0]):
        got = evaluate(jnp.float32(lr), jnp.float32(lr / 10), jnp.float32(0.9),
                       jnp.float32(2 * lr), jnp.int32(40 + i))
        want = (sch.cosine(lr, 100, end_value=lr / 10)(40 + i)
                + sch.exponential(lr, 0.9, 10)(40 + i) + sch.one_cycle(2 * lr, 100)(40 + i)
                + sch.warmup(sch.cosine(lr, 90), 10)(40 + i))
        np.testing.assert_allclose(got, want, rtol=2e-6)
    assert len(traces) == 1


def test_vmap_over_a_hyperparameter():
    lrs = jnp.array([0.01, 0.1, 1.0])
    values = jax.vmap(lambda lr: sch.step_decay(lr, 10, 0.5)(25))(lrs)
    np.testing.assert_allclose(values, lrs * 0.25, rtol=1e-6)


def test_traced_hyperparameters_skip_validation_but_concrete_ones_do_not():
    jax.jit(lambda lr: sch.cosine(lr, 10)(3))(jnp.float32(-1.0))  # unknowable at trace time
    with pytest.raises(ValueError, match="init_value"):
        sch.step_decay(-1.0, 10)


# --- each schedule's own numbers ------------------------------------------------------------

def _close(schedule, steps, want, rtol=1e-6, atol=0.0):
    np.testing.assert_allclose(schedule(np.asarray(steps, np.int32)), want, rtol=rtol, atol=atol)


def test_linear_matches_optax_linear_schedule():
    s = sch.linear(0.1, 0.01, 100, transition_begin=10)
    ref = optax.linear_schedule(0.1, 0.01, 100, transition_begin=10)
    steps = np.arange(0, 130)
    np.testing.assert_allclose(s(steps), jax.vmap(ref)(steps), rtol=1e-6)


def test_step_decay_and_multistep_edges():
    _close(sch.step_decay(1.0, 3, 0.5), [0, 2, 3, 5, 6], [1, 1, 0.5, 0.5, 0.25])
    _close(sch.multistep(1.0, [2, 4, 4], 0.1), [0, 1, 2, 3, 4, 100], [1, 1, 0.1, 0.1, 1e-3, 1e-3])


def test_piecewise_constant_conventions():
    s = sch.piecewise_constant([3, 6], [1.0, 2.0, 3.0])
    _close(s, [0, 2, 3, 5, 6, 7], [1, 1, 2, 2, 3, 3])
    k = sch.piecewise_constant([3, 6], [1.0, 2.0, 3.0], convention="keras")
    _close(k, [0, 3, 4, 6, 7], [1, 1, 2, 2, 3])


def test_exponential_variants():
    _close(sch.exponential(1.0, 0.5, 10), [0, 5, 10, 20], [1, 0.5**0.5, 0.5, 0.25])
    _close(sch.exponential(1.0, 0.5, 10, staircase=True), [9, 10, 19], [1, 0.5, 0.5])
    _close(sch.exponential(1.0, 0.5, 10, transition_begin=5), [0, 5, 15], [1, 1, 0.5])
    _close(sch.exponential(1.0, 0.5, 1, end_value=0.2), [0, 2, 3, 50], [1, 0.25, 0.2, 0.2])
    _close(sch.exponential(1.0, 2.0, 1, end_value=5.0), [0, 2, 3, 50], [1, 4, 5, 5])


def test_exponential_is_accurate_over_long_horizons():
    # gamma ** t amplifies the float32 rounding of gamma; the schedule must not.
    steps = np.arange(0, 400, 7)
    _close(sch.exponential(0.1, 0.95), steps, 0.1 * 0.95 ** steps.astype(np.float64), rtol=1e-6)


def test_natural_exp_and_inverse_time():
    _close(sch.natural_exp(1.0, 0.1, 10), [0, 10, 25], np.exp([-0.0, -0.1, -0.25]))
    _close(sch.natural_exp(1.0, 0.1, 10, staircase=True), [25], np.exp([-0.2]))
    _close(sch.inverse_time(1.0, 1.0, 10), [0, 10, 30], [1, 0.5, 0.25])
    _close(sch.inverse_time(1.0, 1.0, 10, staircase=True), [9, 19], [1, 0.5])


def test_polynomial_with_and_without_cycle():
    _close(sch.polynomial(1.0, 0.0, 10, power=2.0), [0, 5, 10, 20], [1, 0.25, 0, 0])
    # Keras: the period stretches to the next multiple of decay_steps.
    _close(sch.polynomial(1.0, 0.0, 10, cycle=True), [0, 5, 10, 11, 15, 20, 21],
           [1, 0.5, 0, 0.45, 0.25, 0, 0.3], atol=1e-7)


def test_cosine_clamped_periodic_and_exponent():
    _close(sch.cosine(1.0, 100, end_value=0.1), [0, 50, 100, 500], [1, 0.55, 0.1, 0.1])
    _close(sch.cosine(1.0, 100, periodic=True), [0, 50, 100, 150, 200], [1, 0.5, 0, 0.5, 1],
           atol=1e-7)
    _close(sch.cosine(1.0, 100, exponent=2.0), [50], [0.25])
    ref = optax.cosine_decay_schedule(1.0, 100, alpha=0.1, exponent=2.0)
    steps = np.arange(0, 120)
    np.testing.assert_allclose(sch.cosine(1.0, 100, 0.1, exponent=2.0)(steps),
                               jax.vmap(ref)(steps), rtol=1e-5, atol=1e-7)


def test_cosine_is_accurate_near_its_end():
    # 0.5 * (1 + cos(x)) cancels near the end; relative error must stay at float32 rounding.
    steps = np.arange(90, 101)
    want = 0.5 * (1 + np.cos(np.pi * steps / 100.0))
    got = np.asarray(sch.cosine(1.0, 100)(steps), np.float64)
    np.testing.assert_allclose(got[:-1], want[:-1], rtol=1e-6)


def test_linear_cosine_matches_tf_formula():
    steps = np.arange(0, 120)
    t = np.minimum(steps, 100)
    cos = 0.5 * (1 + np.cos(np.pi * 2 * 0.5 * t / 100))
    want = 0.1 * ((0.0 + (100 - t) / 100) * cos + 0.001)
    _close(sch.linear_cosine(0.1, 100), steps, want, rtol=1e-5)


def test_cosine_restarts_cycle_lengths_and_decay_conventions():
    s = sch.cosine_restarts(1.0, 10, cycle_mult=2.0)
    _close(s, [0, 5, 10, 20, 30, 70, 150, 310], [1, 0.5, 1, 0.5, 1, 1, 1, 1], atol=1e-7)
    keras = sch.cosine_restarts(1.0, 10, cycle_decay=0.5, end_value=0.2)
    timm = sch.cosine_restarts(1.0, 10, cycle_decay=0.5, end_value=0.2, convention="timm")
    _close(keras, [10, 20], [0.2 + 0.8 * 0.5, 0.2 + 0.8 * 0.25])
    _close(timm, [10, 20], [0.5, 0.25])
    limited = sch.cosine_restarts(1.0, 10, cycle_limit=2, end_value=0.1)
    last_of_second = 0.1 + 0.9 * (1 + math.cos(math.pi * 9 / 10)) / 2
    _close(limited, [10, 19, 20, 1000], [1.0, last_of_second, 0.1, 0.1])


def test_cosine_restarts_has_no_loop_over_cycles():
    # A closed form: a far step costs the same and lands on the right cycle.
    s = sch.cosine_restarts(1.0, 1, cycle_mult=2.0)
    starts = np.array([2**k - 1 for k in range(1, 30)], np.int32)
    _close(s, starts, np.ones_like(starts, np.float64))


def test_cyclic_modes():
    tri = sch.cyclic(1.0, 3.0, 2, 4)
    _close(tri, [0, 1, 2, 4, 6, 8], [1, 2, 3, 2, 1, 3])
    tri2 = sch.cyclic(0.0, 1.0, 2, mode="triangular2")
    _close(tri2, [2, 6, 10], [1, 0.5, 0.25])
    exp_range = sch.cyclic(0.0, 1.0, 2, mode="exp_range", gamma=0.9)
    _close(exp_range, [2, 6], [0.9**2, 0.9**6])


def test_one_cycle_phase_ends_follow_torch():
    s = sch.one_cycle(1.0, 10, pct_start=0.3, div_factor=10, final_div_factor=100)
    # torch: phase 1 ends at step 0.3 * 10 - 1 = 2, phase 2 at step 9.
    _close(s, [0, 2, 9, 10, 100], [0.1, 1.0, 0.001, 0.001, 0.001])
    fastai = sch.one_cycle(1.0, 10, pct_start=0.3, div_factor=10, final_div_factor=100,
                           convention="fastai")
    # fastai SchedCos(start, end)(p) = start + (1 + cos(pi * (1 - p))) * (end - start) / 2
    # over phases [0, 0.3] and [0.3, 1] of pos = step / total_steps.
    def sched_cos(start, end, p):
        return start + (1 + math.cos(math.pi * (1 - p))) * (end - start) / 2

    want = [sched_cos(0.1, 1.0, 0.0), sched_cos(0.1, 1.0, 2 / 3), sched_cos(1.0, 0.01, 0.0),
            sched_cos(1.0, 0.01, 6 / 7), 0.01]
    _close(fastai, [0, 2, 3, 9, 10], want)


def test_one_cycle_degenerate_first_phase():
    # pct_start * total_steps == 1: torch divides by zero; the phase is at its end value.
    s = sch.one_cycle(1.0, 10, pct_start=0.1)
    assert float(s(0)) == pytest.approx(1.0)
    assert np.all(np.isfinite(s(np.arange(20))))


def test_one_cycle_momentum_mirrors_the_learning_rate():
    lr = sch.one_cycle(1.0, 100)
    mom = sch.one_cycle_momentum(100, 0.85, 0.95)
    steps = np.arange(100)
    lr_frac = (np.asarray(lr(steps)) - float(lr(0))) / (1.0 - float(lr(0)))
    mom_frac = (0.95 - np.asarray(mom(steps))) / 0.1
    np.testing.assert_allclose(lr_frac[:30], mom_frac[:30], atol=1e-5)
    _close(sch.one_cycle_momentum(100, three_phase=True), [0, 29, 58, 99], [0.95, 0.85, 0.95,
                                                                             0.95])


def test_warmup_prefix_and_factor_modes():
    inner = sch.cosine(0.1, 90)
    s = sch.warmup(inner, 10, start_value=0.01)
    _close(s, [0, 5, 10, 55], [0.01, 0.055, 0.1, float(inner(45))])
    ref = optax.warmup_cosine_decay_schedule(0.01, 0.1, 10, 100)
    steps = np.arange(0, 120)
    np.testing.assert_allclose(s(steps), jax.vmap(ref)(steps), rtol=2e-6, atol=1e-8)
    factor = sch.warmup(sch.multistep(0.1, [20]), 10, start_value=0.1, prefix=False)
    _close(factor, [0, 5, 10, 20], [0.01, 0.1 * (0.1 + 0.9 * 0.5), 0.1, 0.01])
    constant = sch.warmup(sch.constant(0.1), 5, start_value=0.1, mode="constant", prefix=False)
    _close(constant, [0, 4, 5], [0.01, 0.01, 0.1])
    timm = sch.warmup(sch.cosine(0.1, 100), 10, start_value=0.0, prefix=False,
                      combine="replace")
    _close(timm, [0, 5, 10, 50], [0.0, 0.05, float(sch.cosine(0.1, 100)(10)), 0.05], atol=1e-8)
    cosine = sch.warmup(0.1, 10, mode="cosine")
    _close(cosine, [0, 5, 10], [0.0, 0.05, 0.1], atol=1e-8)
    assert float(sch.warmup(inner, 0)(7)) == float(inner(7))


def test_rsqrt_matches_t5x_and_big_vision_forms():
    warm = 100
    t5x = sch.rsqrt(1.0 / math.sqrt(warm), warmup_steps=warm)
    steps = np.array([0, 50, 100, 400, 10_000])
    _close(t5x, steps, 1.0 / np.sqrt(np.maximum(steps, warm)))
    big_vision = sch.rsqrt(1.0, warmup_steps=warm, timescale=1000)
    _close(big_vision, [100, 1100], [1.0, 1.0 / math.sqrt(2.0)])


def test_warmup_stable_decay_shapes():
    for shape, mid in (("linear", 0.5), ("cosine", 0.5), ("1-sqrt", 1 - math.sqrt(0.5))):
        s = sch.warmup_stable_decay(1.0, 100, 10, 20, decay_shape=shape)
        _close(s, [0, 5, 10, 79, 80, 90, 100, 10**6], [0, 0.5, 1, 1, 1, mid, 0, 0], atol=1e-7)


def test_lr_range_modes():
    _close(sch.lr_range(1e-6, 1.0, 7), [0, 3, 6, 100], [1e-6, 1e-3, 1.0, 1.0])
    _close(sch.lr_range(0.0, 1.0, 11, mode="linear"), [0, 5, 10], [0.0, 0.5, 1.0])


def test_join_matches_optax_join_schedules():
    parts = [sch.linear(0.0, 0.1, 10), sch.cosine(0.1, 50), sch.constant(0.001)]
    s = sch.join(parts, [10, 60])
    ref = optax.join_schedules(
        [optax.linear_schedule(0.0, 0.1, 10), optax.cosine_decay_schedule(0.1, 50),
         optax.constant_schedule(0.001)], [10, 60])
    steps = np.arange(0, 80)
    np.testing.assert_allclose(s(steps), jax.vmap(ref)(steps), rtol=1e-5, atol=1e-8)


def test_products_and_scaling():
    a, b = sch.step_decay(1.0, 10, 0.5), sch.linear(0.0, 1.0, 10)
    steps = np.arange(30)
    np.testing.assert_allclose((a * b)(steps), a(steps) * b(steps), rtol=1e-6)
    np.testing.assert_allclose((0.1 * a)(steps), 0.1 * np.asarray(a(steps)), rtol=1e-6)
    np.testing.assert_allclose((a * 0.1)(steps), 0.1 * np.asarray(a(steps)), rtol=1e-6)
    assert sch.to_config(0.1 * a)["name"] == "product"


def test_per_epoch_forms():
    table = sch.per_epoch([1.0, 0.5], steps_per_epoch=3)
    _close(table, [0, 2, 3, 5, 100], [1, 1, 0.5, 0.5, 0.5])
    traced = sch.per_epoch(lambda e: 0.9 ** e.astype(jnp.float32), steps_per_epoch=2)
    _close(traced, [0, 2, 5], [1, 0.9, 0.81])

    def keras_schedule(epoch, lr):  # Keras LearningRateScheduler's signature
        return lr if epoch < 2 else lr * 0.5

    keras = sch.per_epoch(keras_schedule, 10, num_epochs=4, init_value=0.1)
    _close(keras, [0, 19, 20, 30, 1000], [0.1, 0.1, 0.05, 0.025, 0.025])
    assert sch.to_config(keras)["fn"] == [0.1, 0.1, 0.05, 0.025]
    with pytest.raises(TypeError, match="num_epochs"):
        sch.to_config(traced)


# --- configs and parsing ----------------------------------------------------------------------

def test_from_config_errors_list_the_valid_choices():
    with pytest.raises(ValueError, match=r"unknown schedule 'cosin'.*cosine"):
        sch.from_config({"name": "cosin"})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) decay.*decay_steps"):
        sch.from_config({"name": "cosine", "init_value": 0.1, "decay": 10})
    with pytest.raises(TypeError, match="'name'"):
        sch.from_config({"init_value": 0.1})


def test_nested_config_from_json_text():
    text = ('{"name": "warmup", "warmup_steps": 10, '
            '"schedule": {"name": "cosine", "init_value": 0.1, "decay_steps": 90}}')
    s = sch.from_config(text)
    np.testing.assert_allclose(s(10), 0.1, rtol=1e-6)


def test_parse_calls_and_json():
    s = sch.parse("warmup(cosine(0.1, 90), warmup_steps=10)")
    assert sch.to_config(s) == sch.to_config(sch.warmup(sch.cosine(0.1, 90), warmup_steps=10))
    j = sch.parse("join([linear(0.0, 0.1, 10), 0.1], [10])")
    np.testing.assert_allclose(j(20), 0.1, rtol=1e-6)
    assert sch.parse('{"name": "constant", "value": 2.0}')(0) == 2.0
    with pytest.raises(ValueError, match="unknown schedule 'print'"):
        sch.parse("print(1)")
    with pytest.raises(ValueError, match="unknown schedule '__import__'"):
        sch.parse("cosine(__import__('os'), 10)")
    with pytest.raises(ValueError, match="not a number"):
        sch.parse("cosine(os.sep, 10)")


def test_to_config_rejects_foreign_callables():
    with pytest.raises(TypeError, match="optaxlr.schedules"):
        sch.to_config(optax.constant_schedule(0.1))


@pytest.mark.parametrize("name", sorted(CASES))
def test_repr_is_a_spec_that_parse_rebuilds(name):
    # What a user reads in a log or a config dump: a call with every argument, which
    # `parse` turns back into the same schedule (same config, same values).
    schedule = CASES[name].make()
    rebuilt = sch.parse(repr(schedule))
    assert sch.to_config(rebuilt) == sch.to_config(schedule)
    steps = _steps_for(CASES[name])
    np.testing.assert_array_equal(rebuilt(steps), schedule(steps))


def test_repr_names_its_arguments():
    text = repr(sch.step_decay(0.1, 30))
    assert all(f"{arg}=" in text for arg in ("init_value", "step_size", "gamma"))


def test_plot_schedule_returns_a_figure():
    fig = optaxlr.plot_schedule([sch.cosine(0.1, 100), sch.one_cycle(0.1, 100)], 100,
                                log_y=True, title="t")
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sch.cosine(0.1, 100)(np.arange(100)),
                               rtol=1e-6)
