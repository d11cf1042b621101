"""Two processes on JAX's own distributed runtime: a sharded run saves, restores and continues.

Each process (``tests/distributed_worker.py``) joins through
``jax.distributed.initialize`` with a local coordinator and gloo collectives on
CPU, with two devices of its own, so the mesh has four devices over two
processes. The weight's rows and the batch are split over all four; the
optimizer is ``optaxlr.adamw`` with a warmup-cosine schedule. At step 5 both
processes write one orbax checkpoint with ``optaxlr.training.save``; it is
restored into fresh templates and the run continues to step 12. The checks:
the restore is bitwise the saved state, the continued run is bitwise the
uninterrupted one (parameters, moments and counts, gathered from both
processes), and both processes saw the same numbers. Then ``optaxlr.sweep``
splits six copies over the four devices and gets the numbers of one device.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

import optaxlr

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
ROOT = WORKER.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_save_restore_and_continue_bitwise(tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), "2", str(port), str(tmp_path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-4000:]
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in range(2)]

    for i, r in enumerate(results):
        assert (r["process_index"], r["process_count"]) == (i, 2)
        assert (r["global_devices"], r["local_devices"]) == (4, 2)
        # Each process holds two of the weight's four row blocks.
        assert r["w_is_sharded"] and r["w_shards_here"] == 2
        assert r["restored_equal"]
        assert r["resumed"] == r["straight"]
        assert r["resumed_losses"] == r["straight_losses"]
        assert r["count_after_restore"] == 5
        # The sweep over both processes' devices has the numbers of one device.
        spread, alone = np.asarray(r["sweep_losses"]), np.asarray(r["sweep_losses_one_device"])
        assert spread.shape == (6, 10)
        np.testing.assert_allclose(spread, alone, rtol=1e-6, atol=0)
        assert spread[:, -1].min() < spread[:, 0].min()
    assert results[0]["straight"] == results[1]["straight"]
    assert results[0]["straight_losses"] == results[1]["straight_losses"]
    # The run learns the linear target, and the restored record is the schedule's
    # value of the last update before the save (step 4).
    losses = results[0]["straight_losses"]
    assert losses[-1] < losses[0]
    schedule = optaxlr.schedules.warmup(optaxlr.schedules.cosine(1e-2, 20), 3)
    assert results[0]["lr_after_restore"] == float(np.float32(schedule(4)))
