"""The ``optaxlr`` command line.

Every failure is one line on stderr and a non-zero exit status: 2 for invalid
arguments or input (a malformed schedule, a number out of range, an output
path that cannot be written), 1 for a failure while running (a file that
cannot be written after all, memory, anything unexpected), 130 when
interrupted. 0 means success.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1  # something failed while running
EXIT_USAGE = 2  # invalid arguments or input (argparse's status for usage errors too)
EXIT_INTERRUPTED = 130

EXIT_STATUS_HELP = (
    "exit status: 0 success; 2 invalid arguments or input (a malformed schedule, a number out "
    "of range, an output path that cannot be written); 1 a failure while running; 130 "
    "interrupted. Any failure is reported as one line on stderr."
)

#: The most steps ``optaxlr plot`` evaluates and draws.
MAX_PLOT_STEPS = 1_000_000
#: The most steps of a demo run or a range test (the batch order is drawn up front).
MAX_RUN_STEPS = 1_000_000
MAX_RANGE_TEST_STEPS = 100_000

# The demo's names, here so that building the parser needs no demo dependency (flax);
# tests/test_demo.py checks they match optaxlr.demo.
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
OPTIMIZERS = (
    *DEFAULT_OPTIMIZERS, "nadam", "radam", "adamax", "adadelta", "asgd", "lion", "lamb", "lars",
    "adafactor", "muon", "schedule-free-sgd", "schedule-free-adamw", "prodigy", "dadapt-adam",
)
NO_TUNING = ("prodigy", "schedule-free-adamw", "dadapt-adam", "schedule-free-sgd")
DEFAULT_NO_TUNING = ("prodigy", "schedule-free-adamw")
SCHEDULES = ("constant", "step", "cosine", "sgdr", "one-cycle", "warmup-cosine")
DEFAULT_SCHEDULES = ("constant", "step", "cosine", "sgdr", "one-cycle")


class UsageError(Exception):
    """Invalid arguments: reported as one line, exit status 2."""


class _ParserError(UsageError):
    """An argparse error, already prefixed with the program (and command) name."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and an exception."""

    def error(self, message: str):  # type: ignore[override]
        raise _ParserError(f"{self.prog}: error: {message}")


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UsageError(f"{name} must be an integer in [{low}, {high}], got {_short_int(value)}")
    return value


def _short_int(value: int) -> str:
    if abs(value).bit_length() < 64:
        return str(value)
    return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits"


def _check_float(name: str, value: float, low: float, *, low_open: bool) -> float:
    if not math.isfinite(value) or value < low or (low_open and value == low):
        raise UsageError(
            f"{name} must be a finite number {'>' if low_open else '>='} {low:g}, got {value!r}")
    return value


def _writable(option: str, path: str | None) -> None:
    """Refuses up front an output path that cannot be written (before any work is done)."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path} is a directory")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{option}: {folder} is a file, not a folder")
    if not os.path.isdir(folder):
        raise UsageError(f"{option}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{option}: {path} is not writable")


def _positive_only(schedule: Any, steps: int) -> tuple[Any, bool]:
    """For a log axis: the schedule with values <= 0 masked (NaN), and whether any were."""
    import jax.numpy as jnp
    import numpy as np

    from optaxlr.plotting import schedule_values

    _, values = schedule_values(schedule, steps)
    if np.all(values > 0):
        return schedule, False

    def masked(step):
        value = schedule(step)
        return jnp.where(value > 0, value, jnp.nan)

    return masked, True


def _plot(args: argparse.Namespace) -> int:
    from optaxlr.plotting import plot_schedule, terminal_plot
    from optaxlr.schedules import parse

    if not args.schedule and not args.recorded:
        raise UsageError("give a schedule to plot, or --recorded FILE")
    schedules: list[Any] = []
    for spec in args.schedule:
        try:
            schedules.append(parse(spec))
        except (ValueError, TypeError) as e:
            raise ValueError(f"schedule {_clip(spec, 60)!r}: {e}") from None
    for spec in args.recorded or ():
        schedules.extend(_recorded(spec))
    if args.steps is None:
        lengths = [s.length for s in schedules if isinstance(s, _Recorded)]
        args.steps = max(lengths) if lengths and len(lengths) == len(schedules) else 1000
    _check_int("--steps", args.steps, 1, MAX_PLOT_STEPS)
    _check_int("--dpi", args.dpi, 1, 2400)
    _writable("--output", args.output)
    labels = [s.name for s in schedules]
    log = args.log
    if log:
        masked = [_positive_only(s, args.steps) for s in schedules]
        hidden = [label for label, (_, m) in zip(labels, masked, strict=True) if m]
        plotted = [s for s, _ in masked]
        if len(hidden) == len(schedules) and all(_all_nonpositive(s, args.steps)
                                                 for s in schedules):
            _note(args, "no schedule has a value > 0 to draw on a log axis; drawing a linear "
                        "axis instead")
            log, plotted = False, schedules
        elif hidden:
            _note(args, f"values <= 0 are left out of the log axis ({', '.join(hidden)} "
                        f"reach{'es' if len(hidden) == 1 else ''} them)")
        schedules = plotted
    if args.output:
        fig = plot_schedule(schedules, args.steps, labels=labels, log_y=log, title=args.title)
        try:
            fig.savefig(args.output, dpi=args.dpi)
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
        print(f"wrote {args.output}")
    else:
        print(terminal_plot(schedules, args.steps, labels=labels, log_y=log))
    return EXIT_OK


class _Recorded:
    """Recorded values (one per step) drawn as a schedule: NaN past the recording."""

    def __init__(self, values: Any, name: str):
        import numpy as np

        self.values = np.asarray(values, np.float32)
        self.length = len(self.values)
        self.name = name

    def __call__(self, step: Any) -> Any:
        import jax.numpy as jnp

        values = jnp.asarray(self.values)
        return jnp.where(step < self.length, values[jnp.minimum(step, self.length - 1)], jnp.nan)


def _recorded(spec: str) -> list[_Recorded]:
    """``--recorded FILE[#RUN]``: a demo's results.json (each run's recorded rate, or one
    run's), a JSON list of numbers, a .npy file, or a text file of one number per line."""
    import json

    import numpy as np

    path, _, run = spec.partition("#")
    if not os.path.isfile(path):
        raise ValueError(f"--recorded: no such file: {_clip(path, 60)!r}")
    try:
        if path.endswith(".json"):
            data = json.loads(open(path).read())
            if isinstance(data, dict) and "runs" in data:
                runs = {r["name"]: r["history"]["lrs"] for r in data["runs"]}
                if run and run not in runs:
                    raise ValueError(f"no run {run!r}; the runs are {', '.join(runs)}")
                chosen = {run: runs[run]} if run else runs
                values = {name: [np.nan if v is None else v for v in lrs]
                          for name, lrs in chosen.items()}
            else:
                values = {os.path.basename(path): data}
        elif path.endswith(".npy"):
            values = {os.path.basename(path): np.load(path, allow_pickle=False)}
        else:
            values = {os.path.basename(path): np.loadtxt(path, ndmin=1)}
        out = []
        for name, v in values.items():
            try:
                array = np.asarray(v, np.float64)
            except (TypeError, ValueError):
                array = np.asarray([])
            if array.ndim != 1 or array.size == 0:
                raise ValueError(f"{name}: expected a non-empty list of numbers, one per step")
            out.append(_Recorded(array, name))
        return out
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ValueError(f"--recorded {_clip(spec, 60)!r}: {e}") from None


def _all_nonpositive(schedule: Any, steps: int) -> bool:
    import numpy as np

    from optaxlr.plotting import schedule_values

    return bool(np.all(schedule_values(schedule, steps)[1] <= 0))


def _note(args: argparse.Namespace, text: str) -> None:
    print(f"optaxlr {args.command}: note: {text}", file=sys.stderr)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _number(option: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option}: not a number: {_clip(text, 40)!r}") from None


def _learning_rates(values: list[str] | None) -> float | dict[str, float] | None:
    """``--lr 0.01`` (every optimizer) or ``--lr adam=3e-3 --lr sgd=0.1``."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return _number("--lr", values[0])
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--lr must be a number or OPTIMIZER=NUMBER, got {_clip(item, 40)!r}")
        out[name.strip()] = _number(f"--lr {name.strip()}", value)
    return out


def _demo(args: argparse.Namespace) -> int:
    from optaxlr.demo import DemoConfig, run_demo

    quick = args.quick
    if args.steps is not None:
        _check_int("--steps", args.steps, 1, MAX_RUN_STEPS)
    if args.range_test_steps is not None:
        _check_int("--range-test-steps", args.range_test_steps, 10, MAX_RANGE_TEST_STEPS)
    _check_int("--batch-size", args.batch_size, 1, 4000)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"--output: {args.output} exists and is not a folder")
    config = DemoConfig(
        optimizers=_names(args.optimizers),
        schedules=_names(args.schedules),
        schedule_optimizer=args.schedule_optimizer,
        no_tuning=_names(args.no_tuning),
        lr=_learning_rates(args.lr),
        steps=args.steps if args.steps is not None else (300 if quick else 1500),
        batch_size=args.batch_size,
        eval_every=args.eval_every if args.eval_every is not None else (50 if quick else 100),
        seed=args.seed,
        data_seed=args.data_seed,
        grid=args.grid,
        range_test_steps=(
            args.range_test_steps if args.range_test_steps is not None else (50 if quick else 100)
        ),
        suggestion=args.suggestion,
        peak_factor=args.peak_factor,
        output=args.output,
        quiet=args.quiet,
        progress=False if args.no_progress else None,
    )
    results = run_demo(config)
    print()
    print(results.table())
    best = results.best
    print(f"\nbest: {best.name}, final test accuracy {best.final_acc:.1%} "
          f"(lr {best.lr:.3g}, {best.lr_source}); total {results.total_time:.1f} s")
    print(f"wrote {', '.join(p.name for p in results.files)} to {config.output}/")
    return 0


def _find_lr(args: argparse.Namespace) -> int:
    import json

    from optaxlr.demo import prepare, range_test

    _check_int("--num-steps", args.num_steps, 2, MAX_RANGE_TEST_STEPS)
    _check_int("--batch-size", args.batch_size, 1, 4000)
    _check_int("--seed", args.seed, 0, 2**31 - 1)
    _check_int("--data-seed", args.data_seed, 0, 2**31 - 1)
    _check_int("--dpi", args.dpi, 1, 2400)
    _check_float("--min-lr", args.min_lr, 0.0, low_open=args.mode == "exp")
    _check_float("--max-lr", args.max_lr, 0.0, low_open=True)
    if args.max_lr <= args.min_lr:
        raise UsageError(f"--max-lr must be greater than --min-lr, got {args.max_lr!r} <= "
                         f"{args.min_lr!r}")
    _writable("--output", args.output)
    _writable("--json", args.json)
    data, graphdef, params = prepare(args.data_seed, args.seed)
    result = range_test(
        args.optimizer, data, graphdef, params, batch_size=args.batch_size,
        num_steps=args.num_steps, min_lr=args.min_lr, max_lr=args.max_lr, mode=args.mode,
        seed=args.seed,
    )
    print(f"{args.optimizer} on MNIST-1D")
    print(result.summary())
    if args.output:
        fig = result.plot(title=f"LR range test: {args.optimizer} on MNIST-1D")
        fig.savefig(args.output, dpi=args.dpi)
        print(f"wrote {args.output}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=1)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optaxlr", description=(__doc__ or "").split("\n\n")[0],
                     epilog=EXIT_STATUS_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    plot = commands.add_parser(
        "plot",
        help="plot one or more schedules, or recorded rates",
        description="Plot schedules given as calls, e.g. 'warmup(cosine(0.1, 900), 100)', "
        "or as JSON configs, e.g. '{\"name\": \"cosine\", \"init_value\": 0.1, "
        "\"decay_steps\": 1000}', and rates recorded in a run (--recorded).",
        epilog=EXIT_STATUS_HELP,
    )
    plot.add_argument("schedule", nargs="*", help="a schedule call or JSON config")
    plot.add_argument("--recorded", action="append", metavar="FILE[#RUN]",
                      help="recorded values to draw beside the schedules (repeatable): a "
                      "demo's results.json (each run's learning rate as the step took it, "
                      "e.g. Prodigy's d * lr; #RUN picks one run), a JSON list, a .npy "
                      "file or a text file of one number per step")
    plot.add_argument("--steps", type=int,
                      help=f"number of steps, 1 to {MAX_PLOT_STEPS} (default 1000, or the "
                      "longest recording when only recordings are drawn)")
    plot.add_argument("-o", "--output", help="image file; without it, draw in the terminal")
    plot.add_argument("--log", action="store_true",
                      help="logarithmic value axis; values <= 0 are left out (with a note)")
    plot.add_argument("--title", help="figure title")
    plot.add_argument("--dpi", type=int, default=120, help="1 to 2400 (default 120)")
    plot.set_defaults(run=_plot)

    rules = ("minimum", "steep", "valley")
    demo = commands.add_parser(
        "demo",
        help="compare optimizers and schedules on MNIST-1D",
        description="Train the MNIST-1D paper's small CNN (data generated offline) with each "
        "optimizer at a constant learning rate, and one optimizer under each schedule; a "
        "learning rate not given is the suggestion of an LR range test. Prints a results "
        "table and writes plots and results.json into the output folder.",
        epilog=EXIT_STATUS_HELP,
    )
    demo.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS),
                      help=f"comma-separated, from {', '.join(OPTIMIZERS)} (default: "
                      f"{','.join(DEFAULT_OPTIMIZERS)})")
    demo.add_argument("--schedules", default=",".join(DEFAULT_SCHEDULES),
                      help=f"comma-separated, from {', '.join(SCHEDULES)} (default: "
                      f"{','.join(DEFAULT_SCHEDULES)}; '' for none)")
    demo.add_argument("--no-tuning", default=",".join(DEFAULT_NO_TUNING),
                      help=f"comma-separated, from {', '.join(NO_TUNING)}: run these at their "
                      "default rate, with no range test and no schedule (default: "
                      f"{','.join(DEFAULT_NO_TUNING)}; '' for none)")
    demo.add_argument("--schedule-optimizer", default="momentum", choices=tuple(OPTIMIZERS),
                      help="the optimizer the schedules are compared with (default momentum)")
    demo.add_argument("--grid", action="store_true",
                      help="run every optimizer with every schedule")
    demo.add_argument("--lr", action="append", metavar="LR|OPT=LR",
                      help="learning rate for every optimizer, or per optimizer (repeatable); "
                      "without it, the range test's suggestion")
    demo.add_argument("--suggestion", default="minimum", choices=rules,
                      help="which range-test suggestion to use (default minimum, i.e. the lr "
                      "at the lowest loss / 10)")
    demo.add_argument("--peak-factor", type=float, default=3.0,
                      help="a suggested lr is multiplied by this for the schedules other than "
                      "constant, whose peak it is (default 3)")
    demo.add_argument("--steps", type=int, help=f"training steps per run, 1 to {MAX_RUN_STEPS} "
                      "(default 1500)")
    demo.add_argument("--batch-size", type=int, default=100, help="1 to 4000 (default 100)")
    demo.add_argument("--eval-every", type=int, help="steps between test evaluations "
                      "(default 100)")
    demo.add_argument("--range-test-steps", type=int, help="steps of each range test, 10 to "
                      f"{MAX_RANGE_TEST_STEPS} (default 100)")
    demo.add_argument("--seed", type=int, default=0, help="model and batch-order seed")
    demo.add_argument("--data-seed", type=int, default=42,
                      help="MNIST-1D generator seed (42: the published dataset)")
    demo.add_argument("-o", "--output", default="optaxlr-demo",
                      help="output folder (default optaxlr-demo)")
    demo.add_argument("--quick", action="store_true",
                      help="a smoke test: 300 steps, 50-step range tests")
    demo.add_argument("--quiet", action="store_true", help="print only the results")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    find = commands.add_parser(
        "find-lr",
        help="run an LR range test on MNIST-1D",
        description="The learning-rate range test alone: the demo's model and data, one "
        "optimizer, the learning rate growing from --min-lr to --max-lr.",
        epilog=EXIT_STATUS_HELP,
    )
    find.add_argument("--optimizer", default="adam", choices=tuple(OPTIMIZERS),
                      help="default adam")
    find.add_argument("--min-lr", type=float, default=1e-7, help="default 1e-7")
    find.add_argument("--max-lr", type=float, default=10.0, help="default 10")
    find.add_argument("--num-steps", type=int, default=100,
                      help=f"2 to {MAX_RANGE_TEST_STEPS} (default 100)")
    find.add_argument("--mode", default="exp", choices=("exp", "linear"))
    find.add_argument("--batch-size", type=int, default=100, help="1 to 4000 (default 100)")
    find.add_argument("--seed", type=int, default=0)
    find.add_argument("--data-seed", type=int, default=42)
    find.add_argument("-o", "--output", help="image file for the plot")
    find.add_argument("--json", help="write the result as JSON to this file")
    find.add_argument("--dpi", type=int, default=120)
    find.set_defaults(run=_find_lr)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if not text:
        text = type(error).__name__
    return _clip(text, 400)


def _describe(error: BaseException) -> tuple[str, int]:
    """The message and exit status for an exception escaping a command."""
    if isinstance(error, UsageError):
        return _one_line(error), EXIT_USAGE
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(error, RecursionError):
        return "input nested too deeply", EXIT_USAGE
    if isinstance(error, ValueError | TypeError):
        return _one_line(error), EXIT_USAGE
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or _one_line(error)}", EXIT_FAILURE
    if isinstance(error, MemoryError):
        return "out of memory", EXIT_FAILURE
    return f"{type(error).__name__}: {_one_line(error)}", EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (see `EXIT_STATUS_HELP`).

    Never raises: every failure is one line on stderr.
    """
    command = "optaxlr"
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                args = build_parser().parse_args(argv)
            except SystemExit as e:  # --help, or argparse exiting by itself
                code = e.code
                return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
            command = f"optaxlr {args.command}"
            status = args.run(args)
    except _ParserError as e:
        print(_one_line(e), file=sys.stderr)
        return EXIT_USAGE
    except BaseException as e:
        if isinstance(e, SystemExit) and isinstance(e.code, int):
            if e.code:
                print(f"{command}: error: exited with status {e.code}", file=sys.stderr)
            return e.code
        message, status = _describe(e)
        print(f"{command}: error: {message}", file=sys.stderr)
        return status
    with contextlib.suppress(Exception):
        for w in caught:
            print(f"{command}: warning: {_one_line(Exception(w.message))}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
