"""spike_guard: skip decisions and statistics against a numpy reference; skip semantics."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr.training import SpikeGuardState, skip_nonfinite, spike_guard

Z, WARMUP, DECAY, CAP = 3.0, 8, 0.9, 3


def _sequence() -> np.ndarray:
    """A noisy level drifting down, with a spike in the warmup, a lone spike, a run of six
    spikes (longer than the cap), then a lasting jump of the level."""
    rng = np.random.default_rng(0)
    x = 2.0 * np.exp(-np.arange(90) / 200) * (1 + 0.05 * rng.standard_normal(90))
    x[3] = 3.0  # during the warmup: applied, and fed to the statistics
    x[20] = 9.0
    x[30:36] = [10.0, 12.0, 11.0, 13.0, 10.5, 12.5]
    x[70:] *= 10.0
    return x


def _reference(xs, z=Z, warmup=WARMUP, decay=DECAY, cap=CAP):
    """(skip, consecutive, skipped total, threshold) per step, in float64, from the weighted
    mean and variance of the applied steps, written out."""
    applied: list[float] = []
    consecutive = skipped = 0
    out = []
    for x in xs:
        n = len(applied)
        threshold = np.inf
        if n >= warmup:
            h = np.asarray(applied)
            w = decay ** np.arange(n - 1, -1, -1, dtype=np.float64)
            mean = np.sum(w * h) / np.sum(w)
            var = np.sum(w * (h - mean) ** 2) / np.sum(w)
            threshold = mean + z * np.sqrt(var)
        spike = x > threshold
        consecutive = consecutive + 1 if spike else 0
        skip = spike and consecutive <= cap
        skipped += skip
        if not skip:
            applied.append(x)
        out.append((skip, consecutive, skipped, threshold))
    return out


def _direction():
    """Two leaves (one bfloat16) whose global norm is 1."""
    v = np.random.default_rng(1).standard_normal(7)
    v /= np.linalg.norm(v)
    return {"a": v[:4].reshape(2, 2), "b": v[4:]}


def _grads(x):
    d = _direction()
    return {"a": jnp.asarray(x * d["a"], jnp.float32), "b": jnp.asarray(x * d["b"], jnp.float32)}


def _params():
    return {"a": jnp.ones((2, 2)), "b": jnp.zeros(3)}


def _inner():
    return optaxlr.adamw(optaxlr.schedules.linear(0.1, 0.0, transition_steps=100))


def test_the_reference_sequence_exercises_every_rule():
    ref = _reference(_sequence())
    skips = [i for i, (s, *_) in enumerate(ref) if s]
    assert 3 not in skips  # the warmup spike is applied
    assert 20 in skips and [30, 31, 32] == [i for i in skips if 30 <= i < 36]
    assert ref[33][0] is False and ref[33][1] == 4  # past the cap: applied, still a spike
    assert [70, 71, 72] == [i for i in skips if i >= 70]  # the jump, then adopted
    thresholds = np.array([t for *_, t in ref])
    xs = _sequence()
    # No observation lies within 1e-4 of its bar: the float32 guard decides the same.
    close = np.isfinite(thresholds) & (np.abs(xs - thresholds) < 1e-4 * thresholds)
    assert not close.any()


@pytest.mark.parametrize("watch", ["grad_norm", "loss"])
def test_decisions_counts_and_threshold_match_numpy(variant, watch):
    xs = _sequence()
    opt = spike_guard(_inner(), Z, watch=watch, warmup=WARMUP, decay=DECAY, max_consecutive=CAP)
    update = variant(opt.update)
    params, state = _params(), opt.init(_params())
    for i, (x, (skip, consecutive, skipped, threshold)) in enumerate(
        zip(xs, _reference(xs), strict=True)
    ):
        if watch == "grad_norm":
            updates, state = update(_grads(x), state, params)
        else:  # the gradients stay small: only the loss spikes
            updates, state = update(_grads(1.0), state, params, loss=x)
        hp = optaxlr.hyperparams(state)
        moved = any(float(jnp.abs(u).sum()) > 0 for u in jax.tree.leaves(updates))
        assert moved is not skip, i
        assert int(hp["consecutive_spikes"]) == consecutive, i
        assert int(hp["spikes_skipped"]) == skipped, i
        np.testing.assert_allclose(hp["spike_threshold"], threshold, rtol=2e-5, err_msg=str(i))
        params = optax.apply_updates(params, updates)
    applied = sum(1 for s, *_ in _reference(xs) if not s)
    assert int(optaxlr.hyperparams(state)["step"]) == applied


def test_a_guarded_run_is_the_inner_optimizer_on_the_applied_steps(variant):
    xs = _sequence()
    opt = spike_guard(_inner(), Z, warmup=WARMUP, decay=DECAY, max_consecutive=CAP)
    update = variant(opt.update)
    inner = _inner()
    params, state = _params(), opt.init(_params())
    plain_params, plain_state = _params(), inner.init(_params())
    for x, (skip, *_) in zip(xs, _reference(xs), strict=True):
        updates, state = update(_grads(x), state, params)
        params = optax.apply_updates(params, updates)
        if not skip:
            plain_updates, plain_state = inner.update(_grads(x), plain_state, plain_params)
            plain_params = optax.apply_updates(plain_params, plain_updates)
    for a, b in zip(
        jax.tree.leaves((params, state.inner_state)),
        jax.tree.leaves((plain_params, plain_state)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    hp = optaxlr.hyperparams(state)
    np.testing.assert_allclose(
        hp["learning_rate"], optaxlr.hyperparams(plain_state)["learning_rate"]
    )


def test_a_skipped_step_changes_nothing_in_the_inner_state():
    opt = spike_guard(_inner(), 2.0, warmup=3, decay=1.0)
    params, state = _params(), opt.init(_params())
    for x in [1.0, 1.1, 0.9, 1.0]:
        _, state = opt.update(_grads(x), state, params)
    before = state
    updates, state = opt.update(_grads(100.0), state, params)
    for a, b in zip(
        jax.tree.leaves(state.inner_state), jax.tree.leaves(before.inner_state), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    # Nor in the statistics; the zero updates keep the gradients' dtypes.
    for name in ("observations", "weight", "mean", "m2"):
        np.testing.assert_array_equal(getattr(state, name), getattr(before, name))
    assert all(float(jnp.abs(u).sum()) == 0 for u in jax.tree.leaves(updates))
    # decay=1 is plain Welford: the mean and population variance of all applied steps.
    np.testing.assert_allclose(state.mean, 1.0, rtol=1e-6)
    np.testing.assert_allclose(state.m2 / state.weight, np.var([1.0, 1.1, 0.9, 1.0]), rtol=1e-5)


def test_unlimited_and_zero_caps():
    xs = [1.0, 1.2, 0.8, 1.0] + [50.0] * 30
    for cap, skipped in [(None, 30), (0, 0)]:
        opt = spike_guard(optaxlr.sgd(0.1), 2.0, warmup=4, max_consecutive=cap)
        params, state = _params(), opt.init(_params())
        update = jax.jit(opt.update)
        for x in xs:
            _, state = update(_grads(x), state, params)
        ref = _reference(
            np.asarray(xs),
            z=2.0,
            warmup=4,
            decay=0.99,
            cap=np.iinfo(np.int32).max if cap is None else 0,
        )
        assert int(state.skipped) == skipped == ref[-1][2]


def test_nonfinite_values_are_left_to_skip_nonfinite():
    opt = spike_guard(optaxlr.sgd(0.1), 2.0, warmup=2)
    params, state = _params(), opt.init(_params())
    for x in [1.0, 1.1, 0.9]:
        _, state = opt.update(_grads(x), state, params)
    updates, after = opt.update(_grads(float("nan")), state, params)
    assert np.isnan(np.asarray(updates["a"])).all()  # passed on, not judged
    for name in ("observations", "mean", "m2", "skipped", "consecutive"):
        np.testing.assert_array_equal(getattr(after, name), getattr(state, name))
    both = skip_nonfinite(spike_guard(optaxlr.sgd(0.1), 2.0, warmup=2))
    state = both.init(params)
    for x in [1.0, 1.1, 0.9, float("inf"), 30.0]:
        _, state = both.update(_grads(x), state, params)
    hp = optaxlr.hyperparams(state)
    assert int(hp["skipped"]) == 1 and int(hp["spikes_skipped"]) == 1


def test_the_loss_is_required_and_checked():
    opt = spike_guard(optaxlr.sgd(0.1), watch="loss")
    state = opt.init(_params())
    with pytest.raises(ValueError, match="needs the loss"):
        opt.update(_grads(1.0), state, _params())
    with pytest.raises(TypeError, match="loss must be a real number"):
        opt.update(_grads(1.0), state, _params(), loss="high")
    # Extra arguments reach the inner optimizer.
    plateau = spike_guard(optax.chain(optaxlr.sgd(1.0), training.reduce_on_plateau(patience=0)))
    state = plateau.init(_params())
    for _ in range(2):
        _, state = plateau.update(_grads(1.0), state, _params(), value=1.0)
    assert float(optaxlr.hyperparams(state)["scale"]) == np.float32(0.1)


def test_state_and_counters_saturate():
    opt = spike_guard(optaxlr.sgd(0.1), 2.0, warmup=2)
    state = opt.init(_params())
    assert isinstance(state, SpikeGuardState)
    assert set(optaxlr.hyperparams(state)) >= {
        "spikes_skipped",
        "consecutive_spikes",
        "spike_threshold",
    }
    assert np.isinf(optaxlr.hyperparams(state)["spike_threshold"])
    top = jnp.int32(np.iinfo(np.int32).max)
    for x in [1.0, 1.1, 0.9]:
        _, state = opt.update(_grads(x), state, _params())
    full = state._replace(skipped=top, observations=top)
    _, after = opt.update(_grads(50.0), full, _params())
    assert int(after.skipped) == int(top) and int(after.observations) == int(top)


# --- Flax NNX and checkpoints ----------------------------------------------------------


def _batch(i):
    x = jnp.sin(jnp.arange(12.0).reshape(4, 3) * (i + 1))
    y = jnp.cos(x.sum(axis=1, keepdims=True)) * jnp.ones((4, 2))
    return x, jnp.where(i == 9, 50.0 * y, y)  # a bad batch at step 9


def test_an_nnx_training_step_skips_the_spike_and_resumes_bit_for_bit(tmp_path):
    nnx = pytest.importorskip("flax.nnx")

    def opt():
        return spike_guard(
            optaxlr.adam(optaxlr.schedules.cosine(1e-2, 30)), 4.0, watch="loss", warmup=4
        )

    graphdef, params = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.Param)

    @jax.jit
    def step(params, opt_state, i):
        x, y = _batch(i)

        def loss_fn(p):
            return jnp.mean((nnx.merge(graphdef, p)(x) - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt().update(grads, opt_state, params, loss=loss)
        return optax.apply_updates(params, updates), opt_state

    def run(params, state, start, stop):
        for i in range(start, stop):
            params, state = step(params, state, i)
        return params, state

    want = run(params, opt().init(params), 0, 14)
    assert int(optaxlr.hyperparams(want[1])["spikes_skipped"]) == 1
    assert int(optaxlr.hyperparams(want[1])["step"]) == 13
    saved = run(params, opt().init(params), 0, 7)
    training.save(tmp_path / "ckpt", saved[0], saved[1])
    _, fresh = nnx.split(nnx.Linear(3, 2, rngs=nnx.Rngs(1)), nnx.Param)
    restored, resumed = training.resume(tmp_path / "ckpt", fresh, opt())
    got = run(restored, resumed, 7, 14)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # The same guard in an nnx.Optimizer, the loss passed through update's keywords.
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, opt(), wrt=nnx.Param)

    @nnx.jit
    def nnx_step(model, optimizer, i):
        x, y = _batch(i)
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads, loss=loss)

    for i in range(14):
        nnx_step(model, optimizer, i)
    assert int(optaxlr.hyperparams(optimizer.opt_state)["spikes_skipped"]) == 1
    np.testing.assert_allclose(model.kernel[...], want[0]["kernel"][...], rtol=1e-6)


# --- arguments --------------------------------------------------------------------------

INVALID = [
    (dict(inner="adam"), TypeError, "inner must be an optax.GradientTransformation"),
    (dict(z=0.0), ValueError, "z must be a finite number in (0, inf)"),
    (dict(z="3"), TypeError, "z must be a number"),
    (dict(watch="norm"), ValueError, "watch must be one of 'grad_norm', 'loss'"),
    (dict(warmup=1), ValueError, "warmup must be an integer in [2, "),
    (dict(warmup=10.0), TypeError, "warmup must be an integer"),
    (dict(decay=0.0), ValueError, "decay must be a finite number in (0, 1]"),
    (dict(decay=1.5), ValueError, "decay must be a finite number in (0, 1]"),
    (dict(max_consecutive=-1), ValueError, "max_consecutive must be an integer in [0, "),
    (dict(max_consecutive=2.5), TypeError, "max_consecutive must be an integer"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    kwargs = {"inner": optaxlr.sgd(0.1), **kwargs}
    with pytest.raises(error) as info:
        spike_guard(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(spike_guard).parameters) <= covered
