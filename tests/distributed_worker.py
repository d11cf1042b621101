"""One process of the two-process test in test_distributed.py (run as a script).

``python tests/distributed_worker.py PROCESS_ID NUM_PROCESSES PORT WORKDIR``: joins
the others through ``jax.distributed`` (CPU, gloo collectives), trains a model
whose parameters and data are sharded over every process's devices with a
scheduled ``optaxlr.adamw``, saves an orbax checkpoint mid-run from every
process, restores it into fresh templates, continues, and writes what it saw
to ``WORKDIR/result-PROCESS_ID.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys


def main(process_id: int, num_processes: int, port: int, workdir: str) -> None:
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}",
        num_processes=num_processes,
        process_id=process_id,
    )
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import optaxlr

    devices = np.asarray(jax.devices())
    mesh = Mesh(devices, ("data",))
    rng = np.random.default_rng(0)  # the same numbers in every process
    host = {
        "w": rng.normal(size=(4 * len(devices), 6)).astype(np.float32),
        "b": np.zeros(6, np.float32),
    }
    x_all = rng.normal(size=(30, 8 * len(devices), host["w"].shape[0])).astype(np.float32)
    w_true = rng.normal(size=host["w"].shape).astype(np.float32)
    y_all = (x_all @ w_true + 0.1 * rng.normal(size=(30, 8 * len(devices), 6))).astype(np.float32)

    def put(value, spec):
        sharding = NamedSharding(mesh, spec)
        return jax.make_array_from_callback(value.shape, sharding, lambda idx: value[idx])

    # The weight's rows and the batch are split over every device of every process.
    specs = {"w": P("data", None), "b": P()}
    params = {k: put(v, specs[k]) for k, v in host.items()}
    opt = optaxlr.adamw(optaxlr.schedules.warmup(optaxlr.schedules.cosine(1e-2, 20), 3),
                        weight_decay=0.05)

    @jax.jit
    def step(params, state, x, y):
        def loss_fn(p):
            return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    def batch(i):
        return put(x_all[i], P(None, "data")), put(y_all[i], P("data", None))

    def train(params, state, start, stop):
        losses = []
        for i in range(start, stop):
            params, state, loss = step(params, state, *batch(i))
            losses.append(float(loss))
        return params, state, losses

    def digest(tree):
        leaves = multihost_utils.process_allgather(tree, tiled=True)
        h = hashlib.sha256()
        for leaf in jax.tree.leaves(leaves):
            h.update(np.ascontiguousarray(leaf).tobytes())
        return h.hexdigest()

    state = opt.init(params)
    params5, state5, _ = train(params, state, 0, 5)
    ckpt = optaxlr.training.save(f"{workdir}/ckpt", params5, state5)
    straight, straight_state, straight_losses = train(params5, state5, 5, 12)

    # A fresh start, as after a restart: templates with the same shardings.
    template = {k: put(np.zeros_like(v), specs[k]) for k, v in host.items()}
    restored, restored_state = optaxlr.training.restore(ckpt, template, opt.init(template))
    lr_after_restore = float(optaxlr.hyperparams(restored_state)["learning_rate"])
    resumed, resumed_state, resumed_losses = train(restored, restored_state, 5, 12)

    # A sweep whose 6 copies are split over the 4 devices of both processes, and the
    # same sweep on this process's first device alone.
    def sweep_loss(p, b):
        return jnp.mean((b[0] @ p["w"] + p["b"] - b[1]) ** 2)

    def sweep_opt(learning_rate):
        return optaxlr.adamw(optaxlr.schedules.cosine(learning_rate, 10))

    sweep_args = (sweep_loss, host, list(zip(x_all[:10], y_all[:10], strict=True)), sweep_opt,
                  {"learning_rate": np.geomspace(1e-3, 1e-1, 6)})
    spread = optaxlr.sweep(*sweep_args, num_steps=10, mesh=mesh)
    with jax.default_device(jax.local_devices()[0]):
        alone = optaxlr.sweep(*sweep_args, num_steps=10)

    w_sharding = resumed["w"].sharding
    out = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "global_devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "w_shards_here": len(resumed["w"].addressable_shards),
        "w_is_sharded": not w_sharding.is_fully_replicated,
        "restored_equal": digest((params5, state5)) == digest((restored, restored_state)),
        "straight": digest((straight, straight_state)),
        "resumed": digest((resumed, resumed_state)),
        "straight_losses": straight_losses,
        "resumed_losses": resumed_losses,
        "lr_after_restore": lr_after_restore,
        "sweep_losses": spread.losses.tolist(),
        "sweep_losses_one_device": alone.losses.tolist(),
        "count_after_restore": int(multihost_utils.process_allgather(
            restored_state[0].count, tiled=True)),
    }
    with open(f"{workdir}/result-{process_id}.json", "w") as f:
        json.dump(out, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
