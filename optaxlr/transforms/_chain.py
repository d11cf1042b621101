"""`chain`: ``optax.chain`` whose optaxlr transformations share one step count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

from optaxlr.transforms._adadelta import ScaleByAdadeltaState
from optaxlr.transforms._adagrad import ScaleByAdagradState
from optaxlr.transforms._adam import ScaleByAdamState
from optaxlr.transforms._clipping import ClipState
from optaxlr.transforms._momentum import TraceState
from optaxlr.transforms._nadam import ScaleByNadamState
from optaxlr.transforms._path import ScaleByPathState
from optaxlr.transforms._radam import ScaleByRadamState
from optaxlr.transforms._rmsprop import ScaleByRmspropState
from optaxlr.transforms._scale import ScaleByLearningRateState
from optaxlr.transforms._weight_decay import AddDecayedWeightsState, DecoupledWeightDecayState

__all__ = ["ChainState", "chain", "COUNTING_STATES"]

#: States whose ``count`` advances by exactly one (saturating) on every update, so
#: that inside one chain all of them hold the same number.
COUNTING_STATES: tuple[type, ...] = (
    AddDecayedWeightsState,
    ClipState,
    DecoupledWeightDecayState,
    ScaleByAdadeltaState,
    ScaleByAdagradState,
    ScaleByAdamState,
    ScaleByLearningRateState,
    ScaleByNadamState,
    ScaleByPathState,
    ScaleByRadamState,
    ScaleByRmspropState,
    TraceState,
)


#: State of `chain`: the members' states in order, a plain tuple as ``optax.chain``'s.
#: Of the states that count updates (nested chains' members included), the first
#: keeps the shared ``count``; the others hold ``None`` there.
ChainState = tuple


def _map_counting(state: Any, fn: Callable[[Any, bool], Any]) -> Any:
    """Applies ``fn(member_state, is_first)`` to each counting state, in chains at any depth.

    Plain tuples are chain states (`chain`'s or ``optax.chain``'s): their members
    all update once per step, so their counting states can share one count.
    """
    first = True

    def visit(s: Any) -> Any:
        nonlocal first
        if isinstance(s, COUNTING_STATES):
            out, first = fn(s, first), False
            return out
        if type(s) is tuple:
            return tuple(visit(m) for m in s)
        return s

    return visit(state)


def _shared_count(state: ChainState) -> Any:
    """The count kept by the first counting state, or None if no member counts."""
    counts = []

    def read(s: Any, first: bool) -> Any:
        if first:
            counts.append(s.count)
        return s

    _map_counting(state, read)
    return counts[0] if counts else None


def _keep_first_count(state: ChainState) -> ChainState:
    return _map_counting(state, lambda s, first: s if first else s._replace(count=None))


def chain(*transforms: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``optax.chain``, with one ``count`` for all the optaxlr transformations in it.

    Same update, same state layout (a tuple of the members' states, so
    ``state[0].mu`` still reads Adam's first moment), and extra arguments (such
    as ``value=`` for `optaxlr.training.reduce_on_plateau`) reach every member.
    The difference: every optaxlr transformation counts updates, and in
    ``optax.chain`` each keeps its own copy of the same number. Here the first
    keeps it and the others read it, so a compiled step increments one scalar,
    not one per transformation; on a small model each extra scalar operation
    costs XLA's CPU runtime about a microsecond, on a step of ten. Chains
    nested in it (``optax.chain``\\ s included) share the same count. The
    optimizer aliases are built with it.

    `optaxlr.hyperparams` reports ``step`` from the shared count.

    Args:
      *transforms: ``optax.GradientTransformation``\\ s, applied in order.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state `ChainState`.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.chain(optaxlr.clip_by_global_norm(1.0), optaxlr.adamw(3e-4))
    """
    members = tuple(optax.with_extra_args_support(t) for t in transforms)

    def init_fn(params):
        return _keep_first_count(tuple(t.init(params) for t in members))

    def update_fn(updates, state, params=None, **extra_args):
        count = _shared_count(state)
        if count is not None:
            state = _map_counting(state, lambda s, first: s._replace(count=count))
        new_states = []
        for t, s in zip(members, state, strict=True):
            updates, s = t.update(updates, s, params, **extra_args)
            new_states.append(s)
        return updates, _keep_first_count(tuple(new_states))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
