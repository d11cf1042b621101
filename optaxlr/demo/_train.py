"""One training run of the demo: a compiled, buffer-donating loop in chunks.

Each chunk of ``eval_every`` steps is one call of a jitted ``lax.scan``; its
carry (parameters and optimizer state) is donated (``donate_argnums=0``), so
XLA updates those buffers in place instead of allocating new ones every call.
Between chunks the test set is evaluated and the progress bar moves.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from optaxlr._hyperparams import hyperparams
from optaxlr.demo._model import accuracy, cross_entropy

__all__ = ["RunResult", "train", "batch_indices", "make_loss"]

TARGET_ACCURACY = 0.9


@dataclasses.dataclass
class RunResult:
    """The history and summary of one run.

    ``train_loss`` is the mean training loss over each evaluation interval;
    ``test_loss`` and ``test_acc`` are measured at ``eval_steps``; ``lrs`` and
    ``momentum`` are the values used at every step (read back from the
    optimizer state with `optaxlr.hyperparams`; ``momentum`` is SGD's momentum
    or Adam's ``b1``, None for optimizers without one).
    """

    name: str
    optimizer: str
    schedule: str
    lr: float
    lr_source: str
    eval_steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    lrs: np.ndarray
    momentum: np.ndarray | None
    wall_time: float

    @property
    def final_acc(self) -> float:
        return float(self.test_acc[-1])

    @property
    def best_acc(self) -> float:
        return float(np.nanmax(self.test_acc)) if np.isfinite(self.test_acc).any() else np.nan

    @property
    def steps_to_target(self) -> int | None:
        """The first evaluated step with test accuracy >= 90%, or None."""
        hit = np.nonzero(self.test_acc >= TARGET_ACCURACY)[0]
        return int(self.eval_steps[hit[0]]) if len(hit) else None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "lr": self.lr,
            "lr_source": self.lr_source,
            "final_test_acc": self.final_acc,
            "best_test_acc": self.best_acc,
            "steps_to_90": self.steps_to_target,
            "wall_time_s": round(self.wall_time, 3),
        }


def make_loss(graphdef: nnx.GraphDef) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """``loss(params, x, y)``: cross-entropy of the model ``graphdef`` with ``params``."""
    return lambda params, x, y: cross_entropy(nnx.merge(graphdef, params)(x), y)


def batch_indices(num_examples: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """``(steps, batch_size)`` example indices: a fresh shuffle every epoch, remainder dropped."""
    rng = np.random.default_rng(seed)
    per_epoch = num_examples // batch_size
    epochs = -(-steps // per_epoch)
    order = [rng.permutation(num_examples)[: per_epoch * batch_size] for _ in range(epochs)]
    return np.concatenate(order).reshape(-1, batch_size)[:steps].astype(np.int32)


def _momentum_of(hp: dict[str, jax.Array]) -> jax.Array:
    for key in ("momentum", "b1"):
        if key in hp:
            return hp[key]
    return jnp.full((), jnp.nan, jnp.float32)


def _learning_rate_of(hp: dict[str, jax.Array]) -> jax.Array:
    # The rate the step took: an optimizer that sets its own (schedule-free's warmup,
    # Prodigy's d * lr) reports it as effective_learning_rate.
    keys = [k for k in hp if k.split("/")[-1] == "effective_learning_rate"]
    keys = keys or [k for k in hp if k.split("/")[-1] == "learning_rate"]
    return hp[keys[-1]] if keys else jnp.full((), jnp.nan, jnp.float32)


def _make_chunk(graphdef: nnx.GraphDef, optimizer: optax.GradientTransformation) -> Callable:
    loss_and_grad = jax.value_and_grad(make_loss(graphdef))

    def chunk(carry, x, y, idx):
        def step(carry, batch):
            params, state = carry
            loss, grads = loss_and_grad(params, x[batch], y[batch])
            updates, state = optimizer.update(grads, state, params)
            hp = hyperparams(state)  # the values this update used
            out = (loss, _learning_rate_of(hp), _momentum_of(hp))
            return (optax.apply_updates(params, updates), state), out

        return jax.lax.scan(step, carry, idx)

    # The carry is donated: its buffers are reused for the next chunk's carry.
    return jax.jit(chunk, donate_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def evaluate(graphdef: nnx.GraphDef, params, x, y) -> tuple[jax.Array, jax.Array]:
    logits = nnx.merge(graphdef, params)(x)
    return cross_entropy(logits, y), accuracy(logits, y)


def train(
    graphdef: nnx.GraphDef,
    params: Any,
    data: dict[str, jax.Array],
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    batch_size: int,
    eval_every: int,
    seed: int,
    on_chunk: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Trains from ``params`` (not modified) for ``steps`` steps; returns the history.

    ``on_chunk(steps_done_in_chunk, test_accuracy)`` is called after every
    evaluation (the progress bar).
    """
    idx = batch_indices(len(data["y_train"]), batch_size, steps, seed)
    chunk = _make_chunk(graphdef, optimizer)
    # Copies: the donated carry must not alias the caller's params.
    carry = jax.tree.map(jnp.copy, (params, optimizer.init(params)))
    keys = ("eval_steps", "train_loss", "test_loss", "test_acc", "lrs", "momentum")
    history: dict[str, list] = {k: [] for k in keys}
    start = time.perf_counter()
    done = 0
    while done < steps:
        n = min(eval_every, steps - done)
        batch_idx = jnp.asarray(idx[done : done + n])
        carry, (losses, lrs, momentum) = chunk(carry, data["x_train"], data["y_train"], batch_idx)
        test_loss, test_acc = evaluate(graphdef, carry[0], data["x_test"], data["y_test"])
        losses, lrs, momentum, test_loss, test_acc = jax.device_get(
            (losses, lrs, momentum, test_loss, test_acc)
        )
        done += n
        history["eval_steps"].append(done)
        history["train_loss"].append(float(np.mean(losses)))
        history["test_loss"].append(float(test_loss))
        history["test_acc"].append(float(test_acc))
        history["lrs"].append(lrs)
        history["momentum"].append(momentum)
        if on_chunk is not None:
            on_chunk(n, float(test_acc))
    wall = time.perf_counter() - start
    momentum = np.concatenate(history["momentum"]).astype(np.float64)
    return {
        "eval_steps": np.asarray(history["eval_steps"]),
        "train_loss": np.asarray(history["train_loss"]),
        "test_loss": np.asarray(history["test_loss"]),
        "test_acc": np.asarray(history["test_acc"]),
        "lrs": np.concatenate(history["lrs"]).astype(np.float64),
        "momentum": None if np.isnan(momentum).all() else momentum,
        "wall_time": wall,
    }
