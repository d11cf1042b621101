"""Under ``jax_enable_x64`` a schedule computes and returns float64, and a float64 run
with a schedule matches torch in float64.

References: ``tests/fixtures/schedules.json`` (the peers' float64 values, from
``scripts/generate_schedule_fixtures.py``) and ``tests/fixtures/schedule_float64.npz``
(torch.optim with an LR scheduler in float64, from
``scripts/generate_x64_schedule_fixtures.py``). A schedule computed in float32 and
cast to float64 is about 1e-8 off both.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optaxlr
from optaxlr.schedules import from_config
from tests.schedule_cases import CASES, enable_x64, padded
from tests.test_optimizer_fixtures import load_npz, replay
from tests.test_schedule_fixtures import CASES as PEER_CASES

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "schedule_float64.npz"


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_schedule_is_float64_under_x64_and_float32_without(name, variant):
    steps = padded(np.arange(0, 300, 7))
    with enable_x64():
        schedule = CASES[name].make()  # built under x64 as well
        wide = variant(schedule)(jnp.asarray(steps))
        scalar = variant(schedule)(jnp.asarray(3))
    assert wide.dtype == jnp.float64 and scalar.dtype == jnp.float64
    narrow = variant(CASES[name].make())(jnp.asarray(steps))
    assert narrow.dtype == jnp.float32
    # The same values, to float32 rounding: x64 changes the precision, not the formula.
    np.testing.assert_allclose(narrow, wide, rtol=2e-6, atol=1e-12)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c["id"]) for c in PEER_CASES if "known_difference" not in c],
)
def test_float64_values_match_the_peers_to_float64_rounding(case):
    steps = np.asarray(case["steps"], np.int32)
    want = np.asarray(case["values"], np.float64)
    with enable_x64():
        schedule = from_config(case["config"])
        for fn in (schedule, jax.jit(schedule)):
            got = np.asarray(fn(steps))
            assert got.dtype == np.float64
            # torch's CosineAnnealingLR updates its value recursively: 9e-15 off the closed form.
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15 * np.abs(want).max())


@pytest.mark.parametrize("name", [r["name"] for r in _data()[0]["runs"]])
def test_float64_training_with_a_schedule_matches_torch(name):
    manifest, arrays = _data()
    run = next(r for r in manifest["runs"] if r["name"] == name)
    with enable_x64():
        opt = getattr(optaxlr, run["optimizer"])(from_config(run["schedule"]), **run["optaxlr"])
        trajectory, hps = replay(opt, jnp.asarray(arrays["init"], jnp.float64),
                                 jnp.asarray(arrays["grads"], jnp.float64), manifest["leaves"])
    assert trajectory.dtype == jnp.float64
    assert hps["learning_rate"].dtype == jnp.float64
    ours = np.asarray(trajectory)[np.asarray(arrays["checkpoints"]) - 1]
    np.testing.assert_allclose(ours, arrays[name], rtol=1e-10, atol=1e-13)
