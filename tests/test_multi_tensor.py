"""The multi-tensor fast path: `FlatParams` and `multi_tensor`.

Numbers: every elementwise alias gives *bitwise* the same parameters, state and
hyperparameters on a `FlatParams` as on the tree, step after step (the loss and
its gradient included). ``clip_by_global_norm`` sums the squares in another
order, so it matches to float32 rounding (rtol 1e-6).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import FlatParams, multi_tensor
from optaxlr.fast import Layout, path_groups

sch = optaxlr.schedules

SHAPES = [(3, 4), (5,), (7, 3), (1,), (33,), (2, 2, 2), (17,), (0,)]


def make_params(dtype=jnp.float32, seed=0):
    keys = jax.random.split(jax.random.key(seed), len(SHAPES))
    return {
        "block": [
            {"kernel": (jax.random.normal(k, s) * (1 + i)).astype(dtype)}
            for i, (k, s) in enumerate(zip(keys[:4], SHAPES[:4], strict=True))
        ],
        "head": {
            f"p{i + 4}": (jax.random.normal(k, s) * 0.5).astype(dtype)
            for i, (k, s) in enumerate(zip(keys[4:], SHAPES[4:], strict=True))
        },
    }


def loss_fn(params):
    return sum(jnp.sum(jnp.sin(x.astype(jnp.float32)) * x) for x in jax.tree.leaves(params))


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))


def is_flat(x):
    return isinstance(x, FlatParams)


def assert_state_equal_to_the_tree_state(flat_state, tree_state):
    """Every `FlatParams` in ``flat_state`` read back as a tree: then the same structure,
    dtypes and bits as the per-leaf optimizer's state."""
    read = jax.tree.map(lambda x: x.unflatten() if is_flat(x) else x, flat_state, is_leaf=is_flat)
    assert jax.tree.structure(read) == jax.tree.structure(tree_state)
    for x, y in zip(jax.tree.leaves(read), jax.tree.leaves(tree_state), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# --- the container --------------------------------------------------------------


def test_round_trip_and_layout():
    params = make_params()
    flat = FlatParams.from_tree(params)
    assert flat.names == ("float32",)
    # As a pytree (what optax, jax.tree.map and checkpoints see): one 1-D array.
    assert [x.shape for x in jax.tree.leaves(flat)] == [(sum(int(np.prod(s)) for s in SHAPES),)]
    assert_trees_equal(flat.unflatten(), params)
    assert jax.tree.structure(flat.unflatten()) == jax.tree.structure(params)
    # The documented per-leaf attributes of the layout, in the tree's flattening order.
    assert flat.layout.paths == (
        "block/0/kernel", "block/1/kernel", "block/2/kernel", "block/3/kernel",
        "head/p4", "head/p5", "head/p6", "head/p7",
    )  # fmt: skip
    assert flat.layout.shapes == tuple(SHAPES)
    # flatten_like is the inverse of unflatten
    assert_trees_equal(flat.flatten_like(flat.unflatten()), flat)


def test_one_buffer_per_dtype_and_group():
    params = make_params()
    params["head"]["p5"] = params["head"]["p5"].astype(jnp.bfloat16)
    flat = FlatParams.from_tree(params)
    assert flat.names == ("float32", "bfloat16")
    assert [b.dtype for b in jax.tree.leaves(flat)] == [jnp.float32, jnp.bfloat16]
    assert_trees_equal(flat.unflatten(), params)
    grouped = FlatParams.from_tree(params, group_by=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    assert grouped.names == ("True/float32", "False/float32", "True/bfloat16")
    assert_trees_equal(grouped.unflatten(), params)
    # a tree of labels works as well as a function
    labels = jax.tree.map(lambda x: "big" if x.size > 10 else "small", params)
    assert set(FlatParams.from_tree(params, group_by=labels).names) == {
        "big/float32",
        "small/float32",
        "small/bfloat16",
    }


def test_rejects_integer_leaves_and_bad_labels():
    with pytest.raises(TypeError, match="floating-point"):
        FlatParams.from_tree({"w": jnp.ones(3), "step": jnp.zeros([], jnp.int32)})
    with pytest.raises(ValueError, match="one label per parameter"):
        FlatParams.from_tree({"a": jnp.ones(2), "b": jnp.ones(2)}, group_by={"a": 1})
    flat = FlatParams.from_tree({"a": jnp.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        flat.flatten_like({"a": jnp.ones(3)})


def test_layout_is_static_and_cheap_to_compare():
    a = FlatParams.from_tree(make_params(seed=0))
    b = FlatParams.from_tree(make_params(seed=1))
    assert isinstance(a.layout, Layout)
    assert a.layout == b.layout and hash(a.layout) == hash(b.layout)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    traces = []

    @jax.jit
    def f(fp):
        traces.append(1)
        return jax.tree.map(lambda x: x * 2, fp)

    f(a)
    f(b)
    f(f(a))
    assert len(traces) == 1


def test_gradient_is_a_flat_params(variant):
    # That it is one concatenation per buffer, not one full-size pad per leaf, is a cost:
    # benchmarks/bench_multi_tensor_hlo.py counts both and times the gradient.
    params = make_params()
    params["head"]["p5"] = params["head"]["p5"].astype(jnp.bfloat16)
    flat = FlatParams.from_tree(params)
    g_tree = variant(jax.grad(loss_fn))(params)
    g_flat = variant(jax.grad(lambda f: loss_fn(f.unflatten())))(flat)
    assert isinstance(g_flat, FlatParams) and g_flat.layout == flat.layout
    assert_trees_equal(g_flat.unflatten(), g_tree)


# --- same numbers -----------------------------------------------------------------

ALIASES = {
    "sgd": lambda: optaxlr.sgd(sch.cosine(0.1, 20), momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd_dampening": lambda: optaxlr.sgd(0.1, momentum=sch.one_cycle_momentum(20), dampening=0.1),
    "adam": lambda: optaxlr.adam(
        sch.one_cycle(1e-2, 20), b1=sch.one_cycle_momentum(20), weight_decay=1e-3
    ),
    "adamw": lambda: optaxlr.adamw(sch.warmup(sch.cosine(1e-2, 15), 5)),
    "adamw_amsgrad_bf16_mu": lambda: optaxlr.adamw(1e-2, amsgrad=True, mu_dtype=jnp.bfloat16),
    "nadam": lambda: optaxlr.nadam(weight_decay=1e-2, decoupled_weight_decay=True),
    "radam": lambda: optaxlr.radam(weight_decay=1e-2),
    "adagrad": lambda: optaxlr.adagrad(lr_decay=1e-3, weight_decay=1e-3),
    "rmsprop": lambda: optaxlr.rmsprop(momentum=0.9, centered=True),
    "adadelta": lambda: optaxlr.adadelta(weight_decay=1e-3),
    "adamax": lambda: optaxlr.adamax(sch.cosine(1e-2, 20), weight_decay=1e-3),
    "lion": lambda: optaxlr.lion(sch.cosine(1e-3, 20), b1=0.95, weight_decay=0.1),
    "rprop": lambda: optaxlr.rprop(etas=(0.4, 1.3), step_sizes=(1e-6, sch.cosine(1.0, 20))),
    "asgd": lambda: optaxlr.asgd(sch.cosine(1e-2, 20), t0=3.0, weight_decay=1e-3),
    "inject_hyperparams": lambda: optax.inject_hyperparams(optaxlr.adamw)(learning_rate=1e-2),
}


def run_both(opt, params, steps=12):
    """(tree params, tree state, flat params, flat state) after ``steps`` jitted steps."""
    fast = multi_tensor(opt)
    flat = FlatParams.from_tree(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step_tree(p, s):
        g = jax.grad(loss_fn)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step_flat(p, s):
        g = jax.grad(lambda f: loss_fn(f.unflatten()))(p)
        u, s = fast.update(g, s, p)
        return optax.apply_updates(p, u), s

    p1, s1 = jax.tree.map(jnp.copy, params), opt.init(params)
    p2, s2 = flat, fast.init(flat)
    for _ in range(steps):
        p1, s1 = step_tree(p1, s1)
        p2, s2 = step_flat(p2, s2)
    return p1, s1, p2, s2


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_bitwise_equal_to_the_per_leaf_alias(name):
    params = make_params()
    p1, s1, p2, s2 = run_both(ALIASES[name](), params)
    assert isinstance(p2, FlatParams)
    assert_trees_equal(p2.unflatten(), p1)
    assert_state_equal_to_the_tree_state(s2, s1)
    h1, h2 = optaxlr.hyperparams(s1), optaxlr.hyperparams(s2)
    assert h1.keys() == h2.keys()
    for k in h1:
        np.testing.assert_array_equal(h1[k], h2[k])


def test_bitwise_equal_with_mixed_dtypes():
    params = make_params()
    params["head"]["p4"] = params["head"]["p4"].astype(jnp.bfloat16)
    p1, s1, p2, s2 = run_both(optaxlr.adamw(1e-2), params, steps=5)
    assert p2.names == ("float32", "bfloat16")
    assert_trees_equal(p2.unflatten(), p1)
    # the moments of the bfloat16 parameter are bfloat16, as on the tree
    assert_state_equal_to_the_tree_state(s2, s1)


def test_global_norm_clipping_to_float32_rounding():
    opt = optax.chain(optaxlr.clip_by_global_norm(0.5), optaxlr.adamw(1e-2))
    p1, _, p2, _ = run_both(opt, make_params())
    for x, y in zip(jax.tree.leaves(p2.unflatten()), jax.tree.leaves(p1), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_mask_and_path_rules_per_buffer():
    params = make_params()
    matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    rules = {r"block/.*": 0.1, r".*p5": 3.0}
    opt = optax.chain(optaxlr.adamw(1e-2, mask=matrices), optaxlr.scale_by_path(rules))
    fast = multi_tensor(opt)

    def labels(p):
        return jax.tree.map(lambda a, b: (a, b), matrices(p), path_groups(rules)(p))

    flat = FlatParams.from_tree(params, group_by=labels)
    state1, state2 = opt.init(params), fast.init(flat)
    g1 = jax.grad(loss_fn)(params)
    g2 = flat.flatten_like(g1)
    for _ in range(3):
        u1, state1 = jax.jit(opt.update)(g1, state1, params)
        u2, state2 = jax.jit(fast.update)(g2, state2, flat)
    assert_trees_equal(u2.unflatten(), u1)
    assert optaxlr.hyperparams(state1).keys() == optaxlr.hyperparams(state2).keys()


# --- errors -----------------------------------------------------------------------


def test_errors_name_the_fix():
    params = make_params()
    flat = FlatParams.from_tree(params)
    with pytest.raises(TypeError, match=r"FlatParams\.from_tree"):
        multi_tensor(optaxlr.adamw()).init(params)
    matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    with pytest.raises(ValueError, match="group_by=mask"):
        multi_tensor(optaxlr.adamw(mask=matrices)).init(flat)
    with pytest.raises(ValueError, match="path_groups"):
        multi_tensor(optaxlr.scale_by_path({r"block/.*": 0.1})).init(flat)
    with pytest.raises(ValueError, match="clip_by_norm"):
        multi_tensor(optax.chain(optaxlr.clip_by_norm(1.0), optaxlr.sgd(0.1))).init(flat)
    with pytest.raises(ValueError, match="flat_mask"):
        multi_tensor(optax.masked(optax.add_decayed_weights(0.1), matrices)).init(flat)
    with pytest.raises(ValueError, match="partition"):
        labels = jax.tree.map(lambda _: "a", flat)
        multi_tensor(optax.partition({"a": optax.sgd(0.1)}, labels)).init(flat)
    with pytest.raises(ValueError, match="Adafactor"):
        multi_tensor(optax.adafactor(1e-3)).init(flat)
    fast = multi_tensor(optaxlr.sgd(0.1))
    state = fast.init(flat)
    with pytest.raises(TypeError, match="updates must be a FlatParams"):
        fast.update(params, state, flat)


def test_flat_mask_wraps_a_users_optax_masked():
    params = make_params()
    matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    tx = optax.masked(optax.add_decayed_weights(0.1), optaxlr.flat_mask(matrices))
    flat = FlatParams.from_tree(params, group_by=matrices)
    u1, _ = tx.update(params, tx.init(params), params)
    fast = multi_tensor(tx)
    u2, _ = fast.update(flat, fast.init(flat), flat)
    assert_trees_equal(u2.unflatten(), u1)


def _init_on_a_copy(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """A wrapper whose init hands ``inner`` a rebuilt parameter tree (a float32 master
    copy, as mixed-precision wrappers do): a new FlatParams, through unflatten."""
    return optax.GradientTransformation(
        lambda params: inner.init(jax.tree.map(lambda x: x.astype(jnp.float32), params)),
        inner.update,
    )


@pytest.mark.parametrize("jit_init", [False, True], ids=["eager_init", "jit_init"])
def test_flat_mask_is_recognised_whatever_the_init_passes_it(jit_init):
    # The masks flat_mask resolves are counted per init, not on the FlatParams object: a
    # wrapper that rebuilds the parameters must neither hide a flat_mask (a false error)
    # nor a mask written for the tree (a silent one entry per buffer).
    params = make_params()
    matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    flat = FlatParams.from_tree(params, group_by=matrices)
    tx = _init_on_a_copy(optax.masked(optax.add_decayed_weights(0.1), optaxlr.flat_mask(matrices)))
    fast = multi_tensor(tx)
    init = jax.jit(fast.init) if jit_init else fast.init
    u_flat, _ = fast.update(flat, init(flat), flat)
    u_tree, _ = tx.update(params, tx.init(params), params)
    assert_trees_equal(u_flat.unflatten(), u_tree)
    wrong = multi_tensor(_init_on_a_copy(optax.masked(optax.add_decayed_weights(0.1), matrices)))
    with pytest.raises(ValueError, match="flat_mask"):
        (jax.jit(wrong.init) if jit_init else wrong.init)(flat)


def test_a_multi_tensor_inside_a_multi_tensor_counts_its_masks_for_both():
    params = make_params()
    matrices = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    flat = FlatParams.from_tree(params, group_by=matrices)
    masked = optax.masked(optax.add_decayed_weights(0.1), optaxlr.flat_mask(matrices))
    fast = multi_tensor(optax.chain(multi_tensor(masked), optaxlr.sgd(0.1)))
    u_flat, _ = fast.update(flat, fast.init(flat), flat)
    tree = optax.chain(masked, optaxlr.sgd(0.1))
    u_tree, _ = tree.update(params, tree.init(params), params)
    assert_trees_equal(u_flat.unflatten(), u_tree)


# --- what it is for -----------------------------------------------------------------


def test_the_state_does_not_grow_with_the_leaf_count():
    """One array per moment whatever the number of leaves; the fusions that this saves
    are counted by benchmarks/bench_multi_tensor_hlo.py."""
    opt = optaxlr.adamw(1e-3)
    fast = multi_tensor(opt)
    one = FlatParams.from_tree({"w": jnp.ones(20)})
    many = FlatParams.from_tree({f"w{i}": jnp.full((20,), 0.1 * i) for i in range(200)})
    state = fast.init(many)
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(fast.init(one)))
    moments = [x for x in jax.tree.leaves(state, is_leaf=is_flat) if is_flat(x)]
    assert moments and all(m.layout == many.layout for m in moments)


def test_a_jitted_training_step_traces_once():
    # Each step returns new buffers (and a new FlatParams in the state); the layout is
    # static, so the next step reuses the compiled program, and so does a FlatParams
    # packed again from the same tree (after a restore, say).
    params = make_params()
    fast = multi_tensor(optaxlr.adamw(sch.cosine(1e-2, 10)))
    traces = []

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(flat, state):
        traces.append(1)
        grads = jax.grad(lambda f: loss_fn(f.unflatten()))(flat)
        updates, state = fast.update(grads, state, flat)
        return optax.apply_updates(flat, updates), state

    flat = FlatParams.from_tree(params)
    state = fast.init(flat)
    for _ in range(2):
        flat, state = step(flat, state)
    flat = FlatParams.from_tree(flat.unflatten())
    for _ in range(2):
        flat, state = step(flat, state)
    assert len(traces) == 1


def test_nnx_state_round_trip():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model, nnx.Param)
    flat = FlatParams.from_tree(state)
    assert flat.layout.paths == ("bias", "kernel")
    rebuilt = nnx.merge(graphdef, flat.unflatten())
    np.testing.assert_array_equal(rebuilt.kernel[...], model.kernel[...])
