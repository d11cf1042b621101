"""grad_norm_monitor: the norm before clipping and the clip factor, against numpy; clip's names."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr.training import GradNormMonitorState, grad_norm_monitor

EPS = 1e-6


def _params():
    return {
        "dense": {"kernel": jnp.zeros((3, 4)), "bias": jnp.zeros(4)},
        "scale": jnp.zeros((2,), jnp.bfloat16),
    }


def _grads(i):
    """Gradients whose norm rises through the clip bound 1.0 and falls back below it."""
    size = [0.1, 0.5, 3.0, 20.0, 0.7, 2.0, 0.05][i % 7]
    return {
        "dense": {
            "kernel": size * jnp.sin(jnp.arange(12.0).reshape(3, 4) + i),
            "bias": size * jnp.cos(jnp.arange(4.0) * (i + 1)),
        },
        "scale": (size * jnp.array([0.5, -1.5])).astype(jnp.bfloat16),
    }


def _numpy_norms(grads):
    flat = {
        "dense/kernel": grads["dense"]["kernel"],
        "dense/bias": grads["dense"]["bias"],
        "scale": grads["scale"],
    }
    per_path = {k: float(np.linalg.norm(np.asarray(v, np.float64))) for k, v in flat.items()}
    return float(np.sqrt(sum(n**2 for n in per_path.values()))), per_path


def _clip_then_adamw(clip):
    return optax.chain(clip, optaxlr.adamw(optaxlr.schedules.cosine(1e-2, 10)))


@pytest.mark.parametrize("max_norm", [1.0, optaxlr.schedules.linear(0.5, 2.5, 7)])
def test_clips_as_clip_by_global_norm_and_reports_the_same_names(variant, max_norm):
    ours = _clip_then_adamw(grad_norm_monitor(max_norm))
    clip = _clip_then_adamw(optaxlr.clip_by_global_norm(max_norm))
    params = _params()
    s_ours, s_clip = ours.init(params), clip.init(params)
    up_ours, up_clip = variant(ours.update), variant(clip.update)
    for i in range(7):
        u_ours, s_ours = up_ours(_grads(i), s_ours, params)
        u_clip, s_clip = up_clip(_grads(i), s_clip, params)
        jax.tree.map(np.testing.assert_array_equal, u_ours, u_clip)
        hp_ours, hp_clip = optaxlr.hyperparams(s_ours), optaxlr.hyperparams(s_clip)
        assert set(hp_ours) == set(hp_clip) | {"grad_norm", "clip_factor"}
        for key, value in hp_clip.items():
            np.testing.assert_array_equal(hp_ours[key], value)
        norm, _ = _numpy_norms(_grads(i))
        c = float(max_norm(i)) if callable(max_norm) else max_norm
        np.testing.assert_allclose(hp_ours["grad_norm"], norm, rtol=1e-6)
        np.testing.assert_allclose(hp_ours["clip_factor"], min(1.0, c / (norm + EPS)), rtol=1e-6)
        params = optax.apply_updates(params, u_ours)


def test_without_max_norm_it_only_records(variant):
    mon = grad_norm_monitor()
    params = _params()
    state = mon.init(params)
    assert isinstance(state, GradNormMonitorState) and state.count is None
    update = variant(mon.update)
    for i in (2, 3):
        updates, state = update(_grads(i), state, params)
        jax.tree.map(np.testing.assert_array_equal, updates, _grads(i))
        hp = optaxlr.hyperparams(state)
        assert set(hp) == {"grad_norm", "clip_factor"}
        np.testing.assert_allclose(hp["grad_norm"], _numpy_norms(_grads(i))[0], rtol=1e-6)
        assert float(hp["clip_factor"]) == 1.0


def test_per_path_norms_every_k_updates(variant):
    mon = grad_norm_monitor(1.0, per_path_every=3)
    params = _params()
    state = mon.init(params)
    assert float(optaxlr.hyperparams(state)["grad_norm/dense/kernel"]) == 0.0
    update = variant(mon.update)
    for i in range(7):
        _, state = update(_grads(i), state, params)
        hp = optaxlr.hyperparams(state)
        recorded_at = i - i % 3
        _, per_path = _numpy_norms(_grads(recorded_at))
        for name, value in per_path.items():
            np.testing.assert_allclose(hp[f"grad_norm/{name}"], value, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(hp["grad_norm"], _numpy_norms(_grads(i))[0], rtol=1e-6)
    assert int(optaxlr.hyperparams(state)["step"]) == 7


def test_read_inside_jit_and_dtypes():
    opt = optax.chain(grad_norm_monitor(1.0, per_path_every=1), optaxlr.sgd(0.1))
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64):
        params = {"w": jnp.zeros(5, dtype)}
        grads = {
            "w": (jnp.arange(5.0) - 1.5).astype(dtype) * (1 + 1j if dtype == jnp.complex64 else 1)
        }

        @jax.jit
        def step(grads, state, params):
            updates, state = opt.update(grads, state, params)
            hp = optaxlr.hyperparams(state)
            return updates, hp["grad_norm"], hp["clip_factor"], hp["grad_norm/w"]

        updates, norm, factor, per_w = step(grads, opt.init(params), params)
        expected = np.linalg.norm(np.asarray(grads["w"]).astype(np.complex128))
        rtol = 1e-6 if dtype in (jnp.float32, jnp.complex64) else 1e-3
        np.testing.assert_allclose(norm, expected, rtol=rtol, err_msg=str(dtype))
        np.testing.assert_allclose(per_w, expected, rtol=rtol)
        np.testing.assert_allclose(factor, 1.0 / (float(norm) + EPS), rtol=1e-6)
        assert updates["w"].dtype == dtype


def test_an_nnx_step_and_resume_bit_for_bit(tmp_path):
    nnx = pytest.importorskip("flax.nnx")

    def opt():
        return optax.chain(
            grad_norm_monitor(0.5, per_path_every=2),
            optaxlr.adam(optaxlr.schedules.cosine(1e-2, 20)),
        )

    graphdef, params = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.Param)

    @jax.jit
    def step(params, opt_state, i):
        x = jnp.sin(jnp.arange(12.0).reshape(4, 3) * (i + 1))
        grads = jax.grad(lambda p: jnp.mean((nnx.merge(graphdef, p)(x) - 3.0) ** 2))(params)
        updates, opt_state = opt().update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def run(params, state, start, stop):
        for i in range(start, stop):
            params, state = step(params, state, i)
        return params, state

    want = run(params, opt().init(params), 0, 9)
    hp = optaxlr.hyperparams(want[1])
    assert float(hp["clip_factor"]) < 1.0 and float(hp["grad_norm"]) > 0.5
    assert {"grad_norm/kernel", "grad_norm/bias"} <= set(hp)
    saved = run(params, opt().init(params), 0, 5)
    training.save(tmp_path / "ckpt", saved[0], saved[1])
    _, fresh = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(1)), nnx.Param)
    restored, resumed = training.resume(tmp_path / "ckpt", fresh, opt())
    got = run(restored, resumed, 5, 9)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, opt(), wrt=nnx.Param)
    grads = nnx.grad(lambda m: jnp.mean((m(jnp.ones((4, 3))) - 3.0) ** 2))(model)
    nnx.jit(lambda m, o, g: o.update(m, g))(model, optimizer, grads)
    norm = np.sqrt(sum(np.sum(np.asarray(g) ** 2) for g in jax.tree.leaves(grads)))
    np.testing.assert_allclose(
        optaxlr.hyperparams(optimizer.opt_state)["grad_norm"], norm, rtol=1e-6
    )


INVALID = [
    (dict(max_norm=0.0), ValueError, "max_norm must be a finite number in (0, inf)"),
    (dict(max_norm="1"), TypeError, "max_norm must be a number or a schedule"),
    (dict(eps=-1.0), ValueError, "eps must be a finite number in [0, inf)"),
    (dict(per_path_every=0), ValueError, "per_path_every must be an integer in [1, "),
    (dict(per_path_every=2.0), TypeError, "per_path_every must be an integer"),
    (dict(separator=1), TypeError, "separator must be a string"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    with pytest.raises(error) as info:
        grad_norm_monitor(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(grad_norm_monitor).parameters) <= covered
