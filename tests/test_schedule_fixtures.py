"""optaxlr schedules against values recorded from PyTorch, Keras, optax, TF1, timm and fastai.

``tests/fixtures/schedules.json`` is written by ``scripts/generate_schedule_fixtures.py``
in a separate environment that has the peer libraries (see scripts/README.md); this
test reads only the JSON. Each case holds a peer schedule's float64 values at steps
``0..N-1`` (``step`` = updates already applied) and the optaxlr config meant to
reproduce it. A case the peer computes in a way optaxlr deliberately does not follow
carries ``known_difference`` and is a strict xfail, so a change that makes it pass
shows up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from optaxlr.schedules import from_config

FIXTURES = Path(__file__).parent / "fixtures" / "schedules.json"
DATA: dict[str, Any] = json.loads(FIXTURES.read_text())
CASES: list[dict[str, Any]] = DATA["cases"]

#: Relative: a tail of 4e-7 (one_cycle) must match to 1e-6 of 4e-7, not to a fraction of the
#: peak. ATOL (times the case's peak) only absorbs float64 noise around exact zeros.
RTOL = 1e-6
ATOL = 1e-12

#: Peer libraries the generator must have had.
REQUIRED_SOURCES = {"torch", "optax", "keras"}

#: Every peer schedule the fixtures cover, by library. A library missing from
#: ``versions`` must be listed under ``skipped`` with the reason.
EXPECTED_PEERS: dict[str, set[str]] = {
    "torch": {
        "LinearLR",
        "StepLR",
        "MultiStepLR",
        "ConstantLR",
        "ExponentialLR",
        "PolynomialLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "CyclicLR",
        "OneCycleLR",
        "SequentialLR",
        "ChainedScheduler",
    },
    "optax": {
        "linear_schedule",
        "piecewise_constant_schedule",
        "exponential_decay",
        "cosine_decay_schedule",
        "join_schedules",
        "warmup_cosine_decay_schedule",
        "warmup_exponential_decay_schedule",
    },
    "keras": {
        "PiecewiseConstantDecay",
        "ExponentialDecay",
        "InverseTimeDecay",
        "PolynomialDecay",
        "CosineDecay",
        "CosineDecayRestarts",
    },
    "tensorflow": {"natural_exp_decay", "linear_cosine_decay"},
    "timm": {"CosineLRScheduler"},
    "fastai": {"combined_cos"},
}

#: Config arguments that count steps: they must be JSON ints, never floats.
INT_ARGS = {
    "transition_steps",
    "transition_begin",
    "step_size",
    "decay_steps",
    "first_cycle_steps",
    "cycle_limit",
    "step_size_up",
    "step_size_down",
    "total_steps",
    "warmup_steps",
    "steps_per_epoch",
    "num_epochs",
    "num_steps",
}
INT_LIST_ARGS = {"milestones", "boundaries"}


def _param(case: dict[str, Any]) -> Any:
    marks = ()
    if "known_difference" in case:
        marks = (pytest.mark.xfail(reason=case["known_difference"], strict=True),)
    return pytest.param(case, id=case["id"], marks=marks)


def _describe(steps: np.ndarray, got: np.ndarray, want: np.ndarray, tol: float) -> str:
    bad = np.flatnonzero(np.abs(got - want) > RTOL * np.abs(want) + tol)
    rows = [f"step {steps[i]}: got {got[i]!r}, want {want[i]!r}" for i in bad[:8]]
    return f"{bad.size} of {steps.size} steps differ\n" + "\n".join(rows)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_matches_reference(case: dict[str, Any]) -> None:
    schedule = from_config(case["config"])
    steps = np.asarray(case["steps"], np.int32)
    want = np.asarray(case["values"], np.float64)
    atol = ATOL * float(np.max(np.abs(want)))

    for how, fn in [("eager", schedule), ("jit", jax.jit(schedule))]:
        got = np.asarray(fn(steps))
        assert got.dtype == np.float32, f"{how}: dtype {got.dtype}"
        assert got.shape == steps.shape, f"{how}: shape {got.shape}"
        got = got.astype(np.float64)
        np.testing.assert_allclose(
            got,
            want,
            rtol=RTOL,
            atol=atol,
            err_msg=f"{how}, {case['reference']}\n{_describe(steps, got, want, atol)}",
        )


def test_fixture_file_lists_every_peer_and_version() -> None:
    assert DATA["generated_by"] == "scripts/generate_schedule_fixtures.py"
    versions = DATA["versions"]
    skipped = DATA.get("skipped", {})
    for source in REQUIRED_SOURCES:
        assert source in versions, f"{source} is required but has no version"
    covered: dict[str, set[str]] = {}
    for case in CASES:
        covered.setdefault(case["source"], set()).add(case["peer"])
    for source in covered:
        assert versions.get(source), f"cases from {source} but no {source} version"
    for source, peers in EXPECTED_PEERS.items():
        if source in versions:
            missing = peers - covered.get(source, set())
            assert not missing, f"{source} {versions[source]} was available, no cases for {missing}"
        else:
            assert skipped.get(source), f"{source} neither covered nor listed as skipped"
    assert set(covered) <= set(EXPECTED_PEERS)


def _check_ints(config: Any, where: str) -> None:
    if isinstance(config, list):
        for i, item in enumerate(config):
            _check_ints(item, f"{where}[{i}]")
        return
    if not isinstance(config, dict):
        return
    assert isinstance(config.get("name"), str), f"{where}: no name"
    for key, value in config.items():
        if key in INT_ARGS and value is not None:
            assert type(value) is int, f"{where}.{key} = {value!r} is not an int"
        elif key in INT_LIST_ARGS:
            assert all(type(v) is int for v in value), f"{where}.{key} = {value!r}"
        elif isinstance(value, dict | list):
            _check_ints(value, f"{where}.{key}")


def test_fixture_cases_are_well_formed() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for case in CASES:
        steps, values = case["steps"], case["values"]
        assert steps and len(steps) == len(values), case["id"]
        assert all(type(s) is int and s >= 0 for s in steps), case["id"]
        assert steps == sorted(set(steps)), case["id"]
        assert all(type(v) is float and math.isfinite(v) for v in values), case["id"]
        assert case["reference"] and case["source"] in EXPECTED_PEERS, case["id"]
        _check_ints(case["config"], case["id"])
