"""Adamax (``torch.optim.Adamax``) and Lion (``lion_pytorch.Lion`` 0.2.5), issue 18.

Fixtures: ``tests/fixtures/optimizers_2026.npz`` from
``scripts/generate_new_optimizer_fixtures.py`` (the peers alone). Each run replays
the gradients the peer computed, in float32 and in float64, and compares the
parameters at the checkpoints with ``|ours - peer| <= 1e-6 + 1e-5 |peer|``.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from tests.test_optimizer_fixtures import ATOL, RTOL, load_npz
from tests.test_optimizer_fixtures import replay_steps as _replay
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizers_2026.npz"
NEW = ("adamax", "lion")


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _spec(name: str) -> dict:
    return next(r for r in _runs() if r["name"] == name)


def _build(spec: dict) -> optax.GradientTransformation:
    kwargs = dict(spec["optaxlr"]["kwargs"])
    for name, sched in spec["optaxlr"]["schedules"].items():
        kwargs[name] = getattr(optaxlr.schedules, sched["schedule"])(**sched["kwargs"])
    return getattr(optaxlr, spec["optimizer"])(**kwargs)


def _check(name: str, dtype: str, wrap) -> None:
    manifest, arrays = _data()
    spec = _spec(name)
    trajectory, lrs = _replay(
        _build(spec),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
    )
    assert trajectory.dtype == np.dtype(dtype)
    ours = trajectory[arrays["checkpoints"] - 1]
    np.testing.assert_allclose(ours, arrays[f"{name}/{dtype}/params"], rtol=RTOL, atol=ATOL)
    if f"{name}/hparams/learning_rate" in arrays:
        np.testing.assert_allclose(lrs, arrays[f"{name}/hparams/learning_rate"], rtol=1e-6)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float32_matches_the_peer(name, variant):
    _check(name, "float32", variant)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float64_matches_the_peer(name):
    with _x64():
        _check(name, "float64", jax.jit)


def test_every_run_is_conditioned_and_the_fixture_records_its_peers():
    manifest, _ = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["lion_pytorch"] == "0.2.5"
    assert manifest["generated_by"] == "scripts/generate_new_optimizer_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(NEW)
    for run in _runs():
        cond = manifest["conditioning"][run["name"]]
        assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
        assert cond["step_rel_to_lr"] < 1e-2, run["name"]  # no sign flips
    for optimizer in NEW:
        named = [r["name"] for r in _runs() if r["optimizer"] == optimizer]
        assert len(named) == 4 and any(_spec(n)["optaxlr"]["schedules"] for n in named)


@pytest.mark.parametrize("name", _data()[0]["complex_runs"])
def test_complex64_matches_the_peer(name):
    _, arrays = _data()
    opt = _build(_spec(name))
    params = jnp.asarray(arrays["complex/init"])
    assert params.dtype == jnp.complex64
    state = opt.init(params)
    step = jax.jit(
        lambda p, s, g: (lambda u, s: (optax.apply_updates(p, u), s))(*opt.update(g, s, p))
    )
    out = []
    for g in arrays[f"complex/{name}/grads"]:
        params, state = step(params, state, jnp.asarray(g))
        out.append(np.asarray(params))
    ours = np.stack(out)[arrays["complex/checkpoints"] - 1]
    ref = arrays[f"complex/{name}/params"]
    assert ours.dtype == np.complex64
    for part in (np.real, np.imag):
        np.testing.assert_allclose(part(ours), part(ref), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["adamax_default", "lion_wd"])
def test_float16_parameters_follow_the_float32_run(name):
    """float16 parameters, moments kept in float32: within float16's rounding of the run."""
    manifest, arrays = _data()
    opt = _build(_spec(name))
    grads = arrays[f"{name}/float32/grads"][:50]
    f16, _ = _replay(
        opt,
        arrays["init"].astype(np.float16),
        grads.astype(np.float16),
        manifest["leaves"],
        jax.jit,
    )
    f32, _ = _replay(opt, arrays["init"], grads, manifest["leaves"], jax.jit)
    assert f16.dtype == np.float16
    state = opt.init(jnp.zeros(3, jnp.float16))
    assert {x.dtype for x in jax.tree.leaves(state[0].mu)} == {jnp.dtype(jnp.float32)}
    np.testing.assert_allclose(f16.astype(np.float32), f32, rtol=2e-2, atol=2e-3)


# --- hyperparameters ------------------------------------------------------------------

KEYS = {
    "adamax": ["step", "b1", "b2", "eps", "learning_rate"],
    "adamax_wd": ["step", "weight_decay", "b1", "b2", "eps", "learning_rate"],
    "lion": ["b1", "b2", "learning_rate"],
    "lion_wd": ["b1", "b2", "learning_rate", "weight_decay"],
    "lion_sched": ["step", "b1", "b2", "learning_rate", "weight_decay"],
}
MAKE = {
    "adamax": lambda: optaxlr.adamax(),
    "adamax_wd": lambda: optaxlr.adamax(weight_decay=1e-2),
    "lion": lambda: optaxlr.lion(),
    "lion_wd": lambda: optaxlr.lion(weight_decay=0.1),
    "lion_sched": lambda: optaxlr.lion(optaxlr.schedules.cosine(1e-4, 10), weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(KEYS))
@pytest.mark.parametrize("clipped", [False, True])
def test_hyperparams_keys_alone_and_after_clipping(name, clipped):
    opt = MAKE[name]()
    if clipped:
        opt = optax.chain(optaxlr.clip_by_global_norm(1.0), opt)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    _, state = opt.update({"w": jnp.full(3, 0.5)}, state, params)
    want = list(KEYS[name])
    if clipped:  # "step" first, then the chain's order
        want.insert(1 if want[0] == "step" else 0, "max_norm")
    assert list(optaxlr.hyperparams(state)) == want


@pytest.mark.parametrize("name", NEW)
def test_set_hyperparams_under_inject_hyperparams(name):
    make = getattr(optaxlr, name)
    opt = optax.inject_hyperparams(make)(learning_rate=1e-3, b1=0.9, b2=0.99)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    state = optaxlr.set_hyperparams(state, learning_rate=5e-3, b1=0.5)
    updates, state = opt.update({"w": jnp.array([1.0, -2.0, 3.0])}, state, params)
    ref = make(learning_rate=5e-3, b1=0.5, b2=0.99)
    want, _ = ref.update({"w": jnp.array([1.0, -2.0, 3.0])}, ref.init(params), params)
    np.testing.assert_allclose(updates["w"], want["w"], rtol=1e-6)
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == pytest.approx(5e-3)


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("adamax", {"learning_rate": -1e-3}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("adamax", {"b1": 1.0}, ValueError, r"b1.*\[0, 1\)"),
        ("adamax", {"b2": -0.1}, ValueError, r"b2.*\[0, 1\)"),
        ("adamax", {"eps": -1e-8}, ValueError, r"eps.*\[0, inf\)"),
        ("adamax", {"weight_decay": -1.0}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("adamax", {"eps": "small"}, TypeError, "eps"),
        ("lion", {"learning_rate": -1e-4}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("lion", {"b1": 1.5}, ValueError, r"b1.*\[0, 1\)"),
        ("lion", {"b2": 1.0}, ValueError, r"b2.*\[0, 1\)"),
        ("lion", {"weight_decay": -0.1}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("lion", {"b1": True}, TypeError, "b1"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optaxlr, name)(**kwargs)


# --- resume and nnx ----------------------------------------------------------------------


# Every optimizer issue 18 adds, scheduled where it takes a schedule; Rprop's rate is its
# initial step size, so its step-size bound is the scheduled one.
RESUMED = {
    "adamax": lambda lr: optaxlr.adamax(lr, weight_decay=1e-2),
    "lion": lambda lr: optaxlr.lion(lr, weight_decay=1e-2),
    "rprop": lambda lr: optaxlr.rprop(1e-3, step_sizes=(1e-6, lr)),
    "asgd": lambda lr: optaxlr.asgd(lr, t0=2.0, weight_decay=1e-2),
    "lamb": lambda lr: optaxlr.lamb(lr, weight_decay=1e-2),
    "lars": lambda lr: optaxlr.lars(lr, weight_decay=1e-2, trust_coefficient=1e-2),
    "adafactor": lambda lr: optaxlr.adafactor(lr, weight_decay=1e-2),
}


@pytest.mark.parametrize("name", sorted(RESUMED))
def test_checkpoint_resume_is_bitwise(tmp_path, name):
    opt = RESUMED[name](optaxlr.schedules.cosine(1e-2, 20))
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.full((3,), 0.1)}

    def run(params, state, start, stop):
        for i in range(start, stop):
            grads = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)) + 0.01 * i, params)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return params, state

    saved_params, saved_state = run(params, opt.init(params), 0, 5)
    training.save(tmp_path / "ckpt", saved_params, saved_state)
    restored, resumed = training.resume(tmp_path / "ckpt", params, opt)
    for a, b in zip(
        jax.tree.leaves((restored, resumed)),
        jax.tree.leaves((saved_params, saved_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    want = run(saved_params, saved_state, 5, 9)
    got = run(restored, resumed, 5, 9)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def nnx_step(name: str):
    """One jitted ``nnx.Optimizer`` step of ``optaxlr.<name>(1e-2)``: (model, optimizer, before)."""
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    before = np.asarray(model.kernel[...]).copy()
    optimizer = nnx.Optimizer(model, getattr(optaxlr, name)(1e-2), wrt=nnx.Param)
    x, y = jnp.ones((4, 3)), jnp.zeros((4, 2))

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)

    step(model, optimizer)
    return model, optimizer, before


@pytest.mark.parametrize("name", sorted(RESUMED))
def test_an_nnx_optimizer_step(name):
    model, optimizer, before = nnx_step(name)
    assert not np.array_equal(np.asarray(model.kernel[...]), before)
    assert float(optaxlr.hyperparams(optimizer.opt_state)["learning_rate"]) == pytest.approx(1e-2)
