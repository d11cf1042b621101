"""Prodigy (``prodigyopt.Prodigy`` 1.1.2) and D-Adaptation (``dadaptation`` 3.2), issue 19.

Fixtures: ``tests/fixtures/lr_free.npz`` from ``scripts/generate_lr_free_fixtures.py``
(the peers alone). Each run replays the gradients the peer computed, in float32 and in
float64 (under x64), and compares the parameters at the checkpoints with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``, and the step size of every step (the
peer's ``d * lr`` with its bias correction, or ``/ g0_norm`` for DAdaptSGD) and
``d`` with ``rtol=1e-5``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "lr_free.npz"
ALIASES = ("prodigy", "dadapt_adam", "dadapt_sgd")


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


def _replay(opt, init, grads, leaves, wrap):
    """Parameters after every step and the hyperparameters each step reported."""
    params = _unflatten(jnp.asarray(init), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        return optax.apply_updates(params, updates), state, optaxlr.hyperparams(state)

    step = wrap(step)
    out, records = [], []
    for g in jnp.asarray(grads):
        params, state, h = step(params, state, g)
        out.append(np.asarray(_flatten(params, leaves)))
        records.append({k: np.asarray(v) for k, v in h.items()})
    stacked = {k: np.stack([r[k] for r in records]) for k in records[0]}
    return np.stack(out), stacked


def _check(name: str, dtype: str, wrap, atol: float | None = None) -> None:
    manifest, arrays = _data()
    trajectory, hp = _replay(
        _build(_spec(name)),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
    )
    assert trajectory.dtype == np.dtype(dtype)
    ours = trajectory[arrays["checkpoints"] - 1]
    ref = arrays[f"{name}/{dtype}/params"]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL if atol is None else atol)
    np.testing.assert_allclose(
        hp["effective_learning_rate"], arrays[f"{name}/{dtype}/effective_lr"], rtol=RTOL
    )
    np.testing.assert_allclose(hp["d"], arrays[f"{name}/{dtype}/d"], rtol=RTOL)
    if f"{name}/hparams/learning_rate" in arrays:
        np.testing.assert_allclose(
            hp["learning_rate"], arrays[f"{name}/hparams/learning_rate"], rtol=1e-6, atol=1e-7
        )


#: Runs that are chaotic at float32 rounding: unscheduled, DAdaptAdam's defaults take steps
#: the size of the distance to the solution for the last 180 steps, where a d one float32
#: ulp away, or one coefficient rounded otherwise, ends 1.5e-5 away. The peer's own float32
#: and float64 runs agree here (0.43 of the tolerance), but on 8 other seeds of the problem
#: they are 1.5 to 10 tolerances apart: seed luck, not conditioning. Its float64 run
#: matches to 1e-5 (test_float64_matches_the_peer); in float32 it is held to 1e-4.
CHAOTIC_IN_FLOAT32_SCALARS = {"dadapt_adam_default"}
STEADY = [r["name"] for r in _runs() if r["name"] not in CHAOTIC_IN_FLOAT32_SCALARS]


@pytest.mark.parametrize("name", STEADY)
def test_float32_matches_the_peer(name, variant):
    _check(name, "float32", variant)


@pytest.mark.parametrize("name", STEADY)
def test_float32_parameters_with_float64_scalars_match_the_peer(name):
    """Under x64, d and its sums are float64 and the buffers float32: the peer's precision.

    Held relative to the run's magnitude (1e-5 of its largest parameter): on jax 0.7.1 one
    element of Prodigy's first checkpoint, a step from a gradient at float32 rounding of
    zero, lands 3.5e-6 from the peer's while the run grows to O(1).
    """
    _, arrays = _data()
    atol = RTOL * float(np.abs(arrays[f"{name}/float32/params"]).max())
    with _x64():
        _check(name, "float32", jax.jit, atol=max(ATOL, atol))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("name", sorted(CHAOTIC_IN_FLOAT32_SCALARS))
def test_a_chaotic_run_stays_near_the_peer_in_float32(name, x64):
    manifest, arrays = _data()
    with _x64() if x64 else contextlib.nullcontext():
        trajectory, hp = _replay(
            _build(_spec(name)),
            arrays["init"],
            arrays[f"{name}/float32/grads"],
            manifest["leaves"],
            jax.jit,
        )
    ours = trajectory[arrays["checkpoints"] - 1]
    np.testing.assert_allclose(ours, arrays[f"{name}/float32/params"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hp["d"], arrays[f"{name}/float32/d"], rtol=1e-6)
    rate = arrays[f"{name}/float32/effective_lr"]
    np.testing.assert_allclose(hp["effective_learning_rate"], rate, rtol=1e-6)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float64_matches_the_peer(name):
    with _x64():
        _check(name, "float64", jax.jit)


def test_every_run_is_conditioned_and_the_fixture_records_its_peers():
    manifest, arrays = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["prodigyopt"] == "1.1.2"
    assert manifest["versions"]["dadaptation"] == "3.2"
    assert manifest["generated_by"] == "scripts/generate_lr_free_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(ALIASES)
    for run in _runs():
        name = run["name"]
        cond = manifest["conditioning"][name]
        assert cond["params_rel"] <= RTOL and cond["step_rel_to_lr"] < 1e-2, name
        assert cond["d_rel"] < 1e-6 and cond["effective_lr_rel"] < 1e-6, name
        # under the tests' own criterion too
        p32, p64 = arrays[f"{name}/float32/params"], arrays[f"{name}/float64/params"]
        assert np.all(np.abs(p32 - p64) <= 0.6 * (ATOL + RTOL * np.abs(p64))), name
    for optimizer in ALIASES:
        named = [r for r in _runs() if r["optimizer"] == optimizer]
        assert any(r["optaxlr"]["kwargs"] == {} for r in named)  # the defaults
        assert any(r["optaxlr"]["kwargs"].get("weight_decay") for r in named)
        assert any(r["optaxlr"]["schedules"] for r in named) or optimizer == "dadapt_adam"


# --- the effective rate, observed -----------------------------------------------------


def _quadratic_grads(params):
    return jax.tree.map(lambda p: 2.0 * (p - 1.5), params)


PARAMS = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.full((3,), 0.1)}
MAKE = {
    "prodigy": lambda: optaxlr.prodigy(weight_decay=1e-2),
    "prodigy_sched": lambda: optaxlr.prodigy(
        optaxlr.schedules.cosine(1.0, 20), use_bias_correction=True, growth_rate=1.5
    ),
    "dadapt_adam": lambda: optaxlr.dadapt_adam(weight_decay=1e-2, decouple=True),
    "dadapt_sgd": lambda: optaxlr.dadapt_sgd(momentum=0.9, weight_decay=1e-3),
}


def _steps(opt, n, params=PARAMS, state=None):
    state = opt.init(params) if state is None else state
    for _ in range(n):
        updates, state = opt.update(_quadratic_grads(params), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", sorted(MAKE))
def test_the_effective_rate_is_observed_inside_jit_and_under_multi_steps(name):
    opt = MAKE[name]()

    @jax.jit
    def step(params, state):
        updates, state = opt.update(_quadratic_grads(params), state, params)
        h = optaxlr.hyperparams(state)
        return optax.apply_updates(params, updates), state, h["effective_learning_rate"], h["d"]

    params, state = PARAMS, opt.init(PARAMS)
    rates, ds = [], []
    for _ in range(6):
        params, state, rate, d = step(params, state)
        rates.append(float(rate))
        ds.append(float(d))
    assert ds[0] == pytest.approx(1e-6, rel=1e-6) and ds[-1] > 1.5 * ds[0]  # d grew from d0
    # the step size the last update took: d (the one it used) times the scheduled rate
    h = optaxlr.hyperparams(state)
    lr = float(h["learning_rate"])
    if name == "dadapt_sgd":
        # d * lr / ||g0||, with g0 the first gradient, without the decay
        g0 = float(optax.tree.norm(_quadratic_grads(PARAMS)))
        assert rates[-1] == pytest.approx(ds[-1] * lr / g0, rel=1e-6)
    elif name == "prodigy_sched":
        k = 6  # bias correction of the sixth step
        correction = math.sqrt(1 - 0.999**k) / (1 - 0.9**k)
        assert rates[-1] == pytest.approx(ds[-1] * lr * correction, rel=1e-5)
    else:
        assert rates[-1] == pytest.approx(ds[-1] * lr, rel=1e-6)

    # optax.MultiSteps: the record of the last real update, inside and outside jit
    multi = optax.MultiSteps(MAKE[name](), every_k_schedule=2)
    _, mstate = _steps(multi, 12)
    assert float(optaxlr.hyperparams(mstate)["d"]) == pytest.approx(ds[-1], rel=1e-6)
    assert float(optaxlr.hyperparams(mstate)["effective_learning_rate"]) == pytest.approx(
        rates[-1], rel=1e-6
    )


def test_a_rate_of_zero_takes_no_step_and_leaves_the_estimate():
    """A warmup from 0: the reference's step returns early (k stays), and so does this."""
    sched = optaxlr.schedules.warmup(1.0, warmup_steps=2)  # 0, 0.5, 1, ...
    for make in (optaxlr.prodigy, optaxlr.dadapt_adam, optaxlr.dadapt_sgd):
        opt = make(sched)
        params, state = _steps(opt, 1)
        assert all(
            np.array_equal(a, b)
            for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(PARAMS), strict=True)
        )
        inner = state[0]
        assert int(inner.count) == 1 and int(inner.k) == 0
        assert float(inner.d) == pytest.approx(1e-6)
        assert not any(np.any(x) for x in jax.tree.leaves(inner.s))  # no statistic moved
        params, state = _steps(opt, 1, params, state)
        assert int(state[0].k) == 1
        assert not np.array_equal(params["w"], PARAMS["w"])


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adam", "dadapt_sgd"])
def test_bfloat16_parameters_estimate_d_in_float32(name):
    # d0 above bfloat16's resolution of the parameters: a first step of 1e-6 leaves them
    # unchanged in bfloat16, so Prodigy's <g, p0 - p> stays 0 and d with it (in the
    # reference too).
    opt = getattr(optaxlr, name)(d0=1e-2)
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    p16, s16 = _steps(opt, 5, params)
    p32, s32 = _steps(opt, 5)
    inner = s16[0]
    assert inner.d.dtype == jnp.float32
    assert {x.dtype for x in jax.tree.leaves(inner.s)} == {jnp.dtype(jnp.float32)}
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(p16))
    # bfloat16 parameters follow the float32 run to bfloat16's rounding
    assert float(s32[0].d) > 0.015  # d grew
    np.testing.assert_allclose(float(inner.d), float(s32[0].d), rtol=5e-2)
    for a, b in zip(jax.tree.leaves(p16), jax.tree.leaves(p32), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float32), b, rtol=3e-2, atol=3e-2)


def test_d_and_its_sums_are_float64_under_x64_for_float32_parameters():
    with _x64():
        params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), PARAMS)
        _, state = _steps(optaxlr.prodigy(), 3, params)
        assert state[0].d.dtype == jnp.float64 and state[0].d_numerator.dtype == jnp.float64
        assert state[0].exp_avg["w"].dtype == jnp.float32


# --- construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("prodigy", {"learning_rate": -1.0}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("prodigy", {"beta3": 1.0}, ValueError, r"beta3.*\[0, 1\)"),
        ("prodigy", {"d0": 0.0}, ValueError, r"d0.*\(0, inf\)"),
        ("prodigy", {"d0": lambda step: 1e-6}, TypeError, "d0 must be a number or an array"),
        ("prodigy", {"d_coef": -0.5}, ValueError, r"d_coef.*\(0, inf\)"),
        ("prodigy", {"growth_rate": 0.0}, ValueError, r"growth_rate.*\(0, inf\)"),
        ("prodigy", {"slice_p": 0}, ValueError, "slice_p"),
        ("prodigy", {"decouple": 1}, TypeError, "decouple"),
        ("prodigy", {"safeguard_warmup": "yes"}, TypeError, "safeguard_warmup"),
        ("dadapt_adam", {"eps": -1e-8}, ValueError, r"eps.*\[0, inf\)"),
        ("dadapt_adam", {"b2": 1.0}, ValueError, r"b2.*\[0, 1\)"),
        ("dadapt_adam", {"use_bias_correction": None}, TypeError, "use_bias_correction"),
        ("dadapt_sgd", {"momentum": 1.0}, ValueError, r"momentum.*\[0, 1\)"),
        ("dadapt_sgd", {"weight_decay": -1.0}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("dadapt_sgd", {"growth_rate": -math.inf}, ValueError, "growth_rate"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optaxlr, name)(**kwargs)


@pytest.mark.parametrize("name", ALIASES)
def test_complex_parameters_are_refused_naming_the_leaf(name):
    with pytest.raises(TypeError, match="parameter 'z' is complex"):
        getattr(optaxlr, name)().init({"z": jnp.ones(3, jnp.complex64)})


def test_slice_p_estimates_from_every_pth_element():
    opt = optaxlr.prodigy(slice_p=4)
    params = {"w": jnp.arange(10.0).reshape(2, 5)}
    state = opt.init(params)
    np.testing.assert_array_equal(state[0].p0["w"], jnp.array([0.0, 4.0, 8.0]))
    flat = optaxlr.FlatParams.from_tree(params)
    with pytest.raises(ValueError, match="slice_p=4 slices each parameter array"):
        optaxlr.multi_tensor(opt).init(flat)


# --- multi_tensor, checkpoints, nnx, tools ---------------------------------------------


@pytest.mark.parametrize("name", sorted(MAKE))
def test_multi_tensor_gives_the_tree_run_to_float32_rounding(name):
    """d sums over every parameter: one buffer sums in another order than the leaves."""
    from tests.test_multi_tensor import make_params, run_both

    p1, s1, p2, s2 = run_both(MAKE[name](), make_params())
    for a, b in zip(jax.tree.leaves(p2.unflatten()), jax.tree.leaves(p1), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    h1, h2 = optaxlr.hyperparams(s1), optaxlr.hyperparams(s2)
    assert h1.keys() == h2.keys()
    np.testing.assert_allclose(h2["d"], h1["d"], rtol=1e-5)
    np.testing.assert_allclose(
        h2["effective_learning_rate"], h1["effective_learning_rate"], rtol=1e-5
    )
    assert float(h1["d"]) > 1e-5  # d moved, so the comparison says something


RESUMED = {
    "prodigy": lambda lr: optaxlr.prodigy(lr, weight_decay=1e-2, use_bias_correction=True),
    "dadapt_adam": lambda lr: optaxlr.dadapt_adam(lr, weight_decay=1e-2, decouple=True),
    "dadapt_sgd": lambda lr: optaxlr.dadapt_sgd(lr, momentum=0.9, weight_decay=1e-2),
}


@pytest.mark.parametrize("name", sorted(RESUMED))
def test_checkpoint_resume_is_bitwise(tmp_path, name):
    opt = RESUMED[name](optaxlr.schedules.cosine(1.0, 20))

    def run(params, state, start, stop):
        for i in range(start, stop):
            grads = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)) + 0.3 - 0.01 * i, params)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return params, state

    saved_params, saved_state = run(PARAMS, opt.init(PARAMS), 0, 5)
    assert float(saved_state[0].d) > 1e-6
    training.save(tmp_path / "ckpt", saved_params, saved_state)
    restored, resumed = training.resume(tmp_path / "ckpt", PARAMS, opt)
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
    # A changed multiplier carries d and the sums, and reports the new rate's step size.
    changed = RESUMED[name](0.5)
    _, other = training.resume(tmp_path / "ckpt", PARAMS, changed)
    assert float(other[0].d) == float(saved_state[0].d)
    _, other = changed.update(_quadratic_grads(restored), other, restored)
    h = optaxlr.hyperparams(other)
    assert float(h["learning_rate"]) == 0.5 and float(h["d"]) == float(saved_state[0].d)


@pytest.mark.parametrize("name", ALIASES)
def test_nnx_optimizer_steps_grow_d(name):
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    before = np.asarray(model.kernel[...]).copy()
    optimizer = nnx.Optimizer(model, getattr(optaxlr, name)(), wrt=nnx.Param)
    x, y = jnp.ones((4, 3)), jnp.full((4, 2), 2.0)

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)
        return optaxlr.hyperparams(optimizer.opt_state)

    for _ in range(10):
        h = step(model, optimizer)
    assert not np.array_equal(np.asarray(model.kernel[...]), before)
    assert float(h["d"]) > 2e-6 and float(h["effective_learning_rate"]) > 0
    assert int(h["step"]) == 10


def _regression():
    x = jax.random.normal(jax.random.key(0), (32, 4))
    batches = [(x, x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]))]
    loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
    return loss_fn, batches


@pytest.mark.parametrize("name", ALIASES)
def test_find_lr_says_a_range_test_does_not_apply(name):
    loss_fn, batches = _regression()
    make = getattr(optaxlr, name)
    with pytest.raises(ValueError, match="a learning-rate range test does not apply"):
        optaxlr.find_lr(loss_fn, jnp.zeros(4), batches, make, num_steps=10)
    # by the state's type, whatever wraps it
    wrapped = lambda lr: optax.chain(optaxlr.clip_by_global_norm(1.0), make(lr))
    with pytest.raises(ValueError, match="estimates its own step size"):
        optaxlr.find_lr(loss_fn, jnp.zeros(4), batches, wrapped, num_steps=10)


def test_sweep_over_d0_and_d_coef_trains_each_copy_as_a_separate_run():
    loss_fn, batches = _regression()
    factory = lambda d0, d_coef: optaxlr.prodigy(d0=d0, d_coef=d_coef)
    values = {"d0": [1e-6, 1e-4, 1e-6], "d_coef": [1.0, 1.0, 0.1]}
    result = optaxlr.sweep(loss_fn, jnp.zeros(4), batches, factory, values, num_steps=30)
    assert len(set(np.round(result.losses[:, -1], 6))) == 3  # every setting changes the run
    for k in range(3):
        opt = factory(values["d0"][k], values["d_coef"][k])
        w, state = jnp.zeros(4), opt.init(jnp.zeros(4))
        losses = []
        for _ in range(30):
            loss, g = jax.value_and_grad(loss_fn)(w, batches[0])
            losses.append(float(loss))
            u, state = opt.update(g, state, w)
            w = optax.apply_updates(w, u)
        np.testing.assert_allclose(result.losses[k], losses, rtol=1e-4)


def test_the_effective_rate_under_vmap_as_in_a_sweep():
    opt = lambda d0: optaxlr.dadapt_adam(d0=d0)

    def run(d0):
        tx = opt(d0)
        _, state = _steps(tx, 5)
        h = optaxlr.hyperparams(state)
        return h["d"], h["effective_learning_rate"]

    ds, rates = jax.jit(jax.vmap(run))(jnp.asarray([1e-6, 1e-3]))
    for i, d0 in enumerate([1e-6, 1e-3]):
        d, rate = run(d0)
        np.testing.assert_allclose(ds[i], d, rtol=1e-6)
        np.testing.assert_allclose(rates[i], rate, rtol=1e-6)
    assert ds[0] != ds[1]
