"""The fused CPU step: an optimizer's update and new state in one loop per parameter array.

An optimizer computes the update from its new state (Adam: ``u = f(m', v')``), and
XLA's CPU backend runs one loop per output: the new moments, then the parameters
from the new moments, reading every moment twice (40 bytes per float32 AdamW
parameter). Its backend option ``xla_cpu_use_multi_output_fusion`` lets it merge
loops into one with several outputs, but only loops that read the same inputs
(siblings), not a loop with the loop that consumes its output (36 bytes: the
moments in one loop, the parameters in another). So the fused form computes each
output from the step's inputs alone: `fused_step` traces the update once per output
(the updates, and each parameter-shaped part of the state), each time on a copy of
the arguments passed through ``lax.optimization_barrier``, so that XLA's
common-subexpression elimination cannot merge the copies back into one (the barrier
is gone before fusion and costs nothing), and takes each output from its own copy.
XLA then fuses the copies, siblings now, into one loop reading ``p, g, m, v`` and
writing ``p, m, v``: 28 bytes per parameter.

One copy per output, not one for the updates and one for the whole state: a value
two outputs of one copy share (the gradient with coupled weight decay, ``-g`` with
``maximize``) would be computed once and stored, costing a pass of its own.

Same operations on the same values: the numbers are bitwise those of the default
form (``tests/test_cpu_fusion.py``). Without the backend option XLA runs each copy
as loops of its own (several times slower), so the fused form is used only where
`cpu_fusion_active` has seen XLA fuse it: on the CPU backend, with the option in
effect (`optaxlr.fast.enable_cpu_fusion` sets it), and while tracing (under
``jax.jit``; an eager step fuses nothing). Complex parameters keep the default
form: XLA's CPU code contracts the second moment's multiply-add into an FMA (one
rounding of two) on another pair of operands in a fused loop of complex numbers
than in the default form's loops, so the moment would differ in its last bit.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import optax

from optaxlr._validation import is_traced

__all__ = ["OPTION", "cpu_fusion_active", "default_form", "fused_step"]

#: The XLA CPU backend option that enables multi-output loop fusion.
OPTION = "xla_cpu_use_multi_output_fusion"

_PROBE_SIZE = 4096
_lock = threading.Lock()
_active: bool | None = None
# Tests and benchmarks compare both forms in one process (`default_form`).
_DEFAULT_FORM: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "optaxlr_default_form", default=False
)


def fused_step(optimizer: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``optimizer`` with its update in the fused form where `cpu_fusion_active`.

    The same ``init`` and state. Under a trace (``jax.jit``) with the CPU fusion
    active, ``update`` traces ``optimizer.update`` once per output: once for the
    updates and once for each part of the state shaped like the parameters (Adam's
    ``mu``, ``nu``), each on its own barrier-separated copy of the arguments (see
    the module doc), and takes each output from its own copy; XLA drops what each
    copy computes for nothing. Elsewhere it is ``optimizer.update``. For
    elementwise optimizers: a reduction over the gradients (a global norm) would
    be computed once per copy.
    """
    inner = optax.with_extra_args_support(optimizer)

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, new_state = inner.update(updates, state, params, **extra_args)
        if not (_real_and_traced(updates) and _use_fused()):
            return new_updates, new_state
        args = (updates, state, params)
        is_slot = _parameter_shaped(new_updates)
        parts, treedef = jax.tree.flatten(new_state, is_leaf=is_slot)
        for i, part in enumerate(parts):
            if is_slot(part):
                # Each copy's inputs go through one more barrier: identical
                # barriers could be merged.
                args = jax.lax.optimization_barrier(args)
                again = inner.update(*args, **extra_args)[1]
                parts[i] = jax.tree.flatten(again, is_leaf=is_slot)[0][i]
        args = jax.lax.optimization_barrier(args)
        return inner.update(*args, **extra_args)[0], jax.tree.unflatten(treedef, parts)

    return optax.GradientTransformationExtraArgs(inner.init, update_fn)


def _real_and_traced(updates: Any) -> bool:
    # Complex leaves keep the default form: their fused loop rounds differently (module doc).
    leaves = jax.tree.leaves(updates)
    return any(is_traced(x) for x in leaves) and not any(jnp.iscomplexobj(x) for x in leaves)


def _parameter_shaped(updates: Any) -> Callable[[Any], bool]:
    """Whether a node of the state is a tree of arrays shaped like ``updates``."""
    structure = jax.tree.structure(updates)
    shapes = [jnp.shape(x) for x in jax.tree.leaves(updates)]

    def is_slot(node: Any) -> bool:
        if node is None or jax.tree.structure(node) != structure:
            return False
        return [jnp.shape(x) for x in jax.tree.leaves(node)] == shapes

    return is_slot


def _use_fused() -> bool:
    return not _DEFAULT_FORM.get() and cpu_fusion_active()


@contextlib.contextmanager
def default_form() -> Iterator[None]:
    """Traces optimizer steps in the default (unfused) form, whatever the probe says.

    For comparing the two forms in one process; a step already compiled keeps
    its form (``jax.jit`` caches the trace).
    """
    token = _DEFAULT_FORM.set(True)
    try:
        yield
    finally:
        _DEFAULT_FORM.reset(token)


def cpu_fusion_active() -> bool:
    """True when the default backend is the CPU and XLA fuses the fused form into one loop.

    False at once when ``XLA_FLAGS`` lacks the option. Otherwise a probe compiles
    a small AdamW-like step in the fused form and looks for a loop with the
    parameter and both moments as outputs in the optimized HLO, so it reports what
    XLA does (the option may have been set after the backend started). It
    initialises JAX's backends (as any computation does) and runs once per
    process: the backend options are fixed when the backend starts.
    """
    global _active
    with _lock:
        if _active is None:
            # Without the option in XLA_FLAGS nothing is compiled: today's processes
            # see no change. With it, the probe checks it took effect.
            _active = (
                OPTION in os.environ.get("XLA_FLAGS", "")
                and jax.default_backend() == "cpu"
                and _probe()
            )
        return _active


def _probe() -> bool:
    def leaf(g, m, v):
        new_m = m + 0.1 * (g - m)
        new_v = 0.999 * v + 0.001 * g * g
        return new_m / (jnp.sqrt(new_v) + 1e-8), new_m, new_v

    def step(p, g, m, v):
        out = leaf(g, m, v)
        u = leaf(*jax.lax.optimization_barrier((g, m, v)))[0]
        return p - 1e-3 * u, out[1], out[2]

    x = jax.ShapeDtypeStruct((_PROBE_SIZE,), jnp.float32)
    text = jax.jit(step).lower(x, x, x, x).compile().as_text() or ""
    three = ", ".join([rf"f32\[{_PROBE_SIZE}\]\S*"] * 3)
    return re.search(rf"= \({three}\) fusion\(", text) is not None
