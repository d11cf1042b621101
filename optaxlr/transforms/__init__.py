"""Gradient transformations whose every numeric hyperparameter may be a schedule.

Each is a function returning an ``optax.GradientTransformation`` whose state
is a ``NamedTuple`` declared here: a ``count`` where something depends on the
step, a ``record`` of the hyperparameters the last update used (read by
`optaxlr.hyperparams`), and the buffers of its update rule (see
``docs/design.md``). They chain with optax's own transformations; `chain` is
``optax.chain`` itself.
"""

from optax import chain

from optaxlr.transforms._adadelta import ScaleByAdadeltaState, scale_by_adadelta
from optaxlr.transforms._adafactor import ScaleByAdafactorState, scale_by_adafactor
from optaxlr.transforms._adagrad import ScaleByAdagradState, scale_by_adagrad
from optaxlr.transforms._adam import ScaleByAdamState, scale_by_adam
from optaxlr.transforms._adamax import ScaleByAdamaxState, scale_by_adamax
from optaxlr.transforms._asgd import ScaleByAsgdState, scale_by_asgd
from optaxlr.transforms._clipping import (
    ClipState,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
)
from optaxlr.transforms._dadapt import (
    ScaleByDadaptAdamState,
    ScaleByDadaptSgdState,
    scale_by_dadapt_adam,
    scale_by_dadapt_sgd,
)
from optaxlr.transforms._lion import ScaleByLionState, scale_by_lion
from optaxlr.transforms._momentum import TraceState, trace
from optaxlr.transforms._muon import ScaleByMuonState, newton_schulz, scale_by_muon
from optaxlr.transforms._nadam import ScaleByNadamState, scale_by_nadam
from optaxlr.transforms._path import ScaleByPathState, path_to_str, scale_by_path
from optaxlr.transforms._per_parameter import ParameterGroups, per_parameter
from optaxlr.transforms._prodigy import ScaleByProdigyState, scale_by_prodigy
from optaxlr.transforms._radam import ScaleByRadamState, scale_by_radam
from optaxlr.transforms._rmsprop import ScaleByRmspropState, scale_by_rmsprop
from optaxlr.transforms._rprop import ScaleByRpropState, scale_by_rprop
from optaxlr.transforms._scale import ScaleByLearningRateState, scale_by_learning_rate
from optaxlr.transforms._schedule_free import (
    ScaleByScheduleFreeAdamState,
    ScaleByScheduleFreeState,
    scale_by_schedule_free,
    scale_by_schedule_free_adam,
)
from optaxlr.transforms._trust_ratio import (
    ScaleByLambState,
    ScaleByLarsState,
    scale_by_lamb,
    scale_by_lars,
)
from optaxlr.transforms._weight_decay import (
    AddDecayedWeightsState,
    DecoupledWeightDecayState,
    add_decayed_weights,
    decoupled_weight_decay,
)

#: The states of the optimizers that set their own step size (`optaxlr.find_lr` refuses
#: them: a learning-rate range test does not apply).
LEARNING_RATE_FREE_STATES: tuple[type, ...] = (
    ScaleByProdigyState,
    ScaleByDadaptAdamState,
    ScaleByDadaptSgdState,
)

#: The states of the schedule-free optimizers (`optaxlr.find_lr` refuses them: their
#: averaged iterate makes a short rising-rate run say nothing about a long constant one).
SCHEDULE_FREE_STATES: tuple[type, ...] = (ScaleByScheduleFreeState,)

__all__ = [
    "LEARNING_RATE_FREE_STATES",
    "SCHEDULE_FREE_STATES",
    "AddDecayedWeightsState",
    "ClipState",
    "DecoupledWeightDecayState",
    "ParameterGroups",
    "ScaleByAdadeltaState",
    "ScaleByAdafactorState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByAdamaxState",
    "ScaleByAsgdState",
    "ScaleByDadaptAdamState",
    "ScaleByDadaptSgdState",
    "ScaleByLambState",
    "ScaleByLarsState",
    "ScaleByLearningRateState",
    "ScaleByLionState",
    "ScaleByMuonState",
    "ScaleByNadamState",
    "ScaleByPathState",
    "ScaleByProdigyState",
    "ScaleByRadamState",
    "ScaleByRmspropState",
    "ScaleByRpropState",
    "ScaleByScheduleFreeAdamState",
    "ScaleByScheduleFreeState",
    "TraceState",
    "add_decayed_weights",
    "chain",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "decoupled_weight_decay",
    "newton_schulz",
    "path_to_str",
    "per_parameter",
    "scale_by_adadelta",
    "scale_by_adafactor",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_asgd",
    "scale_by_dadapt_adam",
    "scale_by_dadapt_sgd",
    "scale_by_lamb",
    "scale_by_lars",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_nadam",
    "scale_by_path",
    "scale_by_prodigy",
    "scale_by_radam",
    "scale_by_rmsprop",
    "scale_by_rprop",
    "scale_by_schedule_free",
    "scale_by_schedule_free_adam",
    "trace",
]
