"""update_ratio_monitor: ||update|| / ||param|| per leaf and globally, through hyperparams."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.training import UpdateRatioMonitorState, accumulate, update_ratio_monitor


def _params():
    return {
        "dense": {"kernel": jnp.arange(12.0).reshape(3, 4) / 10, "bias": jnp.zeros(4)},
        "scale": jnp.full((2,), 3.0, jnp.bfloat16),
    }


def test_ratios_per_leaf_and_global(variant):
    opt = optax.chain(optaxlr.adam(1e-2), update_ratio_monitor())
    params = _params()
    grads = jax.tree.map(lambda p: jnp.ones_like(p) * 0.3, params)
    updates, state = variant(opt.update)(grads, opt.init(params), params)
    hp = optaxlr.hyperparams(state)
    def flat(tree):
        return {"dense/kernel": np.asarray(tree["dense"]["kernel"], np.float64),
                "dense/bias": np.asarray(tree["dense"]["bias"], np.float64),
                "scale": np.asarray(tree["scale"], np.float64)}

    flat_u, flat_p = flat(updates), flat(params)
    for name, u in flat_u.items():
        p = np.asarray(flat_p[name], np.float64)
        expected = np.linalg.norm(u) / np.linalg.norm(p) if np.linalg.norm(p) else np.inf
        np.testing.assert_allclose(hp[f"update_ratio/{name}"], expected, rtol=1e-6)
    total_u = np.sqrt(sum(np.sum(u**2) for u in flat_u.values()))
    total_p = np.sqrt(sum(np.sum(np.asarray(p, np.float64) ** 2) for p in flat_p.values()))
    np.testing.assert_allclose(hp["update_ratio"], total_u / total_p, rtol=1e-6)
    assert np.isinf(hp["update_ratio/dense/bias"])  # a moving zero parameter
    # The updates pass through unchanged, in their dtype.
    expected, _ = optaxlr.adam(1e-2).update(grads, optaxlr.adam(1e-2).init(params), params)
    jax.tree.map(np.testing.assert_array_equal, updates, expected)
    assert updates["scale"].dtype == jnp.bfloat16


def test_before_any_update_and_zero_over_zero():
    mon = update_ratio_monitor()
    params = {"w": jnp.zeros(3)}
    state = mon.init(params)
    assert isinstance(state, UpdateRatioMonitorState)
    assert set(optaxlr.hyperparams(state)) == {"step", "update_ratio", "update_ratio/w"}
    _, state = mon.update({"w": jnp.zeros(3)}, state, params)
    assert float(optaxlr.hyperparams(state)["update_ratio/w"]) == 0.0
    full = state._replace(count=jnp.int32(np.iinfo(np.int32).max))
    _, after = mon.update({"w": jnp.zeros(3)}, full, params)
    assert int(after.count) == np.iinfo(np.int32).max


def test_every_k_steps_computes_only_on_those_steps(variant):
    opt = optax.chain(optaxlr.sgd(0.1), update_ratio_monitor(every_k_steps=3))
    params = {"w": jnp.ones(4)}
    update = variant(opt.update)
    state = opt.init(params)
    seen = []
    for i in range(7):
        grads = {"w": jnp.full(4, float(i + 1))}
        _, state = update(grads, state, params)
        seen.append(float(optaxlr.hyperparams(state)["update_ratio"]))
    np.testing.assert_allclose(seen, [0.1, 0.1, 0.1, 0.4, 0.4, 0.4, 0.7], rtol=1e-6)


@pytest.mark.parametrize("every_k_steps", [1, 100])
def test_the_monitored_step_does_no_host_work(every_k_steps):
    """A step that calls back to the host can't be exported (jax.export refuses host
    callbacks); the monitored step exports, so it is device work alone. What
    ``every_k_steps`` saves is measured by benchmarks/bench_monitor.py."""
    from jax import export

    params = {"w": jnp.ones((8, 8))}
    opt = optax.chain(optaxlr.sgd(0.1), update_ratio_monitor(every_k_steps=every_k_steps))
    export.export(jax.jit(opt.update))(params, opt.init(params), params)

    def calls_back(updates, state, params=None):
        jax.debug.callback(lambda u: None, updates["w"])
        return updates, state

    host = optax.chain(opt, optax.GradientTransformation(lambda p: optax.EmptyState(), calls_back))
    with pytest.raises(NotImplementedError, match="host_callbacks"):
        export.export(jax.jit(host.update))(params, host.init(params), params)


def test_inside_accumulate_it_sees_real_updates():
    opt = accumulate(optax.chain(optaxlr.sgd(0.1), update_ratio_monitor()), 2)
    params = {"w": jnp.full(4, 2.0)}
    state = opt.init(params)
    for _ in range(2):
        _, state = opt.update({"w": jnp.ones(4)}, state, params)
    np.testing.assert_allclose(optaxlr.hyperparams(state)["update_ratio"], 0.05, rtol=1e-6)


def test_needs_params():
    mon = update_ratio_monitor()
    with pytest.raises(ValueError, match="needs the parameters"):
        mon.update({"w": jnp.ones(2)}, mon.init({"w": jnp.ones(2)}))


INVALID = [
    (dict(every_k_steps=0), ValueError, "every_k_steps must be an integer in [1, 2147483647]"),
    (dict(every_k_steps=1.5), TypeError, "every_k_steps must be an integer"),
    (dict(prefix=""), TypeError, "prefix must be a non-empty string"),
    (dict(separator=None), TypeError, "separator must be a string"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    with pytest.raises(error) as info:
        update_ratio_monitor(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(update_ratio_monitor).parameters) <= covered
