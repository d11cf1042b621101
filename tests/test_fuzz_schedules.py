"""Fuzzing every public schedule constructor with random types and values.

Each example picks a constructor from the registry and draws every argument
either from values of the right kind (often out of range: negative counts,
integers beyond int32, floats beyond float32, NaN) or from anything at all
(strings, None, lists, classes, functions of the wrong arity, NumPy scalars
of odd dtypes). The call must either raise a ValueError or TypeError whose
message names one of the constructor's arguments, or give a schedule whose
values at step 0, at random steps and at the int32 maximum are finite and
within its bounds. Anything else (another exception, a NaN, an inf, a value
outside `bounds`) is a failure.
"""

from __future__ import annotations

import inspect

import ml_dtypes
import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import optaxlr.schedules as sch
from tests.public_schedules import CONSTRUCTORS

H = 2**31 - 1

INT_ARGS = {
    "transition_steps", "transition_begin", "step_size", "decay_steps", "first_cycle_steps",
    "cycle_limit", "step_size_up", "step_size_down", "total_steps", "warmup_steps",
    "steps_per_epoch", "num_steps", "step", "length", "noise_seed",
}
BOOL_ARGS = {"staircase", "cycle", "periodic", "three_phase", "prefix"}
CHOICES = ["linear", "cosine", "constant", "exp", "triangular", "triangular2", "exp_range",
           "cos", "torch", "fastai", "keras", "timm", "optax", "multiply", "replace", "1-sqrt",
           "sqrt", "", "COS", "normal", "uniform"]

special_ints = st.sampled_from([0, 1, 2, -1, H, H - 1, 2**30, 2**31, -(2**31), 10**30, 10**400])
special_floats = st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e39, -1e39, 3.4e38, 1e-50, 1e-300,
                                  float("nan"), float("inf"), -float("inf"), 1 - 1e-10,
                                  1 + 1e-7, 1e30, -1e30])


def _schedule_like():
    return st.sampled_from([sch.constant(0.1), sch.cosine(1.0, 10), sch.constant(-1.0),
                            sch.linear(0.0, 3e38, 5)])


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.integers(-(2**70), 2**70),
    special_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    special_floats,
    st.lists(st.integers(-3, 100), max_size=4),
    st.lists(st.floats(-2.0, 2.0), max_size=4),
    st.floats(-60000.0, 60000.0).map(np.float16),
    st.floats(-1e30, 1e30).map(lambda x: ml_dtypes.bfloat16(x)),
    st.integers(-(2**62), 2**62).map(np.int64),
    st.sampled_from([dict, len, print, lambda: 0.1, lambda step, lr: step, np.ones(3),
                     np.int64(5), 1 + 2j, b"0.1", {"name": "constant"}]),
    _schedule_like(),
)
ints = st.one_of(st.integers(1, 200), st.integers(1, 200), st.integers(-10, 2**31 + 10),
                special_ints)
floats = st.one_of(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(-10.0, 10.0),
                   st.floats(0.5, 2.0), special_floats)


def _value(name: str, clean: bool):
    if name in INT_ARGS:
        kind = ints
    elif name == "num_epochs":  # tabulated in Python: keep it small, or beyond the limit
        kind = st.one_of(st.integers(-1, 30), st.sampled_from([2**20 + 1, 2**31]))
    elif name in BOOL_ARGS:
        kind = st.booleans()
    elif name in {"mode", "convention", "anneal", "combine", "decay_shape", "warmup_shape",
                  "shape", "noise_type"}:
        kind = st.sampled_from(CHOICES)
    elif name in {"milestones", "boundaries"}:
        kind = st.lists(st.one_of(st.integers(0, 300), special_ints), max_size=4)
    elif name in {"values", "schedules"}:
        kind = st.lists(st.one_of(floats, _schedule_like()), max_size=4)
    elif name == "noise_range_t":
        kind = st.one_of(st.none(), floats, st.lists(st.one_of(ints, floats), max_size=3))
    elif name == "schedule":
        kind = st.one_of(floats, _schedule_like())
    elif name == "fn":
        kind = st.one_of(st.lists(floats, max_size=4),
                         st.sampled_from([lambda e: 0.5, lambda e, lr: lr * 0.5]))
    else:
        kind = floats
    return kind if clean else st.one_of(kind, kind, kind, junk)  # sometimes anything


@st.composite
def calls(draw):
    name = draw(st.sampled_from(sorted(CONSTRUCTORS)))
    params = inspect.signature(CONSTRUCTORS[name]).parameters
    clean = draw(st.booleans())  # every argument of the right kind, or some of any kind
    kwargs = {}
    for p in params.values():
        if p.default is inspect.Parameter.empty or draw(st.booleans()):
            kwargs[p.name] = draw(_value(p.name, clean))
    steps = draw(st.lists(st.integers(0, H), min_size=1, max_size=5))
    return name, kwargs, steps


def _names_an_argument(message: str, name: str) -> bool:
    return any(p in message for p in inspect.signature(CONSTRUCTORS[name]).parameters)


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(calls())
def test_every_call_is_refused_by_name_or_gives_finite_values(call):
    name, kwargs, steps = call
    try:
        schedule = CONSTRUCTORS[name](**kwargs)
    except (ValueError, TypeError) as e:
        assert _names_an_argument(str(e), name), f"{name}({kwargs}): {e!r} names no argument"
        event(f"refused ({type(e).__name__})")
        return
    event("built")
    values = np.asarray(schedule(np.array([0, 1, *steps, H - 1, H], np.int32)), np.float64)
    assert np.all(np.isfinite(values)), f"{name}({kwargs}) gives {values}"
    bounds = schedule.bounds()
    if bounds is not None:
        low, high = bounds
        # float32 rounding, and underflow below its smallest normal number
        tol = 2e-6 * max(abs(low), abs(high)) + float(np.finfo(np.float32).tiny)
        assert values.min() >= low - tol and values.max() <= high + tol, (
            f"{name}({kwargs}): values {values} outside the bounds {bounds}")
