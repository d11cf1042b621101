"""The state convention (docs/design.md): declared classes, fields that mean what they say.

Every optaxlr state is a class written in the source; ``count`` is the number of
updates applied or ``None`` where nothing depends on it; ``record`` holds the
values the last update used, numbers as static metadata. The aliases pass the
same buffers through a compiled step as optax's own aliases (the property that
keeps them at optax's speed, see benchmarks/README.md), checked structurally.
"""

from __future__ import annotations

import copy
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr import transforms as T

INT32_MAX = int(np.iinfo(np.int32).max)
SCHED = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 20), 3)


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.full((4,), 0.25)}


def _grads(params, i):
    return jax.tree.map(lambda p: 0.3 * p + 0.1 * (i + 1) * jnp.sign(p + 0.01), params)


def _run(opt, steps, update=None):
    params = _params()
    state = opt.init(params)
    update = update or opt.update
    for i in range(steps):
        updates, state = update(_grads(params, i), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


OPTIMIZERS = {
    **{name: (lambda name=name: getattr(optaxlr, name)()) for name in optaxlr.aliases.__all__},
    "sgd": lambda: optaxlr.sgd(SCHED, momentum=0.9, dampening=0.1, weight_decay=1e-4),
    "adamw_schedule": lambda: optaxlr.adamw(SCHED, amsgrad=True),
    "clip_value": lambda: T.clip_by_value(SCHED),
    "clip_norm": lambda: T.clip_by_norm(1.0),
    "clip_global": lambda: T.clip_by_global_norm(optaxlr.schedules.linear(1.0, 0.5, 10)),
    "path": lambda: T.scale_by_path({"w": SCHED, "b": 2.0}),
    "decoupled": lambda: T.decoupled_weight_decay(SCHED, 1e-2),
    "guards": lambda: training.spike_guard(
        optax.chain(
            training.accumulate(
                optax.chain(
                    training.grad_norm_monitor(optaxlr.schedules.linear(1.0, 0.5, 10), eps=0.0),
                    optaxlr.adam(SCHED),
                ),
                optaxlr.schedules.piecewise_constant([1], [1.0, 2.0]),
                rule="linear",
            ),
        ),
        warmup=2,
    ),
    "training": lambda: training.skip_nonfinite(
        optax.chain(
            training.accumulate(
                optax.chain(optaxlr.adam(SCHED), training.param_ema(0.9)), every_k_steps=2
            ),
            training.update_ratio_monitor(),
            training.reduce_on_plateau(),
        )
    ),
}


def _optaxlr_nodes(state):
    """Every optaxlr state object in ``state``."""
    nodes = jax.tree.leaves(
        state, is_leaf=lambda x: isinstance(x, tuple) and type(x).__module__.startswith("optaxlr.")
    )
    return [n for n in nodes if isinstance(n, tuple) and type(n).__module__.startswith("optaxlr.")]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_states_are_the_classes_declared_in_the_source(name, variant):
    _, state = _run(OPTIMIZERS[name](), 3, variant(OPTIMIZERS[name]().update))
    nodes = _optaxlr_nodes(state)
    assert nodes, "no optaxlr state found"
    for node in nodes:
        cls = type(node)
        module = sys.modules[cls.__module__]
        assert getattr(module, cls.__name__) is cls, f"{cls} is not the module's class"
        exported = getattr(sys.modules[cls.__module__.rsplit(".", 1)[0]], cls.__name__)
        assert exported is cls, f"{cls.__name__} is not the class the package exports"
        assert cls.__bases__ == (tuple,), f"{cls} is a subclass made at run time"
        hints = cls.__annotations__  # every field declared with its type
        assert set(hints) == set(cls._fields)
        if "record" in cls._fields:
            assert isinstance(node.record, optaxlr.HyperparamRecord)
        if "count" in cls._fields and node.count is not None:
            assert node.count.dtype == jnp.int32 and node.count.shape == ()


def test_adam_state_fields_hold_what_they_say():
    """The fields design.md documents, read by name on the transformation's own state."""
    params = _params()
    tx = T.scale_by_adam(b1=0.8)
    state = tx.init(params)
    assert isinstance(state, T.ScaleByAdamState)
    for i in range(4):
        _, state = tx.update(_grads(params, i), state)
    assert int(state.count) == 4
    assert state.record.constants == (("b1", 0.8), ("b2", 0.999), ("eps", 1e-8))
    assert state.record.values == {}  # every Adam argument was a number
    assert jax.tree.structure(state.mu) == jax.tree.structure(params)
    # Replacing a field by name is visible: nothing shadows it.
    changed = state._replace(record=state.record.of({"b1": 0.5}))
    assert changed.record.as_dict().keys() == {"b1"}
    # An alias reports the schedule's value the last update used, and the numbers.
    _, state = _run(optaxlr.adam(SCHED, b1=0.8), 4)
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == 4 and float(hps["b1"]) == np.float32(0.8)
    np.testing.assert_allclose(hps["learning_rate"], SCHED(3), rtol=1e-6)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            lambda: optaxlr.adamw(1e-3, weight_decay=1e-2),
            lambda: optax.adamw(1e-3, weight_decay=1e-2),
        ),
        (lambda: optaxlr.adam(1e-3), lambda: optax.adam(1e-3)),
        (lambda: optaxlr.sgd(0.1, momentum=0.9), lambda: optax.sgd(0.1, momentum=0.9)),
        (
            lambda: optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(1e-3)),
            lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3)),
        ),
    ],
    ids=["adamw", "adam", "sgd_momentum", "clip_adamw"],
)
def test_aliases_pass_the_same_buffers_as_optax(ours, theirs):
    """Numbers are no buffers, and only what needs a count keeps one."""
    params = _params()
    our_leaves = jax.tree.leaves(ours().init(params))
    their_leaves = jax.tree.leaves(theirs().init(params))
    shapes = lambda leaves: sorted((x.shape, x.dtype.name) for x in leaves)
    assert shapes(our_leaves) == shapes(their_leaves)


def test_a_schedule_costs_its_count_and_the_recorded_value():
    params = _params()
    ours = jax.tree.leaves(optaxlr.adamw(SCHED, weight_decay=1e-2).init(params))
    theirs = jax.tree.leaves(optax.adamw(SCHED, weight_decay=1e-2).init(params))
    extra = sorted((x.shape, x.dtype.name) for x in ours)
    for x in theirs:
        extra.remove((x.shape, x.dtype.name))
    assert extra == [((), "float32")]  # the learning rate the last update used


def test_chain_is_optax_chain():
    assert optaxlr.chain is optax.chain


def test_adamw_evaluates_the_learning_rate_schedule_once_per_update():
    calls = []

    def lr(step):
        calls.append(step)
        return SCHED(step)

    opt = optaxlr.adamw(lr, weight_decay=1e-2)
    params = _params()
    state = opt.init(params)
    calls.clear()
    jax.jit(opt.update).lower(params, state, params)
    assert len(calls) == 1


def _with_counts(state, value):
    """``state`` with every ``count`` field (design.md's step counter) set to ``value``."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.int32(value) if getattr(path[-1], "name", None) == "count" else x,
        state,
    )


def _counts(state) -> list[int]:
    """The value of every ``count`` field that holds one."""
    return [int(x) for path, x in jax.tree_util.tree_flatten_with_path(state)[0]
            if getattr(path[-1], "name", None) == "count"]


def test_count_saturates_at_int32_max(variant):
    opt = optaxlr.adam(SCHED)
    params = _params()
    state = _with_counts(opt.init(params), INT32_MAX - 1)
    update = variant(opt.update)
    for _ in range(3):
        updates, state = update(_grads(params, 0), state, params)
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
    assert _counts(state) and set(_counts(state)) == {INT32_MAX}
    assert int(optaxlr.hyperparams(state)["step"]) == INT32_MAX


def test_numbers_are_static_arrays_and_schedules_are_leaves():
    state = T.scale_by_adam(b1=SCHED, b2=jnp.asarray(0.99), eps=1e-8).init(_params())
    record = state.record
    assert set(record.values) == {"b1", "b2"}
    assert jax.tree.leaves(record) == [record.values["b1"], record.values["b2"]]
    assert record.constants == (("eps", 1e-8),)
    assert list(record.as_dict()) == ["b1", "b2", "eps"]


def test_equal_numbers_give_equal_structures_other_numbers_other_ones():
    a = optaxlr.adamw(1e-3).init(_params())
    b = optaxlr.adamw(1e-3).init(_params())
    c = optaxlr.adamw(2e-3).init(_params())
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert jax.tree.structure(a) != jax.tree.structure(c)


def test_states_pickle_and_copy():
    _, state = _run(optaxlr.sgd(SCHED, momentum=0.9, weight_decay=1e-4), 2)
    for restored in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state)):
        assert jax.tree.structure(restored) == jax.tree.structure(state)
        for key, value in optaxlr.hyperparams(state).items():
            np.testing.assert_array_equal(optaxlr.hyperparams(restored)[key], value)


def test_numbers_are_reported_as_given():
    _, state = _run(optaxlr.sgd(0.1, momentum=0.9), 2)
    assert {k: float(v) for k, v in optaxlr.hyperparams(state).items()} == {
        "momentum": np.float32(0.9),
        "learning_rate": np.float32(0.1),
    }


def test_step_is_absent_where_nothing_counts():
    _, state = _run(optaxlr.sgd(0.1, momentum=0.9), 2)
    assert _counts(state) == []  # every count is None
    assert "step" not in optaxlr.hyperparams(state)
    _, state = _run(optaxlr.sgd(SCHED, momentum=0.9), 2)
    assert int(optaxlr.hyperparams(state)["step"]) == 2
