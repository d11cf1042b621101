"""optaxlr schedules against timm 1.0.31's schedulers and HF transformers' ``get_wsd_schedule``.

``tests/fixtures/schedules_timm_hf.json`` is written by
``scripts/generate_timm_schedule_fixtures.py`` in the reference environment;
this test reads only the JSON. Each case holds the peer's float64 learning rate
before every update and the optaxlr config meant to reproduce it: timm's cosine
(``k_decay``), polynomial and tanh schedulers with cycles and both warmups, its
WSD (also as `decay_from`, and through ``create_scheduler_v2``'s fraction of the
run), its step schedulers, and ``t_in_epochs=True`` (`per_epoch`); HF's WSD with
its three warmup and decay shapes and a warmup given as a fraction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from optaxlr.schedules import from_config, to_config
from tests.schedule_cases import enable_x64

FIXTURES = Path(__file__).parent / "fixtures" / "schedules_timm_hf.json"
DATA: dict[str, Any] = json.loads(FIXTURES.read_text())
CASES: list[dict[str, Any]] = DATA["cases"]

RTOL = 1e-6  # float32
RTOL64 = 1e-12  # float64 (timm's 1 - tanh near 1 cancels to about 1e-14)

#: Every peer schedule the fixtures must cover.
EXPECTED = {
    "timm": {
        "CosineLRScheduler",
        "PolyLRScheduler",
        "TanhLRScheduler",
        "WSDLRScheduler",
        "create_scheduler_v2",
        "StepLRScheduler",
        "MultiStepLRScheduler",
    },
    "transformers": {"get_wsd_schedule"},
}


def _ids(cases):
    return [pytest.param(c, id=c["id"]) for c in cases]


@pytest.mark.parametrize("case", _ids(CASES))
def test_float32_matches_the_peer(case):
    schedule = from_config(case["config"])
    steps = np.asarray(case["steps"], np.int32)
    want = np.asarray(case["values"], np.float64)
    for how, fn in [("eager", schedule), ("jit", jax.jit(schedule))]:
        got = np.asarray(fn(steps))
        assert got.dtype == np.float32, how
        np.testing.assert_allclose(
            got,
            want,
            rtol=RTOL,
            atol=1e-12 * np.abs(want).max(),
            err_msg=f"{how}: {case['reference']}",
        )


@pytest.mark.parametrize("case", _ids(CASES))
def test_float64_matches_the_peer_under_x64(case):
    steps = np.asarray(case["steps"], np.int32)
    want = np.asarray(case["values"], np.float64)
    with enable_x64():
        got = np.asarray(jax.jit(from_config(case["config"]))(steps))
    assert got.dtype == np.float64
    np.testing.assert_allclose(
        got, want, rtol=RTOL64, atol=1e-15 * np.abs(want).max(), err_msg=case["reference"]
    )


@pytest.mark.parametrize("case", _ids(CASES))
def test_config_round_trips_and_bounds_hold(case):
    schedule = from_config(case["config"])
    config = to_config(schedule)
    rebuilt = from_config(json.loads(json.dumps(config)))
    assert to_config(rebuilt) == config
    steps = np.asarray(case["steps"], np.int32)
    np.testing.assert_array_equal(rebuilt(steps), schedule(steps))
    # Fractions of the run stay fractions in the config (a changed total rescales them).
    for key in ("warmup_ratio", "decay_ratio"):
        if case["config"].get(key) is not None:
            assert config[key] == case["config"][key]
    low, high = schedule.bounds(0, len(steps) - 1)
    want = np.asarray(case["values"])
    assert low <= want.min() * (1 + 1e-12) + 1e-15 and high >= want.max() * (1 - 1e-12)


def test_fixture_records_its_peers_and_covers_each_scheduler():
    assert DATA["generated_by"] == "scripts/generate_timm_schedule_fixtures.py"
    assert DATA["versions"]["timm"] == "1.0.31"
    assert DATA["versions"]["transformers"] == "5.25.0"
    covered: dict[str, set[str]] = {}
    for case in CASES:
        covered.setdefault(case["source"], set()).add(case["peer"])
    assert covered == EXPECTED
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert case["steps"] == list(range(len(case["values"])))
        assert all(type(v) is float and math.isfinite(v) for v in case["values"])
    names = {c["config"]["name"] for c in CASES}
    assert {"decay_from", "polynomial_restarts", "tanh_restarts", "per_epoch"} <= names
    assert any(c["config"].get("warmup_ratio") for c in CASES)
    assert any(c["config"].get("decay_ratio") for c in CASES)


def test_a_ratio_and_the_steps_it_rounds_to_give_the_same_schedule():
    # HF rounds the warmup fraction up (ceil(0.1 * 73) = 8), timm the decay fraction to the
    # nearest (round(0.2 * 45) = 9): both against the phase lengths written out.
    by_ratio = from_config(
        {
            "name": "warmup_stable_decay",
            "peak_value": 1.0,
            "total_steps": 73,
            "warmup_ratio": 0.1,
            "decay_ratio": 0.125,
        }
    )
    by_steps = from_config(
        {
            "name": "warmup_stable_decay",
            "peak_value": 1.0,
            "total_steps": 73,
            "warmup_steps": 8,
            "decay_steps": 8,
        }
    )
    steps = np.arange(80, dtype=np.int32)
    np.testing.assert_array_equal(by_ratio(steps), by_steps(steps))
