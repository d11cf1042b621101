"""The fused CPU step: switch it on at start-up, check it is on.

XLA's CPU backend runs an optimizer step as one loop per output array unless its
backend option ``xla_cpu_use_multi_output_fusion`` is set, which must happen
before the backend starts (XLA reads ``XLA_FLAGS`` once). `enable_cpu_fusion`
sets it; `cpu_fusion_active` reports whether XLA fuses; the aliases that have a
fused form (`optaxlr.adam`, `optaxlr.adamw`, `optaxlr.sgd` with momentum) use it
wherever it is active, with bitwise the same numbers (``tests/test_cpu_fusion.py``),
and `cpu_fused` gives it to an optimizer of your own. See ``docs/performance.md``.
"""

from __future__ import annotations

import os

import jax
import optax

from optaxlr.transforms._cpu_fusion import OPTION, cpu_fusion_active, fused_step

__all__ = ["cpu_fused", "cpu_fusion_active", "enable_cpu_fusion"]

_EXTRA = "--xla_backend_extra_options="


def enable_cpu_fusion() -> None:
    """Turns on XLA's multi-output loop fusion on the CPU, for the fused optimizer step.

    Call it at start-up, before JAX runs anything: it adds
    ``--xla_backend_extra_options=xla_cpu_use_multi_output_fusion`` to the
    ``XLA_FLAGS`` environment variable (keeping the options already there), which
    XLA reads when its CPU backend starts. Setting ``XLA_FLAGS`` yourself before
    starting Python does the same.

    Once the backends are initialised it is too late to change them: the call
    then returns quietly if the fusion is already active (or the default backend
    is not the CPU, where there is nothing to enable) and raises otherwise.

    Raises:
      RuntimeError: JAX's CPU backend has started without the option.

    Example:
      >>> import optaxlr
      >>> optaxlr.fast.enable_cpu_fusion()  # doctest: +SKIP
    """
    if _backends_initialised():
        if jax.default_backend() != "cpu" or cpu_fusion_active():
            return
        raise RuntimeError(
            "enable_cpu_fusion() was called after JAX initialised its backends (an array "
            "was created or a computation ran), and XLA reads its options only when the "
            "CPU backend starts. Call optaxlr.fast.enable_cpu_fusion() at start-up, before "
            "any JAX computation, or start Python with "
            f"XLA_FLAGS={_EXTRA}{OPTION}. Optimizers keep their default (unfused) form."
        )
    os.environ["XLA_FLAGS"] = _with_option(os.environ.get("XLA_FLAGS", ""))


def _with_option(flags: str) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) with the multi-output fusion option added.

    XLA keeps the last ``--xla_backend_extra_options``, a comma-separated list, so
    the option joins an existing list instead of starting another.
    """
    tokens = flags.split()
    for i in reversed(range(len(tokens))):
        if tokens[i].startswith(_EXTRA):
            options = [o for o in tokens[i][len(_EXTRA) :].split(",") if o]
            options = [o for o in options if o.split("=", 1)[0] != OPTION]
            tokens[i] = _EXTRA + ",".join([*options, OPTION])
            return " ".join(tokens)
    return " ".join([*tokens, _EXTRA + OPTION])


def _backends_initialised() -> bool:
    """Whether JAX has started its backends.

    JAX has no public query: ``jax.distributed.initialize`` refuses late calls with
    this same private function. Where a JAX version lacks it, the answer is "not
    yet", and `cpu_fusion_active` (which looks at what XLA compiles) still tells
    whether the option took effect.
    """
    from jax._src import xla_bridge

    check = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(check()) if check is not None else False


def cpu_fused(optimizer: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``optimizer`` in the fused form wherever `cpu_fusion_active`: for your own chains.

    The same ``init`` and state; under ``jax.jit`` on the CPU with the fusion
    active, XLA runs each parameter's update and new state as one loop. Use it on
    elementwise optimizers (a reduction over the gradients, such as a global norm,
    would be computed once per state buffer). `optaxlr.adam`, `optaxlr.adamw` and
    `optaxlr.sgd` with momentum need no wrapping.

    The numbers are those of ``optimizer`` to the bit wherever XLA's code
    generator contracts the same multiplies and adds into FMAs in the fused loop
    as in the default ones, which the tests check for the aliases' rules; a rule
    that adds two products (Adam's Nesterov numerator) can differ in the last bit.

    Args:
      optimizer: an optax ``GradientTransformation``.

    Returns:
      A ``GradientTransformationExtraArgs`` with ``optimizer``'s init and state.

    Example:
      >>> import optax, optaxlr
      >>> nadam_like = optax.chain(
      ...     optaxlr.scale_by_adam(nesterov=True), optaxlr.scale_by_learning_rate(1e-3))
      >>> opt = optaxlr.fast.cpu_fused(nadam_like)
    """
    return fused_step(optimizer)
