"""LAMB and LARS (``pytorch_optimizer.Lamb`` and ``.LARS`` 4.1.0), issue 18.

Fixtures: ``tests/fixtures/lamb_lars.npz`` from ``scripts/generate_lamb_lars_fixtures.py``
(the peer alone). Each run replays the gradients the peer computed, in float32 and
float64, and compares the parameters at the checkpoints with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``. The network has two matrices and two bias
vectors, so LARS's 1-D rule runs next to its trust ratio.
"""

from __future__ import annotations

import functools
import inspect
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import FlatParams, multi_tensor
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz
from tests.test_optimizer_fixtures import replay_steps as _replay
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "lamb_lars.npz"
NEW = ("lamb", "lars")


@functools.cache
def _data() -> tuple[dict, dict[str, np.ndarray]]:
    return load_npz(FIXTURES)


def _runs() -> list[dict]:
    return _data()[0]["runs"]


def _spec(name: str) -> dict:
    return next(r for r in _runs() if r["name"] == name)


def _build(spec: dict, **extra) -> optax.GradientTransformation:
    kwargs = dict(spec["optaxlr"]["kwargs"])
    for name, sched in spec["optaxlr"]["schedules"].items():
        kwargs[name] = getattr(optaxlr.schedules, sched["schedule"])(**sched["kwargs"])
    return getattr(optaxlr, spec["optimizer"])(**kwargs, **extra)


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


def test_every_run_is_conditioned_and_the_fixture_records_its_peer():
    manifest, _ = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["pytorch_optimizer"] == "4.1.0"
    assert manifest["generated_by"] == "scripts/generate_lamb_lars_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(NEW)
    for run in _runs():
        cond = manifest["conditioning"][run["name"]]
        assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
        assert cond["step_rel_to_lr"] < 1e-2, run["name"]
    for optimizer in NEW:
        named = [r["name"] for r in _runs() if r["optimizer"] == optimizer]
        assert len(named) >= 4 and any(_spec(n)["optaxlr"]["schedules"] for n in named)
        assert any(_spec(n)["optaxlr"]["kwargs"].get("maximize") for n in named)


@pytest.mark.parametrize("name", _data()[0]["complex_runs"])
def test_complex64_matches_the_peer(name):
    manifest, arrays = _data()
    leaves = manifest["complex_leaves"]
    opt = _build(_spec(name))
    params = _unflatten(jnp.asarray(arrays["complex/init"]), leaves)
    assert params["w"].dtype == jnp.complex64 and params["w"].ndim == 2
    state = opt.init(params)
    step = jax.jit(
        lambda p, s, g: (lambda u, s: (optax.apply_updates(p, u), s))(*opt.update(g, s, p))
    )
    out = []
    for g in arrays[f"complex/{name}/grads"]:
        params, state = step(params, state, _unflatten(jnp.asarray(g), leaves))
        out.append(np.asarray(_flatten(params, leaves)))
    ours = np.stack(out)[arrays["complex/checkpoints"] - 1]
    ref = arrays[f"complex/{name}/params"]
    assert ours.dtype == np.complex64
    for part in (np.real, np.imag):
        np.testing.assert_allclose(part(ours), part(ref), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["lamb_coupled", "lars_dampening"])
@pytest.mark.parametrize(
    ("dtype", "steps", "tol"), [(jnp.float16, 50, 2e-2), (jnp.bfloat16, 10, 2e-2)]
)
def test_half_precision_parameters_follow_the_float32_run(name, dtype, steps, tol):
    """Half-precision parameters, buffers updated in float32: within the dtype's rounding.

    bfloat16 runs fewer steps: once a step falls below half its spacing (8 bits of
    mantissa) a parameter stops moving, in the peer too, and drifts from float32.
    """
    manifest, arrays = _data()
    opt = _build(_spec(name))
    grads = arrays[f"{name}/float32/grads"][:steps]
    half, _ = _replay(
        opt, arrays["init"].astype(dtype), grads.astype(dtype), manifest["leaves"], jax.jit
    )
    f32, _ = _replay(opt, arrays["init"], grads, manifest["leaves"], jax.jit)
    assert half.dtype == np.dtype(dtype)
    state = opt.init(jnp.zeros((2, 2), dtype))
    buffers = [x for x in jax.tree.leaves(state[0]) if x.shape == (2, 2)]
    assert buffers and {x.dtype for x in buffers} == {
        jnp.dtype(jnp.float32 if dtype == jnp.float16 else dtype)
    }
    np.testing.assert_allclose(half.astype(np.float32), f32, rtol=tol, atol=tol / 10)


# --- the trust ratios' edge cases --------------------------------------------------------


def test_a_zero_matrix_takes_a_trust_ratio_of_one():
    """Zero weights: LAMB's step is the bias-corrected Adam-like step, LARS's plain SGD."""
    params = {"w": jnp.zeros((2, 3))}
    g = {"w": jnp.arange(1.0, 7.0).reshape(2, 3)}
    lamb = optaxlr.lamb(1e-2)
    u, _ = lamb.update(g, lamb.init(params), params)
    r = 0.1 * g["w"] / (jnp.sqrt(1e-3) * jnp.abs(g["w"]) + 1e-6)
    np.testing.assert_allclose(u["w"], -1e-2 / 0.1 * r, rtol=1e-6)
    lars = optaxlr.lars(0.5, momentum=0.0)
    u, _ = lars.update(g, lars.init(params), params)
    np.testing.assert_allclose(u["w"], -0.5 * g["w"], rtol=1e-6)


def test_lars_leaves_vectors_out_of_the_ratio_and_the_decay():
    params = {"w": jnp.full((2, 2), 2.0), "b": jnp.full((2,), 2.0)}
    g = {"w": jnp.full((2, 2), 0.5), "b": jnp.full((2,), 0.5)}
    opt = optaxlr.lars(0.1, weight_decay=0.1, momentum=0.0, trust_coefficient=0.01)
    u, _ = opt.update(g, opt.init(params), params)
    np.testing.assert_allclose(u["b"], -0.1 * g["b"], rtol=1e-6)
    # |w| = 4, |g| = 1: ratio 0.01 * 4 / (1 + 0.1 * 4), applied to g + 0.1 w.
    np.testing.assert_allclose(u["w"], -0.1 * 0.04 / 1.4 * (0.5 + 0.2) * np.ones((2, 2)), rtol=1e-6)


def test_lamb_clamps_the_weight_norm_at_ten():
    params = {"w": jnp.full((10, 10), 3.0)}  # norm 30
    g = {"w": jnp.ones((10, 10))}
    opt = optaxlr.lamb(1e-2)
    u, _ = opt.update(g, opt.init(params), params)
    r_norm = 10 * 0.1 / (jnp.sqrt(1e-3) + 1e-6)
    np.testing.assert_allclose(
        u["w"], -(1e-2 / 0.1) * 10 / (r_norm + 1e-6) * r_norm / 10, rtol=1e-5
    )


def test_a_lars_momentum_scheduled_to_zero_steps_without_the_buffer():
    """A step whose momentum is 0 skips the buffer, as the peer's ``momentum > 0`` check."""
    params = {"w": jnp.ones((2, 2))}
    g = {"w": jnp.full((2, 2), 0.3)}
    scheduled = optaxlr.lars(0.1, momentum=lambda step: 0.0 * step, dampening=0.5)
    plain = optaxlr.lars(0.1, momentum=0.0, dampening=0.5)
    s1, s2 = scheduled.init(params), plain.init(params)
    for _ in range(3):
        u1, s1 = scheduled.update(g, s1, params)
        u2, s2 = plain.update(g, s2, params)
        np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-7)
    np.testing.assert_array_equal(s1[0].trace["w"], np.zeros((2, 2)))


def test_update_needs_params():
    for opt in (optaxlr.lamb(), optaxlr.lars()):
        params = {"w": jnp.ones((2, 2))}
        with pytest.raises(ValueError, match="needs params"):
            opt.update(params, opt.init(params))


# --- the fast path -----------------------------------------------------------------------


def _params():
    k = jax.random.split(jax.random.key(0), 4)
    return {
        "w1": jax.random.normal(k[0], (5, 4)),
        "b1": 0.1 * jax.random.normal(k[1], (4,)),
        "w2": jax.random.normal(k[2], (4, 3)),
        "b2": 0.1 * jax.random.normal(k[3], (3,)),
    }


@pytest.mark.parametrize("name", NEW)
def test_multi_tensor_refuses_a_buffer_holding_several_arrays(name):
    flat = FlatParams.from_tree(_params())
    with pytest.raises(ValueError, match="trust ratio per parameter array"):
        multi_tensor(getattr(optaxlr, name)()).init(flat)


@pytest.mark.parametrize("name", NEW)
def test_multi_tensor_keeps_the_per_array_ratio_with_one_array_per_buffer(name):
    params = _params()
    opt = getattr(optaxlr, name)(0.1, weight_decay=1e-2)
    labels = {k: k for k in params}  # every array a buffer of its own
    flat = FlatParams.from_tree(params, group_by=labels)
    fast = multi_tensor(opt)
    s1, s2 = opt.init(params), fast.init(flat)
    p1, p2 = params, flat
    for i in range(5):
        g1 = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)), p1)
        g2 = FlatParams.from_tree(g1, group_by=labels)
        u1, s1 = jax.jit(opt.update)(g1, s1, p1)
        u2, s2 = jax.jit(fast.update)(g2, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    for k, v in p2.unflatten().items():
        np.testing.assert_allclose(v, p1[k], rtol=1e-5, atol=1e-6)  # reduction order


# --- arguments ---------------------------------------------------------------------------

#: The peer's arguments each alias leaves out, with the reason (anything else must be on
#: the alias with the peer's default, under optaxlr's names).
OMITTED = {
    "params": "optax gets the parameters at init and update",
    "foreach": "implementation switch; XLA fuses the step itself",
    "rectify": "RAdam-style rectification: not offered (see lamb's docstring)",
    "degenerated_to_sgd": "part of rectify",
    "n_sma_threshold": "part of rectify",
}


@pytest.mark.parametrize("name", NEW)
def test_every_peer_argument_is_on_the_alias_with_its_default(name):
    ours = inspect.signature(getattr(optaxlr, name)).parameters
    theirs = _data()[0]["signatures"][name]
    mirrored = set()
    for param in theirs:
        if param["name"] in OMITTED:
            continue
        if param["name"] == "betas":
            pairs = list(zip(("b1", "b2"), param["default"], strict=True))
        else:
            pairs = [({"lr": "learning_rate"}.get(param["name"], param["name"]), param["default"])]
        for target, default in pairs:
            assert target in ours, f"{name}: the peer's {param['name']!r} is missing"
            assert ours[target].default == default, target
            assert type(ours[target].default) is type(default), target  # False is no 0
            mirrored.add(target)
    assert set(ours) == mirrored


KEYS = {
    "lamb": ["step", "b1", "b2", "eps", "learning_rate"],
    "lamb_wd_prenorm": [
        "step",
        "b1",
        "b2",
        "eps",
        "learning_rate",
        "weight_decay",
        "max_grad_norm",
    ],
    "lars": ["weight_decay", "trust_coefficient", "momentum", "dampening", "learning_rate"],
    "lars_sched": [
        "step",
        "weight_decay",
        "trust_coefficient",
        "momentum",
        "dampening",
        "learning_rate",
    ],
}
MAKE = {
    "lamb": lambda: optaxlr.lamb(),
    "lamb_wd_prenorm": lambda: optaxlr.lamb(weight_decay=1e-2, pre_norm=True),
    "lars": lambda: optaxlr.lars(),
    "lars_sched": lambda: optaxlr.lars(optaxlr.schedules.cosine(0.1, 10)),
}


@pytest.mark.parametrize("name", list(KEYS))
@pytest.mark.parametrize("clipped", [False, True])
def test_hyperparams_keys_alone_and_after_clipping(name, clipped):
    opt = MAKE[name]()
    if clipped:
        opt = optax.chain(optaxlr.clip_by_global_norm(1.0), opt)
    params = {"w": jnp.ones((3, 2))}
    state = opt.init(params)
    _, state = opt.update({"w": jnp.full((3, 2), 0.5)}, state, params)
    want = list(KEYS[name])
    if clipped:  # "step" first, then the chain's order
        want.insert(1 if want[0] == "step" else 0, "max_norm")
    assert list(optaxlr.hyperparams(state)) == want


@pytest.mark.parametrize(
    ("name", "kwargs", "new"),
    [
        ("lamb", {"learning_rate": 1e-3, "b1": 0.9}, {"learning_rate": 5e-3, "b1": 0.5}),
        ("lars", {"learning_rate": 0.1, "trust_coefficient": 1e-3}, {"trust_coefficient": 2e-2}),
    ],
)
def test_set_hyperparams_under_inject_hyperparams(name, kwargs, new):
    make = getattr(optaxlr, name)
    opt = optax.inject_hyperparams(make)(**kwargs)
    params = {"w": jnp.ones((2, 2))}
    g = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]])}
    state = optaxlr.set_hyperparams(opt.init(params), **new)
    updates, state = opt.update(g, state, params)
    ref = make(**{**kwargs, **new})
    want, _ = ref.update(g, ref.init(params), params)
    np.testing.assert_allclose(updates["w"], want["w"], rtol=1e-6)
    for k, v in new.items():
        assert float(optaxlr.hyperparams(state)[k]) == pytest.approx(v)


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("lamb", {"learning_rate": -1e-3}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("lamb", {"b1": 1.0}, ValueError, r"b1.*\[0, 1\)"),
        ("lamb", {"b2": -0.1}, ValueError, r"b2.*\[0, 1\)"),
        ("lamb", {"eps": -1e-8}, ValueError, r"eps.*\[0, inf\)"),
        ("lamb", {"weight_decay": -1.0}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("lamb", {"max_grad_norm": -1.0}, ValueError, r"max_grad_norm.*\[0, inf\)"),
        ("lamb", {"weight_decouple": 1}, TypeError, "weight_decouple"),
        ("lamb", {"pre_norm": "yes"}, TypeError, "pre_norm"),
        ("lars", {"learning_rate": -0.1}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("lars", {"momentum": 1.0}, ValueError, r"momentum.*\[0, 1\)"),
        ("lars", {"dampening": 1.0}, ValueError, r"dampening.*\[0, 1\)"),
        ("lars", {"trust_coefficient": -1e-3}, ValueError, r"trust_coefficient.*\[0, inf\)"),
        ("lars", {"weight_decay": -1.0}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("lars", {"nesterov": 1}, TypeError, "nesterov"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optaxlr, name)(**kwargs)


def test_an_integer_parameter_is_refused_by_name():
    for opt in (optaxlr.lamb(), optaxlr.lars()):
        with pytest.raises(TypeError, match="'n'"):
            opt.init({"n": jnp.ones((2, 2), jnp.int32)})
