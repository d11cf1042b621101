"""A Flax nnx training step with optaxlr: range test, schedules, donated buffers.

Trains the MNIST-1D paper's small CNN (``optaxlr.demo.MNIST1DCNN``) on MNIST-1D,
generated offline by the ``mnist1d`` package:

1. ``optaxlr.find_lr`` runs the range test on the nnx model directly (it works
   on a split copy: the model is not modified);
2. ``optaxlr.adamw`` with a warmup + cosine learning rate, in an
   ``nnx.Optimizer``;
3. an ``nnx.jit`` train step that donates the model and optimizer
   (``donate_argnums``), so XLA updates their buffers in place, and returns the
   hyperparameters it used (``optaxlr.hyperparams`` reads ``nnx.Optimizer``
   states).

Run: ``python examples/nnx_train_step.py [--steps 1500]`` (needs ``optaxlr[demo]``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import optaxlr
from optaxlr.demo import MNIST1DCNN, load_mnist1d


def loss_fn(model: MNIST1DCNN, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    logits = model(batch[0])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()


@nnx.jit(donate_argnums=(0, 1))
def train_step(model: MNIST1DCNN, optimizer: nnx.Optimizer, batch):
    loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
    optimizer.update(model, grads)
    return loss, optaxlr.hyperparams(optimizer.opt_state)


@nnx.jit
def accuracy(model: MNIST1DCNN, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(model(x).argmax(-1) == y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    data = load_mnist1d()
    x, y = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    x_test, y_test = jnp.asarray(data["x_test"]), jnp.asarray(data["y_test"])
    model = MNIST1DCNN(rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    order = rng.integers(0, len(y), size=(args.steps, args.batch_size))

    # 1. The LR range test on the model itself.
    found = optaxlr.find_lr(loss_fn, model, [(x[i], y[i]) for i in order[:100]],
                            lambda lr: optaxlr.adamw(lr))
    print(found.summary())

    # 2. Warmup over 5% of the steps, then cosine; decoupled weight decay 0.01.
    warmup = args.steps // 20
    lr = optaxlr.schedules.warmup(
        optaxlr.schedules.cosine(3 * found.suggestion, args.steps - warmup), warmup
    )
    optimizer = nnx.Optimizer(model, optaxlr.adamw(lr, weight_decay=1e-2), wrt=nnx.Param)

    # 3. Train: the step updates model and optimizer in place (their buffers are donated).
    for step, idx in enumerate(order, start=1):
        loss, hp = train_step(model, optimizer, (x[idx], y[idx]))
        if step % (args.steps // 5) == 0 or step == args.steps:
            print(f"step {step:5d}  loss {float(loss):.4f}  lr {float(hp['learning_rate']):.2e}  "
                  f"test acc {float(accuracy(model, x_test, y_test)):.1%}")


if __name__ == "__main__":
    main()
