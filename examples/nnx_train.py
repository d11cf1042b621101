"""Train a small Flax nnx model with an optaxlr optimizer and log its hyperparameters.

Run: python examples/nnx_train.py [--epochs 8]

What it shows:

* a PyTorch recipe ported as is: ``AdamW`` + ``OneCycleLR(cycle_momentum=True)``
  (which cycles Adam's beta1) + ``clip_grad_norm_`` becomes
  ``optax.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(lr, b1=momentum))``
  (``optax.chain`` whose members share one step count);
* the functional nnx training step: ``nnx.split`` the model once, ``jax.jit`` a
  whole epoch (a ``lax.scan`` over minibatches) that donates the parameters and
  the optimizer state, so XLA updates them in place;
* ``optaxlr.hyperparams(opt_state)`` logged once per epoch: one dict, one host
  transfer, no recompilation.

Takes a few seconds on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import optaxlr
import optaxlr.schedules as sch

BATCH = 64
N_TRAIN = 2048


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(2, 64, rngs=rngs)
        self.out = nnx.Linear(64, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.gelu(self.hidden(x)))[:, 0]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in the square, labelled by a sine boundary: a linear model cannot fit it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (N_TRAIN, 2)).astype(np.float32)
    label = (x[:, 1] > 0.5 * np.sin(3.0 * x[:, 0])).astype(np.float32)
    return x, label


def make_optimizer(total_steps: int) -> optax.GradientTransformation:
    """torch: AdamW(lr, weight_decay=1e-2) + OneCycleLR(max_lr=3e-2, cycle_momentum=True)."""
    learning_rate = sch.one_cycle(3e-2, total_steps)
    b1 = sch.one_cycle_momentum(total_steps)  # OneCycleLR writes Adam's beta1
    no_decay_on_biases = lambda params: jax.tree.map(lambda x: x.ndim > 1, params)
    return optax.chain(
        optaxlr.clip_by_global_norm(1.0),
        optaxlr.adamw(learning_rate, b1=b1, weight_decay=1e-2, mask=no_decay_on_biases),
    )


def main(epochs: int = 8, seed: int = 0, verbose: bool = True) -> dict[str, float]:
    x, y = make_data(seed)
    steps_per_epoch = N_TRAIN // BATCH
    optimizer = make_optimizer(epochs * steps_per_epoch)

    model = MLP(nnx.Rngs(seed))
    graphdef, params = nnx.split(model, nnx.Param)
    opt_state = optimizer.init(params)

    def loss_fn(params, xb, yb):
        logits = nnx.merge(graphdef, params)(xb)
        return optax.sigmoid_binary_cross_entropy(logits, yb).mean()

    def train_step(carry, batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    # One compiled call per epoch; params and opt_state are donated (updated in place).
    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_epoch(params, opt_state, key):
        order = jax.random.permutation(key, N_TRAIN)
        batches = (
            jnp.asarray(x)[order].reshape(steps_per_epoch, BATCH, 2),
            jnp.asarray(y)[order].reshape(steps_per_epoch, BATCH),
        )
        (params, opt_state), losses = jax.lax.scan(train_step, (params, opt_state), batches)
        return params, opt_state, losses.mean(), optaxlr.hyperparams(opt_state)

    @jax.jit
    def accuracy(params):
        logits = nnx.merge(graphdef, params)(jnp.asarray(x))
        return jnp.mean((logits > 0) == (jnp.asarray(y) > 0.5))

    key = jax.random.PRNGKey(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        key, sub = jax.random.split(key)
        params, opt_state, loss, hps = train_epoch(params, opt_state, sub)
        if verbose:
            logged = ", ".join(f"{k}={float(v):.4g}" for k, v in hps.items())
            print(f"epoch {epoch + 1:2d}  loss={float(loss):.4f}  {logged}")
    acc = float(accuracy(params))
    if verbose:
        print(f"train accuracy {acc:.3f} in {time.perf_counter() - start:.1f}s")
    nnx.update(model, params)  # the trained weights back into the module
    return {"loss": float(loss), "accuracy": acc, **{k: float(v) for k, v in hps.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
