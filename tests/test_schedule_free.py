"""Schedule-free SGD and AdamW (``schedulefree`` 1.4.1), issue 19.

Fixtures: ``tests/fixtures/schedule_free.npz`` from
``scripts/generate_schedule_free_fixtures.py`` (the peer alone). Each run replays the
gradients the peer computed (at its ``y``), in float32 and in float64, and compares
the parameters ``y`` and the evaluation point ``x`` after every recorded step with
``|ours - peer| <= 1e-6 + 1e-5 |peer|``, and the reported effective rate and averaging
weight with the peer's.
"""

from __future__ import annotations

import functools
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "schedule_free.npz"
ALIASES = ("schedule_free_sgd", "schedule_free_adamw")


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
    """y, x and the reported values after every step."""
    params = _unflatten(jnp.asarray(init), leaves)
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(_unflatten(g, leaves), state, params)
        params = optax.apply_updates(params, updates)
        return params, state, optaxlr.schedule_free_eval_params(state, params)

    step = wrap(step)
    out: dict[str, list] = {"y": [], "x": [], "hp": []}
    for g in jnp.asarray(grads):
        params, state, x = step(params, state, g)
        out["y"].append(np.asarray(_flatten(params, leaves)))
        out["x"].append(np.asarray(_flatten(x, leaves)))
        out["hp"].append(jax.tree.map(np.asarray, optaxlr.hyperparams(state)))
    return np.stack(out["y"]), np.stack(out["x"]), out["hp"]


def _check(name: str, dtype: str, wrap) -> None:
    manifest, arrays = _data()
    ys, xs, hps = _replay(
        _build(_spec(name)),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        manifest["leaves"],
        wrap,
    )
    assert ys.dtype == xs.dtype == np.dtype(dtype)
    if dtype == "float64":  # recorded at the checkpoints
        ys, xs = ys[arrays["checkpoints"] - 1], xs[arrays["checkpoints"] - 1]
    else:
        assert len(ys) == len(arrays[f"{name}/{dtype}/y"]) == 200
    for point, ours in (("y", ys), ("x", xs)):
        np.testing.assert_allclose(
            ours, arrays[f"{name}/{dtype}/{point}"], rtol=RTOL, atol=ATOL, err_msg=point
        )
    for key in ("effective_learning_rate", "averaging_weight"):
        got = np.asarray([hp[key] for hp in hps], np.float64)
        np.testing.assert_allclose(got, arrays[f"{name}/{dtype}/{key}"], rtol=1e-6, err_msg=key)
    if f"{name}/hparams/learning_rate" in arrays:
        got = np.asarray([hp["learning_rate"] for hp in hps], np.float64)
        np.testing.assert_allclose(got, arrays[f"{name}/hparams/learning_rate"], rtol=1e-6)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float32_y_and_x_match_the_peer_at_every_step(name, variant):
    _check(name, "float32", variant)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float64_y_and_x_match_the_peer(name):
    with _x64():
        _check(name, "float64", jax.jit)


def test_every_run_is_conditioned_and_the_fixture_records_its_peers():
    manifest, _ = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["schedulefree"] == "1.4.1"
    assert manifest["generated_by"] == "scripts/generate_schedule_free_fixtures.py"
    assert {r["optimizer"] for r in _runs()} == set(ALIASES)
    for run in _runs():
        for point in ("y", "x"):
            cond = manifest["conditioning"][run["name"]][point]
            assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 peer runs
            assert cond["step_rel_to_lr"] < 1e-2, run["name"]
    for alias in ALIASES:
        kwargs = [r["peer"]["kwargs"] for r in _runs() if r["optimizer"] == alias]
        assert {} in kwargs  # the defaults
        assert any("warmup_steps" in k and "weight_decay" in k for k in kwargs)


@pytest.mark.parametrize("name", _data()[0]["complex_runs"])
def test_complex64_matches_the_peer(name):
    _, arrays = _data()
    opt = _build(_spec(name))
    params = jnp.asarray(arrays["complex/init"])
    assert params.dtype == jnp.complex64
    state = opt.init(params)

    @jax.jit
    def step(p, s, g):
        u, s = opt.update(g, s, p)
        p = optax.apply_updates(p, u)
        return p, s, optaxlr.schedule_free_eval_params(s, p)

    ys, xs = [], []
    for g in arrays[f"complex/{name}/grads"]:
        params, state, x = step(params, state, jnp.asarray(g))
        ys.append(np.asarray(params))
        xs.append(np.asarray(x))
    for point, ours in (("y", np.stack(ys)), ("x", np.stack(xs))):
        ref = arrays[f"complex/{name}/{point}"]
        assert ours.dtype == np.complex64
        for part in (np.real, np.imag):
            np.testing.assert_allclose(part(ours), part(ref), rtol=RTOL, atol=ATOL, err_msg=point)


@pytest.mark.parametrize(("name", "wd"), [("adamw_default", 0), ("sgd_warmup_wd", 1)])
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_follows_the_float32_run(name, wd, half):
    """float16 (z and the second moment in float32) and bfloat16 (kept in bfloat16, as the
    reference keeps them in the parameters' dtype) within their rounding of the run."""
    manifest, arrays = _data()
    opt = _build(_spec(name))
    grads = arrays[f"{name}/float32/grads"][:50]
    low, low_x, _ = _replay(
        opt, arrays["init"].astype(half), grads.astype(half), manifest["leaves"], jax.jit
    )
    ref, ref_x, _ = _replay(opt, arrays["init"], grads, manifest["leaves"], jax.jit)
    assert low.dtype == low_x.dtype == np.dtype(half)
    tol = {"float16": 2e-2, "bfloat16": 6e-2}[half]
    np.testing.assert_allclose(low.astype(np.float32), ref, rtol=tol, atol=tol / 10)
    np.testing.assert_allclose(low_x.astype(np.float32), ref_x, rtol=tol, atol=tol / 10)
    state = opt.init(jnp.zeros(3, half))
    want = jnp.float32 if half == "float16" else jnp.bfloat16
    buffers = [s.z for s in state if isinstance(s, optaxlr.transforms.ScaleByScheduleFreeState)]
    buffers += [
        s.nu for s in state if isinstance(s, optaxlr.transforms.ScaleByScheduleFreeAdamState)
    ]
    assert buffers and {x.dtype for x in buffers} == {jnp.dtype(want)}


def test_z_dtype_keeps_a_float32_z_for_bfloat16_parameters():
    params = {"w": jnp.linspace(-1.0, 1.0, 8, dtype=jnp.bfloat16)}
    plain, wide = optaxlr.schedule_free_sgd(0.1), optaxlr.schedule_free_sgd(0.1, z_dtype="float32")
    states = [plain.init(params), wide.init(params)]
    g = {"w": jnp.full(8, 1e-3, jnp.bfloat16)}
    for _ in range(20):  # steps of 1e-4 vanish in a bfloat16 z near 1, not in a float32 one
        states = [opt.update(g, s, params)[1] for opt, s in zip((plain, wide), states, strict=True)]
    assert states[1][-1].z["w"].dtype == jnp.float32
    moved = [np.abs(np.asarray(s[-1].z["w"], np.float32) - np.asarray(params["w"], np.float32))
             for s in states]  # fmt: skip
    assert np.all(moved[0][-2:] == 0) and np.all(moved[1] > 1.5e-3)


# --- the reported rate and averaging weight -------------------------------------------

KEYS = {
    "schedule_free_sgd": ["step", "learning_rate", "b1", "warmup_steps", "r", "weight_lr_power",
                          "effective_learning_rate", "averaging_weight"],
    "schedule_free_adamw": ["step", "b2", "eps", "learning_rate", "b1", "warmup_steps", "r",
                            "weight_lr_power", "effective_learning_rate", "averaging_weight"],
}  # fmt: skip


def _rates_and_weights(lr: float, warmup: int, steps: int, r: float = 0.0, power: float = 2.0):
    """The reference's scheduled_lr and ckp1 for each step, in float64."""
    rates = [lr * min(1.0, (k + 1) / warmup) if warmup else lr for k in range(steps)]
    lr_max, total, weights = -1.0, 0.0, []
    for k, rate in enumerate(rates):
        lr_max = max(lr_max, rate)
        w = (k + 1) ** r * lr_max**power
        total += w
        weights.append(w / total)
    return np.asarray(rates), np.asarray(weights)


@pytest.mark.parametrize("name", ALIASES)
def test_hyperparams_report_the_warmup_rate_and_averaging_weight_under_jit_and_multisteps(name):
    opt = optax.MultiSteps(getattr(optaxlr, name)(0.5, warmup_steps=4, r=1.0), every_k_schedule=2)
    params = {"w": jnp.linspace(-1.0, 1.0, 6)}
    state = opt.init(params)

    @jax.jit
    def step(params, state, i):
        updates, state = opt.update(jax.tree.map(lambda p: jnp.sin(p + i), params), state, params)
        return optax.apply_updates(params, updates), state, optaxlr.hyperparams(state)

    rates, weights = _rates_and_weights(0.5, 4, 6, r=1.0)
    first = optaxlr.hyperparams(state)  # before any update: what the first one will use
    assert float(first["effective_learning_rate"]) == pytest.approx(rates[0])
    seen = []
    for i in range(12):
        params, state, hp = step(params, state, i)
        assert sorted(hp) == sorted(KEYS[name])  # jit returns the dict sorted
        if i % 2 == 1:  # the inner optimizer stepped
            seen.append((float(hp["effective_learning_rate"]), float(hp["averaging_weight"])))
            assert int(hp["step"]) == (i + 1) // 2
    np.testing.assert_allclose(np.asarray(seen), np.stack([rates, weights], 1), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_keys_alone_and_after_clipping(name):
    params = {"w": jnp.ones(3)}
    for opt, want in (
        (getattr(optaxlr, name)(0.1), KEYS[name]),
        (optax.chain(optaxlr.clip_by_global_norm(1.0), getattr(optaxlr, name)(0.1)),
         ["step", "max_norm", *KEYS[name][1:]]),
        (getattr(optaxlr, name)(0.1, weight_decay=0.1), None),
    ):  # fmt: skip
        _, state = opt.update({"w": jnp.full(3, 0.5)}, opt.init(params), params)
        keys = list(optaxlr.hyperparams(state))
        assert keys == want if want is not None else "weight_decay" in keys


def test_a_long_run_keeps_the_averaging_weight_exact():
    """100k equal weights: the float32 sum of 0.01 drifts by 7e-4 of itself; the
    compensated sum keeps 1/(k+1), as the reference's float64 sum does."""
    opt = optaxlr.scale_by_schedule_free(0.1)
    params = jnp.zeros(1)
    n = 100_000

    @jax.jit
    def run(state):
        body = lambda _, s: opt.update(jnp.zeros(1), s, params)[1]
        return jax.lax.fori_loop(0, n, body, state)

    state = run(opt.init(params))
    c = float(optaxlr.hyperparams(state)["averaging_weight"])
    assert c == pytest.approx(1 / n, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("schedule_free_sgd", {"momentum": 1.0}, ValueError, r"momentum.*\(0, 1\)"),
        ("schedule_free_sgd", {"momentum": 0.0}, ValueError, r"momentum.*\(0, 1\)"),
        ("schedule_free_sgd", {"learning_rate": -1.0}, ValueError, r"learning_rate.*\[0, inf\)"),
        ("schedule_free_sgd", {"weight_decay": -1e-2}, ValueError, r"weight_decay.*\[0, inf\)"),
        ("schedule_free_sgd", {"warmup_steps": -1}, ValueError, r"warmup_steps.*\[0, inf\)"),
        ("schedule_free_adamw", {"b1": 0.0}, ValueError, r"b1.*\(0, 1\]"),
        ("schedule_free_adamw", {"b1": 1.5}, ValueError, r"b1.*\(0, 1\]"),
        ("schedule_free_adamw", {"b2": 1.0}, ValueError, r"b2.*\[0, 1\)"),
        ("schedule_free_adamw", {"eps": -1e-8}, ValueError, r"eps.*\[0, inf\)"),
        ("schedule_free_adamw", {"r": -1.0}, ValueError, r"\br\b.*\[0, inf\)"),
        ("schedule_free_adamw", {"weight_lr_power": -2.0}, ValueError, r"weight_lr_power.*\[0"),
        ("schedule_free_adamw", {"z_dtype": jnp.int32}, TypeError, "z_dtype"),
        ("schedule_free_adamw", {"b1": True}, TypeError, "b1"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optaxlr, name)(**kwargs)


@pytest.mark.parametrize(("name", "b1"), [("schedule_free_sgd", "momentum"),
                                          ("schedule_free_adamw", "b1")])  # fmt: skip
def test_set_hyperparams_under_inject_hyperparams(name, b1):
    make = getattr(optaxlr, name)
    opt = optax.inject_hyperparams(make)(learning_rate=0.1, **{b1: 0.9}, warmup_steps=2.0)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    state = opt.init(params)
    with pytest.raises(ValueError, match=b1):
        optaxlr.set_hyperparams(state, **{b1: 0.0})
    state = optaxlr.set_hyperparams(state, learning_rate=0.3, **{b1: 0.5})
    ref = make(learning_rate=0.3, **{b1: 0.5}, warmup_steps=2)
    ref_state, got_params, want_params = ref.init(params), params, params
    for _ in range(3):
        grads = jax.tree.map(jnp.sin, got_params)
        updates, state = opt.update(grads, state, got_params)
        got_params = optax.apply_updates(got_params, updates)
        updates, ref_state = ref.update(grads, ref_state, want_params)
        want_params = optax.apply_updates(want_params, updates)
    np.testing.assert_allclose(got_params["w"], want_params["w"], rtol=1e-6)
    np.testing.assert_allclose(
        optaxlr.schedule_free_eval_params(state, got_params)["w"],
        optaxlr.schedule_free_eval_params(ref_state, want_params)["w"],
        rtol=1e-6,
    )
    assert float(optaxlr.hyperparams(state)["effective_learning_rate"]) == pytest.approx(0.3)


# --- checkpoints, resume, param_ema ---------------------------------------------------

SAVE, END = 5, 12


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.full((3,), 0.1)}


def _train(opt, params, state, start, stop):
    step = jax.jit(
        lambda p, s, i: (lambda u, s: (optax.apply_updates(p, u), s))(
            *opt.update(jax.tree.map(lambda x: jnp.sin(3 * x + i) + 0.01 * i, p), s, p)
        )
    )
    for i in range(start, stop):
        params, state = step(params, state, i)
    return params, state


def _bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


MIDRUN = {
    "schedule_free_sgd": lambda lr: optaxlr.schedule_free_sgd(
        lr, warmup_steps=3, weight_decay=1e-2
    ),
    "schedule_free_adamw": lambda lr: optaxlr.schedule_free_adamw(
        lr, warmup_steps=3, weight_decay=1e-2, r=0.5
    ),
}


@pytest.mark.parametrize("name", ALIASES)
def test_a_checkpoint_written_mid_run_restores_and_continues_bit_for_bit(tmp_path, name):
    opt = MIDRUN[name](optaxlr.schedules.cosine(0.05, END))
    params = _params()
    expected = _train(opt, params, opt.init(params), 0, END)
    saved = _train(opt, params, opt.init(params), 0, SAVE)
    training.save(tmp_path / "ckpt", *saved)
    restored = training.restore(tmp_path / "ckpt", params, opt.init(params))
    _bitwise(restored, saved)  # the observed rate and weight, z, the weight sums, lr_max
    resumed = training.resume(tmp_path / "ckpt", params, opt)
    _bitwise(resumed, saved)
    for start in (restored, resumed):
        got = _train(opt, *start, SAVE, END)
        _bitwise(got, expected)
        _bitwise(
            optaxlr.schedule_free_eval_params(got[1], got[0]),
            optaxlr.schedule_free_eval_params(expected[1], expected[0]),
        )


@pytest.mark.parametrize("name", ALIASES)
def test_resume_with_a_changed_base_rate(tmp_path, name):
    """The run continues as one whose rate changed at the save: the largest rate so far
    and the weight sum carry over (a fresh lr_max would reweight the average)."""
    high, low = 0.05, 0.02
    params = _params()
    changed = MIDRUN[name](lambda step: jnp.where(step < SAVE, high, low))
    expected = _train(changed, params, changed.init(params), 0, END)
    first = MIDRUN[name](high)
    training.save(tmp_path / "ckpt", *_train(first, params, first.init(params), 0, SAVE))
    second = MIDRUN[name](low)
    restored, state = training.resume(tmp_path / "ckpt", params, second)
    hp = optaxlr.hyperparams(state)
    assert float(hp["learning_rate"]) == pytest.approx(low)  # the new optimizer's
    assert float(hp["effective_learning_rate"]) == pytest.approx(high)  # the last step's
    got = _train(second, restored, state, SAVE, END)
    for a, b in zip(jax.tree.leaves(got[0]), jax.tree.leaves(expected[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    _, weights = _rates_and_weights(1.0, 3, END, r=0.5 if "adamw" in name else 0.0)
    assert float(optaxlr.hyperparams(got[1])["averaging_weight"]) == pytest.approx(weights[-1])


@pytest.mark.parametrize("name", ALIASES)
def test_param_ema_composes_and_averages_y(name):
    """param_ema after the schedule-free step averages the parameters it returns (y);
    the steps, x and the checkpointable state are those of the alias alone."""
    alone = MIDRUN[name](0.05)
    opt = optax.chain(MIDRUN[name](0.05), training.param_ema(0.8))
    params = _params()
    ys, y, state = [], params, opt.init(params)
    for i in range(6):
        y, state = _train(opt, y, state, i, i + 1)
        ys.append(y)
    want = _train(alone, params, alone.init(params), 0, 6)
    _bitwise(y, want[0])
    _bitwise(
        optaxlr.schedule_free_eval_params(state, y),
        optaxlr.schedule_free_eval_params(want[1], want[0]),
    )
    ema = jax.tree.map(lambda y: np.asarray(y, np.float64), ys[0])  # debiased: y_1 first
    for t, y in enumerate(ys[1:], start=2):
        w = 0.2 / (1 - 0.8**t)
        ema = jax.tree.map(lambda a, b, w=w: a + w * (np.asarray(b, np.float64) - a), ema, y)
    for a, b in zip(jax.tree.leaves(training.ema_params(state)), jax.tree.leaves(ema), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_eval_params_is_found_anywhere_and_refuses_what_doesnt_fit():
    params = _params()
    inner = optaxlr.schedule_free_adamw(0.05, b1=0.8)
    traced_b1 = optaxlr.schedule_free_adamw(0.05, b1=lambda step: 0.8 + 0.0 * step)
    wrapped = optax.chain(
        optaxlr.clip_by_global_norm(1e6), optax.inject_hyperparams(optaxlr.schedule_free_adamw)(
            0.05, b1=0.8)
    )  # fmt: skip
    runs = [_train(o, params, o.init(params), 0, 4) for o in (inner, traced_b1, wrapped)]
    want = optaxlr.schedule_free_eval_params(runs[0][1], runs[0][0])
    assert not np.allclose(want["w"], runs[0][0]["w"])  # x is not y
    for p, s in runs[1:]:
        got = optaxlr.schedule_free_eval_params(s, p)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    # Before any update x is y.
    _bitwise(optaxlr.schedule_free_eval_params(inner.init(params), params), params)
    with pytest.raises(ValueError, match=r"exactly one schedule-free state.*found 0"):
        optaxlr.schedule_free_eval_params(optaxlr.adam().init(params), params)
    two = optax.chain(optaxlr.scale_by_schedule_free(), optaxlr.scale_by_schedule_free())
    with pytest.raises(ValueError, match="found 2"):
        optaxlr.schedule_free_eval_params(two.init(params), params)
    with pytest.raises(ValueError, match="params has 1 leaves"):
        optaxlr.schedule_free_eval_params(runs[0][1], {"w": params["w"]})
    with pytest.raises(ValueError, match=r"'w' has shape \(6,\)"):
        optaxlr.schedule_free_eval_params(runs[0][1], {"b": params["b"], "w": jnp.ones(6)})
    with pytest.raises(ValueError, match="update needs params"):
        inner.update(params, inner.init(params))


# --- Flax NNX: the training and the evaluation step -----------------------------------


def test_an_nnx_training_step_and_its_evaluation_step(tmp_path):
    nnx = pytest.importorskip("flax.nnx")
    x = jax.random.normal(jax.random.key(0), (16, 3))
    target = jnp.tanh(x @ jnp.array([[1.0], [-2.0], [0.5]]))

    def loss_fn(model):
        return jnp.mean((model(x) - target) ** 2)

    @nnx.jit
    def train_step(model, optimizer):
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def eval_step(model, optimizer):
        # Evaluate a copy of the model at x; the model keeps training at y.
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        x_params = optaxlr.schedule_free_eval_params(optimizer.opt_state, params)
        return loss_fn(nnx.merge(graphdef, x_params, rest))

    def make(seed):
        model = nnx.Linear(3, 1, rngs=nnx.Rngs(seed))
        return model, nnx.Optimizer(model, optaxlr.schedule_free_adamw(2e-2), wrt=nnx.Param)

    model, optimizer = make(0)
    for _ in range(SAVE):
        train_step(model, optimizer)
    path = training.save(tmp_path / "ckpt", nnx.state(model), nnx.state(optimizer))
    y_before = np.asarray(model.kernel[...]).copy()
    at_x = float(eval_step(model, optimizer))
    np.testing.assert_array_equal(np.asarray(model.kernel[...]), y_before)  # y untouched
    # The same evaluation in plain JAX, on the parameters as a dict.
    params = {"bias": model.bias[...], "kernel": model.kernel[...]}
    x_plain = optaxlr.schedule_free_eval_params(optimizer.opt_state, params)
    assert at_x == pytest.approx(
        float(jnp.mean((x @ x_plain["kernel"] + x_plain["bias"] - target) ** 2)), rel=1e-6
    )
    assert at_x != pytest.approx(float(loss_fn(model)), rel=1e-4)  # x is not y
    losses = [float(train_step(model, optimizer)) for _ in range(SAVE, END)]
    assert losses[-1] < losses[0]

    fresh, fresh_optimizer = make(1)
    model_state, opt_state = training.restore(path, nnx.state(fresh), nnx.state(fresh_optimizer))
    nnx.update(fresh, model_state)
    nnx.update(fresh_optimizer, opt_state)
    assert float(eval_step(fresh, fresh_optimizer)) == at_x
    for _ in range(SAVE, END):
        train_step(fresh, fresh_optimizer)
    _bitwise(nnx.state(fresh), nnx.state(model))
    _bitwise(nnx.state(fresh_optimizer), nnx.state(optimizer))


# --- sharded parameters: 8 CPU devices in a child interpreter -------------------------

FLAG = "--xla_force_host_platform_device_count=8"


@pytest.mark.skipif(FLAG in os.environ.get("XLA_FLAGS", ""), reason="this is the child")
def test_eval_params_on_an_8_device_mesh():
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FLAG}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", os.path.abspath(__file__), "-q", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-o", "addopts=", "-k", "sharded_eval"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "2 passed" in output, output


@pytest.mark.skipif(FLAG not in os.environ.get("XLA_FLAGS", ""), reason="needs 8 devices")
@pytest.mark.parametrize("name", ALIASES)
def test_sharded_eval_params_keep_the_shardings_and_the_values(name):
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    assert jax.device_count() == 8
    mesh = Mesh(np.asarray(jax.devices()).reshape(4, 2), ("x", "y"))
    specs = {"w": P("x", "y"), "b": P("y"), "h": P(None, "x")}
    params = {
        "w": jnp.linspace(-1.0, 1.0, 128).reshape(16, 8),
        "b": jnp.linspace(0.0, 1.0, 8),
        "h": jnp.linspace(-2.0, 2.0, 48, dtype=jnp.bfloat16).reshape(6, 8),
    }
    sharded = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in params.items()}
    opt = MIDRUN[name](0.05)
    single = _train(opt, params, opt.init(params), 0, 4)
    many = _train(opt, sharded, opt.init(sharded), 0, 4)
    x_single = jax.jit(optaxlr.schedule_free_eval_params)(single[1], single[0])
    x_many = jax.jit(optaxlr.schedule_free_eval_params)(many[1], many[0])
    for k, v in x_many.items():
        assert v.sharding.is_equivalent_to(NamedSharding(mesh, specs[k]), v.ndim), k
        assert v.dtype == params[k].dtype
        np.testing.assert_allclose(
            np.asarray(v, np.float32), np.asarray(x_single[k], np.float32), rtol=1e-6, atol=1e-7
        )
    eager = optaxlr.schedule_free_eval_params(many[1], many[0])
    assert all(
        eager[k].sharding.is_equivalent_to(NamedSharding(mesh, specs[k]), eager[k].ndim)
        for k in specs
    )


@pytest.mark.parametrize("name", ["schedule_free_sgd", "schedule_free_adamw"])
def test_find_lr_says_a_range_test_does_not_apply(name):
    x = jax.random.normal(jax.random.key(0), (32, 4))
    batches = [(x, x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]))]
    loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
    make = getattr(optaxlr, name)
    wrapped = lambda lr: optax.chain(optaxlr.clip_by_global_norm(1.0), make(lr))
    for factory in (make, wrapped):  # by the state's type, whatever wraps it
        with pytest.raises(ValueError, match=r"schedule-free .* range test does not apply"):
            optaxlr.find_lr(loss_fn, jnp.zeros(4), batches, factory, num_steps=10)


def test_sweep_over_learning_rate_and_warmup_steps_trains_each_copy_as_a_separate_run():
    x = jax.random.normal(jax.random.key(0), (32, 4))
    batch = (x, x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]))
    loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
    factory = lambda learning_rate, warmup_steps: optaxlr.schedule_free_adamw(
        learning_rate, warmup_steps=warmup_steps)
    values = {"learning_rate": [0.05, 0.05, 0.2], "warmup_steps": [0.0, 20.0, 5.0]}
    result = optaxlr.sweep(loss_fn, jnp.zeros(4), [batch], factory, values, num_steps=30)
    assert len(set(np.round(result.losses[:, -1], 5))) == 3  # every setting changes the run
    for k in range(3):
        opt = factory(values["learning_rate"][k], int(values["warmup_steps"][k]))
        w, state = jnp.zeros(4), opt.init(jnp.zeros(4))
        losses = []
        for _ in range(30):
            loss, g = jax.value_and_grad(loss_fn)(w, batch)
            losses.append(float(loss))
            u, state = opt.update(g, state, w)
            w = optax.apply_updates(w, u)
        np.testing.assert_allclose(result.losses[k], losses, rtol=1e-4)
