"""`optaxlr.plotting.terminal_plot`, called directly (the CLI masks values before it)."""

from __future__ import annotations

from optaxlr import plotting
from optaxlr import schedules as S


def test_a_log_axis_leaves_out_values_that_are_not_positive():
    # Warmup starts at 0: its log has no place on the axis, the rest is drawn.
    text = plotting.terminal_plot(S.warmup(S.constant(0.1), 10), 50, log_y=True, width=60)
    ticks = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
    assert "warmup" in text and ticks and all(float(t) > 0 for t in ticks)
