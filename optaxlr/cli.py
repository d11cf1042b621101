"""The ``optaxlr`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


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
