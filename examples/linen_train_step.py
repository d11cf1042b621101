"""A Flax linen training step with optaxlr: range test, one-cycle schedule, donated buffers.

Trains the MNIST-1D paper's MLP baseline (40 -> 100 -> 100 -> 10) on MNIST-1D,
generated offline by the ``mnist1d`` package:

1. ``optaxlr.find_lr`` picks the learning rate (one compiled loop, ~1 s);
2. ``optaxlr.sgd`` with a one-cycle learning rate and cycled momentum, exactly
   torch's ``OneCycleLR(cycle_momentum=True)``;
3. a jitted train step that donates the parameters and optimizer state
   (``donate_argnums``), so XLA updates them in place, and returns the
   hyperparameters it used (``optaxlr.hyperparams``).

Run: ``python examples/linen_train_step.py [--steps 2000]`` (needs ``optaxlr[demo]``).
"""

from __future__ import annotations

import argparse
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import optaxlr
from optaxlr.demo import load_mnist1d


class MLP(nn.Module):
    hidden: int = 100

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(10)(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    data = load_mnist1d()
    x, y = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    x_test, y_test = jnp.asarray(data["x_test"]), jnp.asarray(data["y_test"])
    model = MLP()
    params = model.init(jax.random.key(0), x[:1])["params"]

    def loss_fn(params, batch):
        logits = model.apply({"params": params}, batch[0])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

    rng = np.random.default_rng(0)
    order = rng.integers(0, len(y), size=(args.steps, args.batch_size))

    # 1. The LR range test, on the first 100 batches.
    found = optaxlr.find_lr(loss_fn, params, [(x[i], y[i]) for i in order[:100]],
                            lambda lr: optaxlr.sgd(lr, momentum=0.9))
    print(found.summary())
    peak = 3 * found.suggestion  # a one-cycle peak sits above a constant rate

    # 2. The optimizer: every hyperparameter may be a schedule.
    tx = optaxlr.sgd(
        optaxlr.schedules.one_cycle(peak, total_steps=args.steps),
        momentum=optaxlr.schedules.one_cycle_momentum(total_steps=args.steps),
    )
    opt_state = tx.init(params)

    # 3. The train step; params and opt_state are donated: do not reuse the old ones.
    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss, optaxlr.hyperparams(opt_state)

    @jax.jit
    def accuracy(params):
        logits = model.apply({"params": params}, x_test)
        return jnp.mean(logits.argmax(-1) == y_test)

    for step, idx in enumerate(order, start=1):
        params, opt_state, loss, hp = train_step(params, opt_state, (x[idx], y[idx]))
        if step % (args.steps // 5) == 0 or step == args.steps:
            print(f"step {step:5d}  loss {float(loss):.4f}  lr {float(hp['learning_rate']):.2e}  "
                  f"momentum {float(hp['momentum']):.3f}  test acc {float(accuracy(params)):.1%}")


if __name__ == "__main__":
    main()
