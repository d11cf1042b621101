"""Performance: the multi-tensor fast path for models with many parameter arrays.

`FlatParams` keeps a parameter tree as one contiguous buffer per dtype across
steps; `multi_tensor` runs any optimizer on it as one fused kernel per buffer.
See ``docs/performance.md`` for when it helps and the measurements.
"""

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
    "flat_mask",
    "multi_tensor",
    "path_groups",
]
