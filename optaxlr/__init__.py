"""optaxlr: learning rates and every optimizer hyperparameter as first-class JAX objects."""

from optaxlr import schedules
from optaxlr.plotting import plot_schedule
from optaxlr.schedules import Schedule

# --- transformations, aliases and hyperparams (issue 3) ---
# isort: split
from optaxlr import transforms as transforms
from optaxlr._hyperparams import hyperparams as hyperparams
from optaxlr.aliases import adadelta as adadelta
from optaxlr.aliases import adagrad as adagrad
from optaxlr.aliases import adam as adam
from optaxlr.aliases import adamw as adamw
from optaxlr.aliases import nadam as nadam
from optaxlr.aliases import radam as radam
from optaxlr.aliases import rmsprop as rmsprop
from optaxlr.aliases import sgd as sgd
from optaxlr.transforms import add_decayed_weights as add_decayed_weights
from optaxlr.transforms import clip_by_global_norm as clip_by_global_norm
from optaxlr.transforms import clip_by_norm as clip_by_norm
from optaxlr.transforms import clip_by_value as clip_by_value
from optaxlr.transforms import decoupled_weight_decay as decoupled_weight_decay
from optaxlr.transforms import scale_by_adadelta as scale_by_adadelta
from optaxlr.transforms import scale_by_adagrad as scale_by_adagrad
from optaxlr.transforms import scale_by_adam as scale_by_adam
from optaxlr.transforms import scale_by_learning_rate as scale_by_learning_rate
from optaxlr.transforms import scale_by_nadam as scale_by_nadam
from optaxlr.transforms import scale_by_path as scale_by_path
from optaxlr.transforms import scale_by_radam as scale_by_radam
from optaxlr.transforms import scale_by_rmsprop as scale_by_rmsprop
from optaxlr.transforms import trace as trace

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
    "decoupled_weight_decay",
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

# --- tools (issue 5) ---
# (after the block above; `x as x` marks an explicit re-export for linters)
from optaxlr import tools as tools  # noqa: E402
from optaxlr.tools import LRFinderResult as LRFinderResult  # noqa: E402
from optaxlr.tools import SweepResult as SweepResult  # noqa: E402
from optaxlr.tools import find_lr as find_lr  # noqa: E402
from optaxlr.tools import sweep as sweep  # noqa: E402

_TOOLS_ALL = ["tools", "find_lr", "LRFinderResult", "sweep", "SweepResult"]
# --- end tools ---

# --- training (issue 4) ---
from optaxlr import training as training  # noqa: E402
from optaxlr.training import accumulate as accumulate  # noqa: E402
from optaxlr.training import ema_params as ema_params  # noqa: E402
from optaxlr.training import param_ema as param_ema  # noqa: E402
from optaxlr.training import reduce_on_plateau as reduce_on_plateau  # noqa: E402
from optaxlr.training import scale_for_batch_size as scale_for_batch_size  # noqa: E402
from optaxlr.training import skip_nonfinite as skip_nonfinite  # noqa: E402
from optaxlr.training import update_ratio_monitor as update_ratio_monitor  # noqa: E402

_TRAINING_ALL = [
    "training",
    "accumulate",
    "ema_params",
    "param_ema",
    "reduce_on_plateau",
    "scale_for_batch_size",
    "skip_nonfinite",
    "update_ratio_monitor",
]
# --- end training ---

# --- performance (issue 6) ---
from optaxlr import fast as fast  # noqa: E402
from optaxlr.fast import FlatParams as FlatParams  # noqa: E402
from optaxlr.fast import flat_mask as flat_mask  # noqa: E402
from optaxlr.fast import multi_tensor as multi_tensor  # noqa: E402

_PERFORMANCE_ALL = ["fast", "FlatParams", "multi_tensor", "flat_mask"]
# --- end performance ---

__version__ = "0.1.0"

__all__ = [
    "schedules",
    "Schedule",
    "plot_schedule",
    "__version__",
    *_TRANSFORMATIONS_ALL,
    *_TRAINING_ALL,
    *_TOOLS_ALL,
    *_PERFORMANCE_ALL,
]
