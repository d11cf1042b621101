"""One representative instance of every schedule, with what it promises.

Shared by the unit tests and the property tests: ``low``/``high`` bound every
value, ``monotone`` is ``"dec"``, ``"inc"`` or None, ``final`` is the value far
past the end (None for periodic schedules), and ``edges`` are the steps where a
phase ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import optaxlr.schedules as sch


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[[], sch.Schedule]
    low: float
    high: float
    monotone: str | None
    final: float | None
    edges: tuple[int, ...]


CASES: dict[str, Case] = {
    "constant": Case(lambda: sch.constant(0.1), 0.1, 0.1, "dec", 0.1, ()),
    "linear": Case(lambda: sch.linear(0.1, 0.01, 100, transition_begin=10), 0.01, 0.1, "dec",
                   0.01, (10, 110)),
    "linear_up": Case(lambda: sch.linear(0.0, 0.1, 50), 0.0, 0.1, "inc", 0.1, (50,)),
    "step_decay": Case(lambda: sch.step_decay(0.1, 30, 0.5), 0.0, 0.1, "dec", 0.0, (30, 60)),
    "multistep": Case(lambda: sch.multistep(0.1, [30, 80, 80], 0.1), 1e-4, 0.1, "dec", 1e-4,
                      (30, 80)),
    "piecewise_constant": Case(lambda: sch.piecewise_constant([10, 20], [0.1, 0.05, 0.01]),
                               0.01, 0.1, "dec", 0.01, (10, 20)),
    "exponential": Case(lambda: sch.exponential(0.1, 0.9, 10, end_value=0.001), 0.001, 0.1,
                        "dec", 0.001, ()),
    "natural_exp": Case(lambda: sch.natural_exp(0.1, 0.5, 10, staircase=True), 0.0, 0.1, "dec",
                        0.0, (10, 20)),
    "inverse_time": Case(lambda: sch.inverse_time(0.1, 0.5, 10), 0.0, 0.1, "dec", 0.0, ()),
    "polynomial": Case(lambda: sch.polynomial(0.1, 0.001, 100, power=2.0), 0.001, 0.1, "dec",
                       0.001, (100,)),
    "polynomial_cycle": Case(lambda: sch.polynomial(0.1, 0.001, 50, cycle=True), 0.001, 0.1,
                             None, None, (50, 100)),
    "cosine": Case(lambda: sch.cosine(0.1, 100, end_value=0.001), 0.001, 0.1, "dec", 0.001,
                   (100,)),
    "cosine_periodic": Case(lambda: sch.cosine(0.1, 100, periodic=True), 0.0, 0.1, None, None,
                            (100, 200)),
    "linear_cosine": Case(lambda: sch.linear_cosine(0.1, 100, num_periods=2.0), 0.0, 0.2, None,
                          1e-4, (100,)),
    "cosine_restarts": Case(lambda: sch.cosine_restarts(0.1, 20, 2.0, 0.5, 0.001), 0.001, 0.1,
                            None, None, (20, 60, 140)),
    "cosine_restarts_limit": Case(lambda: sch.cosine_restarts(0.1, 20, cycle_limit=2,
                                                              end_value=0.01), 0.01, 0.1, None,
                                  0.01, (20, 40)),
    "cyclic": Case(lambda: sch.cyclic(0.001, 0.006, 20, 10, mode="triangular2"), 0.001, 0.006,
                   None, 0.001, (20, 30, 50)),
    "one_cycle": Case(lambda: sch.one_cycle(0.1, 100), 0.1 / 25 / 1e4, 0.1, None,
                      0.1 / 25 / 1e4, (29, 99)),
    "one_cycle_three_phase": Case(lambda: sch.one_cycle(0.1, 100, three_phase=True,
                                                        anneal="linear"),
                                  0.1 / 25 / 1e4, 0.1, None, 0.1 / 25 / 1e4, (29, 58, 99)),
    "one_cycle_momentum": Case(lambda: sch.one_cycle_momentum(100), 0.85, 0.95, None, 0.95,
                               (29, 99)),
    "warmup": Case(lambda: sch.warmup(sch.cosine(0.1, 90), 10), 0.0, 0.1, None, 0.0, (10, 100)),
    "warmup_factor": Case(lambda: sch.warmup(sch.step_decay(0.1, 50), 10, start_value=0.1,
                                             prefix=False), 0.0, 0.1, None, 0.0, (10, 50)),
    "rsqrt": Case(lambda: sch.rsqrt(0.1, 100), 0.0, 0.1, "dec", 0.0, (100,)),
    "warmup_stable_decay": Case(lambda: sch.warmup_stable_decay(0.1, 100, 10, 20, 0.001,
                                                                "1-sqrt"),
                                0.0, 0.1, None, 0.001, (10, 80, 100)),
    "lr_range": Case(lambda: sch.lr_range(1e-7, 10.0, 100), 1e-7, 10.0, "inc", 10.0, (99,)),
    "join": Case(lambda: sch.join([sch.linear(0.0, 0.1, 10), sch.exponential(0.1, 0.95)], [10]),
                 0.0, 0.1, None, 0.0, (10,)),
    "product": Case(lambda: 0.5 * sch.rsqrt(1.0, 10) * sch.warmup(1.0, 10, prefix=False), 0.0,
                    0.5, None, 0.0, (10,)),
    "per_epoch": Case(lambda: sch.per_epoch([0.1, 0.05, 0.01], steps_per_epoch=10), 0.01, 0.1,
                      "dec", 0.01, (10, 20)),
}

# Registry names whose representative case has a different key above.
COVERS = {
    "linear_up": "linear",
    "polynomial_cycle": "polynomial",
    "cosine_periodic": "cosine",
    "cosine_restarts_limit": "cosine_restarts",
    "one_cycle_three_phase": "one_cycle",
    "warmup_factor": "warmup",
}

FAR = 10**9
INT32_MAX = 2**31 - 1
