"""Parallel sweeps: K vmapped copies equal K separate runs, without recompiling."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.tools import SweepResult, grid, log_uniform, sweep

STEPS = 60


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(128, 6)).astype(np.float32)
    y = (x @ rng.normal(size=(6, 3))).argmax(-1).astype(np.int32)
    params = {
        "w1": jnp.asarray(rng.normal(size=(6, 16)) / np.sqrt(6), jnp.float32),
        "b1": jnp.zeros(16),
        "w2": jnp.asarray(rng.normal(size=(16, 3)) / 4, jnp.float32),
    }

    def logits(p, xb):
        return jnp.tanh(xb @ p["w1"] + p["b1"]) @ p["w2"]

    def loss_fn(p, batch):
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, batch[0]), batch[1]).mean()

    def eval_fn(p):
        return {"accuracy": jnp.mean(logits(p, x).argmax(-1) == y), "loss": loss_fn(p, (x, y))}

    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 128, 16)]
    return loss_fn, eval_fn, params, batches


def _optimizer(learning_rate, momentum, weight_decay):
    lr = optaxlr.schedules.warmup(optaxlr.schedules.cosine(learning_rate, STEPS - 10), 10)
    return optaxlr.sgd(lr, momentum=momentum, weight_decay=weight_decay)


def _separate_run(loss_fn, params, batches, tx, steps):
    state = tx.init(params)

    @jax.jit
    def step(p, s, batch):
        loss, grads = jax.value_and_grad(loss_fn)(p, batch)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    losses = []
    for i in range(steps):
        params, state, loss = step(params, state, batches[i % len(batches)])
        losses.append(float(loss))
    return params, np.asarray(losses)


def test_k_copies_equal_k_separate_runs():
    loss_fn, _, params, batches = _problem()
    hp = grid(learning_rate=[0.03, 0.3], momentum=[0.0, 0.9], weight_decay=[0.0, 1e-2])
    result = sweep(loss_fn, params, batches, _optimizer, hp, num_steps=STEPS, return_params=True)
    assert result.size == 8 and result.losses.shape == (8, STEPS)
    trained, _ = result.params
    for k in range(result.size):
        tx = _optimizer(**{name: float(v[k]) for name, v in hp.items()})
        p, losses = _separate_run(loss_fn, params, batches, tx, STEPS)
        np.testing.assert_allclose(result.losses[k], losses, rtol=2e-5, atol=1e-6)
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(trained), strict=True):
            np.testing.assert_allclose(b[k], a, rtol=2e-5, atol=1e-6)
    # The copies really differ: every hyperparameter changes the trajectory.
    assert len({round(float(v), 6) for v in result.final["train_loss"]}) == 8


def test_new_hyperparameter_values_do_not_recompile():
    traces = []
    loss_fn, _, params, batches = _problem()

    def counted_loss(p, batch):
        traces.append(1)
        return loss_fn(p, batch)

    hp = {"learning_rate": [0.1, 0.2, 0.3], "momentum": [0.9] * 3, "weight_decay": [0.0] * 3}
    a = sweep(counted_loss, params, batches, _optimizer, hp, num_steps=STEPS)
    n = len(traces)
    assert n <= 2  # traced once for all copies and steps
    hp2 = {"learning_rate": [0.01, 0.02, 0.5], "momentum": [0.5, 0.8, 0.0],
           "weight_decay": [1e-3, 0.0, 0.1]}
    b = sweep(counted_loss, params, batches, _optimizer, hp2, num_steps=STEPS)
    assert len(traces) == n
    assert not np.allclose(a.losses, b.losses)


def test_eval_curves_best_table_plot_and_json():
    import matplotlib

    matplotlib.use("Agg")
    loss_fn, eval_fn, params, batches = _problem()
    lrs = log_uniform(0, 6, 1e-3, 1.0)

    def adam(learning_rate):
        return optaxlr.adam(learning_rate)

    result = sweep(loss_fn, params, batches, adam, {"learning_rate": lrs}, num_steps=STEPS,
                   eval_fn=eval_fn, eval_every=20)
    assert isinstance(result, SweepResult)
    np.testing.assert_array_equal(result.eval_steps, [20, 40, 60])
    assert result.metrics["accuracy"].shape == (6, 3)
    assert set(result.final) == {"train_loss", "accuracy", "loss"}
    k = result.best("accuracy", "max")
    assert result.final["accuracy"][k] == result.final["accuracy"].max()
    assert result.best_hparams("loss")["learning_rate"] == pytest.approx(
        float(lrs[result.best("loss")]))
    assert "learning_rate" in result.table() and len(result.table().splitlines()) == 8
    json.dumps(result.to_dict(), allow_nan=False)
    assert len(result.plot("accuracy").axes) == 2


def test_diverging_copies_are_nan_not_errors():
    def loss_fn(w, target):
        return jnp.sum((w - target) ** 2)

    def sgd(learning_rate):
        return optaxlr.sgd(learning_rate)

    result = sweep(loss_fn, jnp.zeros(4), [np.ones(4, np.float32)], sgd,
                   {"learning_rate": [0.1, 1e8]}, num_steps=40)
    assert np.isfinite(result.final["train_loss"][0])
    assert not np.isfinite(result.final["train_loss"][1])
    assert result.best() == 0
    json.dumps(result.to_dict(), allow_nan=False)


def test_flax_nnx_model_sweep():
    from flax import nnx

    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)

    def loss_fn(m, batch):
        return jnp.mean((m(batch[0]) - batch[1]) ** 2)

    def sgd(learning_rate):
        return optaxlr.sgd(learning_rate)

    result = sweep(loss_fn, model, lambda step: (x, y), sgd, {"learning_rate": [0.001, 0.1]},
                   num_steps=50, eval_fn=lambda m: loss_fn(m, (x, y)))
    assert result.final["metric"][1] < result.final["metric"][0]


def test_grid_and_log_uniform():
    g = grid(learning_rate=[0.1, 0.01], momentum=[0.0, 0.5, 0.9])
    assert g["learning_rate"].tolist() == pytest.approx([0.1] * 3 + [0.01] * 3)
    assert g["momentum"].tolist() == pytest.approx([0.0, 0.5, 0.9] * 2)
    a = log_uniform(0, 1000)
    assert a.dtype == np.float32 and a.min() >= 1e-5 and a.max() <= 1e-1
    assert np.mean(a < 1e-3) == pytest.approx(0.5, abs=0.06)  # uniform in the exponent
    np.testing.assert_array_equal(a, log_uniform(0, 1000))
    b = log_uniform(jax.random.key(0), 10, 1e-4, 1e-2)
    assert b.shape == (10,) and b.min() >= 1e-4 and b.max() <= 1e-2


@pytest.mark.parametrize(
    "hparams, kwargs, error, match",
    [
        ({"learning_rate": [0.1, 0.2], "momentum": [0.9]}, {}, ValueError, "same length"),
        ({"learning rate": [0.1]}, {}, ValueError, "argument names"),
        ({"learning_rate": [[0.1]]}, {}, ValueError, "1-D"),
        ({"learning_rate": [np.nan]}, {}, ValueError, "finite"),
        ({}, {}, TypeError, "non-empty dict"),
        ({"learning_rate": [0.1]}, {"eval_every": 7}, ValueError, "eval_every must divide"),
        ({"learning_rate": [0.1]}, {"num_steps": 0}, ValueError, "num_steps"),
        ({"learning_rate": [0.1]}, {"return_params": 1}, TypeError, "return_params"),
        ({"lr": [0.1]}, {}, TypeError, "optimizer must accept"),
    ],
)
def test_invalid_arguments(hparams, kwargs, error, match):
    loss_fn, _, params, batches = _problem()

    def sgd(learning_rate):
        return optaxlr.sgd(learning_rate)

    args = {"num_steps": 20, **kwargs}
    with pytest.raises(error, match=match):
        sweep(loss_fn, params, batches, sgd, hparams, **args)


def test_grid_and_log_uniform_errors():
    with pytest.raises(ValueError, match="at least one"):
        grid()
    with pytest.raises(ValueError, match="momentum"):
        grid(momentum=[])
    with pytest.raises(ValueError, match="high must be greater than low"):
        log_uniform(0, 3, 1e-2, 1e-3)
    with pytest.raises(ValueError, match="num"):
        log_uniform(0, 0)


def _adam_b1(learning_rate, b1):
    return optaxlr.adam(learning_rate, b1=b1)


@pytest.mark.parametrize(
    "optimizer, hparams, match",
    [
        # What the optimizer's constructor rejects, named by the swept argument and copy.
        (lambda learning_rate: optaxlr.sgd(learning_rate), {"learning_rate": [0.1, 0.2, -0.1]},
         r"hparams\['learning_rate'\]\[2\] = -0.1 is rejected by the optimizer: learning_rate"),
        (_adam_b1, grid(learning_rate=[1e-3, 1e-2], b1=[0.9, 1.5]),
         r"hparams\['b1'\]\[1\] = 1.5 is rejected by the optimizer: b1 must be"),
        # The swept name need not be the constructor's.
        (lambda mom: optaxlr.sgd(0.1, momentum=mom), {"mom": [0.9, 1.0, 2.0]},
         r"hparams\['mom'\]\[2\] = 2 is rejected by the optimizer: momentum"),
        (_adam_b1, {"learning_rate": [-1.0], "b1": [1.5]},
         r"copy 0 of hparams \(learning_rate=-1, b1=1.5\) is rejected"),
        (lambda learning_rate: optaxlr.sgd(learning_rate), {"learning_rate": [0.1, 1e39]},
         r"hparams\['learning_rate'\] must be finite in float32, got 1e\+39 at 1"),
    ],
)
def test_swept_values_are_validated_before_anything_is_compiled(optimizer, hparams, match):
    traces = []
    loss_fn, _, params, batches = _problem()

    def counted_loss(p, batch):
        traces.append(1)
        return loss_fn(p, batch)

    with pytest.raises(ValueError, match=match):
        sweep(counted_loss, params, batches, optimizer, hparams, num_steps=20)
    assert traces == []


def test_integer_arguments_cannot_be_swept():
    loss_fn, _, params, batches = _problem()

    def warmed(learning_rate, warmup_steps):
        cosine = optaxlr.schedules.cosine(learning_rate, STEPS)
        return optaxlr.sgd(optaxlr.schedules.warmup(cosine, warmup_steps))

    # Every copy gets float32 values, so no copy builds and none can show which value is bad:
    # the error lists the first copy's values.
    hp = {"learning_rate": [0.1, 0.1], "warmup_steps": [5, 10]}
    with pytest.raises(TypeError, match=r"copy 0 of hparams \(learning_rate=0.1, warmup_steps=5\)"
                       r" is rejected by the optimizer: warmup_steps must be an integer"):
        sweep(loss_fn, params, batches, warmed, hp, num_steps=STEPS)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_steps": 2**31}, ValueError, r"num_steps must be an integer in \[1, 2147483647\]"),
        ({"num_steps": True}, TypeError, "num_steps must be an integer"),
        ({"eval_every": True}, TypeError, "eval_every must be an integer"),
        ({"eval_every": 0}, ValueError, "eval_every"),
        ({"eval_fn": 3}, TypeError, "eval_fn"),
    ],
)
def test_invalid_step_counts(kwargs, error, match):
    loss_fn, _, params, batches = _problem()
    args = {"num_steps": 20, **kwargs}
    with pytest.raises(error, match=match):
        sweep(loss_fn, params, batches, lambda learning_rate: optaxlr.sgd(learning_rate),
              {"learning_rate": [0.1]}, **args)


def test_bad_functions_are_named():
    loss_fn, _, params, batches = _problem()

    def sgd(learning_rate):
        return optaxlr.sgd(learning_rate)

    hp = {"learning_rate": [0.1, 0.2]}
    with pytest.raises(TypeError, match=r"optimizer\(\.\.\.\) must be an optax\.Gradient"):
        sweep(loss_fn, params, batches, lambda learning_rate: learning_rate, hp, num_steps=4)
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar, got shape \(16,\)"):
        sweep(lambda p, b: b[1] * p["b1"].sum(), params, batches, sgd, hp, num_steps=4)
    with pytest.raises(ValueError, match=r"eval_fn \(for 'per_class'\) must return a scalar"):
        sweep(loss_fn, params, batches, sgd, hp, num_steps=4,
              eval_fn=lambda p: {"per_class": p["w2"].sum(0)})
    with pytest.raises(ValueError, match=r"hparams\['learning_rate'\] must be a non-empty 1-D"):
        sweep(loss_fn, params, batches, sgd, {"learning_rate": [True, False]}, num_steps=4)
    with pytest.raises(TypeError, match="batches must hold arrays of numbers"):
        sweep(loss_fn, params, [("a", "b")] * 4, sgd, hp, num_steps=4)


def test_json_form_keeps_integers_and_drops_parameters():
    def loss_fn(w, target):
        return jnp.sum((w - target) ** 2)

    result = sweep(loss_fn, jnp.zeros(4), [np.ones(4, np.float32)],
                   lambda learning_rate: optaxlr.sgd(learning_rate),
                   {"learning_rate": [0.1, 1e8]}, num_steps=40, eval_fn=lambda w: w.sum(),
                   eval_every=20, return_params=True)
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["eval_steps"] == [20, 40] and all(type(s) is int for s in d["eval_steps"])
    assert "params" not in d
    assert d["final"]["metric"][0] == pytest.approx(4.0, rel=1e-3)  # w converged to the target
    assert d["final"]["train_loss"][1] is None  # the diverged copy: NaN in JSON is None
    assert d["hparams"]["learning_rate"] == pytest.approx([0.1, 1e8])


def test_plot_rejects_unknown_names():
    import matplotlib

    matplotlib.use("Agg")
    loss_fn, _, params, batches = _problem()
    result = sweep(loss_fn, params, batches, lambda learning_rate: optaxlr.sgd(learning_rate),
                   {"learning_rate": [0.01, 0.1]}, num_steps=20)
    with pytest.raises(ValueError, match="hparam must be one of 'learning_rate'"):
        result.plot(hparam="momentum")
    with pytest.raises(ValueError, match="metric must be one of 'train_loss'"):
        result.plot("accuracy")
