"""Performance: the multi-tensor fast path and the fused CPU optimizer step.

`FlatParams` keeps a parameter tree as one contiguous buffer per dtype across
steps; `multi_tensor` runs any optimizer on it as one fused kernel per buffer.
`enable_cpu_fusion`, called at start-up, lets XLA's CPU backend run an
optimizer's update and new state as one loop per parameter array.
See ``docs/performance.md`` for when each helps and the measurements.
"""

from optaxlr.fast._cpu_fusion import cpu_fused, cpu_fusion_active, enable_cpu_fusion
from optaxlr.fast._multi_tensor import (
    FlatParams,
    Layout,
    flat_mask,
    multi_tensor,
    path_groups,
)

__all__ = [
    "FlatParams",
    "Layout",
    "cpu_fused",
    "cpu_fusion_active",
    "enable_cpu_fusion",
    "flat_mask",
    "multi_tensor",
    "path_groups",
]
