"""Every transformation: under jit and without, dtypes, schedules, chaining, injection."""

from __future__ import annotations

import functools
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import transforms as T

INT32_MAX = int(np.iinfo(np.int32).max)


def _params(dtype=jnp.float32):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    return {
        "w1": jax.random.normal(k1, (8, 4)).astype(dtype),
        "b1": jnp.linspace(-0.5, 0.5, 4).astype(dtype),
        "w2": jax.random.normal(k2, (4, 3)).astype(dtype),
        "b2": (0.1 * jax.random.normal(k3, (3,))).astype(dtype),
    }


def _grads(params, i):
    # Bounded away from zero, so that sign-like updates (RMSprop's first step) are
    # not sensitive to rounding.
    def leaf(p):
        if jnp.iscomplexobj(p):
            return leaf(p.real) + 1j * leaf(p.imag)
        p32 = p.astype(jnp.float32)
        return (0.5 * p32 + 0.3 * jnp.sign(p32) * (1.0 + 0.1 * i)).astype(p.dtype)

    return jax.tree.map(leaf, params)


def _decay_schedule(step):
    return 0.9 - 0.4 * jnp.exp(-0.1 * step.astype(jnp.float32))


def _lr_schedule(step):
    return 0.1 / (1.0 + step.astype(jnp.float32))


# (name, factory): every transformation, plain, in its variants, and with schedules.
# (eps_root, eps_in_sqrt, bias_correction=False, flip_sign=False are checked against
# optax and numpy below; every alias argument as a schedule in test_aliases.py.)
TRANSFORMS = {
    "scale_by_learning_rate": lambda: T.scale_by_learning_rate(0.1),
    "scale_by_learning_rate_sched": lambda: T.scale_by_learning_rate(_lr_schedule),
    "trace": lambda: T.trace(0.9),
    "trace_nesterov": lambda: T.trace(0.9, nesterov=True),
    "trace_dampening": lambda: T.trace(0.9, dampening=0.3),
    "trace_sched": lambda: T.trace(_decay_schedule, dampening=lambda s: 0.1 + 0.0 * s),
    "scale_by_adagrad": lambda: T.scale_by_adagrad(0.1, eps=1e-10),
    "scale_by_rmsprop": lambda: T.scale_by_rmsprop(),
    "scale_by_rmsprop_centered": lambda: T.scale_by_rmsprop(centered=True),
    "scale_by_rmsprop_sched": lambda: T.scale_by_rmsprop(decay=_decay_schedule, centered=True),
    "scale_by_adam": lambda: T.scale_by_adam(),
    "scale_by_adam_amsgrad": lambda: T.scale_by_adam(amsgrad=True),
    "scale_by_adam_nesterov": lambda: T.scale_by_adam(nesterov=True),
    "scale_by_adam_sched": lambda: T.scale_by_adam(b1=_decay_schedule, b2=lambda s: 0.99 + 0 * s),
    "scale_by_radam": lambda: T.scale_by_radam(),
    "scale_by_nadam": lambda: T.scale_by_nadam(),
    "scale_by_nadam_sched": lambda: T.scale_by_nadam(b1=_decay_schedule),
    "scale_by_adadelta": lambda: T.scale_by_adadelta(),
    "add_decayed_weights": lambda: T.add_decayed_weights(1e-2),
    "add_decayed_weights_mask": lambda: T.add_decayed_weights(
        1e-2, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ),
    "decoupled_weight_decay": lambda: T.decoupled_weight_decay(_lr_schedule, 1e-2),
    "clip_by_value": lambda: T.clip_by_value(0.5),
    "clip_by_norm": lambda: T.clip_by_norm(lambda s: 1.0 + 0.0 * s),
    "clip_by_global_norm": lambda: T.clip_by_global_norm(1.0),
    "scale_by_path": lambda: T.scale_by_path({r"(.*/)?b.": 2.0, r"(.*/)?w1": _lr_schedule}),
}


# The transformations whose state counts: a schedule, a bias correction, a first-step rule.
COUNTING = {
    name
    for name in TRANSFORMS
    if name.endswith("_sched")
    or name.startswith(("scale_by_adam", "scale_by_radam", "scale_by_nadam"))
    or name in {"trace_dampening", "decoupled_weight_decay", "clip_by_norm", "scale_by_path"}
}


def _run(tx, params, n, update=None):
    update = update or tx.update
    state = tx.init(params)
    p = params
    for i in range(n):
        u, state = update(_grads(p, i), state, p)
        p = optax.apply_updates(p, u)
    return p, state


def _numpy_rule(step, init=lambda p: None):
    """An optax transformation whose update is written per leaf in float64 numpy.

    ``step(t, g, p, s, path) -> (u, s)``: ``t`` the updates done so far, ``g`` and ``p``
    the leaf's gradient and parameter, ``s`` its state (``init(p)`` at first), ``path``
    the leaf's path. A reference written from the formulas, not by optaxlr.
    """

    def init_fn(params):
        return 0, [init(np.asarray(p, np.float64)) for p in jax.tree.leaves(params)]

    def update_fn(updates, state, params):
        t, states = state
        flat, treedef = jax.tree_util.tree_flatten_with_path(updates)
        out = [
            step(
                t,
                np.asarray(g, np.float64),
                np.asarray(p, np.float64),
                s,
                "/".join(str(k.key) for k in path),
            )
            for (path, g), p, s in zip(flat, jax.tree.leaves(params), states, strict=True)
        ]
        new_updates = treedef.unflatten(
            [jnp.asarray(u, g.dtype) for (_, g), (u, _) in zip(flat, out, strict=True)]
        )
        return new_updates, (t + 1, [s for _, s in out])

    return optax.GradientTransformation(init_fn, update_fn)


def _at(schedule, t):
    return float(schedule(jnp.int32(t)))


def _torch_momentum(decay, dampening=lambda t: 0.0, nesterov=False):
    """torch.optim.SGD's momentum buffer: seeded with the undampened first gradient."""

    def step(t, g, p, buf, path):
        m, d = decay(t), dampening(t)
        buf = g if t == 0 else m * buf + (1 - d) * g
        return (g + m * buf if nesterov else buf), buf

    return _numpy_rule(step)


def _torch_adagrad(initial, eps):
    def step(t, g, p, s, path):
        s = s + g * g
        return g / (np.sqrt(s) + eps), s

    return _numpy_rule(step, init=lambda p: np.full_like(p, initial))


def _torch_rmsprop_centered(decay, eps):
    def step(t, g, p, s, path):
        a = decay(t)
        v, m = s
        v, m = a * v + (1 - a) * g * g, a * m + (1 - a) * g
        return g / (np.sqrt(v - m * m) + eps), (v, m)

    return _numpy_rule(step, init=lambda p: (np.zeros_like(p), np.zeros_like(p)))


def _torch_amsgrad(b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.Adam(amsgrad=True): the maximum of the raw second moments."""

    def step(t, g, p, s, path):
        m, v, vmax = s
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        n = t + 1
        u = m / (1 - b1**n) / (np.sqrt(vmax) / np.sqrt(1 - b2**n) + eps)
        return u, (m, v, vmax)

    return _numpy_rule(step, init=lambda p: (np.zeros_like(p),) * 3)


def _torch_nadam(b1=lambda t: 0.9, b2=0.999, eps=1e-8, psi=4e-3):
    """torch.optim.NAdam, with the running product of the momentum coefficients."""
    product = {}

    def step(t, g, p, s, path):
        m, v = s
        beta1, n = b1(t), t + 1
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (n * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((n + 1) * psi))
        prod = product.setdefault(n, product.get(n - 1, 1.0) * mu_t)
        m, v = beta1 * m + (1 - beta1) * g, b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2**n)) + eps
        u = (1 - mu_t) / (1 - prod) * g / denom + mu_next / (1 - prod * mu_next) * m / denom
        return u, (m, v)

    return _numpy_rule(step, init=lambda p: (np.zeros_like(p),) * 2)


def _decoupled_decay(lr, wd):
    return _numpy_rule(lambda t, g, p, s, path: (g - lr(t) * wd * p, s))


def _clip_each_norm(max_norm):
    def step(t, g, p, s, path):
        norm = np.sqrt(np.sum(g * g))
        return (g * max_norm / norm if norm > max_norm else g), s

    return _numpy_rule(step)


def _torch_clip_grad_norm(max_norm, eps=1e-6):
    """torch.nn.utils.clip_grad_norm_: one norm over every leaf."""

    def update_fn(updates, state, params=None):
        norm = np.sqrt(
            sum(np.sum(np.asarray(g, np.float64) ** 2) for g in jax.tree.leaves(updates))
        )
        coef = min(1.0, max_norm / (norm + eps))
        return jax.tree.map(
            lambda g: (np.asarray(g, np.float64) * coef).astype(g.dtype), updates
        ), state

    return optax.GradientTransformation(lambda params: (), update_fn)


def _path_factors(rules):
    def step(t, g, p, s, path):
        factor = 1.0
        for pattern, value in rules.items():
            if re.fullmatch(pattern, path):
                factor *= _at(value, t) if callable(value) else value
        return g * factor, s

    return _numpy_rule(step)


def _injected(factory, **hyperparams):
    """optax's transformation with its hyperparameters injected: a schedule is evaluated
    at optax's own count, before the update."""
    return optax.inject_hyperparams(factory)(**hyperparams)


# An independent reference for each entry of TRANSFORMS: optax's transformation with the
# same rule, or the formula written above in float64 numpy (torch's, where optax has none).
REFERENCES = {
    "scale_by_learning_rate": lambda: optax.scale_by_learning_rate(0.1),
    "scale_by_learning_rate_sched": lambda: optax.scale_by_learning_rate(_lr_schedule),
    "trace": lambda: optax.trace(0.9),
    "trace_nesterov": lambda: optax.trace(0.9, nesterov=True),
    "trace_dampening": lambda: _torch_momentum(lambda t: 0.9, lambda t: 0.3),
    "trace_sched": lambda: _torch_momentum(lambda t: _at(_decay_schedule, t), lambda t: 0.1),
    "scale_by_adagrad": lambda: _torch_adagrad(0.1, 1e-10),
    "scale_by_rmsprop": lambda: optax.scale_by_rms(0.99, 1e-8, eps_in_sqrt=False),
    "scale_by_rmsprop_centered": lambda: _torch_rmsprop_centered(lambda t: 0.99, 1e-8),
    "scale_by_rmsprop_sched": lambda: _torch_rmsprop_centered(
        lambda t: _at(_decay_schedule, t), 1e-8
    ),
    "scale_by_adam": lambda: optax.scale_by_adam(),
    "scale_by_adam_amsgrad": _torch_amsgrad,
    "scale_by_adam_nesterov": lambda: optax.scale_by_adam(nesterov=True),
    "scale_by_adam_sched": lambda: _injected(
        optax.scale_by_adam, b1=_decay_schedule, b2=lambda s: 0.99 + 0 * s
    ),
    # Three updates: RAdam's rectification starts at step 6, so this is the unrectified
    # branch (the rectified one is checked against torch's fixture, test_optimizer_fixtures).
    "scale_by_radam": lambda: optax.scale_by_radam(),
    "scale_by_nadam": _torch_nadam,
    "scale_by_nadam_sched": lambda: _torch_nadam(b1=lambda t: _at(_decay_schedule, t)),
    "scale_by_adadelta": lambda: optax.scale_by_adadelta(0.9, 1e-6),
    "add_decayed_weights": lambda: optax.add_decayed_weights(1e-2),
    "add_decayed_weights_mask": lambda: optax.add_decayed_weights(
        1e-2, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ),
    "decoupled_weight_decay": lambda: _decoupled_decay(lambda t: _at(_lr_schedule, t), 1e-2),
    "clip_by_value": lambda: optax.clip(0.5),
    "clip_by_norm": lambda: _clip_each_norm(1.0),
    "clip_by_global_norm": lambda: _torch_clip_grad_norm(1.0),
    "scale_by_path": lambda: _path_factors({r"(.*/)?b.": 2.0, r"(.*/)?w1": _lr_schedule}),
}


@functools.cache
def _reference(name):
    return _run(REFERENCES[name](), _params(), 3)


def test_every_transform_has_an_independent_reference():
    assert set(REFERENCES) == set(TRANSFORMS)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform(name, variant):
    tx = TRANSFORMS[name]()
    params = _params()
    state0 = variant(tx.init)(params)
    p, state = _run(tx, params, 3, update=variant(tx.update))
    chex.assert_trees_all_equal_structs(state0, state)
    chex.assert_tree_all_finite(p)
    chex.assert_trees_all_equal_shapes_and_dtypes(p, params)
    hps = optaxlr.hyperparams(state)
    # A count where something depends on the step (docs/design.md), none elsewhere.
    assert ("step" in hps) == (name in COUNTING), sorted(hps)
    assert int(hps.get("step", 3)) == 3
    for key, value in hps.items():
        expected = jnp.int32 if key == "step" else jnp.float32
        assert value.dtype == expected and value.shape == (), key
    # float32 against optax's float32 or numpy's float64: equal up to rounding (optax
    # forms Adam's 1 - b2**t in float32, 1.3e-5 relative error at t = 1).
    reference, _ = _reference(name)
    chex.assert_trees_all_close(p, reference, rtol=2e-5, atol=1e-6)


def _mixed_precision_params():
    """One tree with float32, bfloat16 and float16 leaves: one compilation per transform."""
    return {
        "f32": _params(jnp.float32),
        "bf16": _params(jnp.bfloat16),
        "f16": _params(jnp.float16),
    }


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_dtypes_preserved_and_count_saturates(name):
    """Updates keep each parameter's dtype; count is int32 and saturates.

    Documented state dtypes (docs/design.md): buffers have the parameters' dtypes,
    except float16 parameters, whose buffers are float32; ``count`` is int32; the
    record's values and NAdam's ``mu_product`` are float32 scalars.
    """
    tx = TRANSFORMS[name]()
    params = _mixed_precision_params()
    state0 = tx.init(params)
    state = jax.tree_util.tree_map_with_path(
        lambda path, x: (
            jnp.asarray(INT32_MAX - 1, jnp.int32)
            if any(getattr(k, "name", None) == "count" for k in path)
            else x
        ),
        state0,
    )
    update = jax.jit(tx.update)
    p = params
    for i in range(2):
        updates, state = update(_grads(p, i), state, p)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        chex.assert_tree_all_finite(updates)
        p = optax.apply_updates(p, updates)
    chex.assert_trees_all_equal_shapes_and_dtypes(state0, state)
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if leaf.ndim > 0:
            param_dtype = params[path[-2].key][path[-1].key].dtype
            expected = jnp.float32 if param_dtype == jnp.float16 else param_dtype
            assert leaf.dtype == expected, path
    hps = optaxlr.hyperparams(state)
    if name in COUNTING:
        assert hps["step"].dtype == jnp.int32 and int(hps["step"]) == INT32_MAX
    assert all(v.dtype == jnp.float32 for k, v in hps.items() if k != "step")


def test_half_precision_is_computed_in_float32():
    """b2 = 0.999 rounds to 1.0 in bfloat16; the second moment must still move."""
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    tx = T.scale_by_adam()
    state = tx.init(params)
    _, state = tx.update({"w": jnp.full(4, 2.0, jnp.bfloat16)}, state)
    np.testing.assert_allclose(np.asarray(state.nu["w"], np.float32), 0.004, rtol=1e-2)
    low, _ = tx.update({"w": jnp.full(4, 2.0, jnp.bfloat16)}, tx.init(params))
    high, _ = T.scale_by_adam().update({"w": jnp.full(4, 2.0)}, tx.init({"w": jnp.ones(4)}))
    np.testing.assert_allclose(np.asarray(low["w"], np.float32), high["w"], rtol=1e-2)


def test_mu_dtype():
    tx = T.scale_by_adam(mu_dtype=jnp.bfloat16)
    params = _params()
    _, state = _run(tx, params, 2)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.mu))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.nu))


# --- numerics against references ------------------------------------------------

OPTAX_EQUIVALENTS = {
    "scale_by_learning_rate": (
        lambda: T.scale_by_learning_rate(0.1),
        lambda: optax.scale_by_learning_rate(0.1),
    ),
    "trace": (lambda: T.trace(0.9), lambda: optax.trace(0.9)),
    "trace_nesterov": (lambda: T.trace(0.9, nesterov=True), lambda: optax.trace(0.9, True)),
    "adam": (lambda: T.scale_by_adam(), lambda: optax.scale_by_adam()),
    "adam_nesterov": (
        lambda: T.scale_by_adam(nesterov=True),
        lambda: optax.scale_by_adam(nesterov=True),
    ),
    "adam_eps_root": (
        lambda: T.scale_by_adam(eps_root=1e-6),
        lambda: optax.scale_by_adam(eps_root=1e-6),
    ),
    "rmsprop_eps_in_sqrt": (
        lambda: T.scale_by_rmsprop(0.9, 1e-6, eps_in_sqrt=True),
        lambda: optax.scale_by_rms(0.9, 1e-6, eps_in_sqrt=True),
    ),
    "rmsprop_centered": (
        lambda: T.scale_by_rmsprop(0.9, 1e-6, centered=True, eps_in_sqrt=True),
        lambda: optax.scale_by_stddev(0.9, 1e-6, eps_in_sqrt=True),
    ),
    "clip_by_value": (lambda: T.clip_by_value(0.5), lambda: optax.clip(0.5)),
    "clip_by_global_norm": (
        lambda: T.clip_by_global_norm(1.0, eps=0.0),
        lambda: optax.clip_by_global_norm(1.0),
    ),
    "add_decayed_weights": (
        lambda: T.add_decayed_weights(0.1),
        lambda: optax.add_decayed_weights(0.1),
    ),
    "adadelta": (
        lambda: T.scale_by_adadelta(0.9, 1e-6),
        lambda: optax.scale_by_adadelta(0.9, 1e-6),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTAX_EQUIVALENTS))
def test_matches_optax_where_optax_has_the_same_rule(name):
    # rtol 2e-5: optax forms Adam's 1 - b2**t in float32 (1.3e-5 relative error at
    # t = 1 for b2 = 0.999); optaxlr's is accurate to 1 ulp (see the numpy test).
    ours, theirs = (f() for f in OPTAX_EQUIVALENTS[name])
    params = _params()
    for i in range(5):
        g = _grads(params, i)
        if i == 0:
            s1, s2 = ours.init(params), theirs.init(params)
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = theirs.update(g, s2, params)
        chex.assert_trees_all_close(u1, u2, rtol=2e-5, atol=1e-7)


def test_adam_against_numpy_torch_formula():
    b1, b2, eps = 0.8, 0.99, 1e-6
    g = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    tx = T.scale_by_adam(b1, b2, eps)
    state = tx.init({"w": jnp.zeros(5)})
    m = v = np.zeros(5)
    for t in range(1, 7):
        u, state = tx.update({"w": jnp.asarray(g[t - 1])}, state)
        m = b1 * m + (1 - b1) * g[t - 1]
        v = b2 * v + (1 - b2) * g[t - 1] ** 2
        ref = m / (1 - b1**t) / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
        np.testing.assert_allclose(u["w"], ref, rtol=2e-6)


def test_adam_without_bias_correction_and_amsgrad_raw_max():
    g = [np.array([1.0, -2.0]), np.array([0.1, 0.1]), np.array([0.0, 3.0])]
    tx = T.scale_by_adam(0.5, 0.5, 0.0, bias_correction=False, amsgrad=True)
    state = tx.init({"w": jnp.zeros(2)})
    m = v = vmax = np.zeros(2)
    for gi in g:
        u, state = tx.update({"w": jnp.asarray(gi, jnp.float32)}, state)
        m, v = 0.5 * m + 0.5 * gi, 0.5 * v + 0.5 * gi**2
        vmax = np.maximum(vmax, v)
        np.testing.assert_allclose(u["w"], m / np.sqrt(vmax), rtol=1e-6)


def test_trace_dampening_seeds_buffer_with_first_gradient():
    tx = T.trace(0.5, dampening=0.5)
    state = tx.init({"w": jnp.zeros(1)})
    u1, state = tx.update({"w": jnp.array([2.0])}, state)
    u2, state = tx.update({"w": jnp.array([4.0])}, state)
    np.testing.assert_allclose(u1["w"], [2.0])  # torch: buf = grad (undampened)
    np.testing.assert_allclose(u2["w"], [0.5 * 2.0 + 0.5 * 4.0])
    assert set(optaxlr.hyperparams(state)) == {"step", "momentum", "dampening"}


def test_adagrad_against_numpy():
    g = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    tx = T.scale_by_adagrad(0.1, 1e-10)
    state = tx.init({"w": jnp.zeros(3)})
    s = np.full(3, 0.1)
    for gi in g:
        u, state = tx.update({"w": jnp.asarray(gi)}, state)
        s = s + gi**2
        np.testing.assert_allclose(u["w"], gi / (np.sqrt(s) + 1e-10), rtol=1e-6)


def test_clip_by_norm_is_per_leaf_keras_clipnorm():
    tx = T.clip_by_norm(1.0)
    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.3, 0.4])}
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u["a"], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [0.3, 0.4], rtol=1e-6)  # below the bound: unchanged


def test_clip_by_global_norm_is_torch_clip_grad_norm():
    tx = T.clip_by_global_norm(1.0)
    g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([4.0])}
    u, _ = tx.update(g, tx.init(g))
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(u["a"], [3.0 * coef, 0.0], rtol=1e-7)
    np.testing.assert_allclose(u["b"], [4.0 * coef], rtol=1e-7)
    small = {"a": jnp.array([0.3, 0.0]), "b": jnp.array([0.4])}
    u, _ = tx.update(small, tx.init(small))
    chex.assert_trees_all_equal(u, small)


def test_decoupled_weight_decay_is_add_decayed_weights_up_to_rounding():
    params = _params()
    a = optax.chain(T.scale_by_adam(), T.add_decayed_weights(1e-2), T.scale_by_learning_rate(1e-3))
    b = optax.chain(
        T.scale_by_adam(), T.scale_by_learning_rate(1e-3), T.decoupled_weight_decay(1e-3, 1e-2)
    )
    pa, _ = _run(a, params, 5)
    pb, _ = _run(b, params, 5)
    chex.assert_trees_all_close(pa, pb, rtol=1e-6, atol=1e-7)


def test_decoupled_weight_decay_applies_torch_float32_factor():
    lr, wd = 3e-3, 1e-2
    tx = T.decoupled_weight_decay(lr, wd)
    p = {"w": jnp.array([1.0, -2.0, 0.5])}
    u, _ = tx.update(jax.tree.map(jnp.zeros_like, p), tx.init(p), p)
    torch_like = np.asarray(p["w"]) * np.float32(1 - lr * wd)
    np.testing.assert_array_equal(np.asarray(optax.apply_updates(p, u)["w"]), torch_like)


def _torch_radam_updates(g, b1, b2, eps, n):
    """torch.optim.RAdam's step direction in float64, for a constant gradient."""
    m = v = np.zeros_like(g)
    rho_inf, out = 2 / (1 - b2) - 1, []
    for t in range(1, n + 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            out.append(m_hat * r * np.sqrt(1 - b2**t) / (np.sqrt(v) + eps))
        else:
            out.append(m_hat)
    return np.array(out)


@pytest.mark.parametrize("b2", [0.999, 0.99, 0.9])
@pytest.mark.parametrize("as_array", [False, True], ids=["number", "array"])
def test_radam_matches_torch_in_float64_over_2000_steps(b2, as_array):
    """RAdam's rectification term subtracts two numbers near 2000 (b2 = 0.999) around
    step 6, where it switches on: float32 done naively is 4e-3 off there. optaxlr is
    within 5e-6 of float64 for a number; an array b2 is float32 (2.3e-5 measured)."""
    g = np.array([1.0, -0.5, 2.0, 1e-3])
    tx = T.scale_by_radam(b2=jnp.float32(b2) if as_array else b2)

    def body(state, _):
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        return state, u

    _, updates = jax.jit(lambda s: jax.lax.scan(body, s, None, length=2000))(tx.init(jnp.zeros(4)))
    ref = _torch_radam_updates(g, 0.9, float(np.float32(b2)) if as_array else b2, 1e-8, 2000)
    np.testing.assert_allclose(updates, ref, rtol=5e-5 if as_array else 1e-5)


# --- schedules, counts and the hyperparams record ---------------------------------


def test_schedule_is_evaluated_at_the_count_before_the_update():
    seen = []
    tx = T.scale_by_learning_rate(lambda step: 1.0 + step.astype(jnp.float32))
    params = {"w": jnp.ones(())}
    state = tx.init(params)
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == 1.0  # the value at step 0
    for i in range(3):
        u, state = tx.update(params, state)
        seen.append(float(u["w"]))
        assert float(optaxlr.hyperparams(state)["learning_rate"]) == 1.0 + i
    assert seen == [-1.0, -2.0, -3.0]


def test_array_hyperparameters():
    params = _params()
    a, _ = _run(T.scale_by_adam(b1=jnp.float32(0.8)), params, 3)
    b, _ = _run(T.scale_by_adam(b1=0.8), params, 3)
    chex.assert_trees_all_close(a, b, rtol=1e-6)


# --- composition with optax ---------------------------------------------------------


def test_inside_optax_chain_beside_optax_transforms():
    params = _params()
    ours = optax.chain(
        optax.clip_by_global_norm(1.0),
        T.scale_by_adam(),
        optax.add_decayed_weights(1e-2),
        T.scale_by_learning_rate(1e-3),
    )
    theirs = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(),
        optax.add_decayed_weights(1e-2),
        optax.scale_by_learning_rate(1e-3),
    )
    pa, state = _run(ours, params, 10, update=jax.jit(ours.update))
    pb, _ = _run(theirs, params, 10)
    chex.assert_trees_all_close(pa, pb, rtol=1e-5, atol=1e-7)
    assert set(optaxlr.hyperparams(state)) == {"step", "b1", "b2", "eps", "learning_rate"}


def test_inside_inject_hyperparams():
    params = _params()
    tx = optax.inject_hyperparams(T.scale_by_adam)(b1=0.9, b2=0.999)
    traces = []

    @jax.jit
    def update(g, state, p):
        traces.append(None)  # runs once per trace, not per call
        return tx.update(g, state, p)

    state = tx.init(params)
    p = params
    for i in range(3):
        u, state = update(_grads(p, i), state, p)
        p = optax.apply_updates(p, u)
    ref, _ = _run(T.scale_by_adam(), params, 3)
    chex.assert_trees_all_close(p, ref, rtol=1e-6)
    # Change a hyperparameter in the state: no recompilation, the new value is used.
    assert len(traces) == 1
    state.hyperparams["b1"] = jnp.float32(0.5)
    u, state = update(_grads(p, 3), state, p)
    assert len(traces) == 1
    assert float(optaxlr.hyperparams(state)["b1"]) == 0.5


def test_inject_hyperparams_of_a_scheduled_transform():
    tx = optax.inject_hyperparams(T.trace, static_args=("nesterov",))(
        decay=lambda step: 0.5 + 0.0 * step, nesterov=True
    )
    params = _params()
    p, _state = _run(tx, params, 2, update=jax.jit(tx.update))
    ref, _ = _run(T.trace(0.5, nesterov=True), params, 2)
    chex.assert_trees_all_close(p, ref, rtol=1e-6)


# --- scale_by_path --------------------------------------------------------------------


def test_scale_by_path_factors_multiply():
    params = {"backbone": {"w": jnp.ones(2), "bias": jnp.ones(2)}, "head": {"bias": jnp.ones(2)}}
    tx = T.scale_by_path({r"backbone/.*": 0.1, r".*bias": 2.0})
    u, state = tx.update(params, tx.init(params))
    np.testing.assert_allclose(u["backbone"]["w"], 0.1)
    np.testing.assert_allclose(u["backbone"]["bias"], 0.2)
    np.testing.assert_allclose(u["head"]["bias"], 2.0)
    assert set(optaxlr.hyperparams(state)) == {"scale[backbone/.*]", "scale[.*bias]"}


def test_scale_by_path_schedule_and_lists():
    params = {"layers": [jnp.ones(2), jnp.ones(2)]}
    tx = T.scale_by_path({r"layers/0": lambda s: 1.0 + s.astype(jnp.float32)})
    state = tx.init(params)
    _, state = tx.update(params, state)
    u, state = tx.update(params, state)
    np.testing.assert_allclose(u["layers"][0], 2.0)
    np.testing.assert_allclose(u["layers"][1], 1.0)


def test_scale_by_path_unmatched_rule_is_an_error():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    tx = T.scale_by_path({r"w": 1.0, r"backbone/.*": 0.1})
    with pytest.raises(ValueError, match=re.escape("backbone/.*")):
        tx.init(params)


@pytest.mark.parametrize(
    "rules, exc, fragment",
    [
        ({}, TypeError, "rules"),
        ([("w", 1.0)], TypeError, "rules"),
        ({1: 1.0}, TypeError, "rules keys"),
        ({"(": 1.0}, ValueError, "regular expression"),
        ({"w": -1.0}, ValueError, "rules['w']"),
        ({"w": "x"}, TypeError, "rules['w']"),
    ],
)
def test_scale_by_path_bad_rules(rules, exc, fragment):
    with pytest.raises(exc, match=re.escape(fragment)):
        T.scale_by_path(rules)


def test_scale_by_path_nnx_paths():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.backbone = nnx.Linear(3, 3, rngs=rngs)
            self.head = nnx.Linear(3, 2, rngs=rngs)

    params = nnx.state(Net(nnx.Rngs(0)), nnx.Param)
    paths = [T.path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    assert "backbone/kernel" in paths and "head/bias" in paths
    tx = T.scale_by_path({r"backbone/.*": 0.0})
    u, _ = tx.update(params, tx.init(params))
    assert float(jnp.sum(jnp.abs(u["backbone"]["kernel"][...]))) == 0.0
    assert float(jnp.sum(jnp.abs(u["head"]["kernel"][...]))) > 0.0


# --- argument validation of the transformations ---------------------------------------

INVALID_TRANSFORM_ARGS = [
    (T.scale_by_learning_rate, {"learning_rate": -0.1}, ValueError, "learning_rate"),
    (T.scale_by_learning_rate, {"learning_rate": "0.1"}, TypeError, "learning_rate"),
    (T.scale_by_learning_rate, {"learning_rate": 0.1, "flip_sign": 1}, TypeError, "flip_sign"),
    (T.trace, {"decay": -0.1}, ValueError, "decay"),
    (T.trace, {"decay": 1.5}, ValueError, "decay"),
    (T.trace, {"decay": 0.9, "dampening": 2.0}, ValueError, "dampening"),
    (T.trace, {"decay": 0.0, "nesterov": True}, ValueError, "nesterov"),
    (T.trace, {"decay": 0.9, "nesterov": True, "dampening": 0.1}, ValueError, "dampening"),
    (T.trace, {"decay": 0.9, "nesterov": "yes"}, TypeError, "nesterov"),
    (
        T.scale_by_adagrad,
        {"initial_accumulator_value": -1.0},
        ValueError,
        "initial_accumulator_value",
    ),
    (T.scale_by_adagrad, {"eps": -1e-10}, ValueError, "eps"),
    (T.scale_by_rmsprop, {"decay": 1.1}, ValueError, "decay"),
    (T.scale_by_rmsprop, {"eps": -1.0}, ValueError, "eps"),
    (T.scale_by_rmsprop, {"centered": None}, TypeError, "centered"),
    (T.scale_by_adam, {"b1": 1.0}, ValueError, "b1"),
    (T.scale_by_adam, {"b1": -0.1}, ValueError, "b1"),
    (T.scale_by_adam, {"b2": 1.0}, ValueError, "b2"),
    (T.scale_by_adam, {"eps": -1e-8}, ValueError, "eps"),
    (T.scale_by_adam, {"eps_root": -1.0}, ValueError, "eps_root"),
    (T.scale_by_adam, {"amsgrad": 1}, TypeError, "amsgrad"),
    (T.scale_by_adam, {"b1": float("nan")}, ValueError, "b1"),
    (T.scale_by_radam, {"b2": 1.5}, ValueError, "b2"),
    (T.scale_by_nadam, {"momentum_decay": -1.0}, ValueError, "momentum_decay"),
    (T.scale_by_adadelta, {"rho": 2.0}, ValueError, "rho"),
    (T.add_decayed_weights, {"weight_decay": -1e-4}, ValueError, "weight_decay"),
    (
        T.decoupled_weight_decay,
        {"learning_rate": -1.0, "weight_decay": 0.1},
        ValueError,
        "learning_rate",
    ),
    (T.clip_by_value, {"max_delta": -1.0}, ValueError, "max_delta"),
    (T.clip_by_norm, {"max_norm": 0.0}, ValueError, "max_norm"),
    (T.clip_by_global_norm, {"max_norm": -1.0}, ValueError, "max_norm"),
    (T.clip_by_global_norm, {"max_norm": 1.0, "eps": -1.0}, ValueError, "eps"),
]


@pytest.mark.parametrize(
    "factory, kwargs, exc, name",
    INVALID_TRANSFORM_ARGS,
    ids=[f"{f.__name__}-{n}-{i}" for i, (f, _, _, n) in enumerate(INVALID_TRANSFORM_ARGS)],
)
def test_invalid_arguments_name_the_argument(factory, kwargs, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        factory(**kwargs)


def test_params_required():
    tx = T.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="parameters"):
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))
