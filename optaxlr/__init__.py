"""optaxlr: learning rates and every optimizer hyperparameter as first-class JAX objects."""

from optaxlr import schedules
from optaxlr.plotting import plot_schedule
from optaxlr.schedules import Schedule

# --- transformations, aliases and hyperparams (issue 3) ---
# --- end transformations ---

__version__ = "0.1.0"

__all__ = ["schedules", "Schedule", "plot_schedule", "__version__"]
