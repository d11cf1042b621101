"""Learning-rate (and any hyperparameter) schedules: ``step -> value``.

Every constructor validates its arguments, returns a `Schedule` that works
under ``jax.jit`` and ``jax.vmap`` and wherever optax takes a schedule, and can
be written to a config with `to_config` and rebuilt with `from_config`. The
value is in JAX's default float dtype: float32, or float64 (computed in float64)
under ``jax_enable_x64``. Every schedule knows its exact range over all steps,
`Schedule.bounds` (or `bounds`), which optaxlr uses to check a schedule passed
as a hyperparameter.
"""

from optaxlr.schedules._base import Schedule, bounds
from optaxlr.schedules._combinators import join, per_epoch, product
from optaxlr.schedules._config import from_config, parse, to_config
from optaxlr.schedules._cosine import cosine, cosine_restarts, linear_cosine
from optaxlr.schedules._cyclic import cyclic, one_cycle, one_cycle_momentum
from optaxlr.schedules._decay import (
    exponential,
    inverse_time,
    linear,
    natural_exp,
    polynomial,
    rsqrt,
)
from optaxlr.schedules._noise import with_noise
from optaxlr.schedules._piecewise import constant, multistep, piecewise_constant, step_decay
from optaxlr.schedules._restarts import polynomial_restarts, tanh_restarts
from optaxlr.schedules._warmup import decay_from, lr_range, warmup, warmup_stable_decay

__all__ = [
    "Schedule",
    "bounds",
    "constant",
    "linear",
    "step_decay",
    "multistep",
    "piecewise_constant",
    "exponential",
    "natural_exp",
    "inverse_time",
    "polynomial",
    "cosine",
    "linear_cosine",
    "cosine_restarts",
    "polynomial_restarts",
    "tanh_restarts",
    "cyclic",
    "one_cycle",
    "one_cycle_momentum",
    "warmup",
    "rsqrt",
    "warmup_stable_decay",
    "decay_from",
    "lr_range",
    "join",
    "per_epoch",
    "product",
    "with_noise",
    "to_config",
    "from_config",
    "parse",
]
