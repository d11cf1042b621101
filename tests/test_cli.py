"""The command line: every failure is one line on stderr and a documented exit status.

Most tests call `optaxlr.cli.main` (which returns the exit status and never
raises); one runs ``python -m optaxlr`` in a subprocess, the way a user does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optaxlr import cli


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _one_error_line(err: str, command: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"optaxlr {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", [[], ["plot"], ["demo"], ["find-lr"]])
def test_help_documents_the_exit_statuses(capsys, command):
    status, out, _ = _run(capsys, *command, "--help")
    assert status == 0
    text = " ".join(out.split())
    assert "exit status: 0 success; 2 invalid arguments or input" in text
    assert "1 a failure while running" in text
    assert "one line on stderr" in text


def test_plot_draws_in_the_terminal(capsys):
    status, out, err = _run(capsys, "plot", "warmup(cosine(0.1, 90), 10)", "--steps", "100")
    assert status == 0 and err == ""
    assert "step" in out and "warmup" in out


@pytest.mark.parametrize("output", [False, True])
def test_plot_log_axis_masks_values_that_reach_zero(capsys, tmp_path, output):
    # cosine(0.1, 100) is exactly 0 at step 100: a log axis cannot show it.
    argv = ["plot", "cosine(0.1, 100)", "constant(0.01)", "--steps", "200", "--log"]
    if output:
        argv += ["-o", str(tmp_path / "s.png")]
    status, out, err = _run(capsys, *argv)
    assert status == 0, err
    assert err == "optaxlr plot: note: values <= 0 are left out of the log axis (cosine reaches " \
                  "them)\n"
    if output:
        assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "constant" in out


def test_plot_log_axis_with_nothing_positive_draws_a_linear_axis(capsys):
    status, _, err = _run(capsys, "plot", "constant(0.0)", "--steps", "10", "--log")
    assert status == 0
    assert "drawing a linear axis instead" in err


def test_plot_log_axis_without_zeros_says_nothing(capsys):
    status, _, err = _run(capsys, "plot", "cosine(0.1, 100, end_value=0.001)", "--log")
    assert status == 0 and err == ""


@pytest.mark.parametrize(
    "argv, text",
    [
        (["--steps", str(10**30)],
         "--steps must be an integer in [1, 1000000], got an integer of about 31 digits"),
        (["--steps", "0"], "--steps must be an integer in [1, 1000000], got 0"),
        (["--dpi", "-3"], "--dpi must be an integer in [1, 2400]"),
        (["-o", "/nonexistent-folder/x.png"],
         "--output: the folder /nonexistent-folder does not exist"),
    ],
)
def test_plot_bad_options_are_one_line(capsys, argv, text):
    status, _, err = _run(capsys, "plot", "cosine(0.1, 100)", *argv)
    assert status == 2
    assert text in _one_error_line(err, "plot")


def test_plot_output_that_is_a_folder_is_refused(capsys, tmp_path):
    status, _, err = _run(capsys, "plot", "cosine(0.1, 100)", "-o", str(tmp_path))
    assert status == 2
    assert "is a directory" in _one_error_line(err, "plot")


@pytest.mark.parametrize("command, option", [("plot", "-o"), ("find-lr", "--json")])
def test_output_under_a_file_is_refused_for_every_user(capsys, tmp_path, command, option):
    """A path whose parent is a regular file can't be created by anyone, root included
    (the kernel answers NotADirectoryError), so this holds whoever runs the suite."""
    (tmp_path / "notes.txt").write_text("")
    path = tmp_path / "notes.txt" / "out.png"
    argv = ["cosine(0.1, 100)"] if command == "plot" else []
    status, _, err = _run(capsys, command, *argv, option, str(path))
    assert status == 2
    line = _one_error_line(err, command)
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in line
    assert not path.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_plot_output_that_cannot_be_created_is_one_line(capsys):
    """No user can create a file in /proc. Another user is refused up front (status 2,
    the folder isn't writable); root passes that check, and the write itself fails
    (status 1): either way one line naming the path, no traceback, no file."""
    status, _, err = _run(capsys, "plot", "cosine(0.1, 100)", "-o", "/proc/optaxlr-test.png")
    assert status in (1, 2)
    assert "/proc/optaxlr-test.png" in _one_error_line(err, "plot")
    assert not Path("/proc/optaxlr-test.png").exists()


def _nested_json(depth: int) -> str:
    config = {"name": "constant", "value": 0.1}
    for _ in range(depth):
        config = {"name": "warmup", "schedule": config, "warmup_steps": 1}
    return json.dumps(config)


@pytest.mark.parametrize(
    "spec, text",
    [
        ("cosine(0.1, 100000000000000000000000000000)",
         "decay_steps must be an integer in [1, 2147483647], got 1000000000000000000"),
        ("cosine(0.1, " + "9" * 5000 + ")", "cannot parse schedule"),
        ("cosine(1e400, 10)", "init_value must be a finite number"),
        ("cosine(1e39, 10)", "got inf (the float32 rounding of 1e+39)"),
        ("[" * 100_000 + "]" * 100_000, "cannot parse schedule"),
        ("warmup(" * 100 + "0.1" + ", 1)" * 100, "nested deeper than 32 levels"),
        (_nested_json(100), "nested deeper than 32 levels"),
        ('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 32 levels"),
        ('{"name": ["cosine"], "init_value": 0.1}', "'name' must be a string"),
        ('{"name": 7}', "'name' must be a string, got 7"),
        ('{"name": "cosine", "init_value": 0.1', "not valid JSON"),
        ("cosine(**{'init_value': 0.1})", "* and ** are not accepted"),
        ("cosine(0.1, decay_steps=10, decay_steps=20)", "decay_steps is given more than once"),
        ("cosine(0.1)", "cosine(): missing a required argument: 'decay_steps'"),
        ("exponential(1.0, 2.0)", "decay_rate: with decay_rate = 2.0 > 1"),
        ("__import__('os').system('true')", "expected a schedule name"),
    ],
)
def test_plot_bad_schedules_are_one_line(capsys, spec, text):
    status, _, err = _run(capsys, "plot", spec, "--steps", "10")
    assert status == 2
    assert text in _one_error_line(err, "plot")


def test_find_lr_bad_arguments_fail_before_any_work(capsys, monkeypatch):
    import optaxlr.demo

    def no_data(*args, **kwargs):
        raise AssertionError("find-lr must refuse its arguments before preparing the data")

    monkeypatch.setattr(optaxlr.demo, "prepare", no_data)
    for argv, text in [
        (["--batch-size", "0"], "--batch-size must be an integer in [1, 4000], got 0"),
        (["--num-steps", str(10**17)], "--num-steps must be an integer in [2, 100000]"),
        (["--min-lr", "nan"], "--min-lr must be a finite number > 0"),
        (["--max-lr", "1e-9"], "--max-lr must be greater than --min-lr"),
        (["--seed", str(2**40)], "--seed must be an integer in [0, 2147483647]"),
        (["--json", "/nonexistent-folder/r.json"], "--json: the folder"),
    ]:
        status, _, err = _run(capsys, "find-lr", *argv)
        assert status == 2, argv
        assert text in _one_error_line(err, "find-lr"), argv


@pytest.mark.parametrize(
    "argv, text",
    [
        (["--batch-size", "0"], "--batch-size must be an integer in [1, 4000], got 0"),
        (["--steps", str(10**20)], "--steps must be an integer in [1, 1000000]"),
        (["--lr", "1e39"], "lr must be a finite number in (0, inf), got inf"),
        (["--lr", "adam=fast"], "--lr adam: not a number: 'fast'"),
        (["--optimizers", "", "--schedules", "", "--no-tuning", ""], "nothing to run"),
        (["--no-tuning", "adam"], "no_tuning must be one of"),
        (["--seed", "-1"], "seed must be an integer in [0, 2147483647], got -1"),
        (["--eval-every", "x"], "argument --eval-every: invalid int value: 'x'"),
    ],
)
def test_demo_bad_arguments_are_one_line(capsys, tmp_path, argv, text):
    status, _, err = _run(capsys, "demo", "--output", str(tmp_path / "out"), *argv)
    assert status == 2
    assert text in _one_error_line(err, "demo")
    assert not (tmp_path / "out").exists()


def test_demo_output_that_is_a_file_is_refused(capsys, tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    status, _, err = _run(capsys, "demo", "--output", str(path))
    assert status == 2
    assert "exists and is not a folder" in _one_error_line(err, "demo")


@pytest.mark.parametrize(
    "error, status, text",
    [
        (RuntimeError("the range test suggested nothing:\nline 2\nline 3"), 1,
         "RuntimeError: the range test suggested nothing: line 2 line 3"),
        (ZeroDivisionError("integer division or modulo by zero"), 1,
         "ZeroDivisionError: integer division or modulo by zero"),
        (KeyError("x_train"), 1, "KeyError: 'x_train'"),
        (FileNotFoundError(2, "No such file or directory", "/gone/x.png"), 1,
         "/gone/x.png: No such file or directory"),
        (PermissionError(13, "Permission denied", "/x"), 1, "/x: Permission denied"),
        (MemoryError(), 1, "out of memory"),
        (RecursionError("maximum recursion depth exceeded"), 2, "input nested too deeply"),
        (ValueError("bad\nvalue"), 2, "bad value"),
        (TypeError("wrong type"), 2, "wrong type"),
        (OverflowError("int too large to convert"), 1, "OverflowError: int too large"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (SystemExit("a library called sys.exit"), 1, "SystemExit: a library called sys.exit"),
    ],
)
@pytest.mark.parametrize("command", ["plot", "demo", "find-lr"])
def test_any_failure_is_one_line_and_a_documented_status(capsys, monkeypatch, command, error,
                                                         status, text):
    def fail(args):
        raise error

    name = {"plot": "_plot", "demo": "_demo", "find-lr": "_find_lr"}[command]
    monkeypatch.setattr(cli, name, fail)
    argv = [command] + (["cosine(0.1, 10)"] if command == "plot" else [])
    got, _, err = _run(capsys, *argv)
    assert got == status
    assert text in _one_error_line(err, command)


def test_python_m_optaxlr_prints_one_line():
    # Run from the repository root, so that `-m optaxlr` is this working tree's package.
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "optaxlr", "plot", "cosine(0.1, ", "--steps", "10"],
        capture_output=True, text=True, timeout=300, env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "optaxlr plot: error: schedule 'cosine(0.1, ': cannot parse schedule 'cosine(0.1,': "
        "'(' was never closed"
    ]
    assert result.stdout == ""


def test_plot_draws_a_recorded_rate_beside_a_schedule(capsys, tmp_path):
    # A demo's results.json: each run's rate as the step took it (Prodigy's d * lr).
    results = {"runs": [
        {"name": "prodigy/default", "history": {"lrs": [1e-6, 1e-5, 1e-4, 1e-3]}},
        {"name": "adam/constant", "history": {"lrs": [3e-3, 3e-3, 3e-3, None]}},
    ]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    status, out, _ = _run(capsys, "plot", "--recorded", f"{path}#prodigy/default")
    assert status == 0 and "prodigy/default" in out and "adam/constant" not in out
    image = tmp_path / "rates.png"
    text = tmp_path / "rates.txt"
    text.write_text("0.1\n0.05\n0.025\n")
    status, out, _ = _run(capsys, "plot", "cosine(0.1, 3)", "--recorded", str(path),
                          "--recorded", str(text), "--log", "-o", str(image))
    assert status == 0 and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A recording is drawn as its values, then nothing (NaN) past its end.
    recorded = cli._recorded(str(text))[0]
    np.testing.assert_allclose(
        np.asarray(jax.vmap(recorded)(jnp.arange(5))), [0.1, 0.05, 0.025, np.nan, np.nan])


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        ([], "give a schedule to plot, or --recorded FILE"),
        (["--recorded", "missing.json"], "--recorded: no such file"),
        (["--recorded", "{results}#sgd/constant"], "no run 'sgd/constant'"),
        (["--recorded", "{bad}"], "expected a non-empty list of numbers"),
    ],
)
def test_plot_recorded_errors_are_one_line(capsys, tmp_path, argv, text):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": [{"name": "a", "history": {"lrs": [1.0]}}]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr": [1, 2]}))
    argv = [a.format(results=results, bad=bad) for a in argv]
    status, _, err = _run(capsys, "plot", *argv)
    assert status == 2
    assert text in _one_error_line(err, "plot")
