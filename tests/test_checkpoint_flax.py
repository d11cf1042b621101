"""Checkpoints of the flows Flax, linen and equinox users write, saved and restored.

Each flow trains a scheduled AdamW to step 15, saves with `optaxlr.training.save`,
restores into fresh templates and trains on to 30: the result must equal, bit for
bit, the uninterrupted run. Plain orbax, restoring the same checkpoint into the same
templates, is the reference for what was written.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from flax.training import train_state

import optaxlr
from optaxlr import training

SAVE, END = 15, 30
LR = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.02, END), 3)


def _opt():
    return optaxlr.adamw(LR, weight_decay=0.01)


def _batch(i):
    x = jax.random.normal(jax.random.fold_in(jax.random.key(0), i), (8, 3))
    return x, jnp.tanh(x @ jnp.array([[1.0], [-2.0], [0.5]]))


def _bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _plain_orbax(path, target):
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(path, jax.tree.map(ocp.utils.to_shape_dtype_struct, target))


class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.dense = nnx.Linear(3, 4, rngs=rngs)
        self.norm = nnx.BatchNorm(4, rngs=rngs)  # nnx.BatchStat: state that is not a Param
        self.count = nnx.Linear(4, 1, rngs=rngs)  # a submodule named like a state field

    def __call__(self, x):
        return self.count(jax.nn.relu(self.norm(self.dense(x))))


# --- nnx.split(model, nnx.Param, ...) with a plain optax state ---------------------


def _split_step(graphdef, opt):
    @jax.jit
    def step(params, rest, opt_state, i):
        x, y = _batch(i)

        model = nnx.merge(graphdef, params, rest)
        model(x)  # training mode: updates the batch statistics
        _, _, rest = nnx.split(model, nnx.Param, ...)

        def loss(p):
            model = nnx.merge(graphdef, p, rest)
            model.eval()
            return jnp.mean((model(x) - y) ** 2)

        grads = jax.grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state

    return step


def _split_run(graphdef, params, rest, opt_state, start, stop):
    step = _split_step(graphdef, _opt())
    for i in range(start, stop):
        params, rest, opt_state = step(params, rest, opt_state, i)
    return params, rest, opt_state


def test_nnx_split_state_restores_and_continues_bit_for_bit(tmp_path):
    graphdef, params, rest = nnx.split(Net(nnx.Rngs(0)), nnx.Param, ...)
    expected = _split_run(graphdef, params, rest, _opt().init(params), 0, END)
    params, rest, opt_state = _split_run(graphdef, params, rest, _opt().init(params), 0, SAVE)
    path = training.save(tmp_path / "ckpt", {"params": params, "rest": rest}, opt_state)

    _, fresh_params, fresh_rest = nnx.split(Net(nnx.Rngs(1)), nnx.Param, ...)
    template = {"params": fresh_params, "rest": fresh_rest}
    restored, restored_state = training.restore(path, template, _opt().init(fresh_params))
    reference = _plain_orbax(path, {"params": template, "opt_state": _opt().init(fresh_params)})
    _bitwise(restored, reference["params"])
    _bitwise(restored_state, reference["opt_state"])
    got = _split_run(graphdef, restored["params"], restored["rest"], restored_state, SAVE, END)
    _bitwise(got, expected)


def test_nnx_split_params_resume_into_the_same_optimizer(tmp_path):
    graphdef, params, rest = nnx.split(Net(nnx.Rngs(0)), nnx.Param, ...)
    params, rest, opt_state = _split_run(graphdef, params, rest, _opt().init(params), 0, SAVE)
    path = training.save(tmp_path / "ckpt", params, opt_state)
    _, fresh_params, _ = nnx.split(Net(nnx.Rngs(1)), nnx.Param, ...)
    restored, resumed = training.resume(path, fresh_params, _opt())
    _bitwise(restored, params)
    _bitwise(resumed, opt_state)


# --- nnx.Optimizer -------------------------------------------------------------------


def _nnx_run(model, optimizer, start, stop):
    @nnx.jit
    def step(model, optimizer, i):
        x, y = _batch(i)
        grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)

    for i in range(start, stop):
        step(model, optimizer, i)


def test_nnx_optimizer_state_restores_and_continues_bit_for_bit(tmp_path):
    model = Net(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, _opt(), wrt=nnx.Param)
    _nnx_run(model, optimizer, 0, SAVE)
    path = training.save(tmp_path / "ckpt", nnx.state(model), nnx.state(optimizer))
    _nnx_run(model, optimizer, SAVE, END)

    fresh = Net(nnx.Rngs(1))
    fresh_optimizer = nnx.Optimizer(fresh, _opt(), wrt=nnx.Param)
    model_state, opt_state = training.restore(path, nnx.state(fresh), nnx.state(fresh_optimizer))
    reference = _plain_orbax(
        path, {"params": nnx.state(fresh), "opt_state": nnx.state(fresh_optimizer)}
    )
    _bitwise(model_state, reference["params"])
    _bitwise(opt_state, reference["opt_state"])
    nnx.update(fresh, model_state)
    nnx.update(fresh_optimizer, opt_state)
    hps = optaxlr.hyperparams(fresh_optimizer.opt_state)
    np.testing.assert_array_equal(hps["learning_rate"], np.float32(LR(SAVE - 1)))
    _nnx_run(fresh, fresh_optimizer, SAVE, END)
    _bitwise(nnx.state(fresh), nnx.state(model))
    _bitwise(nnx.state(fresh_optimizer), nnx.state(optimizer))


# --- linen TrainState, and an equinox-style tree of arrays ----------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Mlp:  # as an equinox Module flattens: fields as attributes
    w: jax.Array
    b: jax.Array
    mu: jax.Array  # named like Adam's moment


def _mlp(seed):
    k = jax.random.key(seed)
    return Mlp(jax.random.normal(k, (3, 1)), jnp.zeros((1,)), jnp.ones((1,)))


def _mlp_loss(p, i):
    x, y = _batch(i)
    return jnp.mean((x @ p.w * p.mu + p.b - y) ** 2)


def _linen_params(seed):  # as a linen module's init returns them
    mlp = _mlp(seed)
    return {"params": {"Dense_0": {"kernel": mlp.w, "bias": mlp.b}, "count": {"scale": mlp.mu}}}


def _linen_loss(p, i):
    p = p["params"]
    return _mlp_loss(Mlp(p["Dense_0"]["kernel"], p["Dense_0"]["bias"], p["count"]["scale"]), i)


def _train_state_run(state, start, stop):
    @jax.jit
    def step(state, i):
        return state.apply_gradients(grads=jax.grad(_linen_loss)(state.params, i))

    for i in range(start, stop):
        state = step(state, i)
    return state


def test_linen_train_state_restores_and_continues_bit_for_bit(tmp_path):
    def create(seed):
        return train_state.TrainState.create(apply_fn=None, params=_linen_params(seed), tx=_opt())

    expected = _train_state_run(create(0), 0, END)
    state = _train_state_run(create(0), 0, SAVE)
    path = training.save(tmp_path / "ckpt", state.params, state.opt_state)
    fresh = create(1)
    params, opt_state = training.restore(path, fresh.params, fresh.opt_state)
    got = _train_state_run(fresh.replace(step=SAVE, params=params, opt_state=opt_state), SAVE, END)
    _bitwise(got.params, expected.params)
    _bitwise(got.opt_state, expected.opt_state)


@pytest.mark.parametrize("how", ["restore", "resume"])
def test_equinox_style_tree_continues_bit_for_bit(tmp_path, how):
    opt = _opt()

    def run(params, opt_state, start, stop):
        for i in range(start, stop):
            updates, opt_state = opt.update(jax.grad(_mlp_loss)(params, i), opt_state, params)
            params = optax.apply_updates(params, updates)
        return params, opt_state

    expected = run(_mlp(0), opt.init(_mlp(0)), 0, END)
    params, opt_state = run(_mlp(0), opt.init(_mlp(0)), 0, SAVE)
    path = training.save(tmp_path / "ckpt", params, opt_state)
    if how == "restore":
        restored = training.restore(path, _mlp(1), opt.init(_mlp(1)))
    else:
        restored = training.resume(path, _mlp(1), opt)
    _bitwise(run(*restored, SAVE, END), expected)


def test_resume_from_an_nnx_optimizer_checkpoint_points_to_restore(tmp_path):
    model = Net(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, _opt(), wrt=nnx.Param)
    _nnx_run(model, optimizer, 0, 3)
    path = training.save(tmp_path / "ckpt", nnx.state(model, nnx.Param), nnx.state(optimizer))
    _, fresh_params, _ = nnx.split(Net(nnx.Rngs(1)), nnx.Param, ...)
    with pytest.raises(ValueError, match=r"nnx.Optimizer: restore it with training.restore"):
        training.resume(path, fresh_params, _opt())
