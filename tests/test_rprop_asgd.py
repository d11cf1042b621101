"""Rprop (``torch.optim.Rprop``) and ASGD (``torch.optim.ASGD``), issue 18.

Fixtures: ``tests/fixtures/optimizers_rprop_asgd.npz`` from
``scripts/generate_rprop_asgd_fixtures.py`` (torch alone). Each run replays the
gradients torch computed, in float32 and in float64, and compares the parameters
(and ASGD's average ``ax``) at the checkpoints with ``|ours - peer| <= 1e-6 + 1e-5 |peer|``.
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
from tests.test_new_optimizers import nnx_step
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizers_rprop_asgd.npz"
NEW = ("rprop", "asgd")


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _spec(name: str) -> dict:
    return next(r for r in _runs() if r["name"] == name)


def _build(spec: dict) -> optax.GradientTransformation:
    kwargs = dict(spec["optaxlr"]["kwargs"])
    for key in ("etas", "step_sizes"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return getattr(optaxlr, spec["optimizer"])(**kwargs)


def _replay(opt, init, grads, leaves, wrap, average=False):
    """Parameters (and ASGD's average) after every step."""
    params = _unflatten(jnp.asarray(init), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        return optax.apply_updates(params, updates), state

    step = wrap(step)
    out, axs = [], []
    for g in jnp.asarray(grads):
        params, state = step(params, state, g)
        out.append(np.asarray(_flatten(params, leaves)))
        if average:
            axs.append(np.asarray(_flatten(optaxlr.asgd_average(state), leaves)))
    return np.stack(out), (np.stack(axs) if average else None)


def _check(name: str, dtype: str, wrap) -> None:
    manifest, arrays = _data()
    spec = _spec(name)
    average = spec["optimizer"] == "asgd"
    trajectory, axs = _replay(
        _build(spec),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
        average,
    )
    assert trajectory.dtype == np.dtype(dtype)
    checkpoints = arrays["checkpoints"] - 1
    np.testing.assert_allclose(
        trajectory[checkpoints], arrays[f"{name}/{dtype}/params"], rtol=RTOL, atol=ATOL
    )
    if average:
        assert axs is not None
        np.testing.assert_allclose(
            axs[checkpoints], arrays[f"{name}/{dtype}/ax"], rtol=RTOL, atol=ATOL
        )


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
    assert manifest["generated_by"] == "scripts/generate_rprop_asgd_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(NEW)
    for run in _runs():
        cond = manifest["conditioning"][run["name"]]
        assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
        assert cond["step_rel_to_lr"] < 1e-2, run["name"]  # no sign flips
    for optimizer in NEW:
        assert len([r for r in _runs() if r["optimizer"] == optimizer]) == 3
    # the average run really averages (t0 = 50 < 200 steps): ax differs from the params
    assert not np.allclose(
        arrays["asgd_average/float32/ax"][-1], arrays["asgd_average/float32/params"][-1]
    )


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
    out, axs = [], []
    for g in arrays[f"complex/{name}/grads"]:
        params, state = step(params, state, jnp.asarray(g))
        out.append(np.asarray(params))
        if name.startswith("asgd"):
            axs.append(np.asarray(optaxlr.asgd_average(state)))
    checkpoints = arrays["complex/checkpoints"] - 1
    pairs = [(np.stack(out)[checkpoints], arrays[f"complex/{name}/params"])]
    if axs:
        pairs.append((np.stack(axs)[checkpoints], arrays[f"complex/{name}/ax"]))
    for ours, ref in pairs:
        assert ours.dtype == np.complex64
        for part in (np.real, np.imag):
            np.testing.assert_allclose(part(ours), part(ref), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["rprop_step_sizes", "asgd_wd"])
def test_float16_parameters_follow_the_float32_run(name):
    """float16 parameters, state kept in float32: within float16's rounding of the run."""
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
    assert {x.dtype for x in jax.tree.leaves(state[0][2:])} == {jnp.dtype(jnp.float32)}
    np.testing.assert_allclose(f16.astype(np.float32), f32, rtol=2e-2, atol=2e-3)


# --- float64 numpy references of torch's formulas (no optax peer) -------------------------


def _numpy_rprop(params, grads, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    p = np.asarray(params, np.float64)
    prev, size = np.zeros_like(p), np.full_like(p, lr)
    for g in grads:
        s = np.sign(g * prev)
        size = np.clip(size * np.where(s > 0, etas[1], np.where(s < 0, etas[0], 1.0)), *step_sizes)
        g = np.where(s < 0, 0.0, g)
        p = p - np.sign(g) * size
        prev = g
    return p


def _numpy_asgd(params, grads, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    p = np.asarray(params, np.float64)
    ax, eta, mu = np.zeros_like(p), lr, 1.0
    for step, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = p.copy() if mu == 1 else ax + (p - ax) * mu
        eta, mu = lr / (1 + lambd * lr * step) ** alpha, 1 / max(1, step - t0)
    return p, ax


GRADS = [np.array([0.5, -1.0, 0.0, 2.0]) * s for s in (1, 1, -1, 1, 1, -0.5, 1)]


def test_python_float_trees_and_the_empty_tree_follow_numpy():
    for opt, ref in [
        (optaxlr.rprop(), _numpy_rprop([1.0, 2.0, -1.0, 0.5], GRADS)),
        (
            optaxlr.rprop(0.1, etas=(0.3, 1.5), step_sizes=(0.05, 0.4)),
            _numpy_rprop([1.0, 2.0, -1.0, 0.5], GRADS, 0.1, (0.3, 1.5), (0.05, 0.4)),
        ),
        (optaxlr.asgd(0.1, t0=2.0, weight_decay=0.1), None),
    ]:
        params = {"a": 1.0, "b": 2.0, "c": -1.0, "d": 0.5}  # Python floats, as optax accepts
        state = opt.init(params)
        for g in GRADS:
            updates, state = opt.update(
                dict(zip("abcd", map(float, g), strict=True)), state, params
            )
            params = optax.apply_updates(params, updates)
        got = np.array([params[k] for k in "abcd"])
        if ref is None:
            ref, ax = _numpy_asgd([1.0, 2.0, -1.0, 0.5], GRADS, 0.1, t0=2.0, weight_decay=0.1)
            average = optaxlr.asgd_average(state)
            np.testing.assert_allclose([average[k] for k in "abcd"], ax, rtol=1e-6)
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    for name in NEW:
        opt = getattr(optaxlr, name)()
        state = opt.init({})
        updates, state = opt.update({}, state, {})
        assert updates == {}


# --- hyperparameters ------------------------------------------------------------------

RPROP_KEYS = ["eta_minus", "eta_plus", "step_size_min", "step_size_max", "learning_rate"]
KEYS = {
    "rprop": RPROP_KEYS,
    "rprop_sched": ["step", *RPROP_KEYS],
    "asgd": ["step", "lambd", "alpha", "t0", "weight_decay", "learning_rate"],
}
MAKE = {
    "rprop": lambda: optaxlr.rprop(),
    "rprop_sched": lambda: optaxlr.rprop(step_sizes=(1e-6, optaxlr.schedules.cosine(1.0, 10))),
    "asgd": lambda: optaxlr.asgd(optaxlr.schedules.cosine(1e-2, 10)),
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


@pytest.mark.parametrize(
    ("name", "inject", "new"),
    [
        ("rprop", {"learning_rate": 0.1, "etas": (0.5, 1.2)}, {}),
        (
            "asgd",
            {"learning_rate": 1e-3, "lambd": 1e-4, "t0": 0.0},
            {"learning_rate": 5e-3, "lambd": 0.1},
        ),
    ],
)
def test_set_hyperparams_under_inject_hyperparams(name, inject, new):
    make = getattr(optaxlr, name)
    opt = optax.inject_hyperparams(make)(**inject)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    if new:
        state = optaxlr.set_hyperparams(state, **new)
    g = {"w": jnp.array([1.0, -2.0, 3.0])}
    updates, state = opt.update(g, state, params)
    ref = make(**{**inject, **new})
    want, _ = ref.update(g, ref.init(params), params)
    np.testing.assert_allclose(updates["w"], want["w"], rtol=1e-6)
    for k, v in new.items():
        assert float(optaxlr.hyperparams(state)[k]) == pytest.approx(v)


def test_rprop_schedules_its_step_size_bounds_not_its_rate():
    with pytest.raises(TypeError, match="learning_rate is Rprop's initial step size"):
        optaxlr.rprop(optaxlr.schedules.cosine(1e-2, 10))
    opt = optaxlr.rprop(1.0, step_sizes=(0.0, lambda step: 0.5 / (1 + step)))
    params = jnp.zeros(2)
    state = opt.init(params)
    for want in (0.5, 0.25):
        updates, state = opt.update(jnp.array([1.0, -1.0]), state, params)
        np.testing.assert_allclose(updates, [-want, want])


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("rprop", {"learning_rate": -1e-3}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("rprop", {"etas": (1.0, 1.2)}, ValueError, r"etas\[0\].*\(0, 1\)"),
        ("rprop", {"etas": (0.0, 1.2)}, ValueError, r"etas\[0\].*\(0, 1\)"),
        ("rprop", {"etas": (0.5, 1.0)}, ValueError, r"etas\[1\].*\(1, inf\)"),
        ("rprop", {"etas": 0.5}, TypeError, r"etas must be a pair"),
        ("rprop", {"step_sizes": (1e-6, 50.0, 1.0)}, TypeError, r"step_sizes must be a pair"),
        ("rprop", {"step_sizes": (-1e-6, 50.0)}, ValueError, r"step_sizes\[0\].*\[0, inf\)"),
        ("rprop", {"step_sizes": (1.0, 0.5)}, ValueError, r"step_sizes must be \(min, max\)"),
        ("rprop", {"etas": (True, 1.2)}, TypeError, r"etas"),
        ("asgd", {"learning_rate": -1e-2}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("asgd", {"lambd": -1e-4}, ValueError, r"lambd.*\[0, inf\)"),
        ("asgd", {"alpha": -0.75}, ValueError, r"alpha.*\[0, inf\)"),
        ("asgd", {"weight_decay": -1.0}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("asgd", {"t0": "soon"}, TypeError, "t0"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optaxlr, name)(**kwargs)


def test_asgd_needs_params_and_its_average_needs_an_asgd_state():
    opt = optaxlr.asgd()
    state = opt.init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"scale_by_asgd \(optaxlr.asgd\): update needs params"):
        opt.update({"w": jnp.ones(2)}, state)
    with pytest.raises(ValueError, match=r"exactly one ASGD state.*found 0"):
        optaxlr.asgd_average(optaxlr.adam().init({"w": jnp.ones(2)}))


def test_asgd_average_through_wrappers_and_multi_tensor():
    params = {"w": jnp.linspace(-1.0, 1.0, 4), "b": jnp.full((2,), 0.3)}
    plain = optaxlr.asgd(0.1, t0=1.0)
    wrapped = optax.chain(
        optaxlr.clip_by_global_norm(10.0), optax.inject_hyperparams(optaxlr.asgd)(0.1, t0=1.0)
    )
    fast = optaxlr.multi_tensor(plain)
    flat = optaxlr.FlatParams.from_tree(params)
    states = [plain.init(params), wrapped.init(params), fast.init(flat)]
    ps = [params, params, flat]
    for i in range(5):
        for j, opt in enumerate((plain, wrapped, fast)):
            g = jax.tree.map(lambda p, i=i: jnp.sin(3 * p + i), ps[j])
            updates, states[j] = opt.update(g, states[j], ps[j])
            ps[j] = optax.apply_updates(ps[j], updates)
    want = optaxlr.asgd_average(states[0])
    for got in (optaxlr.asgd_average(states[1]), optaxlr.asgd_average(states[2]).unflatten()):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(want["w"], ps[0]["w"])


# --- nnx (resume and the nnx step of every new optimizer: tests/test_new_optimizers.py) --


def test_the_asgd_average_of_an_nnx_optimizer():
    model, optimizer, _ = nnx_step("asgd")
    # t0 = 1e6: the average is the parameters.
    average = optaxlr.asgd_average(optimizer.opt_state)
    np.testing.assert_array_equal(
        np.asarray(jax.tree.leaves(average)[-1]), np.asarray(model.kernel[...])
    )
