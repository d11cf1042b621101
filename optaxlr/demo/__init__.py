"""The optaxlr demo: optimizers and learning-rate schedules compared on MNIST-1D.

``optaxlr demo`` (or ``python -m optaxlr demo``) runs an LR range test for each
optimizer, trains the MNIST-1D paper's small CNN with SGD, momentum, Nesterov,
AdaGrad, RMSProp, Adam and AdamW at a constant learning rate and with SGD +
momentum under the constant, step, cosine, SGDR and one-cycle schedules, runs
Prodigy and schedule-free AdamW untuned (their default rates, no range test:
the "no tuning" rows), and writes a results table, plots and a JSON file. The
data is generated on this machine by the ``mnist1d`` package; nothing is
downloaded.

Needs the ``demo`` extra (``pip install 'optaxlr[demo]'``: flax, mnist1d, tqdm,
matplotlib).

Example:
  >>> import tempfile
  >>> from optaxlr.demo import DemoConfig, run_demo
  >>> config = DemoConfig(optimizers=("adam",), schedules=("cosine",), lr=3e-3, steps=100,
  ...                     eval_every=50, output=tempfile.mkdtemp(), quiet=True)
  >>> results = run_demo(config)
  >>> [run.name for run in results.runs]
  ['adam/constant', 'momentum/cosine', 'prodigy/default', 'schedule-free-adamw/default']
  >>> print(results.table())  # doctest: +ELLIPSIS
  run...lr  final acc  best acc  steps to 90%  time (s)
  ...
"""

from optaxlr.demo._configs import (
    DEFAULT_NO_TUNING,
    DEFAULT_OPTIMIZERS,
    DEFAULT_SCHEDULES,
    NO_TUNING,
    OPTIMIZERS,
    SCHEDULES,
    make_optimizer,
)
from optaxlr.demo._data import load_mnist1d
from optaxlr.demo._main import DemoConfig, DemoResults, prepare, range_test, run_demo
from optaxlr.demo._model import MNIST1DCNN, Conv1D
from optaxlr.demo._report import PLOT_FILES
from optaxlr.demo._train import RunResult, train

__all__ = [
    "DemoConfig",
    "DemoResults",
    "run_demo",
    "range_test",
    "prepare",
    "load_mnist1d",
    "MNIST1DCNN",
    "Conv1D",
    "OPTIMIZERS",
    "NO_TUNING",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_NO_TUNING",
    "SCHEDULES",
    "DEFAULT_SCHEDULES",
    "make_optimizer",
    "train",
    "RunResult",
    "PLOT_FILES",
]
