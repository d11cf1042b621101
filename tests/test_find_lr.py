"""The LR range test: known good regions, clean stops, one compiled loop, the result."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr.tools import LRFinderResult, find_lr, suggest_lrs


def _quadratic(curvature: float, dim: int = 8, steps: int = 100, seed: int = 0):
    """loss = a/2 |w - c|^2 with noisy targets c: SGD is stable for lr < 2/a, fastest at 1/a."""
    rng = np.random.default_rng(seed)
    targets = [rng.normal(1.0, 0.1, size=dim).astype(np.float32) for _ in range(steps)]

    def loss_fn(w, c):
        return 0.5 * curvature * jnp.sum((w - c) ** 2)

    return loss_fn, jnp.zeros(dim), targets


def _sgd(lr):
    return optaxlr.sgd(lr)


@pytest.mark.parametrize("curvature", [0.5, 4.0])
def test_quadratic_suggestions_are_in_the_stable_fast_region(curvature):
    loss_fn, w0, batches = _quadratic(curvature)
    result = find_lr(loss_fn, w0, batches, _sgd, max_lr=100.0)
    good = (0.05 / curvature, 2.0 / curvature)  # converges in ~20 steps .. diverges
    for rule in ("minimum", "steep"):
        lr = result.suggestions[rule]
        assert good[0] <= lr < good[1], (rule, lr, good)
    assert result.suggestion == result.suggestions["minimum"]
    # Past 2/a the loss explodes: the test stops there, not at max_lr.
    assert result.stop_reason == "diverged"
    assert 2.0 / curvature < result.lrs[-1] < 20.0 / curvature
    assert np.isfinite(result.losses).all() and np.isfinite(result.smoothed).all()


def _mlp_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 10)).astype(np.float32)
    y = (x @ rng.normal(size=(10, 4))).argmax(-1).astype(np.int32)
    params = {
        "w1": jnp.asarray(rng.normal(size=(10, 32)) / np.sqrt(10), jnp.float32),
        "b1": jnp.zeros(32),
        "w2": jnp.asarray(rng.normal(size=(32, 4)) / np.sqrt(32), jnp.float32),
    }

    def loss_fn(p, batch):
        xb, yb = batch
        logits = jnp.tanh(xb @ p["w1"] + p["b1"]) @ p["w2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 512, 32)]
    return loss_fn, params, batches


def _adam(lr):
    return optaxlr.adam(lr)


def test_small_model_suggestion_trains_nearly_as_well_as_the_best_grid_learning_rate():
    loss_fn, params, batches = _mlp_problem()
    result = find_lr(loss_fn, params, batches, _adam, min_lr=1e-6, max_lr=10.0)
    lr = result.suggestion
    # The known good region: train 300 steps at a log grid of rates and at the suggestion.
    grid = np.geomspace(1e-4, 3.0, 12)
    rates = np.append(grid, lr).astype(np.float32)
    runs = optaxlr.sweep(loss_fn, params, batches, lambda learning_rate: optaxlr.adam(
        learning_rate), {"learning_rate": rates}, num_steps=300)
    final = runs.final["train_loss"]
    best = np.nanmin(final[:-1])
    good_rates = grid[final[:-1] < 10 * best]  # here: 0.028 and 0.071 (the best)
    assert good_rates.min() <= lr <= good_rates.max(), (lr, final)
    assert final[-1] < 2 * best, (lr, final)


def test_too_large_range_diverges_cleanly():
    loss_fn, w0, batches = _quadratic(4.0)
    result = find_lr(loss_fn, w0, batches, _sgd, min_lr=10.0, max_lr=1e6)
    assert result.stop_reason == "diverged"
    assert result.steps_run < 10
    assert np.isfinite(result.losses).all()
    assert "stopped at step" in result.summary()
    json.dumps(result.to_dict(), allow_nan=False)


def test_nan_loss_ends_the_sweep_and_is_left_out():
    def loss_fn(w, c):
        loss = jnp.sum((w - c) ** 2)
        return jnp.where(jnp.max(jnp.abs(w)) > 100.0, jnp.nan, loss)

    _, w0, batches = _quadratic(2.0)
    result = find_lr(loss_fn, w0, batches, _sgd, diverge_threshold=1e30)
    assert result.stop_reason == "nan"
    assert 0 < result.steps_run < 100
    assert np.isfinite(result.losses).all() and np.isfinite(result.smoothed).all()
    assert "non-finite" in result.summary()


def test_nan_at_the_first_step_gives_an_empty_result():
    result = find_lr(lambda w, b: jnp.sum(w) * jnp.nan, jnp.ones(3), [0.0] * 4, _sgd,
                     num_steps=4)
    assert result.stop_reason == "nan" and result.steps_run == 0
    assert result.suggestion is None
    assert "no finite loss" in result.summary()
    result.plot()


def test_one_compiled_loop_reused_across_ranges_and_params_untouched():
    traces = []

    def loss_fn(w, c):
        traces.append(1)
        return jnp.sum((w - c) ** 2)

    _, w0, batches = _quadratic(2.0, steps=60)
    w_before = np.asarray(w0).copy()
    first = find_lr(loss_fn, w0, batches, _sgd, num_steps=60)
    n = len(traces)
    assert n <= 2  # traced once for the whole loop (not once per step)
    second = find_lr(loss_fn, w0, batches, _sgd, num_steps=60, min_lr=1e-4, max_lr=1.0,
                     smoothing=0.9, diverge_threshold=3.0)
    assert len(traces) == n  # min_lr, max_lr, smoothing, threshold are traced: no recompile
    assert second.lrs[0] == pytest.approx(1e-4, rel=1e-6) and first.lrs[0] == pytest.approx(1e-7)
    np.testing.assert_array_equal(np.asarray(w0), w_before)  # still alive and unchanged


def test_lrs_follow_lr_range_in_both_modes():
    loss_fn, w0, batches = _quadratic(0.01, steps=20)
    for mode in ("exp", "linear"):
        result = find_lr(loss_fn, w0, batches, _sgd, min_lr=1e-3, max_lr=1e-1, num_steps=20,
                         mode=mode)
        expected = optaxlr.schedules.lr_range(1e-3, 1e-1, 20, mode)(np.arange(20))
        np.testing.assert_allclose(result.lrs, expected, rtol=1e-6)
        assert result.stop_reason == "completed"


def test_callable_batches_and_cycled_collections():
    loss_fn, w0, batches = _quadratic(1.0, steps=5)
    stacked = jnp.stack(batches)
    a = find_lr(loss_fn, w0, lambda step: stacked[step % 5], _sgd, num_steps=30)
    b = find_lr(loss_fn, w0, batches, _sgd, num_steps=30)  # a list of 5, cycled
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-6)
    with pytest.raises(ValueError, match="ran out after 5 batches"):
        find_lr(loss_fn, w0, iter(batches), _sgd, num_steps=30)


def test_flax_nnx_model():
    from flax import nnx

    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    kernel_before = np.asarray(model.kernel[...]).copy()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]

    def loss_fn(m, batch):
        return jnp.mean((m(batch[0]) - batch[1]) ** 2)

    result = find_lr(loss_fn, model, batches, _sgd, num_steps=60, min_lr=1e-4)
    assert result.stop_reason == "diverged"
    assert 0.05 < result.suggestion < 1.0  # MSE curvature ~2 * E[x^2] = 2
    np.testing.assert_array_equal(np.asarray(model.kernel[...]), kernel_before)


def test_plot_marks_every_suggestion():
    import matplotlib

    matplotlib.use("Agg")
    loss_fn, w0, batches = _quadratic(4.0)
    result = find_lr(loss_fn, w0, batches, _sgd)
    fig = result.plot()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("minimum/10") for label in labels)
    assert any(label.startswith("steep") for label in labels)
    assert isinstance(result, LRFinderResult) and str(result) == result.summary()


def test_suggest_lrs_rules():
    lrs = np.geomspace(1e-4, 1.0, 41)
    # Flat, then a descent between 1e-3 and 1e-1, then up.
    x = np.log10(lrs)
    loss = 2.0 - np.clip(x + 3, 0, 2) * 0.5 + np.where(x > -1, (x + 1) * 5, 0.0)
    s = suggest_lrs(lrs, loss)
    assert s["minimum"] == pytest.approx(0.01, rel=1e-6)
    assert 1e-3 <= s["steep"] <= 1e-1 and 1e-3 <= s["valley"] <= 1e-1
    assert suggest_lrs(lrs[:2], loss[:2])["steep"] is None
    assert suggest_lrs([], []) == {"minimum": None, "steep": None, "valley": None}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, ValueError, "max_lr must be greater than min_lr"),
        ({"min_lr": 0.0}, ValueError, "min_lr"),
        ({"mode": "log"}, ValueError, "mode"),
        ({"num_steps": 1}, ValueError, "num_steps"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"diverge_threshold": 1.0}, ValueError, "diverge_threshold"),
        ({"num_steps": 2.5}, TypeError, "num_steps"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    loss_fn, w0, batches = _quadratic(1.0, steps=4)
    with pytest.raises(error, match=match):
        find_lr(loss_fn, w0, batches, _sgd, **kwargs)


def test_invalid_inputs():
    loss_fn, w0, batches = _quadratic(1.0, steps=4)
    with pytest.raises(TypeError, match="optimizer"):
        find_lr(loss_fn, w0, batches, optaxlr.sgd(0.1))
    with pytest.raises(TypeError, match="loss_fn"):
        find_lr(None, w0, batches, _sgd)
    with pytest.raises(TypeError, match="batches"):
        find_lr(loss_fn, w0, 3, _sgd)
    with pytest.raises(ValueError, match="same shapes"):
        find_lr(loss_fn, w0, [np.zeros(8), np.zeros(7)], _sgd, num_steps=2)
    with pytest.raises(TypeError, match="floating-point"):
        find_lr(loss_fn, jnp.arange(8), batches, _sgd)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_steps": 2**31}, ValueError, r"num_steps must be an integer in \[2, 2147483647\]"),
        ({"num_steps": True}, TypeError, "num_steps must be an integer"),
        ({"min_lr": True}, TypeError, "min_lr must be a number"),
        # In range as Python floats, out of range once rounded to the loop's float32:
        ({"max_lr": 1e39}, ValueError, r"max_lr .* got inf \(the float32 rounding of 1e\+39\)"),
        ({"min_lr": 1e-50}, ValueError, r"min_lr must be a finite number in \(0, inf\)"),
        ({"smoothing": 1 - 1e-10}, ValueError, r"smoothing .* got 1.0 \(the float32 rounding"),
        ({"min_lr": 1.0, "max_lr": 1.0 + 1e-10}, ValueError, "max_lr must be greater than min_lr"),
    ],
)
def test_invalid_limits(kwargs, error, match):
    loss_fn, w0, batches = _quadratic(1.0, steps=4)
    with pytest.raises(error, match=match):
        find_lr(loss_fn, w0, batches, _sgd, **kwargs)


def test_bad_optimizer_and_loss_are_named_before_compiling():
    traces = []
    loss_fn, w0, batches = _quadratic(1.0, steps=4)

    def counted_loss(w, c):
        traces.append(1)
        return loss_fn(w, c)

    def run(optimizer, loss=counted_loss):
        return find_lr(loss, w0, batches, optimizer, num_steps=4)

    with pytest.raises(ValueError, match="optimizer failed on the range test's .* b1 must be"):
        run(lambda lr: optaxlr.adam(lr, b1=1.5))
    with pytest.raises(TypeError, match="optimizer failed on the range test's"):
        run(lambda: optaxlr.adam(1e-3))
    with pytest.raises(TypeError, match=r"optimizer\(\.\.\.\) must be an optax\.Gradient"):
        run(lambda lr: lr)
    assert traces == []
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar, got shape \(8,\)"):
        run(_sgd, lambda w, c: (w - c) ** 2)
    with pytest.raises(TypeError, match="loss_fn must return a number, got 'x'"):
        run(_sgd, lambda w, c: "x")
    with pytest.raises(TypeError, match="batches must hold arrays of numbers"):
        find_lr(loss_fn, w0, ["a", "b"], _sgd, num_steps=2)
    with pytest.raises(ValueError, match="batches must hold arrays, got None"):
        find_lr(loss_fn, w0, [None, None], _sgd, num_steps=2)


def test_json_form_round_trips():
    loss_fn, w0, batches = _quadratic(4.0)
    result = find_lr(loss_fn, w0, batches, _sgd)
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    np.testing.assert_allclose(d["lrs"], result.lrs)
    np.testing.assert_allclose(d["smoothed"], result.smoothed)
    assert d["suggestion"] == result.suggestion and d["suggestions"] == result.suggestions
    assert d["stop_reason"] == "diverged" and d["num_steps"] == 100


def test_plot_on_given_axes_cuts_off_the_explosion():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss_fn, w0, batches = _quadratic(4.0)
    result = find_lr(loss_fn, w0, batches, _sgd)
    fig, ax = plt.subplots()
    assert result.plot(ax, show_raw=False) is fig
    assert ax.get_xscale() == "log"
    top = ax.get_ylim()[1]
    assert result.smoothed[0] <= top < result.smoothed.max()  # the start shown, the end cut
    plt.close(fig)
