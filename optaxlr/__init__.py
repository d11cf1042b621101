"""optaxlr: learning rates and every optimizer hyperparameter as first-class JAX objects."""

from optaxlr import schedules
from optaxlr.plotting import plot_schedule
from optaxlr.schedules import Schedule

# --- transformations, aliases and hyperparams (issue 3) ---
from optaxlr import transforms
from optaxlr._hyperparams import hyperparams
from optaxlr.aliases import adadelta, adagrad, adam, adamw, nadam, radam, rmsprop, sgd
from optaxlr.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_nadam,
    scale_by_path,
    scale_by_radam,
    scale_by_rmsprop,
    trace,
)

_TRANSFORMATIONS_ALL = [
    "transforms",
    "hyperparams",
    "sgd",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "adadelta",
    "radam",
    "nadam",
    "add_decayed_weights",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_nadam",
    "scale_by_path",
    "scale_by_radam",
    "scale_by_rmsprop",
    "trace",
]
# --- end transformations ---

__version__ = "0.1.0"

__all__ = ["schedules", "Schedule", "plot_schedule", "__version__", *_TRANSFORMATIONS_ALL]
