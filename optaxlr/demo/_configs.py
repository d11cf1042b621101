"""The optimizers and schedules the demo compares, by name.

Optimizers are the `optaxlr` aliases with their references' defaults
(momentum 0.9 where there is momentum, AdamW's weight decay 0.01). The demo runs
`DEFAULT_OPTIMIZERS` unless told otherwise; the others (``--optimizers
lion,adamax,...``) compare a recipe's optimizer on the same model. Schedules
are built from the peak learning rate and the number of steps; ``one-cycle``
also cycles the momentum (SGD's ``momentum``, Adam's ``b1``) where the
optimizer has one, as torch's ``OneCycleLR(cycle_momentum=True)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax

from optaxlr import aliases
from optaxlr import schedules as sch

__all__ = [
    "DEFAULT_NO_TUNING",
    "DEFAULT_OPTIMIZERS",
    "MOMENTUM_OPTIMIZERS",
    "NO_TUNING",
    "OPTIMIZERS",
    "SCHEDULES",
    "UNTUNED",
    "make_optimizer",
    "make_schedule",
]

Hyperparam = Any

OPTIMIZERS: dict[str, Callable[[Hyperparam, Hyperparam | None], optax.GradientTransformation]] = {
    "sgd": lambda lr, m: aliases.sgd(lr),
    "momentum": lambda lr, m: aliases.sgd(lr, momentum=0.9 if m is None else m),
    "nesterov": lambda lr, m: aliases.sgd(lr, momentum=0.9 if m is None else m, nesterov=True),
    "adagrad": lambda lr, m: aliases.adagrad(lr),
    "rmsprop": lambda lr, m: aliases.rmsprop(lr),
    "adam": lambda lr, m: aliases.adam(lr, b1=0.9 if m is None else m),
    "adamw": lambda lr, m: aliases.adamw(lr, b1=0.9 if m is None else m, weight_decay=1e-2),
    "nadam": lambda lr, m: aliases.nadam(lr, b1=0.9 if m is None else m),
    "radam": lambda lr, m: aliases.radam(lr, b1=0.9 if m is None else m),
    "adamax": lambda lr, m: aliases.adamax(lr, b1=0.9 if m is None else m),
    "adadelta": lambda lr, m: aliases.adadelta(lr),
    "asgd": lambda lr, m: aliases.asgd(lr),
    "lion": lambda lr, m: aliases.lion(lr, b1=0.9 if m is None else m),
    "lamb": lambda lr, m: aliases.lamb(lr, b1=0.9 if m is None else m),
    "lars": lambda lr, m: aliases.lars(lr, momentum=0.9 if m is None else m),
    "adafactor": lambda lr, m: aliases.adafactor(lr),
    # The dense layers' matrices on Muon; the conv kernels, biases and the rest on AdamW.
    "muon": lambda lr, m: aliases.muon(lr),
    "schedule-free-sgd": lambda lr, m: aliases.schedule_free_sgd(lr),
    "schedule-free-adamw": lambda lr, m: aliases.schedule_free_adamw(lr),
    "prodigy": lambda lr, m: aliases.prodigy(lr),
    "dadapt-adam": lambda lr, m: aliases.dadapt_adam(lr),
}

#: The optimizers meant to need no tuning, with their reference's default rate (the
#: alias's): the demo's "no tuning" rows run them at it, with no range test and no
#: schedule, and a range test does not apply to them (`optaxlr.find_lr` refuses them), so
#: elsewhere in the demo they take that rate too unless one is given.
NO_TUNING = {
    name: inspect.signature(alias).parameters["learning_rate"].default
    for name, alias in (
        ("prodigy", aliases.prodigy),
        ("schedule-free-adamw", aliases.schedule_free_adamw),
        ("dadapt-adam", aliases.dadapt_adam),
        ("schedule-free-sgd", aliases.schedule_free_sgd),
    )
}
#: The no-tuning rows of the default demo.
DEFAULT_NO_TUNING = ("prodigy", "schedule-free-adamw")

#: What the demo runs without ``--optimizers``.
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")

#: The optimizers whose momentum (or ``b1``) one-cycle cycles.
MOMENTUM_OPTIMIZERS = (
    "momentum", "nesterov", "adam", "adamw", "nadam", "radam", "adamax", "lion", "lamb", "lars"
)

SCHEDULES: dict[str, Callable[[float, int], sch.Schedule]] = {
    "constant": lambda lr, steps: sch.constant(lr),
    # torch StepLR: divided by 10 after each third of the run.
    "step": lambda lr, steps: sch.step_decay(lr, step_size=max(1, steps // 3), gamma=0.1),
    "cosine": lambda lr, steps: sch.cosine(lr, decay_steps=steps),
    # SGDR: three cycles of 1/7, 2/7 and 4/7 of the run, ending at the end of the third.
    "sgdr": lambda lr, steps: sch.cosine_restarts(
        lr, first_cycle_steps=max(1, steps // 7), cycle_mult=2.0
    ),
    "one-cycle": lambda lr, steps: sch.one_cycle(lr, total_steps=max(2, steps)),
    # Not in the default comparison: a linear warmup over 5% of the run, then cosine.
    "warmup-cosine": lambda lr, steps: sch.warmup(
        sch.cosine(lr, decay_steps=max(1, steps - steps // 20)), warmup_steps=steps // 20
    ),
}

DEFAULT_SCHEDULES = ("constant", "step", "cosine", "sgdr", "one-cycle")

#: The "schedule" of a no-tuning run: the optimizer's default rate, constant.
UNTUNED = "default"


def make_schedule(name: str, lr: float, steps: int) -> sch.Schedule:
    return SCHEDULES[name](lr, steps)


def make_optimizer(
    optimizer: str, schedule: str, lr: float, steps: int
) -> optax.GradientTransformation:
    """The named optimizer, its learning rate following the named schedule."""
    momentum = None
    if schedule == UNTUNED:
        return OPTIMIZERS[optimizer](NO_TUNING[optimizer], None)
    if schedule == "one-cycle" and optimizer in MOMENTUM_OPTIMIZERS:
        momentum = sch.one_cycle_momentum(total_steps=max(2, steps))
    return OPTIMIZERS[optimizer](make_schedule(schedule, lr, steps), momentum)
