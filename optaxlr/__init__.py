"""optaxlr: learning rates and every optimizer hyperparameter as first-class JAX objects.

A flat public namespace re-exported from the modules that define each name:
schedules (`optaxlr.schedules`), gradient transformations and PyTorch-exact
aliases (`optaxlr.transforms`, `optaxlr.aliases`), `hyperparams`, training-loop
transformations (`optaxlr.training`), tuning tools (`optaxlr.tools`) and the
many-leaf fast path (`optaxlr.fast`).
"""

from optaxlr import fast, schedules, tools, training, transforms
from optaxlr._hyperparams import HyperparamRecord, hyperparams, set_hyperparams
from optaxlr.aliases import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    asgd,
    asgd_average,
    dadapt_adam,
    dadapt_sgd,
    lion,
    nadam,
    prodigy,
    radam,
    rmsprop,
    rprop,
    sgd,
)
from optaxlr.fast import FlatParams, flat_mask, multi_tensor
from optaxlr.plotting import plot_schedule
from optaxlr.schedules import Schedule
from optaxlr.tools import LRFinderResult, SweepResult, find_lr, sweep
from optaxlr.training import (
    accumulate,
    ema_params,
    param_ema,
    reduce_on_plateau,
    scale_for_batch_size,
    skip_nonfinite,
    update_ratio_monitor,
)
from optaxlr.transforms import (
    add_decayed_weights,
    chain,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
    decoupled_weight_decay,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_asgd,
    scale_by_dadapt_adam,
    scale_by_dadapt_sgd,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_nadam,
    scale_by_path,
    scale_by_prodigy,
    scale_by_radam,
    scale_by_rmsprop,
    scale_by_rprop,
    trace,
)

__version__ = "0.1.0"

__all__ = [  # sorted (ruff RUF022); the module docstring groups them
    "FlatParams",
    "HyperparamRecord",
    "LRFinderResult",
    "Schedule",
    "SweepResult",
    "__version__",
    "accumulate",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "asgd",
    "asgd_average",
    "chain",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "dadapt_adam",
    "dadapt_sgd",
    "decoupled_weight_decay",
    "ema_params",
    "fast",
    "find_lr",
    "flat_mask",
    "hyperparams",
    "lion",
    "multi_tensor",
    "nadam",
    "param_ema",
    "plot_schedule",
    "prodigy",
    "radam",
    "reduce_on_plateau",
    "rmsprop",
    "rprop",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_asgd",
    "scale_by_dadapt_adam",
    "scale_by_dadapt_sgd",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_nadam",
    "scale_by_path",
    "scale_by_prodigy",
    "scale_by_radam",
    "scale_by_rmsprop",
    "scale_by_rprop",
    "scale_for_batch_size",
    "schedules",
    "set_hyperparams",
    "sgd",
    "skip_nonfinite",
    "sweep",
    "tools",
    "trace",
    "training",
    "transforms",
    "update_ratio_monitor",
]
