"""Optimizers with PyTorch's defaults and update rules, built from optaxlr transformations.

Every alias is an ``optax.chain`` of the transformations in
`optaxlr.transforms`, so its state is a tuple of their states and
`optaxlr.hyperparams` reads the values used in the last update. Arguments are
checked by the transformation that takes them, once; an alias checks only those
it names otherwise (``momentum``, which `trace` calls ``decay``). Every numeric
hyperparameter may be a number, a
JAX array or a schedule ``step -> value`` (``step`` = updates already applied,
as PyTorch's scheduler ``last_epoch`` after ``scheduler.step()`` calls).

Terms that are off (a weight decay or momentum given as the number 0) are left
out of the chain, so they cost nothing and are not reported; pass an array or a
schedule to keep them in.

Every alias that mirrors a ``torch.optim`` class takes its ``maximize``: the
gradients are negated before anything else (before the L2 weight decay), as
PyTorch does, with no state of its own.

Trajectories match ``torch.optim`` step for step (float32, rtol 1e-5 over 200
steps, see ``tests/test_optimizer_fixtures.py``).
"""

from optaxlr.aliases._adadelta import adadelta
from optaxlr.aliases._adafactor import adafactor
from optaxlr.aliases._adagrad import adagrad
from optaxlr.aliases._adam import adam, adamw
from optaxlr.aliases._adamax import adamax
from optaxlr.aliases._asgd import asgd
from optaxlr.aliases._asgd import asgd_average as asgd_average  # a reader, not an optimizer
from optaxlr.aliases._dadapt import dadapt_adam, dadapt_sgd
from optaxlr.aliases._lamb import lamb
from optaxlr.aliases._lars import lars
from optaxlr.aliases._lion import lion
from optaxlr.aliases._muon import muon
from optaxlr.aliases._muon import muon_labels as muon_labels  # a helper, not an optimizer
from optaxlr.aliases._nadam import nadam
from optaxlr.aliases._prodigy import prodigy
from optaxlr.aliases._radam import radam
from optaxlr.aliases._rmsprop import rmsprop
from optaxlr.aliases._rprop import rprop
from optaxlr.aliases._schedule_free import schedule_free_adamw, schedule_free_sgd
from optaxlr.aliases._schedule_free import (  # a reader, not an optimizer
    schedule_free_eval_params as schedule_free_eval_params,
)
from optaxlr.aliases._sgd import sgd

__all__ = [  # the optimizers, one per torch.optim class or peer package (tests iterate over them)
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "dadapt_adam",
    "dadapt_sgd",
    "lamb",
    "lars",
    "lion",
    "muon",
    "nadam",
    "prodigy",
    "radam",
    "rmsprop",
    "rprop",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "sgd",
]
