"""The ``optaxlr`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

# The demo's names, here so that building the parser needs no demo dependency (flax);
# tests/test_demo.py checks they match optaxlr.demo.
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "sgdr", "one-cycle", "warmup-cosine")
DEFAULT_SCHEDULES = ("constant", "step", "cosine", "sgdr", "one-cycle")


def _plot(args: argparse.Namespace) -> int:
    from optaxlr.plotting import plot_schedule, terminal_plot
    from optaxlr.schedules import parse

    schedules = [parse(spec) for spec in args.schedule]
    if args.output:
        fig = plot_schedule(schedules, args.steps, log_y=args.log, title=args.title)
        fig.savefig(args.output, dpi=args.dpi)
        print(f"wrote {args.output}")
    else:
        print(terminal_plot(schedules, args.steps, log_y=args.log))
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _learning_rates(values: list[str] | None) -> float | dict[str, float] | None:
    """``--lr 0.01`` (every optimizer) or ``--lr adam=3e-3 --lr sgd=0.1``."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return float(values[0])
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--lr must be a number or OPTIMIZER=NUMBER, got {item!r}")
        out[name.strip()] = float(value)
    return out


def _demo(args: argparse.Namespace) -> int:
    from optaxlr.demo import DemoConfig, run_demo

    quick = args.quick
    config = DemoConfig(
        optimizers=_names(args.optimizers),
        schedules=_names(args.schedules),
        schedule_optimizer=args.schedule_optimizer,
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
    parser = argparse.ArgumentParser(prog="optaxlr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    plot = commands.add_parser(
        "plot",
        help="plot one or more schedules",
        description="Plot schedules given as calls, e.g. 'warmup(cosine(0.1, 900), 100)', "
        "or as JSON configs, e.g. '{\"name\": \"cosine\", \"init_value\": 0.1, "
        "\"decay_steps\": 1000}'.",
    )
    plot.add_argument("schedule", nargs="+", help="a schedule call or JSON config")
    plot.add_argument("--steps", type=int, default=1000, help="number of steps (default 1000)")
    plot.add_argument("-o", "--output", help="image file; without it, draw in the terminal")
    plot.add_argument("--log", action="store_true", help="logarithmic value axis")
    plot.add_argument("--title", help="figure title")
    plot.add_argument("--dpi", type=int, default=120)
    plot.set_defaults(run=_plot)

    rules = ("minimum", "steep", "valley")
    demo = commands.add_parser(
        "demo",
        help="compare optimizers and schedules on MNIST-1D",
        description="Train the MNIST-1D paper's small CNN (data generated offline) with each "
        "optimizer at a constant learning rate, and one optimizer under each schedule; a "
        "learning rate not given is the suggestion of an LR range test. Prints a results "
        "table and writes plots and results.json into the output folder.",
    )
    demo.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                      help=f"comma-separated, from {', '.join(OPTIMIZERS)} (default: all)")
    demo.add_argument("--schedules", default=",".join(DEFAULT_SCHEDULES),
                      help=f"comma-separated, from {', '.join(SCHEDULES)} (default: "
                      f"{','.join(DEFAULT_SCHEDULES)}; '' for none)")
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
    demo.add_argument("--steps", type=int, help="training steps per run (default 1500)")
    demo.add_argument("--batch-size", type=int, default=100, help="default 100")
    demo.add_argument("--eval-every", type=int, help="steps between test evaluations "
                      "(default 100)")
    demo.add_argument("--range-test-steps", type=int, help="steps of each range test "
                      "(default 100)")
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
    )
    find.add_argument("--optimizer", default="adam", choices=tuple(OPTIMIZERS),
                      help="default adam")
    find.add_argument("--min-lr", type=float, default=1e-7, help="default 1e-7")
    find.add_argument("--max-lr", type=float, default=10.0, help="default 10")
    find.add_argument("--num-steps", type=int, default=100, help="default 100")
    find.add_argument("--mode", default="exp", choices=("exp", "linear"))
    find.add_argument("--batch-size", type=int, default=100, help="default 100")
    find.add_argument("--seed", type=int, default=0)
    find.add_argument("--data-seed", type=int, default=42)
    find.add_argument("-o", "--output", help="image file for the plot")
    find.add_argument("--json", help="write the result as JSON to this file")
    find.add_argument("--dpi", type=int, default=120)
    find.set_defaults(run=_find_lr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as e:
        print(f"optaxlr {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
