"""The demo: offline data, the model, the configuration, and a quick end-to-end run.

The demo's dependencies (the ``demo`` extra: flax, mnist1d, tqdm, matplotlib)
are installed wherever the tests run (``pip install -e '.[dev]'``), so a missing
one fails this module instead of skipping it.
"""

from __future__ import annotations

import json
import random
import socket

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optaxlr.demo as demo
from optaxlr import cli


def test_quick_demo_writes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    code = cli.main([
        "demo", "--quick", "--optimizers", "momentum", "--schedules", "constant,one-cycle",
        "--steps", "100", "--range-test-steps", "30", "--output", str(out), "--quiet",
        "--no-tuning", "schedule-free-adamw",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "momentum/one-cycle" in printed and "steps to 90%" in printed
    for name in (*demo.PLOT_FILES, "results.json", "results.txt"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in demo.PLOT_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in results["runs"]] == [
        "momentum/constant", "momentum/one-cycle", "schedule-free-adamw/default"]
    # No range test for the untuned run: it takes its reference's default rate.
    assert set(results["range_tests"]) == {"momentum"}
    untuned = results["runs"][2]
    assert untuned["lr"] == 2.5e-3 and untuned["lr_source"] == "its default (no tuning)"
    # The recorded rate is the one the step took (schedule-free's effective rate).
    np.testing.assert_allclose(untuned["history"]["lrs"], 2.5e-3, rtol=1e-7)
    run = results["runs"][1]
    assert run["lr_source"] == "range test (minimum) x 3"
    assert len(run["history"]["lrs"]) == 100 and len(run["history"]["test_acc"]) == 2
    assert results["data"]["train"] == 4000 and results["data"]["test"] == 1000
    assert results["config"]["steps"] == 100


def test_load_mnist1d_is_offline_deterministic_and_cached(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist1d must not open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    np_before, py_before = np.random.get_state(), random.getstate()  # noqa: NPY002
    data = demo.load_mnist1d(cache_dir=tmp_path)
    # The generator reseeds the global generators; load_mnist1d puts them back.
    np_after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(np_after[1], np_before[1]) and np_after[2] == np_before[2]
    assert random.getstate() == py_before
    assert data["x_train"].shape == (4000, 40) and data["x_test"].shape == (1000, 40)
    assert data["x_train"].dtype == np.float32 and data["y_train"].dtype == np.int32
    # Seed 42 is the published dataset: its first labels.
    assert data["y_train"][:10].tolist() == [2, 6, 4, 5, 6, 6, 6, 0, 3, 1]
    assert (tmp_path / "mnist1d_seed42.npz").is_file()
    again = demo.load_mnist1d(cache_dir=tmp_path)
    for key in data:
        np.testing.assert_array_equal(again[key], data[key])


def test_conv1d_matches_lax_conv():
    from flax import nnx

    conv = demo.Conv1D(3, 5, 3, stride=2, padding=1, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 40, 3))
    ref = jax.lax.conv_general_dilated(
        x, conv.kernel[...], (2,), [(1, 1)], dimension_numbers=("NWC", "WIO", "NWC")
    ) + conv.bias[...]
    np.testing.assert_allclose(nnx.jit(lambda m, x: m(x))(conv, x), ref, rtol=1e-5, atol=1e-5)
    model = demo.MNIST1DCNN(rngs=nnx.Rngs(0))
    assert nnx.jit(lambda m, x: m(x))(model, jnp.zeros((4, 40))).shape == (4, 10)


def test_cli_names_match_the_demo():
    assert cli.OPTIMIZERS == tuple(demo.OPTIMIZERS)
    assert cli.DEFAULT_OPTIMIZERS == demo.DEFAULT_OPTIMIZERS
    assert cli.NO_TUNING == tuple(demo.NO_TUNING)
    assert cli.DEFAULT_NO_TUNING == demo.DEFAULT_NO_TUNING
    assert cli.SCHEDULES == tuple(demo.SCHEDULES)
    assert cli.DEFAULT_SCHEDULES == tuple(demo.DEFAULT_SCHEDULES)


def test_demo_config_validation_and_plan():
    config = demo.DemoConfig()
    assert config.runs()[:7] == [(o, "constant") for o in demo.DEFAULT_OPTIMIZERS]
    assert config.runs()[7:11] == [("momentum", s) for s in ("step", "cosine", "sgdr", "one-cycle")]
    # The no-tuning rows: their reference's default rate, no range test.
    assert config.runs()[11:] == [("prodigy", "default"), ("schedule-free-adamw", "default")]
    assert config.given_lr("schedule-free-adamw", "default") == 2.5e-3
    # A range test does not apply to them: without a given rate they take their default,
    # and a constant run that would repeat the no-tuning run is left out.
    config = demo.DemoConfig(optimizers="prodigy,adam,schedule-free-sgd", schedules="",
                             no_tuning="prodigy")
    assert config.runs() == [("adam", "constant"), ("schedule-free-sgd", "constant"),
                             ("prodigy", "default")]
    config = demo.DemoConfig(optimizers="prodigy", schedules="", lr={"prodigy": 0.5},
                             no_tuning="prodigy")
    assert config.runs() == [("prodigy", "constant"), ("prodigy", "default")]
    grid = demo.DemoConfig(optimizers="sgd,adam", schedules="constant,cosine", grid=True,
                           no_tuning="")
    assert grid.runs() == [("sgd", "constant"), ("sgd", "cosine"), ("adam", "constant"),
                           ("adam", "cosine")]
    assert demo.DemoConfig(lr={"adam": 0.01}).given_lr("adam") == 0.01
    with pytest.raises(ValueError, match="optimizer must be one of"):
        demo.DemoConfig(optimizers=("lbfgs",))
    with pytest.raises(ValueError, match="no_tuning must be one of"):
        demo.DemoConfig(no_tuning=("adam",))
    with pytest.raises(ValueError, match="schedule must be one of"):
        demo.DemoConfig(schedules=("linear",))
    with pytest.raises(ValueError, match="steps"):
        demo.DemoConfig(steps=0)
    with pytest.raises(ValueError, match="lr"):
        demo.DemoConfig(lr=-1.0)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 4000\], got 0"):
        demo.DemoConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000000\]"):
        demo.DemoConfig(steps=10**12)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2147483647\]"):
        demo.DemoConfig(seed=2**40)
    with pytest.raises(ValueError, match=r"lr must be a finite number .* float32 rounding"):
        demo.DemoConfig(lr=1e39)


def test_range_test_refuses_bad_arguments_before_running():
    data = {"y_train": np.zeros(4000, np.int32)}
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 4000\], got 0"):
        demo.range_test("adam", data, None, None, batch_size=0)
    with pytest.raises(ValueError, match=r"num_steps must be an integer in \[2, 100000\]"):
        demo.range_test("adam", data, None, None, num_steps=10**17)
    with pytest.raises(ValueError, match="min_lr"):
        demo.range_test("adam", data, None, None, min_lr=0.0)


def test_cli_reports_bad_arguments(capsys):
    assert cli.main(["demo", "--optimizers", "lbfgs", "--output", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optaxlr demo: error: optimizer must be one of")
    assert err.count("\n") == 1
    assert cli.main(["demo", "--lr", "adam:0.1", "--output", "unused"]) == 2
    assert "--lr: not a number: 'adam:0.1'" in capsys.readouterr().err
    assert cli.main(["find-lr", "--optimizer", "lbfgs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optaxlr find-lr: error: argument --optimizer: invalid choice")
    assert err.count("\n") == 1


# A rate each optimizer trains the CNN with (the range test's order of magnitude).
EXTRA_RATES = {"nadam": 1e-2, "radam": 1e-2, "adamax": 1e-2, "adadelta": 3.0, "asgd": 0.3,
               "lion": 1e-3, "lamb": 1e-2, "lars": 3.0, "adafactor": 3e-2, "muon": 3e-2,
               "schedule-free-sgd": 1.0, "schedule-free-adamw": 3e-3,
               "prodigy": 1.0, "dadapt-adam": 1.0}


@pytest.mark.parametrize("optimizer", [o for o in demo.OPTIMIZERS
                                       if o not in demo.DEFAULT_OPTIMIZERS])
def test_every_demo_optimizer_trains_the_cnn_under_a_schedule(optimizer):
    assert optimizer in EXTRA_RATES, f"give {optimizer} a rate in EXTRA_RATES"
    data, graphdef, params = demo.prepare()
    lr, steps = EXTRA_RATES[optimizer], 100
    tx = demo.make_optimizer(optimizer, "one-cycle", lr, steps)
    run = demo.train(graphdef, params, data, tx, steps=steps, batch_size=100, eval_every=50,
                     seed=0)
    expected = demo.SCHEDULES["one-cycle"](lr, steps)(np.arange(steps))
    if optimizer in ("prodigy", "dadapt-adam"):
        # The recorded rate is the step size they took: d * lr, d grown from d0 = 1e-6.
        assert np.all(run["lrs"] > 0) and run["lrs"].max() > 100 * run["lrs"][0]
    else:  # the one-cycle schedule the optimizer was given
        np.testing.assert_allclose(run["lrs"], expected, rtol=1e-6)
    # It learns: the second half's mean loss is clearly below the first half's.
    assert run["train_loss"][1] < 0.9 * run["train_loss"][0], run["train_loss"]
