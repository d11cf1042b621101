"""Empty parameter trees and trees of Python floats, which optax takes (issue 17, section 6).

An empty tree is what an ``optax.partition`` group with no parameters sees, and
``{"w": 1.0}`` is a legal parameter tree in optax. Every alias, transformation and
training wrapper takes both, with and without ``jit``, and gives optax's updates
(or, for NAdam, whose momentum decay optax lacks, those of PyTorch's formula in
NumPy). Inside ``jit`` the Python floats are closed over, so they reach the
transformation as Python floats, not as traced arrays.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr import transforms as T

FLOATS = {"w": 0.5, "b": [-1.5, 2.0], "c": {"d": 0.25}}
STEPS = 3


def _grads(tree, i):
    return jax.tree.map(lambda p: 0.3 * p + 0.1 * (i + 1), tree)  # Python floats stay floats


def _as_arrays(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def _numpy_nadam(lr, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    """``torch.optim.NAdam``'s ``_single_tensor_nadam`` in NumPy float64, as a transformation."""

    def init(params):
        zeros = jax.tree.map(lambda p: np.zeros(np.shape(p)), params)
        return (0, 1.0, zeros, zeros)

    def update(updates, state, params=None):
        t, mu_product, m, v = state
        t += 1
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product *= mu
        g = jax.tree.map(lambda x: np.asarray(x, np.float64), updates)
        m = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)

        def step(g, m, v):
            denom = np.sqrt(v / (1 - b2**t)) + eps
            coef_g = -lr * (1 - mu) / (1 - mu_product)
            coef_m = -lr * mu_next / (1 - mu_product * mu_next)
            return np.float32(coef_g * g / denom + coef_m * m / denom)

        return jax.tree.map(step, g, m, v), (t, mu_product, m, v)

    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]


def _labels(tree):
    return jax.tree.map(lambda _: "a", tree)  # group "b" is empty


# name: (optaxlr transformation, the reference with the same update rule)
CASES = {
    # aliases
    "sgd": (lambda: optaxlr.sgd(0.1), lambda: optax.sgd(0.1)),
    "sgd_nesterov_decay": (
        lambda: optaxlr.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda: optax.chain(
            optax.add_decayed_weights(1e-2), optax.sgd(0.1, momentum=0.9, nesterov=True)
        ),
    ),
    "adam": (lambda: optaxlr.adam(1e-3), lambda: optax.adam(1e-3)),
    "adamw": (lambda: optaxlr.adamw(1e-3), lambda: optax.adamw(1e-3, weight_decay=1e-2)),
    "rmsprop": (
        lambda: optaxlr.rmsprop(1e-2),
        lambda: optax.rmsprop(1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    ),
    "adagrad": (
        lambda: optaxlr.adagrad(1e-2),
        lambda: optax.adagrad(1e-2, initial_accumulator_value=0.0, eps=1e-10),
    ),
    "adadelta": (lambda: optaxlr.adadelta(), lambda: optax.adadelta(1.0, rho=0.9, eps=1e-6)),
    # RAdam is unrectified (a bias-corrected momentum step) for its first steps in both.
    "radam": (lambda: optaxlr.radam(1e-3), lambda: optax.radam(1e-3)),
    "nadam": (lambda: optaxlr.nadam(2e-3), lambda: _numpy_nadam(2e-3)),
    # optax adds adamax's eps after the maximum, torch inside: equal for |g| >> eps.
    "adamax": (lambda: optaxlr.adamax(2e-3), lambda: optax.adamax(2e-3)),
    "lion": (lambda: optaxlr.lion(1e-4), lambda: optax.lion(1e-4, weight_decay=0.0)),
    "lion_wd": (
        lambda: optaxlr.lion(1e-4, weight_decay=0.1),
        lambda: optax.lion(1e-4, weight_decay=0.1),
    ),
    # transformations
    "scale_by_learning_rate": (
        lambda: T.scale_by_learning_rate(0.1),
        lambda: optax.scale_by_learning_rate(0.1),
    ),
    "trace": (lambda: T.trace(0.9), lambda: optax.trace(0.9)),
    "trace_nesterov": (lambda: T.trace(0.9, nesterov=True), lambda: optax.trace(0.9, True)),
    "scale_by_adam": (lambda: T.scale_by_adam(), lambda: optax.scale_by_adam()),
    "scale_by_rmsprop": (
        lambda: T.scale_by_rmsprop(0.9, 1e-6, eps_in_sqrt=True),
        lambda: optax.scale_by_rms(0.9, 1e-6, eps_in_sqrt=True),
    ),
    "scale_by_rmsprop_centered": (
        lambda: T.scale_by_rmsprop(0.9, 1e-6, centered=True, eps_in_sqrt=True),
        lambda: optax.scale_by_stddev(0.9, 1e-6, eps_in_sqrt=True),
    ),
    "scale_by_adagrad": (
        lambda: T.scale_by_adagrad(eps=1e-10),
        lambda: optax.scale_by_rss(initial_accumulator_value=0.0, eps=1e-10),
    ),
    "scale_by_adadelta": (
        lambda: T.scale_by_adadelta(0.9, 1e-6),
        lambda: optax.scale_by_adadelta(0.9, 1e-6),
    ),
    "scale_by_radam": (lambda: T.scale_by_radam(), lambda: optax.scale_by_radam()),
    "scale_by_nadam": (
        lambda: optax.chain(T.scale_by_nadam(), T.scale_by_learning_rate(2e-3)),
        lambda: _numpy_nadam(2e-3),
    ),
    "scale_by_adamax": (lambda: T.scale_by_adamax(), lambda: optax.scale_by_adamax()),
    "scale_by_lion": (lambda: T.scale_by_lion(), lambda: optax.scale_by_lion()),
    "add_decayed_weights": (
        lambda: T.add_decayed_weights(0.1),
        lambda: optax.add_decayed_weights(0.1),
    ),
    "decoupled_weight_decay": (
        lambda: T.decoupled_weight_decay(0.1, 0.01),
        lambda: optax.add_decayed_weights(-0.1 * 0.01),
    ),
    "clip_by_value": (lambda: T.clip_by_value(0.5), lambda: optax.clip(0.5)),
    # Every leaf is a scalar, whose norm is its absolute value.
    "clip_by_norm": (lambda: T.clip_by_norm(0.5), lambda: optax.clip(0.5)),
    "clip_by_global_norm": (
        lambda: T.clip_by_global_norm(0.5, eps=0.0),
        lambda: optax.clip_by_global_norm(0.5),
    ),
    "scale_by_path": (lambda: T.scale_by_path({".*": 2.0}), lambda: optax.scale(2.0)),
    # training wrappers
    "accumulate": (
        lambda: training.accumulate(optaxlr.adam(1e-3), every_k_steps=2),
        lambda: optax.MultiSteps(optax.adam(1e-3), 2).gradient_transformation(),
    ),
    "skip_nonfinite": (
        lambda: training.skip_nonfinite(optaxlr.adam(1e-3)),
        lambda: optax.apply_if_finite(optax.adam(1e-3), 10),
    ),
    "param_ema": (
        lambda: optax.chain(optaxlr.sgd(0.1), training.param_ema(0.9)),
        lambda: optax.sgd(0.1),
    ),
    "update_ratio_monitor": (lambda: training.update_ratio_monitor(), optax.identity),
    "grad_norm_monitor": (
        lambda: training.grad_norm_monitor(0.5, eps=0.0, per_path_every=2),
        lambda: optax.clip_by_global_norm(0.5),
    ),
    "spike_guard": (  # within its warmup: the inner optimizer's updates
        lambda: training.spike_guard(optaxlr.adam(1e-3)),
        lambda: optax.adam(1e-3),
    ),
    "accumulate_scheduled_k": (
        lambda: training.accumulate(optaxlr.adam(1e-3), lambda t: 2.0 + 0.0 * t),
        lambda: optax.MultiSteps(optax.adam(1e-3), 2).gradient_transformation(),
    ),
    "reduce_on_plateau": (lambda: training.reduce_on_plateau(), optax.identity),
    "partition_with_an_empty_group": (
        lambda: optax.partition(
            {"a": optaxlr.adamw(1e-3), "b": optaxlr.sgd(0.1, momentum=0.9)}, _labels
        ),
        lambda: optax.partition(
            {"a": optax.adamw(1e-3, weight_decay=1e-2), "b": optax.sgd(0.1, momentum=0.9)},
            _labels,
        ),
    ),
}


def _updates(tx, params, jit):
    """The updates of ``STEPS`` steps, params fixed; inside jit the floats are constants."""
    wrap = jax.jit if jit else (lambda f: f)
    state = wrap(lambda: tx.init(params))()
    out = []
    for i in range(STEPS):
        grads = _grads(params, i)
        updates, new_state = wrap(lambda s, g=grads: tx.update(g, s, params))(state)
        chex.assert_trees_all_equal_structs(new_state, state)
        state = new_state
        out.append(updates)
    return out, state


@pytest.mark.parametrize("jit", [False, True], ids=["without_jit", "with_jit"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_tree_of_python_floats_gets_the_reference_updates(name, jit):
    ours, theirs = (make() for make in CASES[name])
    got, _ = _updates(ours, FLOATS, jit)
    # The reference runs on float32 arrays, which every optax transformation takes
    # (optax's clip_by_global_norm, for one, fails on Python floats).
    want, _ = _updates(theirs, _as_arrays(FLOATS), jit=False)
    for u, ref in zip(got, want, strict=True):
        chex.assert_trees_all_equal_structs(u, FLOATS)
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(u))
        # rtol 2e-5: optax forms Adam's 1 - b2**t in float32 (see test_transforms.py).
        chex.assert_trees_all_close(u, ref, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True], ids=["without_jit", "with_jit"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_tree_gives_empty_updates_as_in_optax(name, jit):
    ours, theirs = (make() for make in CASES[name])
    got, state = _updates(ours, {}, jit)
    want, _ = _updates(theirs, {}, jit)
    assert got == want == [{}] * STEPS
    optaxlr.hyperparams(state)  # readable


def test_param_ema_of_python_floats_is_optaxs_incremental_update():
    opt = optax.chain(optaxlr.sgd(0.1), training.param_ema(0.9, debias=False))
    state = opt.init(FLOATS)
    ema = None
    params = FLOATS
    for i in range(STEPS):
        updates, state = opt.update(_grads(params, i), state, params)
        new = optax.apply_updates(_as_arrays(params), updates)
        ema = new if ema is None else optax.incremental_update(new, ema, 1.0 - 0.9)
        params = jax.tree.map(float, new)  # back to Python floats for the next step
    chex.assert_trees_all_close(training.ema_params(state), ema, rtol=1e-6)


@pytest.mark.parametrize("tree", [{}, FLOATS], ids=["empty", "python_floats"])
def test_multi_tensor_takes_the_tree_flattened(tree):
    flat = optaxlr.FlatParams.from_tree(tree)
    opt = optaxlr.fast.multi_tensor(optaxlr.adamw(1e-3))
    reference = optax.adamw(1e-3, weight_decay=1e-2)
    state, ref_state = opt.init(flat), reference.init(_as_arrays(tree))
    for i in range(STEPS):
        grads = _grads(tree, i)
        updates, state = opt.update(flat.flatten_like(grads), state, flat)
        ref, ref_state = reference.update(_as_arrays(grads), ref_state, _as_arrays(tree))
        chex.assert_trees_all_close(updates.unflatten(), ref, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("leaf", [3, True], ids=["int", "bool"])
def test_python_integers_and_bools_are_refused_as_integer_arrays_are(leaf):
    # optaxlr refuses integer parameters (docs/design.md); a Python int is one.
    with pytest.raises(TypeError, match="parameter 'w' has dtype"):
        optaxlr.adam(1e-3).init({"w": leaf, "b": 1.0})
