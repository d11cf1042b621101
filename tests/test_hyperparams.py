"""`optaxlr.hyperparams`: one flat dict from any optimizer state, under jit or not."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr

F32 = jnp.float32  # explicit: a weakly typed first input would compile a second time


def _params():
    return {
        "backbone": {
            "w": jnp.linspace(-1.0, 1.0, 6, dtype=F32).reshape(2, 3),
            "b": jnp.ones(3, F32),
        },
        "head": {"w": jnp.full((3, 2), 0.5, F32), "b": jnp.zeros(2, F32)},
    }


def _grads(params):
    return jax.tree.map(lambda p: 0.1 * p + 0.01, params)


def _steps(opt, n, params=None, update=None):
    params = _params() if params is None else params
    update = update or opt.update
    state = opt.init(params)
    for _ in range(n):
        updates, state = update(_grads(params), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def _floats(d):
    return {k: float(v) for k, v in d.items()}


LR = lambda step: 0.1 / (1.0 + step.astype(jnp.float32))


def test_alias_values_and_step():
    opt = optaxlr.sgd(LR, momentum=0.9, weight_decay=1e-4)
    _, state = _steps(opt, 3)
    hps = optaxlr.hyperparams(state)
    assert list(hps) == ["step", "weight_decay", "momentum", "learning_rate"]
    assert int(hps["step"]) == 3
    np.testing.assert_allclose(hps["learning_rate"], 0.1 / 3.0, rtol=1e-6)  # schedule(2)
    np.testing.assert_allclose(hps["momentum"], 0.9, rtol=1e-7)


def test_before_any_update_reports_step_zero_values():
    state = optaxlr.adam(LR, b1=lambda s: 0.8 + 0.0 * s).init(_params())
    hps = _floats(optaxlr.hyperparams(state))
    assert hps["step"] == 0
    assert hps["learning_rate"] == pytest.approx(0.1)
    assert hps["b1"] == pytest.approx(0.8)


def test_works_under_jit_without_recompiling():
    opt = optaxlr.adamw(LR, weight_decay=1e-2)

    @jax.jit
    def train_step(params, state):
        updates, state = opt.update(_grads(params), state, params)
        return optax.apply_updates(params, updates), state, optaxlr.hyperparams(state)

    params = _params()
    state = opt.init(params)
    logged = []
    for _ in range(5):
        params, state, hps = train_step(params, state)
        logged.append(_floats(hps))
        assert _floats(optaxlr.hyperparams(state)) == logged[-1]  # outside jit: the same
    assert train_step._cache_size() == 1
    assert [h["step"] for h in logged] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(
        [h["learning_rate"] for h in logged], [0.1 / (1 + s) for s in range(5)], rtol=1e-6
    )


def test_nested_chain_disambiguates_by_position():
    opt = optax.chain(optaxlr.sgd(0.1), optaxlr.scale_by_learning_rate(0.5, flip_sign=False))
    _, state = _steps(opt, 1)
    assert _floats(optaxlr.hyperparams(state)) == {
        "0/0/learning_rate": pytest.approx(0.1),
        "1/learning_rate": 0.5,
    }


def test_partition_prefixes_with_labels_only_where_names_clash():
    opt = optax.partition(
        {"backbone": optaxlr.sgd(0.01, momentum=0.9), "head": optaxlr.adam(1e-3)},
        lambda p: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in p.items()},
    )
    _, state = _steps(opt, 2, update=jax.jit(opt.update))
    hps = _floats(optaxlr.hyperparams(state))
    assert hps == {
        "step": 2.0,
        "momentum": pytest.approx(0.9),
        "backbone/learning_rate": pytest.approx(0.01),
        "b1": pytest.approx(0.9),
        "b2": pytest.approx(0.999),
        "eps": pytest.approx(1e-8),
        "head/learning_rate": pytest.approx(1e-3),
    }


def test_multisteps_reports_gradient_steps():
    opt = optax.MultiSteps(optaxlr.adam(LR), every_k_schedule=3)
    _, state = _steps(opt, 7, update=jax.jit(opt.update))
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == 2
    np.testing.assert_allclose(hps["learning_rate"], 0.1 / 2.0, rtol=1e-6)


def test_masked_and_inject_hyperparams_of_optax():
    opt = optax.chain(
        optax.masked(
            optaxlr.add_decayed_weights(1e-3), lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
        ),
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.3),
    )
    _, state = _steps(opt, 2)
    hps = _floats(optaxlr.hyperparams(state))
    assert hps["weight_decay"] == pytest.approx(1e-3)
    assert hps["learning_rate"] == pytest.approx(0.3)  # injected into an optax optimizer
    assert hps["step"] == 2


def test_inject_wrapping_optaxlr_reports_each_name_once():
    opt = optax.inject_hyperparams(optaxlr.adam)(learning_rate=LR)
    _, state = _steps(opt, 2)
    hps = optaxlr.hyperparams(state)
    assert sorted(hps) == ["b1", "b2", "eps", "learning_rate", "step", "weight_decay"]
    np.testing.assert_allclose(hps["learning_rate"], 0.05, rtol=1e-6)


def test_nnx_optimizer_state():
    from flax import nnx

    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optaxlr.sgd(LR, momentum=0.9), wrt=nnx.Param)
    grads = nnx.state(model, nnx.Param)
    optimizer.update(model, grads)
    optimizer.update(model, grads)
    hps = _floats(optaxlr.hyperparams(optimizer.opt_state))
    assert hps["step"] == 2
    assert hps["learning_rate"] == pytest.approx(0.05)
    assert hps["momentum"] == pytest.approx(0.9)


def test_state_without_hyperparameters_is_an_error():
    state = optax.adam(1e-3).init(_params())
    with pytest.raises(ValueError, match="no hyperparameters"):
        optaxlr.hyperparams(state)


def test_spec_resolves_numbers_arrays_and_schedules():
    from optaxlr._hyperparams import HyperparamSpec

    spec = HyperparamSpec(a=0.5, b=jnp.float16(2.0), c=LR)
    values = spec.values(jnp.int32(4))
    assert values["a"] == 0.5 and type(values["a"]) is float  # a number stays a number
    np.testing.assert_allclose(values["c"], 0.02, rtol=1e-6)
    record = spec.record(values)
    assert record.constants == (("a", 0.5),)
    assert {k: v.dtype for k, v in record.values.items()} == {"b": F32, "c": F32}
    assert list(record.as_dict()) == ["a", "b", "c"]


# The keys of every alias alone and after clip_by_global_norm (docs/design.md's table).
KEYS = {
    "sgd": ["learning_rate"],
    "adagrad": ["eps", "learning_rate"],
    "rmsprop": ["decay", "eps", "learning_rate"],
    "adam": ["step", "b1", "b2", "eps", "learning_rate"],
    "adamw": ["step", "b1", "b2", "eps", "learning_rate", "weight_decay"],
    "adadelta": ["rho", "eps", "learning_rate"],
    "radam": ["step", "b1", "b2", "eps", "learning_rate"],
    "nadam": ["step", "b1", "b2", "eps", "momentum_decay", "learning_rate"],
    "adamax": ["step", "b1", "b2", "eps", "learning_rate"],
    "lion": ["b1", "b2", "learning_rate"],
    "rprop": ["eta_minus", "eta_plus", "step_size_min", "step_size_max", "learning_rate"],
    "asgd": ["step", "lambd", "alpha", "t0", "weight_decay", "learning_rate"],
    "lamb": ["step", "b1", "b2", "eps", "learning_rate"],
    "lars": ["weight_decay", "trust_coefficient", "momentum", "dampening", "learning_rate"],
    "adafactor": ["step", "learning_rate", "beta2_decay", "eps2", "d"],
    "schedule_free_sgd": ["step", "learning_rate", "b1", "warmup_steps", "r", "weight_lr_power",
                          "effective_learning_rate", "averaging_weight"],
    "schedule_free_adamw": ["step", "b2", "eps", "learning_rate", "b1", "warmup_steps", "r",
                            "weight_lr_power", "effective_learning_rate", "averaging_weight"],
    "prodigy": ["step", "learning_rate", "b1", "b2", "eps", "weight_decay", "d0", "d_coef",
                "growth_rate", "d", "effective_learning_rate"],
    "dadapt_adam": ["step", "learning_rate", "b1", "b2", "eps", "weight_decay", "d0",
                    "growth_rate", "d", "effective_learning_rate"],
    "dadapt_sgd": ["step", "learning_rate", "momentum", "weight_decay", "d0", "growth_rate",
                   "d", "effective_learning_rate"],
    "muon": ["step", "b1", "b2", "adamw/eps", "adamw/learning_rate", "adamw/weight_decay",
             "momentum", "muon/eps", "ns_a", "ns_b", "ns_c", "muon/learning_rate",
             "muon/weight_decay"],
}  # fmt: skip


def test_the_key_table_covers_every_alias():
    assert set(KEYS) == set(optaxlr.aliases.__all__)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_keys_of_every_alias_alone_and_after_clipping(name):
    alias = getattr(optaxlr, name)(learning_rate=0.1)
    _, state = _steps(alias, 2)
    assert list(optaxlr.hyperparams(state)) == KEYS[name]
    clipped = optax.chain(optaxlr.clip_by_global_norm(1.0), getattr(optaxlr, name)(0.1))
    _, state = _steps(clipped, 2)
    keys = KEYS[name]
    expected = (
        ["step", "max_norm", *[k for k in keys if k != "step"]]
        if "step" in keys
        else ["max_norm", *keys]
    )
    assert list(optaxlr.hyperparams(state)) == expected
    if "step" in keys:
        assert int(optaxlr.hyperparams(state)["step"]) == 2


def test_keys_with_a_schedule_count_steps():
    _, state = _steps(optaxlr.sgd(LR, momentum=0.9), 3)
    assert list(optaxlr.hyperparams(state)) == ["step", "momentum", "learning_rate"]
    assert int(optaxlr.hyperparams(state)["step"]) == 3


def test_nnx_example_trains_and_logs():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "nnx_train.py"
    spec = importlib.util.spec_from_file_location("nnx_train_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(epochs=3, verbose=False)
    assert result["step"] == 3 * (example.N_TRAIN // example.BATCH)
    assert result["accuracy"] > 0.8
    assert {"learning_rate", "b1", "weight_decay", "max_norm"} <= set(result)
