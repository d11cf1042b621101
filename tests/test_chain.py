"""`optaxlr.chain` (one shared count) and constant hyperparameters kept in the state's class.

Both exist for speed: a compiled step of an alias passes, computes and returns the
same buffers as optax's (see benchmarks/README.md). These tests pin that down
structurally, without timing anything, and check that nothing else changes.
"""

from __future__ import annotations

import copy
import inspect
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import transforms as T
from optaxlr.transforms._chain import COUNTING_STATES

INT32_MAX = int(np.iinfo(np.int32).max)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.full((4,), 0.25)}


def _grads(params, i):
    return jax.tree.map(lambda p: 0.3 * p + 0.1 * (i + 1) * jnp.sign(p + 0.01), params)


def _run(opt, steps, update=None):
    params = _params()
    state = opt.init(params)
    update = update or opt.update
    trajectory = []
    for i in range(steps):
        updates, state = update(_grads(params, i), state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(params)
    return trajectory, state


def _members():
    lr = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 20), 3)
    return (
        T.clip_by_global_norm(1.0),
        T.add_decayed_weights(1e-3),
        T.scale_by_adam(b1=optaxlr.schedules.one_cycle_momentum(20, 0.85, 0.95)),
        T.scale_by_learning_rate(lr),
        T.decoupled_weight_decay(lr, 1e-2),
    )


def _int_scalars(state):
    return [x for x in jax.tree.leaves(state) if x.dtype == jnp.int32 and x.ndim == 0]


def test_same_trajectory_as_optax_chain_bit_for_bit(variant):
    theirs_opt, ours_opt = optax.chain(*_members()), optaxlr.chain(*_members())
    theirs, their_state = _run(theirs_opt, 8, variant(theirs_opt.update))
    ours, our_state = _run(ours_opt, 8, variant(ours_opt.update))
    for a, b in zip(theirs, ours, strict=True):
        jax.tree.map(np.testing.assert_array_equal, a, b)
    assert optaxlr.hyperparams(our_state).keys() == optaxlr.hyperparams(their_state).keys()
    for key, value in optaxlr.hyperparams(their_state).items():
        np.testing.assert_array_equal(optaxlr.hyperparams(our_state)[key], value, err_msg=key)


def test_one_count_for_all_members_the_first_keeps_it():
    opt = optaxlr.chain(*_members())
    _, state = _run(opt, 3)
    assert isinstance(state, tuple) and len(state) == 5
    assert int(state[0].count) == 3
    assert all(s.count is None for s in state[1:])
    assert len(_int_scalars(state)) == 1
    assert len(_int_scalars(optax.chain(*_members()).init(_params()))) == 5
    assert int(optaxlr.hyperparams(state)["step"]) == 3


def test_nested_chains_share_the_count_optax_chain_included():
    clip, l2, adam, lr, wd = _members()
    nested = optaxlr.chain(clip, optax.chain(l2, optaxlr.chain(adam, lr)), wd)
    flat_traj, _ = _run(optaxlr.chain(*_members()), 5)
    traj, state = _run(nested, 5)
    for a, b in zip(flat_traj, traj, strict=True):
        jax.tree.map(np.testing.assert_array_equal, a, b)
    assert len(_int_scalars(state)) == 1 and int(state[0].count) == 5
    assert state[1][1][0].count is None  # adam, two chains down


def test_members_that_do_not_count_keep_their_state():
    opt = optaxlr.chain(optax.scale_by_adam(), T.scale_by_learning_rate(0.1))
    _, state = _run(opt, 4)
    assert int(state[0].count) == 4  # optax's own count, left alone
    assert int(state[1].count) == 4  # the first optaxlr member keeps the shared one


def test_count_saturates_at_int32_max(variant):
    opt = optaxlr.chain(T.trace(0.9), T.scale_by_learning_rate(0.1))
    params = _params()
    state = opt.init(params)
    state = (state[0]._replace(count=jnp.asarray(INT32_MAX - 1, jnp.int32)), state[1])
    update = variant(opt.update)
    for _ in range(3):
        _, state = update(_grads(params, 0), state, params)
    assert int(state[0].count) == INT32_MAX and state[1].count is None


def test_extra_arguments_reach_every_member():
    opt = optaxlr.chain(optaxlr.sgd(1.0), optaxlr.reduce_on_plateau(factor=0.5, patience=0))
    params = _params()
    state = opt.init(params)
    for value in (1.0, 2.0, 3.0):
        updates, state = opt.update(_grads(params, 0), state, params, value=jnp.asarray(value))
    assert float(optaxlr.hyperparams(state)["scale"]) == 0.25


def test_no_member_that_counts():
    opt = optaxlr.chain(optax.scale_by_adam(), optax.scale(-0.1))
    traj, _ = _run(opt, 2)
    ref, _ = _run(optax.chain(optax.scale_by_adam(), optax.scale(-0.1)), 2)
    jax.tree.map(np.testing.assert_array_equal, traj[-1], ref[-1])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (optaxlr.adamw(1e-3, weight_decay=1e-2), optax.adamw(1e-3, weight_decay=1e-2)),
        (optaxlr.adam(1e-3), optax.adam(1e-3)),
        (
            optaxlr.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(1e-3)),
            optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3)),
        ),
    ],
    ids=["adamw", "adam", "clip_adamw"],
)
def test_aliases_pass_the_same_buffers_as_optax(ours, theirs):
    """The performance property: constants are no buffers, and the chain has one count."""
    params = _params()
    our_leaves = jax.tree.leaves(ours.init(params))
    their_leaves = jax.tree.leaves(theirs.init(params))
    assert sorted((x.shape, x.dtype.name) for x in our_leaves) == sorted(
        (x.shape, x.dtype.name) for x in their_leaves
    )


def test_sgd_keeps_one_scalar_more_than_optax_its_step_count():
    params = _params()
    ours = jax.tree.leaves(optaxlr.sgd(0.1, momentum=0.9).init(params))
    theirs = jax.tree.leaves(optax.sgd(0.1, momentum=0.9).init(params))
    assert len(ours) == len(theirs) + 1 and len(_int_scalars(ours)) == 1


# --- constants in the state's class --------------------------------------------


def test_constants_are_not_leaves_but_are_reported():
    opt = optaxlr.adamw(1e-3, weight_decay=1e-2)
    _, state = _run(opt, 2)
    hp = optaxlr.hyperparams(state)
    assert float(hp["learning_rate"]) == np.float32(1e-3)
    assert float(hp["weight_decay"]) == np.float32(1e-2)
    assert hp["b1"].dtype == jnp.float32
    assert state[0][1] is None  # the field: no arrays
    assert list(state[0].hyperparams) == ["b1", "b2", "eps"]  # the attribute: every value
    np.testing.assert_array_equal(
        list(state[0].hyperparams.values()), np.float32([0.9, 0.999, 1e-8])
    )


def test_schedules_and_arrays_are_leaves_constants_are_not():
    sched = optaxlr.schedules.cosine(0.1, 10)
    state = T.scale_by_adam(b1=sched, b2=jnp.asarray(0.99), eps=1e-8).init(_params())
    assert set(state[1]) == {"b1", "b2"}  # the arrays; eps is in the class
    assert list(state.hyperparams) == ["b1", "b2", "eps"]
    assert type(state).hyperparam_constants == {"eps": float(np.float32(1e-8))}


def test_equal_constants_give_equal_structures():
    a = optaxlr.adamw(1e-3).init(_params())
    b = optaxlr.adamw(1e-3).init(_params())
    c = optaxlr.adamw(2e-3).init(_params())
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert jax.tree.structure(a) != jax.tree.structure(c)
    assert isinstance(a[0], T.ScaleByAdamState)


def test_the_repr_shows_the_constants():
    state = optaxlr.sgd(0.1, momentum=0.9).init(_params())
    assert f"hyperparams={{'momentum': {np.float32(0.9)!r}}}" in repr(state[0])
    assert repr(state[1]).startswith("ScaleByLearningRateState(count=None, hyperparams={")


def test_a_state_with_constants_pickles_and_copies():
    _, state = _run(optaxlr.sgd(0.1, momentum=0.9, weight_decay=1e-4), 2)
    for restored in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state)):
        assert jax.tree.structure(restored) == jax.tree.structure(state)
        assert optaxlr.hyperparams(restored).keys() == optaxlr.hyperparams(state).keys()
        for key, value in optaxlr.hyperparams(state).items():
            np.testing.assert_array_equal(optaxlr.hyperparams(restored)[key], value)


def test_injected_hyperparameters_stay_arrays():
    opt = optax.inject_hyperparams(optaxlr.adamw)(learning_rate=1e-3, weight_decay=1e-2)
    _, state = _run(opt, 2, jax.jit(opt.update))
    inner = state.inner_state
    assert isinstance(inner[1][1]["learning_rate"], jax.Array)  # a leaf, not a constant
    assert float(optaxlr.hyperparams(state)["learning_rate"]) == np.float32(1e-3)


def test_every_transform_state_that_counts_is_shared_by_chain():
    exported = [
        obj
        for name in T.__all__
        if inspect.isclass(obj := getattr(T, name)) and "count" in getattr(obj, "_fields", ())
    ]
    assert exported and set(exported) == set(COUNTING_STATES)
