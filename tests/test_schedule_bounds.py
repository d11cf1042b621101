"""Exact bounds: every schedule's `bounds()` against a dense evaluation of the schedule.

For each case the schedule is evaluated at every step of its interesting part,
at its phase edges, and over the last steps before the int32 maximum (where a
schedule whose end lies beyond int32 reaches its extreme). Every value must lie
within the bounds (up to float32 rounding), and both bounds must be reached by
some evaluated step: a bound that is loose, or too tight, fails.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest

import optaxlr.schedules as sch
from tests.public_schedules import CONSTRUCTORS
from tests.schedule_cases import CASES, COVERS, padded

H = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class BoundsCase:
    make: Callable[[], sch.Schedule]
    dense: int = 3000  # steps 0 .. dense - 1
    edges: tuple[int, ...] = ()  # evaluated with 1000 steps either side
    exact: bool = True  # False: a product of varying factors, the bounds need only hold


# Cases whose extremes sit somewhere other than the first steps: beyond int32 (a phase that
# never ends), at an interior step (exp_range's r * gamma**r), between phase ends that are
# not integers, in a table whose tail is unreachable, or in a nested, truncated schedule.
EXTRA: dict[str, BoundsCase] = {
    "linear_past_int32": BoundsCase(lambda: sch.linear(1.0, 0.0, 10**9, H - 10**8),
                                    edges=(H - 1000,)),
    "linear_rising_negative": BoundsCase(lambda: sch.linear(-2.0, 3.0, 40, 5)),
    "exponential_growth_capped": BoundsCase(lambda: sch.exponential(0.5, 1.5, 10, end_value=2.0)),
    "exponential_staircase_past_int32": BoundsCase(
        lambda: sch.exponential(1.0, 0.5, 2**30, staircase=True), edges=(2**30, H - 1000)),
    "exponential_late_begin": BoundsCase(lambda: sch.exponential(1.0, 0.9, 10**6,
                                                                 transition_begin=H - 10**6),
                                         edges=(H - 1000,)),
    "step_decay_growth": BoundsCase(lambda: sch.step_decay(1.0, 2**26, 1.5), edges=(H - 1000,)),
    "multistep_milestone_zero": BoundsCase(lambda: sch.multistep(1.0, [0, 0, 50], 0.5)),
    "piecewise_boundary_zero": BoundsCase(lambda: sch.piecewise_constant([0, 5], [9.0, 2.0, 3.0])),
    "piecewise_keras_last_at_int32": BoundsCase(
        lambda: sch.piecewise_constant([5, H], [1.0, 2.0, 7.0], convention="keras"),
        edges=(H - 1000,)),
    "natural_exp_negative": BoundsCase(lambda: sch.natural_exp(-1.0, 0.01)),
    "polynomial_cycle_late": BoundsCase(lambda: sch.polynomial(1.0, 0.2, 7, 0.5, cycle=True)),
    "cosine_periodic_longer_than_int32": BoundsCase(
        lambda: sch.cosine(1.0, 2**30 + 5, end_value=0.25, periodic=True),
        edges=(2**30 + 5, H - 1000)),
    "cosine_exponent": BoundsCase(lambda: sch.cosine(1.0, 50, end_value=0.5, exponent=3.0)),
    "linear_cosine_alpha": BoundsCase(lambda: sch.linear_cosine(1.0, 300, 3.3, 0.1, 0.01)),
    "linear_cosine_negative": BoundsCase(lambda: sch.linear_cosine(-2.0, 100, 1.7, 0.2)),
    "cosine_restarts_mult3": BoundsCase(lambda: sch.cosine_restarts(1.0, 7, 3.0, 0.8, 0.1),
                                        edges=(7, 28, 91)),
    "cosine_restarts_growing": BoundsCase(lambda: sch.cosine_restarts(0.1, 100, 1.0, 1.0000001),
                                          dense=500, edges=(H // 100 * 100, H - 1000)),
    # timm: the peak sinks below the floor, so the lowest value starts the last cycle (#45).
    "cosine_restarts_fractional": BoundsCase(lambda: sch.cosine_restarts(1.0, 10, 1.5, 0.9, 0.1,
                                                                         convention="timm"),
                                             edges=(math.ceil(20 * (1.5**45 - 1)),)),
    "cosine_restarts_timm_floor_above_peak": BoundsCase(
        lambda: sch.cosine_restarts(1.0, 20, 2.0, 0.3, 0.5, convention="timm"),
        edges=(20 * (2**26 - 1),)),
    "cyclic_exp_range": BoundsCase(lambda: sch.cyclic(0.0, 1.0, 20, 5, "exp_range", 0.9)),
    "cyclic_inverted": BoundsCase(lambda: sch.cyclic(2.0, 1.0, 3, 9, "triangular2")),
    "cyclic_longer_than_int32": BoundsCase(lambda: sch.cyclic(0.0, 1.0, H, H), dense=10,
                                           edges=(H - 1000,)),
    "one_cycle_fractional_phase_end": BoundsCase(lambda: sch.one_cycle(1.0, 101, 0.305)),
    "one_cycle_fastai": BoundsCase(lambda: sch.one_cycle(1.0, 99, 0.25, convention="fastai")),
    "one_cycle_three_phase_half": BoundsCase(lambda: sch.one_cycle(1.0, 20, 0.5,
                                                                   three_phase=True)),
    "one_cycle_one_step": BoundsCase(lambda: sch.one_cycle(1.0, 1)),
    "one_cycle_momentum_three_phase": BoundsCase(
        lambda: sch.one_cycle_momentum(50, 0.8, 0.9, 0.2, three_phase=True)),
    "warmup_cosine_mode": BoundsCase(lambda: sch.warmup(sch.linear(-1.0, 1.0, 20), 10,
                                                        start_value=0.5, mode="cosine")),
    "warmup_replace": BoundsCase(lambda: sch.warmup(sch.cosine(1.0, 100), 30, 0.2,
                                                    prefix=False, combine="replace")),
    "warmup_constant_factor": BoundsCase(lambda: sch.warmup(sch.cosine(1.0, 50), 20, 0.1,
                                                            mode="constant", prefix=False)),
    "warmup_multiply_varying": BoundsCase(
        lambda: sch.warmup(sch.cosine(1.0, 10), 20, 0.1, prefix=False), exact=False),
    "warmup_of_a_truncated_decay": BoundsCase(
        lambda: sch.warmup(sch.linear(1.0, 0.0, H), 1000, start_value=2.0),
        edges=(1000, H - 1000)),
    "wsd_cosine": BoundsCase(lambda: sch.warmup_stable_decay(1.0, 200, 50, 60, -0.5, "cosine",
                                                             start_value=0.3)),
    # The noise approaches v * (1 +- noise_pct) without reaching it.
    "with_noise": BoundsCase(CASES["with_noise"].make, edges=(10, 60), exact=False),
    "with_noise_uniform": BoundsCase(CASES["with_noise_uniform"].make, exact=False),
    "with_noise_late_range": BoundsCase(
        lambda: sch.with_noise(sch.linear(1.0, 0.5, 10**9), [H - 10**6, 10**12], 0.5),
        edges=(H - 10**6, H - 1000), exact=False),
    "polynomial_restarts_fractional": BoundsCase(
        lambda: sch.polynomial_restarts(1.0, 10, 0.7, 1.5, 0.9, 0.1),
        edges=(10, 25, math.ceil(20 * (1.5**45 - 1)))),  # the lowest value starts cycle 45
    "tanh_restarts_growing_cycles": BoundsCase(
        lambda: sch.tanh_restarts(1.0, 7, -1.0, 4.0, 3.0, 0.8, 0.05),
        edges=(28, 91, 7 * (3**18 - 1) // 2)),  # the lowest value starts cycle 18
    "tanh_restarts_one_step_cycles": BoundsCase(lambda: sch.tanh_restarts(1.0, 1, -2.0, 2.0)),
    "cosine_restarts_k_decay_keras": BoundsCase(
        lambda: sch.cosine_restarts(1.0, 30, 2.0, 0.7, -0.2, k_decay=0.3)),
    "decay_from_a_rising_schedule": BoundsCase(
        lambda: sch.decay_from(sch.linear(0.0, 2.0, 100), 40, 25, "cosine", 1.5)),
    "decay_from_at_step_zero": BoundsCase(lambda: sch.decay_from(0.7, 0, 10, end_value=-0.3)),
    "decay_from_past_int32": BoundsCase(
        lambda: sch.decay_from(sch.cosine(1.0, H), H - 10**6, 10**9, "linear", 0.25),
        edges=(H - 10**6, H - 1000)),
    "wsd_1sqrt_warmup": BoundsCase(lambda: sch.warmup_stable_decay(
        1.0, 90, 30, 20, 0.1, "1-sqrt", 0.5, "1-sqrt")),
    "warmup_end_value_replace": BoundsCase(
        lambda: sch.warmup(sch.cosine(1.0, 100), 20, 0.0, prefix=False, combine="replace",
                           end_value=1.5)),
    "per_epoch_of_a_schedule": BoundsCase(
        lambda: sch.per_epoch(sch.cosine_restarts(1.0, 5, cycle_decay=0.5, end_value=0.1), 7),
        edges=(35, 70)),
    "lr_range_linear": BoundsCase(lambda: sch.lr_range(-1.0, 1.0, 30, "linear")),
    "join_truncates_a_part": BoundsCase(
        lambda: sch.join([sch.linear(1.0, 0.0, 100), sch.constant(0.5)], [30])),
    "join_nested_late": BoundsCase(
        lambda: sch.join([0.3, sch.linear(1.0, -1.0, 10**9)], [H - 10**8]),
        edges=(H - 10**8, H - 1000)),
    "product_one_varying": BoundsCase(lambda: -2.0 * sch.cosine(1.0, 100) * sch.constant(0.5)),
    "product_two_varying": BoundsCase(lambda: sch.linear(0.0, 1.0, 100) * sch.cosine(1.0, 100),
                                      exact=False),
    "per_epoch_unreachable_tail": BoundsCase(
        lambda: sch.per_epoch([5.0, 4.0, 3.0, 0.1, 9.0], 2**30), dense=10, edges=(2**30, H - 1000)),
}

ALL: dict[str, BoundsCase] = {
    **{name: BoundsCase(case.make, edges=case.edges) for name, case in CASES.items()},
    **EXTRA,
}


def _steps(case: BoundsCase) -> np.ndarray:
    parts = [np.arange(case.dense), np.arange(H - 1000, H + 1), np.array([10**9, 10**9 + 1])]
    parts += [np.arange(max(e - 1000, 0), min(e + 1000, H) + 1) for e in case.edges]
    return padded(np.unique(np.concatenate(parts)), 4096)


def test_every_public_schedule_has_a_bounds_case():
    covered = {COVERS.get(name, name) for name in CASES}
    assert covered == set(CONSTRUCTORS)


@pytest.mark.parametrize("name", sorted(ALL))
def test_bounds_hold_and_are_reached(name):
    case = ALL[name]
    schedule = case.make()
    low, high = schedule.bounds()
    assert isinstance(low, float) and isinstance(high, float) and low <= high
    values = np.asarray(schedule(_steps(case)), np.float64)
    assert np.all(np.isfinite(values))
    tol = 1e-6 * max(abs(low), abs(high))  # float32 rounding of the values
    assert values.min() >= low - tol, (values.min(), low)
    assert values.max() <= high + tol, (values.max(), high)
    if case.exact:
        assert values.min() <= low + tol, f"the low bound {low} is not reached ({values.min()})"
        assert values.max() >= high - tol, f"the high bound {high} is not reached ({values.max()})"


@pytest.mark.parametrize("name", sorted(ALL))
def test_bounds_over_a_sub_range(name):
    # A nested schedule (a join's part, warmup's inner schedule) is bounded over a sub-range.
    case = ALL[name]
    schedule = case.make()
    steps = _steps(case)
    first, last = int(steps[len(steps) // 3]), int(steps[2 * len(steps) // 3])
    low, high = schedule.bounds(first, last)
    inside = steps[(steps >= first) & (steps <= last)]
    values = np.asarray(schedule(inside), np.float64)
    tol = 1e-6 * max(abs(low), abs(high), 1e-30)
    assert values.min() >= low - tol and values.max() <= high + tol
    if case.exact and last - first < 3000:  # every step of the range was evaluated
        assert values.min() <= low + tol and values.max() >= high - tol


def test_known_bounds_in_closed_form():
    assert sch.cosine(0.1, 1000, end_value=0.001).bounds() == (0.001, 0.1)
    assert sch.one_cycle(0.1, 100).bounds() == (0.1 / 25 / 1e4, 0.1)
    # rsqrt and inverse_time fall until the int32 maximum.
    assert sch.rsqrt(0.1, 100).bounds() == pytest.approx((0.1 * math.sqrt(100 / H), 0.1))
    assert sch.inverse_time(1.0, 1.0, 10).bounds() == pytest.approx((1 / (1 + H / 10), 1.0))
    # exp_range peaks before the triangle's top: r * 0.5**r is largest at r = 1 and 2.
    assert sch.cyclic(0.0, 1.0, 10, mode="exp_range", gamma=0.5).bounds() == (0.0, 0.05)
    # torch's one cycle over one step is one step at the final value.
    assert sch.one_cycle(1.0, 1).bounds() == (1 / 25 / 1e4, 1 / 25 / 1e4)
    # warmup from 0 to a constant, over steps 5..7 only.
    assert sch.warmup(sch.constant(1.0), 10).bounds(5, 7) == (0.5, 0.7)


def test_bounds_of_numbers_foreign_callables_and_traced_schedules():
    import jax
    import jax.numpy as jnp
    import optax

    assert sch.bounds(0.5) == (0.5, 0.5)
    assert sch.bounds(optax.constant_schedule(0.1)) is None
    assert sch.bounds(sch.per_epoch(lambda e: 0.9**e, 10)) is None  # a function of the epoch
    assert sch.bounds(sch.warmup(optax.constant_schedule(0.1), 10)) is None
    assert sch.bounds(sch.cosine(0.1, 100), 100, 200) == (0.0, 0.0)
    jax.jit(lambda lr: sch.cosine(lr, 10).bounds() is None or 1 / 0)(jnp.float32(0.1))


def test_bounds_argument_errors():
    with pytest.raises(ValueError, match=r"last must be an integer in \[10, 2147483647\]"):
        sch.constant(1.0).bounds(10, 5)
    with pytest.raises(ValueError, match=r"first must be an integer in \[0, "):
        sch.constant(1.0).bounds(-1)
