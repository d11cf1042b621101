"""reduce_on_plateau: parity with PyTorch's and Keras's ReduceLROnPlateau, and the state convention.

The reference decisions come from ``tests/fixtures/plateau.json``, written by
``scripts/generate_plateau_fixtures.py`` from torch and Keras themselves.
"""

from __future__ import annotations

import inspect
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.training import ReduceOnPlateauState, reduce_on_plateau

FIXTURES = json.loads((pathlib.Path(__file__).parent / "fixtures" / "plateau.json").read_text())
CASES = FIXTURES["cases"]
NAN = float("nan")


def _values(case):
    return [NAN if v is None else v for v in case["values"]]


def _run(tx, values, update=None):
    """The scale after each metric value, feeding them one update each."""
    update = update or tx.update
    state = tx.init({})
    out = []
    for v in values:
        _, state = update({}, state, None, value=jnp.float32(v))
        out.append(np.float32(state.scale))
    return np.array(out), state


def _reductions(scales):
    previous = np.concatenate([[1.0], scales[:-1]])
    return [int(i) for i in np.flatnonzero(scales < previous)]


def test_fixture_covers_both_peers_and_the_required_situations():
    names = {c["name"] for c in CASES}
    for peer in ("torch", "keras"):
        assert sum(c["peer"] == peer for c in CASES) >= 10
    assert {"torch/cooldown_improvements_inside", "keras/cooldown_improvements_inside",
            "torch/negative_abs", "keras/negative_values", "torch/nan_values",
            "torch/max_rel", "torch/max_abs", "keras/max_mode"} <= names
    # Every case reduces at least once, or is about not reducing.
    assert all(c["reductions"] or "known_difference" in c for c in CASES)


@pytest.mark.parametrize(
    "case", [c for c in CASES if "known_difference" not in c], ids=lambda c: c["name"]
)
def test_decisions_match_the_peer(case):
    scales, state = _run(reduce_on_plateau(**case["config"]), _values(case))
    expected = np.array(case["scales"])
    assert _reductions(scales) == case["reductions"]
    if case["peer"] == "keras":
        # Keras keeps the learning rate in float32 and multiplies in float64:
        # the same float32 numbers, bit for bit.
        np.testing.assert_array_equal(scales, expected.astype(np.float32))
    else:
        # torch keeps a float64 learning rate: one float32 rounding away.
        np.testing.assert_allclose(scales, expected, rtol=3e-7)
    assert not np.isnan(np.asarray(state.best)) or case["peer"] == "keras"
    assert int(state.num_evaluations) == len(case["values"])


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["peer"] == "torch" and "known_difference" in c],
    ids=lambda c: c["name"],
)
def test_negative_metrics_with_a_relative_threshold_are_fixed(case):
    """Torch's rel mode on a negative best is pytorch#47513; ours is torch's max mode mirrored."""
    scales, _ = _run(reduce_on_plateau(**case["config"]), _values(case))
    np.testing.assert_allclose(scales, case["expected"], rtol=3e-7)
    assert _reductions(scales) != case["reductions"]


def test_a_constant_negative_metric_reduces_the_scale():
    scales, _ = _run(reduce_on_plateau(patience=1), [-5.0] * 6)
    np.testing.assert_allclose(scales, [1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)


def test_keras_first_nan_is_a_bad_evaluation_not_the_best():
    (case,) = [c for c in CASES if c["name"] == "keras/first_value_nan"]
    scales, state = _run(reduce_on_plateau(**case["config"]), _values(case))
    # NaN counts as bad; 1.0 is the first best; 0.9, 0.8, 0.7 improve; then two bad -> reduce.
    np.testing.assert_array_equal(scales, np.float32([1, 1, 1, 1, 1, 1, 0.1, 0.1]))
    assert float(state.best) == np.float32(0.7)
    assert _reductions(scales) != case["reductions"]


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_nan_never_corrupts_the_state(convention, mode):
    tx = reduce_on_plateau(patience=100, convention=convention, mode=mode)
    sign = 1.0 if mode == "min" else -1.0
    _, state = _run(tx, [sign * 2.0, NAN, sign * 1.0, NAN, NAN])
    assert float(state.best) == sign * 1.0
    assert int(state.num_bad_evaluations) == 2
    assert float(state.scale) == 1.0
    _, state = tx.update({}, state, None, value=jnp.float32(sign * 0.5))  # still improves
    assert float(state.best) == sign * 0.5 and int(state.num_bad_evaluations) == 0


def test_jit_and_no_jit_agree(variant):
    case = next(c for c in CASES if c["name"] == "torch/cooldown_improvements_inside")
    tx = reduce_on_plateau(**case["config"])
    scales, _ = _run(tx, _values(case), update=variant(tx.update))
    np.testing.assert_allclose(scales, case["scales"], rtol=3e-7)


def test_scan_over_a_whole_sequence():
    case = next(c for c in CASES if c["name"] == "keras/random_4")
    tx = reduce_on_plateau(**case["config"])

    def body(state, v):
        _, state = tx.update({}, state, None, value=v)
        return state, state.scale

    _, scales = jax.lax.scan(body, tx.init({}), jnp.asarray(_values(case), jnp.float32))
    np.testing.assert_array_equal(np.asarray(scales), np.float32(case["scales"]))


def test_scales_updates_and_reports_the_scale_in_a_chain(variant):
    opt = optax.chain(optaxlr.sgd(0.5), reduce_on_plateau(patience=0, factor=0.5))
    params = {"w": jnp.ones(3), "b": jnp.ones((), jnp.bfloat16)}
    grads = {"w": jnp.ones(3), "b": jnp.ones((), jnp.bfloat16)}
    update = variant(opt.update)
    state = opt.init(params)
    assert float(optaxlr.hyperparams(state)["scale"]) == 1.0
    u, state = update(grads, state, params, value=1.0)  # first value: an improvement
    np.testing.assert_allclose(u["w"], -0.5)
    u, state = update(grads, state, params)  # no metric: no evaluation
    assert int(state[1].num_evaluations) == 1
    u, state = update(grads, state, params, value=1.0)  # bad, patience 0: reduce now
    np.testing.assert_allclose(u["w"], -0.25)
    assert u["b"].dtype == jnp.bfloat16
    hp = optaxlr.hyperparams(state)
    assert float(hp["scale"]) == 0.5 and float(hp["learning_rate"]) == 0.5
    assert "step" not in hp  # constant sgd counts nothing; the plateau's evaluations aren't steps


def test_state_is_a_named_tuple_with_saturating_counters():
    state = reduce_on_plateau().init({"w": jnp.ones(2)})
    assert isinstance(state, ReduceOnPlateauState)
    assert state.scale.dtype == jnp.float32
    assert optaxlr.hyperparams(state) == {"scale": 1.0}
    big = jnp.int32(np.iinfo(np.int32).max)
    full = state._replace(num_evaluations=big, num_bad_evaluations=big, best=jnp.float32(0.0))
    _, after = reduce_on_plateau(patience=np.iinfo(np.int32).max).update({}, full, None, value=1.0)
    assert int(after.num_evaluations) == int(after.num_bad_evaluations) == big


def test_value_must_be_a_scalar():
    tx = reduce_on_plateau()
    with pytest.raises(ValueError, match="value must be a scalar"):
        tx.update({}, tx.init({}), None, value=jnp.ones(3))


@pytest.mark.parametrize(
    "value",
    ["1.0", 1.0 + 2.0j, np.complex64(1.0), True, [1.0], jnp.float32, object()],
    ids=["str", "complex", "np.complex64", "bool", "list", "type", "object"],
)
def test_a_metric_that_is_not_a_real_number_is_refused_naming_value(value):
    tx = reduce_on_plateau()
    with pytest.raises(TypeError, match="value must be a real number"):
        tx.update({}, tx.init({}), None, value=value)


def test_a_traced_complex_metric_is_refused_while_tracing():
    # jnp.real would keep the scale going on the real part alone, silently.
    tx = reduce_on_plateau()
    update = jax.jit(lambda state, v: tx.update({}, state, None, value=v))
    with pytest.raises(TypeError, match="value must be a real number"):
        update(tx.init({}), jnp.complex64(1.0 + 1.0j))


REAL_KINDS = {
    "python_float": float,
    "python_int_when_integral": lambda v: int(v) if float(v).is_integer() else v,
    "numpy_float64": np.float64,
    "numpy_float32": np.float32,
    "numpy_0d_array": lambda v: np.asarray(v, np.float64),
    "jax_float32": jnp.float32,
}


@pytest.mark.parametrize("kind", sorted(REAL_KINDS))
def test_every_kind_of_real_scalar_gives_the_peers_decisions(kind, variant):
    # A case without NaN, whose values torch saw as Python floats.
    case = next(c for c in CASES if c["name"] == "torch/cooldown_improvements_inside")
    tx = reduce_on_plateau(**case["config"])
    convert = REAL_KINDS[kind]
    update = variant(lambda state, v: tx.update({}, state, None, value=v))
    state, scales = tx.init({}), []
    for v in _values(case):
        _, state = update(state, convert(v))
        scales.append(np.float32(state.scale))
    np.testing.assert_allclose(scales, case["scales"], rtol=3e-7)


def test_traced_value_in_a_jitted_step():
    opt = optax.chain(optaxlr.adam(1e-2), reduce_on_plateau(patience=1))
    params = {"w": jnp.ones(2)}

    @jax.jit
    def step(params, state, val_loss):
        updates, state = opt.update(params, state, params, value=val_loss)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    for v in [1.0, 1.0, 1.0]:
        params, state = step(params, state, v)
    assert float(optaxlr.hyperparams(state)["scale"]) == np.float32(0.1)


INVALID = [
    (dict(factor=1.0), ValueError, "factor must be a finite number in (0, 1)"),
    (dict(factor=0.0), ValueError, "factor"),
    (dict(factor=-0.5), ValueError, "factor"),
    (dict(patience=-1), ValueError, "patience must be an integer in [0, 2147483647]"),
    (dict(patience=2.5), TypeError, "patience must be an integer"),
    (dict(threshold=-1e-4), ValueError, "threshold must be a finite number in [0, inf)"),
    (dict(threshold=float("nan")), ValueError, "threshold"),
    (dict(threshold_mode="relative"), ValueError, "threshold_mode must be one of 'rel', 'abs'"),
    (dict(cooldown=-2), ValueError, "cooldown must be an integer in [0, 2147483647]"),
    (dict(min_scale=-0.1), ValueError, "min_scale must be a finite number in [0, 1]"),
    (dict(min_scale=1.5), ValueError, "min_scale"),
    (dict(mode="auto"), ValueError, "mode must be one of 'min', 'max'"),
    (dict(convention="optax"), ValueError, "convention must be one of 'torch', 'keras'"),
    (dict(eps=-1.0), ValueError, "eps must be a finite number in [0, inf)"),
    (dict(factor="0.1"), TypeError, "factor must be a number"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    with pytest.raises(error) as info:
        reduce_on_plateau(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(reduce_on_plateau).parameters) <= covered
