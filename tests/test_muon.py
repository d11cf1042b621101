"""Muon (``torch.optim.Muon`` of torch 2.13), issue 18.

Fixtures: ``tests/fixtures/optimizers_muon.npz`` from ``scripts/generate_muon_fixtures.py``
(torch alone, its Newton-Schulz iteration run in float32 for the parity runs, and once
as torch ships it, in bfloat16). Each run replays the gradients torch computed and
compares the parameters at the checkpoints with ``|ours - torch| <= 1e-6 + 1e-5 |torch|``.
The problem's matrices are ``(6, 16)`` (wide), ``(16, 8)`` and ``(8, 3)`` (tall: torch
transposes them before the iteration).
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
from optaxlr.fast import FlatParams, multi_tensor
from optaxlr.fast._multi_tensor import _check_state
from optaxlr.transforms import newton_schulz, scale_by_muon
from tests.test_optimizer_fixtures import ATOL, RTOL, _flatten, _unflatten, load_npz
from tests.test_optimizer_fixtures import x64 as _x64

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "optimizers_muon.npz"
#: torch's own bfloat16 run against ``ns_dtype=jnp.bfloat16``: 2.6e-6 apart after 200
#: steps on this machine, ten times that allowed (bfloat16 matmuls may accumulate in
#: another order elsewhere); the float32 iteration is 3.7e-4 from that run.
BF16_ATOL = 3e-5


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
    if "ns_coefficients" in kwargs:  # JSON keeps the tuple as a list
        kwargs["ns_coefficients"] = tuple(kwargs["ns_coefficients"])
    return optaxlr.muon(**kwargs, **extra)


def _replay(opt, init, grads, wrap, transpose=False):
    """Parameters after every step (in torch's layout) and the rate each step used.

    ``transpose``: the parameters and gradients are given to ``opt`` transposed, as a
    Flax ``Dense`` kernel ``(in, out)`` is the transpose of torch's ``Linear`` weight.
    """
    leaves = _data()[0]["leaves"]

    def flip(tree):
        return {k: v.T for k, v in tree.items()} if transpose else tree

    params = flip(_unflatten(jnp.asarray(init), leaves))
    state = opt.init(params)

    def step(params, state, g):
        updates, state = opt.update(flip(_unflatten(g, leaves)), state, params)
        return optax.apply_updates(params, updates), state

    step = wrap(step)
    out, lrs = [], []
    for g in jnp.asarray(grads):
        params, state = step(params, state, g)
        out.append(np.asarray(_flatten(flip(params), leaves)))
        lrs.append(np.asarray(optaxlr.hyperparams(state)["muon/learning_rate"]))
    return np.stack(out), np.asarray(lrs)


def _check(name: str, dtype: str, wrap, **extra) -> None:
    _, arrays = _data()
    trajectory, lrs = _replay(
        _build(_spec(name), **extra),
        arrays["init"].astype(dtype),
        arrays[f"{name}/{dtype}/grads"],
        wrap,
        transpose=extra.get("layout", "flax") == "flax",
    )
    assert trajectory.dtype == np.dtype(dtype)
    ours = trajectory[arrays["checkpoints"] - 1]
    np.testing.assert_allclose(ours, arrays[f"{name}/{dtype}/params"], rtol=RTOL, atol=ATOL)
    if f"{name}/hparams/learning_rate" in arrays:
        np.testing.assert_allclose(lrs, arrays[f"{name}/hparams/learning_rate"], rtol=1e-6)


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float32_matches_torch_on_its_layout(name, variant):
    _check(name, "float32", variant, layout="torch")


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float32_matches_torch_on_the_transposed_flax_kernels(name):
    _check(name, "float32", jax.jit)  # the default layout, "flax"


@pytest.mark.parametrize("name", [r["name"] for r in _runs()])
def test_float64_matches_torch(name):
    with _x64():
        _check(name, "float64", jax.jit, layout="torch")


def test_the_default_rate_factor_follows_the_output_axis():
    """On the same arrays, "flax" and "torch" layouts differ where torch's factor does."""
    _, arrays = _data()
    grads = arrays["muon_default/float32/grads"][:5]
    flax_on_torch_arrays, _ = _replay(
        optaxlr.muon(weight_decay=0.0), arrays["init"], grads, jax.jit
    )
    torch_layout, _ = _replay(
        optaxlr.muon(weight_decay=0.0, layout="torch"), arrays["init"], grads, jax.jit
    )
    # w1 (6, 16): factor sqrt(max(1, 6/16)) = 1 in torch's layout, sqrt(16/6) in flax's
    n = 6 * 16
    step_flax = flax_on_torch_arrays[0, :n] - arrays["init"][:n]
    step_torch = torch_layout[0, :n] - arrays["init"][:n]
    ratio = np.linalg.norm(step_flax) / np.linalg.norm(step_torch)
    assert ratio == pytest.approx(np.sqrt(16 / 6), rel=1e-4)


def test_bfloat16_iteration_matches_torch_as_shipped():
    """``ns_dtype=jnp.bfloat16`` against torch's own Muon (Newton-Schulz in bfloat16)."""
    manifest, arrays = _data()
    assert manifest["bfloat16_runs"] == ["muon_default"]
    grads = arrays["muon_default/float32_bf16ns/grads"]
    ref = arrays["muon_default/float32_bf16ns/params"]
    checkpoints = arrays["checkpoints"] - 1
    ours, _ = _replay(optaxlr.muon(ns_dtype=jnp.bfloat16), arrays["init"], grads, jax.jit, True)
    np.testing.assert_allclose(ours[checkpoints], ref, rtol=0, atol=BF16_ATOL)
    float32, _ = _replay(optaxlr.muon(), arrays["init"], grads, jax.jit, True)
    assert np.abs(float32[checkpoints] - ref).max() > 10 * BF16_ATOL  # the check can fail


def test_every_run_is_conditioned_and_the_fixture_records_torch():
    manifest, _ = _data()
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["generated_by"] == "scripts/generate_muon_fixtures.py"
    assert "grad.bfloat16()" in manifest["newton_schulz"]
    for run in _runs():
        cond = manifest["conditioning"][run["name"]]
        assert cond["params_rel"] <= RTOL, run["name"]  # float64 vs float32 torch runs
        assert cond["step_rel_to_lr"] < 1e-2, run["name"]
    assert len(_runs()) == 4 and any(r["optaxlr"]["schedules"] for r in _runs())
    assert {tuple(s) for s in manifest["leaves"].values()} >= {(6, 16), (8, 3)}


@pytest.mark.parametrize(("dtype", "atol"), [(jnp.float16, 2e-2), (jnp.bfloat16, 0.2)])
def test_half_precision_parameters_follow_the_float32_run(dtype, atol):
    """50 steps at rate 2e-2 (weights move by up to 1.2): within the parameters' rounding.

    Observed 6.5e-3 (float16) and 0.11 (bfloat16, whose spacing is 1.6e-2 at |p| ~ 2);
    the same run with momentum 0.5 instead of 0.95 is 0.39 away in both.
    """
    _, arrays = _data()
    grads = arrays["muon_default/float32/grads"][:50]
    opt = optaxlr.muon(2e-2)
    half, _ = _replay(opt, arrays["init"].astype(dtype), grads.astype(dtype), jax.jit, True)
    full, _ = _replay(opt, arrays["init"], grads, jax.jit, True)
    assert half.dtype == np.dtype(dtype)
    np.testing.assert_allclose(half.astype(np.float32), full, rtol=0, atol=atol)
    state = optaxlr.muon().init({"w": jnp.zeros((3, 2), dtype)})
    muon_state = state[0].inner_states["muon"].inner_state[0]
    want = jnp.float32 if dtype == jnp.float16 else dtype  # float16's moments in float32
    assert {x.dtype for x in jax.tree.leaves(muon_state.mu)} == {jnp.dtype(want)}


def test_complex_matrices_are_refused_as_torch_does():
    with pytest.raises(TypeError, match=r"'w' is complex.*refuses complex"):
        optaxlr.muon().init({"w": jnp.ones((3, 2), jnp.complex64)})
    # a complex bias goes to AdamW, which takes complex parameters
    optaxlr.muon().init({"w": jnp.ones((3, 2)), "b": jnp.ones(2, jnp.complex64)})


# --- what goes to Muon and what to AdamW ----------------------------------------------

PARAMS = {
    "dense": {"kernel": jnp.linspace(-1.0, 1.0, 12).reshape(4, 3), "bias": jnp.full(3, 0.1)},
    "embed": jnp.linspace(0.5, -0.5, 10).reshape(5, 2),
    "scale": jnp.float32(1.5),
}


def _grads(params):
    return jax.tree.map(lambda p: jnp.cos(3.0 * p) + 0.1, params)


def _one_update(opt, params=PARAMS):
    updates, _ = opt.update(_grads(params), opt.init(params), params)
    return updates


def test_matrices_go_to_muon_and_the_rest_to_adamw_by_default():
    ours = _one_update(optaxlr.muon(2e-2))
    adamw = _one_update(optaxlr.adamw(2e-2))
    muon_only = _one_update(
        optax.chain(scale_by_muon(), optaxlr.transforms._fused.scale_and_decouple(2e-2, 0.1)),
        {"k": PARAMS["dense"]["kernel"], "e": PARAMS["embed"]},
    )
    np.testing.assert_array_equal(ours["dense"]["bias"], adamw["dense"]["bias"])
    np.testing.assert_array_equal(ours["scale"], adamw["scale"])
    np.testing.assert_array_equal(ours["dense"]["kernel"], muon_only["k"])
    np.testing.assert_array_equal(ours["embed"], muon_only["e"])
    assert not np.allclose(ours["embed"], adamw["embed"], rtol=1e-2)


def test_a_mask_sends_a_named_matrix_to_adamw_and_adamw_is_replaceable():
    def mask(params):
        out = jax.tree.map(lambda p: p.ndim == 2, params)
        out["embed"] = False  # embeddings with AdamW, as torch's Muon docs advise
        return out

    other = optaxlr.adamw(3e-4, weight_decay=0.0)
    ours = _one_update(optaxlr.muon(2e-2, mask=mask, adamw=other))
    want = _one_update(other)
    np.testing.assert_array_equal(ours["embed"], want["embed"])
    np.testing.assert_array_equal(ours["dense"]["bias"], want["dense"]["bias"])
    assert not np.allclose(ours["dense"]["kernel"], want["dense"]["kernel"], rtol=1e-2)
    assert optaxlr.aliases.muon_labels(mask)(PARAMS) == {
        "dense": {"kernel": "muon", "bias": "adamw"},
        "embed": "adamw",
        "scale": "adamw",
    }


def test_a_mask_that_gives_muon_a_vector_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"'dense/bias' has shape \(3,\).*ndim >= 2"):
        optaxlr.muon(mask=lambda p: jax.tree.map(lambda _: True, p)).init(PARAMS)


def _conv_kernels():
    rng = np.random.default_rng(0)
    hwio = jnp.asarray(rng.standard_normal((3, 3, 4, 8)), jnp.float32)  # flax Conv
    return hwio, jnp.transpose(hwio, (3, 2, 0, 1))  # the same kernel as torch's OIHW


def test_conv_kernels_go_to_adamw_unless_the_mask_takes_them():
    hwio, _ = _conv_kernels()
    params = {"conv": hwio}
    default = _one_update(optaxlr.muon(2e-2), params)
    np.testing.assert_array_equal(default["conv"], _one_update(optaxlr.adamw(2e-2), params)["conv"])
    opt_in = _one_update(
        optaxlr.muon(2e-2, mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)), params
    )
    assert not np.allclose(opt_in["conv"], default["conv"], rtol=1e-2)


def test_a_conv_kernel_is_orthogonalized_as_its_out_by_rest_matrix():
    """(out, in*h*w): Keller Jordan's rule; Flax's HWIO and torch's OIHW give one update."""
    hwio, oihw = _conv_kernels()
    g_hwio = jnp.cos(hwio)
    g_oihw = jnp.transpose(g_hwio, (3, 2, 0, 1))
    tx_flax, tx_torch = scale_by_muon(), scale_by_muon(layout="torch")
    u_flax, _ = tx_flax.update(g_hwio, tx_flax.init(hwio))
    u_torch, _ = tx_torch.update(g_oihw, tx_torch.init(oihw))
    np.testing.assert_allclose(jnp.transpose(u_flax, (3, 2, 0, 1)), u_torch, rtol=2e-5, atol=1e-6)
    # torch's rule by hand: momentum after one Nesterov step is (1 - 0.95**2) g, then
    # Newton-Schulz of the (8, 36) matrix, factor sqrt(max(1, 8/36)) = 1
    matrix = (1 - 0.95**2) * g_oihw.reshape(8, -1)
    want = newton_schulz(matrix).reshape(oihw.shape)
    np.testing.assert_allclose(u_torch, want, rtol=2e-5, atol=1e-6)
    singular = np.linalg.svd(np.asarray(u_torch).reshape(8, -1), compute_uv=False)
    assert 0.6 < singular.min() and singular.max() < 1.3  # orthogonalized per out-channel row


def test_newton_schulz_orthogonalizes_and_transposes_tall_matrices():
    rng = np.random.default_rng(1)
    tall = jnp.asarray(rng.standard_normal((12, 5)), jnp.float32)
    out = newton_schulz(tall)
    np.testing.assert_allclose(out, newton_schulz(tall.T).T, rtol=0, atol=0)
    singular = np.linalg.svd(np.asarray(out), compute_uv=False)
    assert 0.6 < singular.min() and singular.max() < 1.3
    u, _, vt = np.linalg.svd(np.asarray(tall), full_matrices=False)
    assert np.abs(np.asarray(out) - u @ vt).max() < 0.35  # near the polar factor, not on it
    assert newton_schulz(tall.astype(jnp.bfloat16), dtype=jnp.bfloat16).dtype == jnp.bfloat16


# --- hyperparameters and arguments ------------------------------------------------------

KEYS = {
    "muon": [
        "step",
        "b1",
        "b2",
        "adamw/eps",
        "adamw/learning_rate",
        "adamw/weight_decay",
        "momentum",
        "muon/eps",
        "ns_a",
        "ns_b",
        "ns_c",
        "muon/learning_rate",
        "muon/weight_decay",
    ],
    "muon_no_wd_own_adamw": [
        "step",
        "b1",
        "b2",
        "adamw/eps",
        "adamw/learning_rate",
        "weight_decay",
        "momentum",
        "muon/eps",
        "ns_a",
        "ns_b",
        "ns_c",
        "muon/learning_rate",
    ],
}
MAKE = {
    "muon": lambda: optaxlr.muon(),
    "muon_no_wd_own_adamw": lambda: optaxlr.muon(
        weight_decay=0.0, adamw=optaxlr.adamw(3e-4, weight_decay=0.01)
    ),
}


@pytest.mark.parametrize("name", list(KEYS))
@pytest.mark.parametrize("clipped", [False, True])
def test_hyperparams_keys_alone_and_after_clipping(name, clipped):
    opt = MAKE[name]()
    if clipped:
        opt = optax.chain(optaxlr.clip_by_global_norm(1.0), opt)
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    state = opt.init(params)
    _, state = opt.update(_grads(params), state, params)
    want = list(KEYS[name])
    if clipped:
        want.insert(1, "max_norm")
    assert list(optaxlr.hyperparams(state)) == want


def test_set_hyperparams_under_inject_hyperparams():
    opt = optax.inject_hyperparams(optaxlr.muon)(learning_rate=1e-3, momentum=0.95)
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.ones(2)}
    # muon/learning_rate is fed by the injected learning_rate, which feeds AdamW's too
    state = optaxlr.set_hyperparams(
        opt.init(params), **{"muon/learning_rate": 5e-3}, momentum=0.5, ns_steps=3
    )
    updates, state = jax.jit(opt.update)(_grads(params), state, params)
    ref = optaxlr.muon(5e-3, momentum=0.5, ns_steps=3)
    want, _ = ref.update(_grads(params), ref.init(params), params)
    # rounding apart: an injected value is a float32 array, a traced momentum takes
    # lerp's other form, and a traced ns_steps runs as a loop
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4)
    assert float(optaxlr.hyperparams(state)["adamw/learning_rate"]) == pytest.approx(5e-3)
    with pytest.raises(ValueError, match=r"momentum.*\[0, inf\)"):
        optaxlr.set_hyperparams(state, momentum=-0.5)


def test_scheduled_momentum_and_coefficients_are_reported():
    opt = optaxlr.muon(
        ns_coefficients=(lambda s: 3.0 + 0.1 * s, -4.775, 2.0315),
        momentum=optaxlr.schedules.linear(0.9, 0.5, 4),
    )
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2)}
    state = opt.init(params)
    for _ in range(3):
        _, state = opt.update(_grads(params), state, params)
    got = optaxlr.hyperparams(state)
    assert float(got["ns_a"]) == pytest.approx(3.2)  # the third update used step 2
    assert float(got["momentum"]) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": -1e-3}, ValueError, r"learning_rate.*\[0, inf\)"),
        ({"weight_decay": -0.1}, ValueError, r"weight_decay.*\[0, inf\)"),
        ({"momentum": -0.1}, ValueError, r"momentum.*\[0, inf\)"),
        ({"eps": -1e-7}, ValueError, r"eps.*\[0, inf\)"),
        ({"ns_steps": 100}, ValueError, r"ns_steps.*\[0, 99\]"),
        ({"ns_steps": 5.0}, TypeError, "ns_steps must be an integer"),
        ({"ns_coefficients": (3.4, -4.7)}, ValueError, "ns_coefficients must be exactly three"),
        ({"ns_coefficients": (3.4, "b", 2.0)}, TypeError, r"ns_coefficients\[1\]"),
        ({"adjust_lr_fn": "adamw"}, ValueError, "adjust_lr_fn must be one of"),
        ({"layout": "NCHW"}, ValueError, "layout must be one of 'flax', 'torch'"),
        ({"ns_dtype": jnp.int8}, TypeError, "ns_dtype"),
        ({"nesterov": 1}, TypeError, "nesterov must be True or False"),
        ({"adamw": optax.adam}, TypeError, "adamw must be an optax.GradientTransformation"),
        ({"mask": [1, 2]}, TypeError, "mask must be None"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        optaxlr.muon(**kwargs)


def test_maximize_negates_the_gradients_of_both_optimizers():
    up = _one_update(optaxlr.muon(2e-2, maximize=True))
    down = _one_update(optaxlr.muon(2e-2), jax.tree.map(jnp.asarray, PARAMS))
    # maximize on g is minimize on -g
    neg = optaxlr.muon(2e-2)
    want, _ = neg.update(jax.tree.map(jnp.negative, _grads(PARAMS)), neg.init(PARAMS), PARAMS)
    for a, b in zip(jax.tree.leaves(up), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(up["dense"]["kernel"], down["dense"]["kernel"])


def test_multi_tensor_refuses_muon_saying_why():
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
    flat = FlatParams.from_tree(params)
    for opt in (optaxlr.muon(), scale_by_muon()):
        with pytest.raises(ValueError, match=r"Muon orthogonalizes each matrix.*FlatParams"):
            multi_tensor(opt).init(flat)
    # a Muon state that reached multi_tensor's check another way is refused there too
    state = optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.muon()).init(params)
    with pytest.raises(ValueError, match=r"^multi_tensor: Muon orthogonalizes each matrix"):
        _check_state(state, 0)
    _check_state(optaxlr.adamw().init(params), 0)  # and nothing else is


# --- checkpoints and Flax ---------------------------------------------------------------


def test_checkpoint_resume_is_bitwise(tmp_path):
    opt = optaxlr.muon(optaxlr.schedules.cosine(1e-2, 20))
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


def test_an_nnx_training_step_saved_and_resumed(tmp_path):
    nnx = pytest.importorskip("flax.nnx")

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(2, 4, (3, 3), rngs=rngs)
            self.dense = nnx.Linear(4, 3, rngs=rngs)

        def __call__(self, x):
            return self.dense(jnp.tanh(self.conv(x)).mean(axis=(1, 2)))

    x = jnp.sin(jnp.arange(6 * 5 * 5 * 2.0)).reshape(6, 5, 5, 2)
    y = jnp.cos(jnp.arange(6 * 3.0)).reshape(6, 3)

    def make(seed):
        model = Model(nnx.Rngs(seed))
        tx = optaxlr.muon(optaxlr.schedules.cosine(2e-2, 10), adamw=optaxlr.adamw(1e-2))
        return model, nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)

    model, optimizer = make(0)
    kernel0 = np.asarray(model.dense.kernel[...]).copy()
    conv0 = np.asarray(model.conv.kernel[...]).copy()
    step(model, optimizer)
    # the dense kernel (in, out) = (4, 3) took Muon's step: (near) orthogonal, all
    # singular values about the same; the conv kernel and the biases took AdamW's
    singular = np.linalg.svd(np.asarray(model.dense.kernel[...]) - kernel0, compute_uv=False)
    assert singular.max() < 2 * singular.min()
    assert not np.array_equal(np.asarray(model.conv.kernel[...]), conv0)
    step(model, optimizer)
    path = training.save(tmp_path / "ckpt", nnx.state(model), nnx.state(optimizer))
    for _ in range(3):
        step(model, optimizer)

    fresh, fresh_optimizer = make(1)
    model_state, opt_state = training.restore(path, nnx.state(fresh), nnx.state(fresh_optimizer))
    nnx.update(fresh, model_state)
    nnx.update(fresh_optimizer, opt_state)
    hp = optaxlr.hyperparams(fresh_optimizer.opt_state)
    assert int(hp["step"]) == 2
    assert float(hp["muon/learning_rate"]) == pytest.approx(
        float(optaxlr.schedules.cosine(2e-2, 10)(1)), rel=1e-6
    )
    for _ in range(3):
        step(fresh, fresh_optimizer)
    for a, b in zip(
        jax.tree.leaves(nnx.state(fresh)), jax.tree.leaves(nnx.state(model)), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(
        jax.tree.leaves(nnx.state(fresh_optimizer)),
        jax.tree.leaves(nnx.state(optimizer)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
