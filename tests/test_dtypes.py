"""dtype-correct math against torch.optim: float64, complex, float16, integers refused.

Fixtures: ``tests/fixtures/optimizer_dtypes.npz`` from
``scripts/generate_dtype_fixtures.py`` (torch alone). Each run replays the same
gradients torch was given and compares the parameters at the checkpoints.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optaxlr
from tests.test_optimizer_fixtures import load_npz, replay

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizer_dtypes.npz"


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs(group: str) -> list[dict]:
    return [r for r in _data()[0]["runs"] if r["group"] == group]


def _x64():
    enable = getattr(jax, "enable_x64", None)
    if enable is not None:
        return enable(True)
    return jax.experimental.enable_x64()  # older jax


def _replay(opt, init, grads, checkpoints, dtype):
    """The parameters at the checkpoints, replaying torch's gradients in ``dtype``."""
    leaves = _data()[0]["leaves"]
    trajectory, _ = replay(opt, jnp.asarray(init, dtype), jnp.asarray(grads, dtype), leaves)
    return np.asarray(trajectory)[np.asarray(checkpoints) - 1]


def _alias(spec: dict, **extra):
    return getattr(optaxlr, spec["optimizer"])(**spec["optaxlr"], **extra)


@pytest.mark.parametrize("name", [r["name"] for r in _runs("float64")])
def test_float64_matches_torch_to_1e_10(name):
    _, arrays = _data()
    spec = next(r for r in _runs("float64") if r["name"] == name)
    with _x64():
        ours = _replay(
            _alias(spec),
            arrays["float64/init"],
            arrays["float64/grads"],
            arrays["checkpoints"],
            jnp.float64,
        )
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, arrays[f"float64/{name}"], rtol=1e-10, atol=1e-13)


def test_float64_hyperparameter_arithmetic_is_float64():
    # AdamW's factor 1 - lr * wd, rounded to float32, would be off by ~1e-8 relative.
    with _x64():
        params = {"w": jnp.ones(3, jnp.float64)}
        opt = optaxlr.adamw(3e-5, weight_decay=0.1)
        state = opt.init(params)
        updates, state = opt.update(jax.tree.map(jnp.zeros_like, params), state, params)
        assert updates["w"].dtype == jnp.float64
        # torch: param * fl64(1 - lr * wd); in float32 the factor would be 2% off.
        np.testing.assert_allclose(updates["w"], (1.0 - 3e-5 * 0.1) - 1.0, rtol=1e-12)
        assert optaxlr.hyperparams(state)["learning_rate"].dtype == jnp.float64


@pytest.mark.parametrize("name", [r["name"] for r in _runs("complex64")])
def test_complex_matches_torchs_real_view(name):
    _, arrays = _data()
    spec = next(r for r in _runs("complex64") if r["name"] == name)
    ours = _replay(
        _alias(spec),
        arrays["complex64/init"],
        arrays["complex64/grads"],
        arrays["checkpoints"],
        jnp.complex64,
    )
    assert ours.dtype == np.complex64
    ref = arrays[f"complex64/{name}"]
    for part in (np.real, np.imag):
        np.testing.assert_allclose(part(ours), part(ref), rtol=1e-5, atol=1e-6, err_msg=name)


def test_complex_clipping_counts_both_parts():
    g = {"w": jnp.asarray([3.0 + 4.0j], jnp.complex64)}  # |g| = 5
    tx = optaxlr.clip_by_global_norm(1.0, eps=0.0)
    clipped, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(clipped["w"], [0.6 + 0.8j], rtol=1e-6)


# float16: the reference is torch on float32 parameters. Gradients of ~1e-5 square to
# ~1e-10, far below float16's smallest normal (6e-5): second moments kept in float16
# underflow. Two checks, both set from the measured float16 error against this fixture
# (parameters in (-1, 1), 200 steps, six checkpoints):
# - each parameter within F16_ATOL of torch's: 10 float16 spacings of [0.5, 1) (measured
#   at most 8.5, RMSprop's; rounding the parameters to float16 at each step);
# - the total movement, ours projected on torch's (ours - init) . (ref - init) /
#   |ref - init|^2, within F16_SCALE of 1 (measured 0.986 for RMSprop, 0.991 RAdam, the
#   others within 0.002: small steps lost to rounding). A movement 5% longer or shorter
#   fails: test_float16_check_fails_for_a_movement_5_percent_off.
F16_ATOL = 10 * 2.0**-11
F16_SCALE = 0.025
F16_RUNS = [r["name"] for r in _runs("float16")]


@functools.cache
def _float16_run(name: str, **extra) -> np.ndarray:
    _, arrays = _data()
    spec = next(r for r in _runs("float16") if r["name"] == name)
    args = (arrays["float16/init"], arrays["float16/grads"], arrays["checkpoints"])
    ours = _replay(_alias(spec, **extra), *args, jnp.float16)
    assert ours.dtype == np.float16
    return ours.astype(np.float64)


def _check_float16(ours: np.ndarray, name: str) -> None:
    _, arrays = _data()
    init = arrays["float16/init"].astype(np.float64)
    ref = arrays[f"float16/{name}"].astype(np.float64)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=F16_ATOL, err_msg=name)
    move = ref - init
    scale = np.sum((ours - init) * move) / np.sum(move * move)
    assert abs(scale - 1) <= F16_SCALE, f"{name}: moved {scale:.4f} times as far as torch"


@pytest.mark.parametrize("name", F16_RUNS)
def test_float16_stays_with_the_float32_run(name):
    _check_float16(_float16_run(name), name)


@pytest.mark.parametrize("name", F16_RUNS)
@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_float16_check_fails_for_a_movement_5_percent_off(name, factor):
    init = _data()[1]["float16/init"].astype(np.float64)
    scaled = init + factor * (_float16_run(name) - init)
    with pytest.raises(AssertionError):
        _check_float16(scaled, name)


def test_float16_moments_in_float16_would_drift():
    """The check above can fail: Adam with its second moment in float16 does."""
    with pytest.raises(AssertionError):
        _check_float16(_float16_run("adam", nu_dtype=jnp.float16), "adam")
    # So does torch itself, which keeps the moments of float16 parameters in float16.
    with pytest.raises(AssertionError):
        _check_float16(_data()[1]["float16_torch/adam"].astype(np.float64), "adam")


@pytest.mark.parametrize("name", optaxlr.aliases.__all__)
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_integer_and_boolean_parameters_are_refused_naming_the_leaf(name, dtype):
    params = {"layer": {"w": jnp.ones(3), "steps": jnp.zeros(2, dtype)}}
    with pytest.raises(TypeError, match=r"'layer/steps' has dtype"):
        getattr(optaxlr, name)(learning_rate=0.1).init(params)


def test_fixtures_record_their_provenance():
    manifest, _ = _data()
    assert manifest["peer"] == "torch" and manifest["torch_version"].startswith("2.13.0")
    script = FIXTURES.parents[2] / manifest["generated_by"]
    assert script.exists() and "import optaxlr" not in script.read_text()
    assert {r["group"] for r in manifest["runs"]} == {"float64", "complex64", "float16"}
    # adamax and lion: float64 and complex64 in optimizers_2026.npz (test_new_optimizers.py);
    # rprop and asgd in optimizers_rprop_asgd.npz (test_rprop_asgd.py); lamb and lars in
    # lamb_lars.npz (test_lamb_lars.py); adafactor's float64 in optimizers_adafactor.npz
    # (test_adafactor.py), and torch refuses complex ones; the schedule-free ones in
    # schedule_free.npz (test_schedule_free.py); muon (float64, and complex refused) in
    # optimizers_muon.npz (test_muon.py); prodigy and dadapt_*: float64 in lr_free.npz
    # (test_lr_free.py), complex refused there
    newer = {"adamax", "lion", "rprop", "asgd", "lamb", "lars", "adafactor",
             "schedule_free_sgd", "schedule_free_adamw", "muon",
             "prodigy", "dadapt_adam", "dadapt_sgd"}
    older = set(optaxlr.aliases.__all__) - newer
    assert {r["optimizer"] for r in _runs("float64")} == older
    assert {r["optimizer"] for r in _runs("complex64")} == older
    assert {r["optimizer"] for r in _runs("float16")} >= {"adam", "adamw", "rmsprop", "nadam"}
