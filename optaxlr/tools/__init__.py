"""Tuning tools: the LR range test and parallel hyperparameter sweeps.

- `find_lr`: the learning-rate range test, one compiled loop, with suggestions.
- `sweep`: K copies of a model trained at once with ``vmap``, one per set of
  hyperparameters (`grid`, `log_uniform`).
"""

from optaxlr.tools._find_lr import LRFinderResult, find_lr, suggest_lrs
from optaxlr.tools._sweep import SweepResult, grid, log_uniform, sweep

__all__ = [
    "find_lr",
    "LRFinderResult",
    "suggest_lrs",
    "sweep",
    "SweepResult",
    "grid",
    "log_uniform",
]
