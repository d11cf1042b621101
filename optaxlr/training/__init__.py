"""Training-loop capabilities around any optax/optaxlr optimizer.

- `accumulate`: gradient accumulation over micro-batches;
- `reduce_on_plateau`: PyTorch's and Keras's ``ReduceLROnPlateau``, exactly;
- `param_ema` and `ema_params`: a moving average of the parameters for evaluation;
- `skip_nonfinite`: skipping steps whose gradients hold NaN or Inf;
- `spike_guard`: skipping steps whose gradient norm or loss spikes;
- `grad_norm_monitor`: the gradient norm before clipping, and the clip applied;
- `scale_for_batch_size`: the linear and square-root batch-size rules;
- `update_ratio_monitor`: ``||update|| / ||param||`` per parameter and overall;
- `layer_decay`, `no_weight_decay_mask` and `mup_scales`: layer-wise rates (ViT/BERT
  layer decay, muP width scaling) as `scale_by_path` rules;
- `save`, `restore`, `resume` and `transfer_state`: orbax checkpoints of
  ``(params, opt_state)``, and continuing them with a changed optimizer.

Every transformation follows the optaxlr state convention (a ``record`` of the
values of its last update, see ``docs/design.md``), so `optaxlr.hyperparams`
reports the plateau scale, the skip counts and the update ratios with the
learning rate.
"""

from optaxlr.training._accumulate import AccumulateState, accumulate
from optaxlr.training._batch_size import scale_for_batch_size
from optaxlr.training._checkpoint import restore, resume, save, transfer_state
from optaxlr.training._ema import ParamEmaState, ema_params, param_ema
from optaxlr.training._grad_norm import GradNormMonitorState, grad_norm_monitor
from optaxlr.training._layerwise import MupScales, layer_decay, mup_scales, no_weight_decay_mask
from optaxlr.training._monitor import UpdateRatioMonitorState, update_ratio_monitor
from optaxlr.training._nonfinite import SkipNonfiniteState, skip_nonfinite
from optaxlr.training._plateau import ReduceOnPlateauState, reduce_on_plateau
from optaxlr.training._spike_guard import SpikeGuardState, spike_guard

__all__ = [
    "AccumulateState",
    "GradNormMonitorState",
    "MupScales",
    "ParamEmaState",
    "ReduceOnPlateauState",
    "SkipNonfiniteState",
    "SpikeGuardState",
    "UpdateRatioMonitorState",
    "accumulate",
    "ema_params",
    "grad_norm_monitor",
    "layer_decay",
    "mup_scales",
    "no_weight_decay_mask",
    "param_ema",
    "reduce_on_plateau",
    "restore",
    "resume",
    "save",
    "scale_for_batch_size",
    "skip_nonfinite",
    "spike_guard",
    "transfer_state",
    "update_ratio_monitor",
]
