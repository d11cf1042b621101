"""``maximize=True`` on the torch-mirroring aliases: torch's definition and torch's numbers.

torch negates the gradient before anything else (before the L2 weight decay), so an
alias with ``maximize=True`` must be, bit for bit, the alias run on negated gradients.
``tests/fixtures/torch_maximize.npz`` (``scripts/generate_torch_signatures.py``) holds
20 float32 steps of torch's own ``maximize=True`` runs, compared at ``rtol=1e-5`` (plus
``atol=1e-6``, as the other optimizer fixtures).
"""

from __future__ import annotations

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "torch_maximize.npz"
RTOL, ATOL = 1e-5, 1e-6

#: Each torch-mirroring alias with the terms maximize must come before turned on.
ALIASES = {
    "sgd": dict(learning_rate=0.1, momentum=0.9, weight_decay=1e-2),
    "adagrad": dict(weight_decay=1e-2),
    "rmsprop": dict(momentum=0.9, weight_decay=1e-2, centered=True),
    "adam": dict(weight_decay=1e-2, amsgrad=True),
    "adam_decoupled": dict(weight_decay=1e-2, decoupled_weight_decay=True),
    "adamw": dict(weight_decay=0.1),
    "adadelta": dict(weight_decay=1e-2),
    "radam": dict(weight_decay=1e-2),
    "nadam": dict(weight_decay=1e-2, decoupled_weight_decay=True),
    "adamax": dict(weight_decay=1e-2),
    "rprop": dict(etas=(0.4, 1.3)),
    "asgd": dict(weight_decay=1e-2, t0=2.0),
    "lamb": dict(weight_decay=1e-2, weight_decouple=False, pre_norm=True),
    "lars": dict(learning_rate=0.1, weight_decay=1e-2, nesterov=True),
    "adafactor": dict(weight_decay=1e-2),
}


def _build(name: str, **kwargs) -> optax.GradientTransformation:
    return getattr(optaxlr, name.split("_")[0])(**ALIASES[name], **kwargs)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.full((4,), 0.25)}


def _grads(params, i):
    return jax.tree.map(lambda p: 0.3 * p + 0.1 * (i + 1) * jnp.sign(p + 0.01), params)


def _run(opt, negate: bool, update):
    params = _params()
    state = opt.init(params)
    for i in range(4):
        g = _grads(params, i)
        if negate:
            g = jax.tree.map(jnp.negative, g)
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_maximize_is_the_alias_on_negated_gradients(name, variant):
    up = _build(name, maximize=True)
    down = _build(name)
    p_up, s_up = _run(up, False, variant(up.update))
    p_down, s_down = _run(down, True, variant(down.update))
    assert jax.tree.structure(s_up) == jax.tree.structure(s_down)
    for a, b in zip(jax.tree.leaves((p_up, s_up)), jax.tree.leaves((p_down, s_down)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_maximize_keeps_the_state_and_the_hyperparams_keys(name):
    up, down = _build(name, maximize=True), _build(name)
    s_up, s_down = up.init(_params()), down.init(_params())
    assert jax.tree.structure(s_up) == jax.tree.structure(s_down)
    assert list(optaxlr.hyperparams(s_up)) == list(optaxlr.hyperparams(s_down))
    chained = optax.chain(optaxlr.clip_by_global_norm(1.0), _build(name, maximize=True))
    plain = optax.chain(optaxlr.clip_by_global_norm(1.0), _build(name))
    assert list(optaxlr.hyperparams(chained.init(_params()))) == list(
        optaxlr.hyperparams(plain.init(_params()))
    )


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_set_hyperparams_with_maximize(name):
    base = {k: v for k, v in ALIASES[name].items() if k != "learning_rate"}
    opt = optax.inject_hyperparams(getattr(optaxlr, name))(
        learning_rate=0.1, maximize=True, **base
    )
    ref = optax.inject_hyperparams(getattr(optaxlr, name))(learning_rate=0.1, **base)
    params = _params()
    state, ref_state = opt.init(params), ref.init(params)
    state = optaxlr.set_hyperparams(state, learning_rate=0.05)
    ref_state = optaxlr.set_hyperparams(ref_state, learning_rate=0.05)
    g = _grads(params, 0)
    updates, state = jax.jit(opt.update)(g, state, params)
    ref_updates, _ = jax.jit(ref.update)(jax.tree.map(jnp.negative, g), ref_state, params)
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == pytest.approx(0.05)
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(ref_updates), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted({n.split("_")[0] for n in ALIASES}))
def test_maximize_must_be_a_bool(name):
    with pytest.raises(TypeError, match="maximize must be True or False"):
        getattr(optaxlr, name)(maximize="yes")


def test_lion_has_no_maximize():
    with pytest.raises(TypeError):
        optaxlr.lion(maximize=True)  # type: ignore[call-arg]


def test_maximize_on_an_empty_tree():
    opt = optaxlr.adam(maximize=True)
    updates, _ = opt.update({}, opt.init({}), {})
    assert updates == {}


@functools.cache
def _fixture() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(FIXTURE, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(str(arrays.pop("manifest"))), arrays


def _run_names() -> list[str]:
    return [r["name"] for r in _fixture()[0]["runs"]]


@pytest.mark.parametrize("run", _run_names())
def test_maximize_matches_torch(run):
    manifest, arrays = _fixture()
    spec = next(r for r in manifest["runs"] if r["name"] == run)
    assert spec["peer"]["kwargs"]["maximize"] is True
    opt = getattr(optaxlr, spec["optaxlr"]["alias"])(**spec["optaxlr"]["kwargs"])
    leaves = list(manifest["leaves"])
    params = {k: jnp.asarray(arrays[f"init/{k}"]) for k in leaves}
    state = opt.init(params)
    step = jax.jit(opt.update)
    for t in range(manifest["steps"]):
        grads = {k: jnp.asarray(arrays[f"{run}/grads/{k}"][t]) for k in leaves}
        updates, state = step(grads, state, params)
        params = optax.apply_updates(params, updates)
        for k in leaves:
            np.testing.assert_allclose(
                params[k], arrays[f"{run}/params/{k}"][t + 1], rtol=RTOL, atol=ATOL,
                err_msg=f"{run} {k} after step {t + 1}",
            )


def test_the_torch_runs_ascend():
    """The fixture's runs did maximize: the trajectories moved along the gradients."""
    _, arrays = _fixture()
    for run in _run_names():
        w, g = arrays[f"{run}/params/w"], arrays[f"{run}/grads/w"]
        assert float(np.sum((w[1] - w[0]) * g[0])) > 0, run
