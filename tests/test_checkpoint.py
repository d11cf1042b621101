"""Resume: a run saved at step k and restored in another process continues bit for bit.

A child process (this file run as a script) trains every alias for K steps and
saves ``(params, opt_state)`` with `optaxlr.training.save`; this process
restores each checkpoint with `optaxlr.training.restore` and trains on to N.
The result must equal, bit for bit, an uninterrupted N-step run. Every
optimizer has a scheduled learning rate and runs inside
``skip_nonfinite(chain(accumulate(chain(alias, param_ema, update_ratio_monitor), 2),
reduce_on_plateau))``, with a NaN gradient along the way, so the checkpoint
carries every kind of state there is: schedule counts, moments, a half-full
accumulation buffer, the plateau's best/bad/cooldown counters, skip counts and
the parameter average.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training

K, N = 9, 20  # save after K micro-steps (mid-accumulation), compare at N
NAN_STEP = 4

# Extra arguments, so that every option with state of its own is exercised.
EXTRA = {
    "sgd": {"momentum": optaxlr.schedules.linear(0.5, 0.9, 10), "nesterov": True},
    "rmsprop": {"momentum": 0.9, "centered": True},
    "adam": {"amsgrad": True, "weight_decay": 1e-3},
    "adamw": {},
    "nadam": {"decoupled_weight_decay": True, "weight_decay": 1e-2},
    "adamax": {"weight_decay": 1e-2},
    "lion": {"weight_decay": 1e-2},
    # Rprop's rate is its initial step size (no schedule): its step-size bound is scheduled.
    "rprop": {
        "learning_rate": 1e-2,
        "etas": (0.4, 1.3),
        "step_sizes": (1e-6, optaxlr.schedules.linear(50.0, 10.0, 20)),
    },
    "asgd": {"t0": 2.0, "weight_decay": 1e-2},
    "adafactor": {"weight_decay": 1e-2},
}


def _alias_names() -> list[str]:
    return list(optaxlr.aliases.__all__)


def _optimizer(name: str) -> optax.GradientTransformationExtraArgs:
    lr = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.05, 20), warmup_steps=3)
    alias = getattr(optaxlr, name)(**{"learning_rate": lr, **EXTRA.get(name, {})})
    inner = optax.chain(alias, training.param_ema(0.9), training.update_ratio_monitor())
    return training.skip_nonfinite(
        optax.chain(
            training.accumulate(inner, every_k_steps=2),
            training.reduce_on_plateau(patience=1, factor=0.5, cooldown=1),
        ),
        max_consecutive=3,
    )


def _params() -> dict:
    return {
        "w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(4, 3),
        "b": jnp.zeros((3,), jnp.float32),
        "h": jnp.full((3,), 0.5, jnp.bfloat16),
    }


def _loss(params, x, y):
    pred = jnp.tanh(x @ params["w"] + params["b"]) * params["h"].astype(jnp.float32)
    return jnp.mean((pred - y) ** 2)


def _step_fn(opts: dict):
    """One jitted step of every optimizer (one program: one compilation, not one per alias)."""

    @jax.jit
    def step(params, states, i):
        key = jax.random.fold_in(jax.random.key(42), i)
        x = jax.random.normal(key, (8, 4))
        y = jnp.sin(x[:, :3])
        new_params, new_states = {}, {}
        for name, opt in opts.items():
            grads = jax.grad(_loss)(params[name], x, y)
            grads = jax.tree.map(lambda g: jnp.where(i == NAN_STEP, jnp.nan, g).astype(g.dtype),
                                 grads)
            val_loss = _loss(params[name], x + 1.0, y)
            updates, new_states[name] = opt.update(grads, states[name], params[name],
                                                   value=val_loss)
            new_params[name] = optax.apply_updates(params[name], updates)
        return new_params, new_states

    return step


def _start() -> tuple[dict, dict, dict]:
    opts = {name: _optimizer(name) for name in _alias_names()}
    params = {name: _params() for name in opts}
    return opts, params, {name: opt.init(params[name]) for name, opt in opts.items()}


def _train(step, params, states, start, stop):
    for i in range(start, stop):
        params, states = step(params, states, jnp.int32(i))
    return params, states


def _save_all(directory: str) -> None:
    """The child: K steps of every alias, each saved to directory/<name>."""
    opts, params, states = _start()
    params, states = _train(_step_fn(opts), params, states, 0, K)
    for name in opts:
        training.save(os.path.join(directory, name), params[name], states[name])


def _bits(tree) -> list[tuple[str, str, bytes]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(jax.tree_util.keystr(p), str(x.dtype), np.asarray(x).tobytes()) for p, x in leaves]


def test_restored_runs_continue_bit_for_bit(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "save", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # Meanwhile, the uninterrupted run (and the state at K, to compare with the restore).
        opts, params, states = _start()
        step = _step_fn(opts)
        at_k = _train(step, params, states, 0, K)
        at_n = _train(step, *at_k, K, N)
        output, _ = child.communicate(timeout=240)
    finally:
        child.kill()
    assert child.returncode == 0, output

    restored_params, restored_states = {}, {}
    for name, opt in opts.items():
        template = _params()
        restored_params[name], restored_states[name] = training.restore(
            tmp_path / name, template, opt.init(template)
        )
        assert jax.tree.structure(restored_states[name]) == jax.tree.structure(at_k[1][name])
    resumed = _train(step, restored_params, restored_states, K, N)

    failures = []
    for name in opts:
        if _bits((restored_params[name], restored_states[name])) != _bits(
            (at_k[0][name], at_k[1][name])
        ):
            failures.append(f"{name}: the restored state differs from the state at step {K}")
        if _bits((resumed[0][name], resumed[1][name])) != _bits((at_n[0][name], at_n[1][name])):
            failures.append(f"{name}: the resumed run differs from the uninterrupted one")
        hp = optaxlr.hyperparams(resumed[1][name])
        # The run went through every mechanism.
        assert float(hp["skipped"]) == 1, name
        assert int(hp["step"]) == (N - 1) // 2, name  # real updates: N - 1 finite steps / 2
        assert float(hp["scale"]) < 1.0, name  # the plateau reduced at least once
    assert not failures, failures


def test_save_and_restore_keep_dtypes_and_refuse_to_overwrite(tmp_path):
    opt = _optimizer("adamw")
    params = _params()
    state = opt.init(params)
    path = training.save(tmp_path / "ckpt", params, state)
    assert path.is_absolute() and path.exists()
    restored_params, restored_state = training.restore(path, params, state)
    assert restored_params["h"].dtype == jnp.bfloat16
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored_state), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
    try:
        training.save(path, params, state)
    except Exception as e:  # orbax refuses an existing directory without overwrite
        assert "exist" in str(e).lower()
    else:
        raise AssertionError("save() overwrote an existing checkpoint")
    training.save(path, params, state, overwrite=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        _save_all(sys.argv[2])
    else:
        raise SystemExit(f"usage: {sys.argv[0]} save DIRECTORY")


def test_constants_come_from_the_template_a_schedule_must_match(tmp_path):
    """Numbers are part of the state's structure: the resuming optimizer's apply."""
    params = {"w": jnp.ones(3, jnp.float32)}
    opt = optaxlr.adamw(1e-3)
    state = opt.init(params)
    _, state = opt.update(params, state, params)
    training.save(str(tmp_path / "ckpt"), params, state)

    _, resumed = training.restore(str(tmp_path / "ckpt"), params, optaxlr.adamw(5e-4).init(params))
    hp = optaxlr.hyperparams(resumed)
    assert float(hp["learning_rate"]) == np.float32(5e-4) and int(hp["step"]) == 1
    np.testing.assert_array_equal(resumed[0].mu["w"], state[0].mu["w"])

    scheduled = optaxlr.adamw(optaxlr.schedules.cosine(1e-3, 10)).init(params)
    with pytest.raises(ValueError, match=r"the template has 'opt_state/1/count'"):
        training.restore(str(tmp_path / "ckpt"), params, scheduled)
