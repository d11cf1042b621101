"""Adafactor (``torch.optim.Adafactor``), issue 18.

Fixtures: ``tests/fixtures/optimizers_adafactor.npz`` from
``scripts/generate_adafactor_fixtures.py`` (torch alone): parameters of 3, 1, 2, 1 and
0 dimensions. Each run replays the gradients torch computed, in float32 and in
float64, and compares the parameters at the checkpoints with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``.
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
from optaxlr import FlatParams, multi_tensor
from tests.test_optimizer_fixtures import ATOL, RTOL, load_npz
from tests.test_optimizer_fixtures import replay_steps as _replay
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizers_adafactor.npz"


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _spec(name: str) -> dict:
    return next(r for r in _runs() if r["name"] == name)


def _build(spec: dict) -> optax.GradientTransformation:
    kwargs = dict(spec["optaxlr"]["kwargs"])
    if "eps" in kwargs:
        kwargs["eps"] = tuple(kwargs["eps"])
    for name, sched in spec["optaxlr"]["schedules"].items():
        kwargs[name] = getattr(optaxlr.schedules, sched["schedule"])(**sched["kwargs"])
    return optaxlr.adafactor(**kwargs)


def _check(name: str, dtype: str, wrap) -> None:
    manifest, arrays = _data()
    trajectory, lrs = _replay(
        _build(_spec(name)),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
    )
    assert trajectory.dtype == np.dtype(dtype)
    ours = trajectory[arrays[f"{name}/checkpoints"] - 1]
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


def test_every_run_is_conditioned_and_the_fixture_records_its_peer():
    manifest, arrays = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["generated_by"] == "scripts/generate_adafactor_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == {"adafactor"}
    for run in _runs():
        cond = manifest["conditioning"][run["name"]]
        assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
        assert cond["step_rel_to_lr"] < 1e-2, run["name"]
        assert arrays[f"{run['name']}/checkpoints"][-1] == run["steps"]
    long = [r for r in _runs() if r["steps"] == 200]
    assert len(long) == 4 and any(r["optaxlr"]["schedules"] for r in long)
    # Every rank Adafactor tells apart: factored (3-D, 2-D) and not (1-D, 0-D).
    assert sorted(len(s) for s in manifest["leaves"].values()) == [0, 1, 1, 2, 3]
    # The relative step took over in the short run: min(lr, 1/sqrt(t)) is 1/sqrt(t) there.
    short = _spec("adafactor_relative_step")
    assert short["optaxlr"]["kwargs"]["learning_rate"] > 1 / np.sqrt(short["steps"])


def test_the_relative_step_caps_the_rate():
    """With a rate of 10, a constant gradient moves each step by RMS(p) / sqrt(t)."""
    opt = optaxlr.adafactor(10.0, eps=(0.0, 0.0))
    p = jnp.full((4,), 2.0)
    state = opt.init(p)
    steps = []
    for _ in range(4):
        updates, state = opt.update(jnp.ones(4), state, p)
        steps.append(float(updates[0]))
        p = p + updates
    # |U| = 1 (the gradient over its own RMS); alpha = RMS(p) * min(10, 1/sqrt(t)).
    p_before = 2.0
    for t, step in enumerate(steps, start=1):
        assert step == pytest.approx(-p_before / np.sqrt(t), rel=1e-6)
        p_before += step


# --- dtypes -----------------------------------------------------------------------------


def test_complex_parameters_are_refused_as_torch_refuses_them():
    manifest, _ = _data()
    assert "complex" in manifest["complex_refused"]  # torch's own refusal, recorded
    opt = optaxlr.adafactor()
    with pytest.raises(TypeError, match=r"'layer/w' is complex.*does not support complex"):
        opt.init({"layer": {"w": jnp.ones((2, 2), jnp.complex64)}})
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    with pytest.raises(TypeError, match="does not support complex"):
        opt.update({"w": jnp.ones(3, jnp.complex64)}, state, params)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_follows_the_float32_run(dtype):
    """Half-precision parameters, updated in float32: within their rounding of the run."""
    manifest, arrays = _data()
    name = "adafactor_wd_beta2_d"
    opt = _build(_spec(name))
    grads = arrays[f"{name}/float32/grads"][:50]
    half, _ = _replay(
        opt, arrays["init"].astype(dtype), grads.astype(dtype), manifest["leaves"], jax.jit
    )
    f32, _ = _replay(opt, arrays["init"], grads, manifest["leaves"], jax.jit)
    assert half.dtype == jnp.dtype(dtype)
    moved = np.abs(f32[-1] - arrays["init"]).max()
    assert moved > 0.1  # the run moved far more than the tolerance below
    spacing = 2.0**-10 if dtype == jnp.float16 else 2.0**-7
    np.testing.assert_allclose(half.astype(np.float32), f32, rtol=0, atol=8 * spacing)


@pytest.mark.parametrize(
    ("dtype", "moment"),
    [
        (jnp.float32, jnp.float32),
        (jnp.bfloat16, jnp.bfloat16),
        (jnp.float16, jnp.float32),  # float16 squares underflow: float32 moments
    ],
)
def test_moment_dtypes_and_factored_shapes(dtype, moment):
    params = {
        "w": jnp.ones((2, 5, 3), dtype),
        "m": jnp.ones((5, 3), dtype),
        "b": jnp.ones(3, dtype),
    }
    state = optaxlr.adafactor().init(params)[0]
    assert state.row_var["w"].shape == (2, 5, 1) and state.col_var["w"].shape == (2, 1, 3)
    assert state.row_var["m"].shape == (5, 1) and state.col_var["m"].shape == (1, 3)
    assert state.variance["b"].shape == (3,)
    assert state.variance["w"] is None and state.row_var["b"] is None
    assert {x.dtype for x in jax.tree.leaves(state[2:])} == {jnp.dtype(moment)}


def test_eps1_none_is_the_parameters_machine_epsilon():
    """A gradient below float32's epsilon is floored by it; float64's is far smaller."""
    g = jnp.full((3,), 1e-9)

    def first_step(dtype, eps1):
        opt = optaxlr.adafactor(eps=(eps1, 1e-3))
        p = jnp.ones(3, dtype)
        updates, _ = opt.update(g.astype(dtype), opt.init(p), p)
        return float(updates[0])

    eps32 = float(jnp.finfo(jnp.float32).eps)
    # t = 1: V = g^2 = 1e-18 < eps1^2, so U = g / eps1 instead of g / |g| = 1.
    assert first_step(jnp.float32, None) == pytest.approx(-1e-2 * 1e-9 / eps32, rel=1e-5)
    assert first_step(jnp.float32, 0.0) == pytest.approx(-1e-2, rel=1e-6)
    with _x64():
        assert first_step(jnp.float64, None) == pytest.approx(-1e-2, rel=1e-12)


def test_a_3d_parameter_is_factored_per_matrix():
    """Each matrix of the leading dimension keeps its own row and column moments.

    With the parameter scale and the clipping out of the way (eps2 above the RMS, d
    large), a (2, m, n) parameter moves as its two (m, n) slices would alone.
    """
    opt = optaxlr.adafactor(eps=(None, 10.0), d=1e6)
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((2, 4, 3)), jnp.float32)
    grads = [jnp.asarray(rng.standard_normal((2, 4, 3)) * [[[1.0]], [[100.0]]], jnp.float32)]
    grads.append(grads[0][::-1])

    def run(p, gs):
        state = opt.init(p)
        for g in gs:
            updates, state = opt.update(g, state, p)
            p = optax.apply_updates(p, updates)
        return p

    whole = run(w, grads)
    slices = jnp.stack([run(w[k], [g[k] for g in grads]) for k in range(2)])
    np.testing.assert_allclose(whole, slices, rtol=1e-6)
    # Factored over the whole tensor instead (a (8, 3) view), the step would differ.
    merged = run(w.reshape(8, 3), [g.reshape(8, 3) for g in grads]).reshape(2, 4, 3)
    assert not np.allclose(whole, merged, rtol=1e-3)


def test_a_zero_size_leaf_is_left_alone():
    opt = optaxlr.adafactor(weight_decay=1e-2)
    params = {"e": jnp.zeros((0, 3)), "w": jnp.ones((2, 3))}
    updates, state = opt.update(
        {"e": jnp.zeros((0, 3)), "w": jnp.ones((2, 3))}, opt.init(params), params
    )
    assert updates["e"].shape == (0, 3)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


# --- arguments and state -------------------------------------------------------------------


def test_update_needs_params_and_the_state_of_these_parameters():
    opt = optaxlr.adafactor()
    params = {"w": jnp.ones((2, 3))}
    state = opt.init(params)
    with pytest.raises(ValueError, match="update needs params"):
        opt.update(params, state)
    other = {"w": jnp.ones(6)}
    with pytest.raises(ValueError, match="do not fit the state's moments"):
        opt.update(other, state, other)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1e-2}, ValueError, r"learning_rate.*\[0, inf\)"),
        ({"beta2_decay": 0.1}, ValueError, r"beta2_decay.*\(-inf, 0\]"),
        ({"eps": (-1e-3, 1e-3)}, ValueError, r"eps\[0\] \(eps1\).*\[0, inf\)"),
        ({"eps": (None, -1e-3)}, ValueError, r"eps\[1\] \(eps2\).*\[0, inf\)"),
        ({"eps": 1e-3}, TypeError, "eps must be a pair"),
        ({"d": 0.5}, ValueError, r"d .*\[1, inf\)"),
        ({"weight_decay": -0.1}, ValueError, r"weight_decay.*\[0, inf\)"),
        ({"d": "big"}, TypeError, "d"),
        ({"beta2_decay": True}, TypeError, "beta2_decay"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        optaxlr.adafactor(**kwargs)


def test_a_schedule_for_every_hyperparameter_is_used():
    sch = optaxlr.schedules
    opt = optaxlr.adafactor(
        sch.cosine(1e-2, 10),
        beta2_decay=sch.linear(-0.8, -0.5, 10),
        eps=(sch.constant(1e-6), sch.linear(1e-3, 1e-2, 10)),
        d=sch.linear(1.0, 2.0, 10),
        weight_decay=sch.linear(0.0, 0.1, 10),
    )
    params = {"w": jnp.ones((2, 3))}
    state = opt.init(params)
    for _ in range(3):
        _, state = opt.update({"w": jnp.full((2, 3), 0.5)}, state, params)
    hp = optaxlr.hyperparams(state)
    assert float(hp["d"]) == pytest.approx(1.2)  # the value at step 2, used by the 3rd update
    assert float(hp["beta2_decay"]) == pytest.approx(-0.74)
    assert float(hp["eps2"]) == pytest.approx(2.8e-3)
    assert float(hp["weight_decay"]) == pytest.approx(0.02)


def test_multi_tensor_refuses_it_saying_why():
    params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}
    flat = FlatParams.from_tree(params)
    with pytest.raises(ValueError, match=r"optaxlr.adafactor.*rows and columns.*root mean"):
        multi_tensor(optaxlr.adafactor()).init(flat)
    # also when every parameter is a vector: the RMS scale is per parameter
    with pytest.raises(ValueError, match=r"optaxlr\.adafactor"):
        multi_tensor(optaxlr.adafactor()).init(FlatParams.from_tree({"b": jnp.zeros(3)}))


# --- hyperparameters ------------------------------------------------------------------

KEYS = {
    "default": ["step", "learning_rate", "beta2_decay", "eps2", "d"],
    "eps1": ["step", "learning_rate", "beta2_decay", "eps1", "eps2", "d"],
    "wd": ["step", "learning_rate", "beta2_decay", "eps2", "d", "weight_decay"],
    "sched": ["step", "learning_rate", "beta2_decay", "eps2", "d", "weight_decay"],
}
MAKE = {
    "default": lambda: optaxlr.adafactor(),
    "eps1": lambda: optaxlr.adafactor(eps=(1e-30, 1e-3)),
    "wd": lambda: optaxlr.adafactor(weight_decay=1e-2),
    "sched": lambda: optaxlr.adafactor(optaxlr.schedules.cosine(1e-2, 10), weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(KEYS))
@pytest.mark.parametrize("clipped", [False, True])
def test_hyperparams_keys_alone_and_after_clipping(name, clipped):
    opt = MAKE[name]()
    if clipped:
        opt = optax.chain(optaxlr.clip_by_global_norm(1.0), opt)
    params = {"w": jnp.ones((2, 3))}
    state = opt.init(params)
    _, state = opt.update({"w": jnp.full((2, 3), 0.5)}, state, params)
    want = list(KEYS[name])
    if clipped:  # "step" first, then the chain's order
        want.insert(1, "max_norm")
    assert list(optaxlr.hyperparams(state)) == want


def test_set_hyperparams_under_inject_hyperparams():
    make = optaxlr.adafactor
    opt = optax.inject_hyperparams(make)(learning_rate=1e-2, d=1.0, weight_decay=0.1)
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)}
    g = {"w": jnp.array([[1.0, -2.0, 3.0], [0.5, 0.1, -1.0]])}
    state = optaxlr.set_hyperparams(opt.init(params), learning_rate=5e-2, d=1.5)
    updates, state = opt.update(g, state, params)
    ref = make(learning_rate=5e-2, d=1.5, weight_decay=0.1)
    want, _ = ref.update(g, ref.init(params), params)
    np.testing.assert_allclose(updates["w"], want["w"], rtol=1e-6)
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == pytest.approx(5e-2)
    with pytest.raises(ValueError, match="d"):
        optaxlr.set_hyperparams(state, d=0.5)
