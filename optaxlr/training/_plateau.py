"""Reduce the learning rate when a monitored metric stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_choice, check_int, check_number, check_real_value
from optaxlr.transforms._common import init_count, transformation, upcast

__all__ = ["ReduceOnPlateauState", "reduce_on_plateau"]


class ReduceOnPlateauState(NamedTuple):
    """State of `reduce_on_plateau`.

    It has no ``count`` field: its calls are not optimizer updates (after
    `accumulate` in a chain it sees every micro-batch), so it leaves the
    ``step`` that `optaxlr.hyperparams` reports to the optimizer, and counts
    metric evaluations (calls with ``value=``) in ``num_evaluations`` instead.
    """

    num_evaluations: jax.Array  # int32 scalar, saturating
    scale: jax.Array  # float32: the factor applied to updates
    record: HyperparamRecord  # scale, for optaxlr.hyperparams
    best: jax.Array  # float32: the best metric so far (NaN: none yet, Keras convention)
    num_bad_evaluations: jax.Array  # int32: torch's num_bad_epochs, Keras's wait
    cooldown_counter: jax.Array  # int32: evaluations of cooldown left


def _split(x):
    """``x`` as ``hi + lo``, each with at most 12 significant bits (float32 ``x``)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32) & jnp.uint32(0xFFFFF000)
    hi = jax.lax.bitcast_convert_type(bits, jnp.float32)
    return hi, x - hi


def _times(scale: jax.Array, factor: float) -> jax.Array:
    """The float32 nearest ``scale * factor`` for a float64 ``factor``.

    PyTorch and Keras multiply the learning rate by ``factor`` in float64 (and
    Keras stores the result in float32); ``float32(scale) * float32(factor)``
    can land one ulp away, which decides whether Keras's ``lr > min_lr`` still
    holds at the floor. This is Dekker's exact product of ``scale`` and
    ``float32(factor)``, plus ``scale`` times the rest of ``factor``, rounded once.
    """
    f_hi = np.float32(factor)
    f_lo = np.float32(factor - float(f_hi))
    s_hi, s_lo = _split(scale)
    h_hi, h_lo = _split(jnp.asarray(f_hi))
    product = scale * f_hi
    error = ((s_hi * h_hi - product) + s_hi * h_lo + s_lo * h_hi) + s_lo * h_lo
    return product + (error + scale * f_lo)


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str | None = None,
    cooldown: int = 0,
    min_scale: float = 0.0,
    mode: str = "min",
    convention: str = "torch",
    *,
    eps: float = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    r"""Scales updates down by ``factor`` when a metric stops improving.

    Chain it after an optimizer and pass the metric (a validation loss, an
    accuracy with ``mode="max"``) as ``value=`` to ``update``::

        opt = optax.chain(optaxlr.adam(1e-3), optaxlr.reduce_on_plateau(patience=5))
        updates, state = opt.update(grads, state, params)                  # a training step
        updates, state = opt.update(grads, state, params, value=val_loss)  # after an evaluation

    Each call with ``value=`` is one evaluation (torch's ``scheduler.step(metric)``,
    Keras's ``on_epoch_end``); calls without it only apply the current scale.
    A reduction decided from ``value`` applies to that call's updates and every
    later one, so pass the metric with the first update after evaluating, as
    PyTorch's loop does. The scale multiplies the final updates, so it scales
    the learning rate (and any schedule) of the optimizer before it.

    ``convention="torch"`` reproduces ``torch.optim.lr_scheduler.ReduceLROnPlateau``
    decision for decision: an evaluation is better when it beats the best by
    more than ``threshold`` (relative to the best, or absolute); the scale is
    multiplied by ``factor`` on the ``patience + 1``-th bad evaluation in a row,
    not below ``min_scale``, and only when that lowers it by more than ``eps``;
    then ``cooldown`` evaluations are ignored as bad ones (an improvement still
    records a new best). ``convention="keras"`` reproduces
    ``keras.callbacks.ReduceLROnPlateau``: absolute ``min_delta`` (``threshold``),
    a reduction on the ``patience``-th bad evaluation, cooldown counted down
    before the evaluation, no reduction once the scale is at ``min_scale``.

    Where both libraries go wrong, this one does not:

    - Negative metrics (a negative log-likelihood, an ELBO): the relative
      threshold is ``threshold * |best|``. PyTorch (`pytorch#47513
      <https://github.com/pytorch/pytorch/issues/47513>`_) and optax's
      ``contrib.reduce_on_plateau`` multiply the best by ``1 - threshold``, which
      for a negative best moves the bar the wrong way (a constant negative loss
      counts as improving forever and the rate is never reduced). For
      non-negative metrics, and in ``"abs"`` mode, the decisions are PyTorch's.
    - NaN metrics count as bad evaluations and never become the best (Keras
      records a first NaN as the best and then never sees an improvement again).

    Differences from ``optax.contrib.reduce_on_plateau``: PyTorch's and Keras's
    exact counting (optax reduces on the ``patience``-th bad evaluation and
    mixes ``rtol``/``atol``), the two fixes above, ``mode="max"``, ``eps``, the
    scale reported by `optaxlr.hyperparams`, and no ``accumulation_size``:
    average the metric yourself and pass it once per evaluation.

    Args:
      factor: the scale is multiplied by it on a reduction, in (0, 1).
      patience: bad evaluations tolerated, an integer >= 0 (see the conventions).
      threshold: the margin an evaluation must beat the best by, >= 0: torch's
        ``threshold``, Keras's ``min_delta``.
      threshold_mode: ``"rel"`` (margin ``threshold * |best|``) or ``"abs"``;
        defaults to ``"rel"`` under the torch convention, ``"abs"`` under Keras's
        (the only mode Keras has).
      cooldown: evaluations after a reduction during which bad ones are not
        counted, an integer >= 0.
      min_scale: the scale never goes below it, in [0, 1]: torch's and Keras's
        ``min_lr`` divided by the base learning rate.
      mode: ``"min"`` (lower is better) or ``"max"``.
      convention: ``"torch"`` or ``"keras"``.
      eps: torch convention only: a reduction smaller than ``eps`` is skipped,
        >= 0. PyTorch compares learning rates, this compares scales: pass
        ``torch_eps / base_lr`` to reproduce a base rate other than 1.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` takes an
      optional ``value=``: a real scalar (a Python, NumPy or JAX number, traced
      or not; a string or a complex number is a TypeError). Its state is
      `ReduceOnPlateauState`; `optaxlr.hyperparams` reports the current ``scale``.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optax.chain(optaxlr.sgd(0.1), optaxlr.reduce_on_plateau(patience=1))
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> for val_loss in [1.0, 1.0, 1.0]:
      ...     _, state = opt.update(params, state, params, value=val_loss)
      >>> float(optaxlr.hyperparams(state)["scale"])
      0.1...
    """
    check_number("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
    patience = check_int("patience", patience, low=0)
    check_number("threshold", threshold, low=0.0)
    cooldown = check_int("cooldown", cooldown, low=0)
    check_number("min_scale", min_scale, low=0.0, high=1.0)
    check_choice("mode", mode, ("min", "max"))
    check_choice("convention", convention, ("torch", "keras"))
    if threshold_mode is None:
        threshold_mode = "rel" if convention == "torch" else "abs"
    check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
    check_number("eps", eps, low=0.0)
    factor, threshold, min_scale, eps = (float(x) for x in (factor, threshold, min_scale, eps))
    keras = convention == "keras"
    # Torch starts from the worst value; Keras from "none yet" (NaN here, since a
    # NaN metric never becomes the best).
    initial_best = np.float32(np.nan if keras else (np.inf if mode == "min" else -np.inf))
    f32_min_scale = np.float32(min_scale)

    def init_fn(params):
        del params
        return ReduceOnPlateauState(
            num_evaluations=init_count(),
            scale=jnp.ones([], jnp.float32),
            record=HyperparamRecord.of({"scale": jnp.ones([], jnp.float32)}),
            best=jnp.asarray(initial_best, jnp.float32),
            num_bad_evaluations=init_count(),
            cooldown_counter=init_count(),
        )

    def is_better(v: jax.Array, best: jax.Array) -> jax.Array:
        if threshold_mode == "rel":
            # best -/+ threshold * |best|, written as a product so that an
            # infinite best stays infinite (inf - inf is NaN). For best >= 0 in
            # "min" mode this is torch's best * (1 - threshold).
            lower, higher = best * (1.0 - threshold), best * (1.0 + threshold)
            if mode == "min":
                better = v < jnp.where(best >= 0, lower, higher)
            else:
                better = v > jnp.where(best >= 0, higher, lower)
        elif keras:  # Keras's arithmetic: (current + min_delta) < best, or - and >
            better = v + threshold < best if mode == "min" else v - threshold > best
        else:
            better = v < best - threshold if mode == "min" else v > best + threshold
        if keras:  # the first non-NaN metric is the first best
            better = jnp.where(jnp.isnan(best), ~jnp.isnan(v), better)
        return better

    def evaluate(state: ReduceOnPlateauState, value: Any) -> ReduceOnPlateauState:
        # A string would fail inside JAX, a complex metric lose its imaginary part.
        v = jnp.asarray(check_real_value("value", value)).astype(jnp.float32)
        scale = state.scale
        bad = state.num_bad_evaluations
        cooldown_counter = state.cooldown_counter
        zero = jnp.zeros_like(bad)
        if keras:
            in_cooldown = cooldown_counter > 0
            cooldown_counter = jnp.where(in_cooldown, cooldown_counter - 1, cooldown_counter)
            bad = jnp.where(in_cooldown, zero, bad)
            better = is_better(v, state.best)
            still_cooling = cooldown_counter > 0
            bad = jnp.where(
                better | still_cooling, jnp.where(better, zero, bad), optax.safe_increment(bad)
            )
            attempt = ~better & ~still_cooling & (bad >= patience)
            reduce = attempt & (scale > f32_min_scale)
            new_scale = jnp.maximum(_times(scale, factor), f32_min_scale)
        else:
            better = is_better(v, state.best)
            bad = jnp.where(better, zero, optax.safe_increment(bad))
            in_cooldown = cooldown_counter > 0
            cooldown_counter = jnp.where(in_cooldown, cooldown_counter - 1, cooldown_counter)
            bad = jnp.where(in_cooldown, zero, bad)
            reduce = bad > patience
            new_scale = jnp.maximum(_times(scale, factor), f32_min_scale)
            scale_changes = scale - new_scale > eps
            new_scale = jnp.where(scale_changes, new_scale, scale)
        scale = jnp.where(reduce, new_scale, scale)
        cooldown_counter = jnp.where(reduce, jnp.asarray(cooldown, jnp.int32), cooldown_counter)
        bad = jnp.where(reduce, zero, bad)
        return ReduceOnPlateauState(
            num_evaluations=jnp.asarray(optax.safe_increment(state.num_evaluations)),
            scale=scale,
            record=HyperparamRecord.of({"scale": scale}),
            best=jnp.where(better, v, state.best),
            num_bad_evaluations=bad,
            cooldown_counter=cooldown_counter,
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is not None:
            state = evaluate(state, value)
        scale = state.scale
        updates = jax.tree.map(lambda g: (scale * upcast(g)).astype(g.dtype), updates)
        return updates, state

    return transformation(init_fn, update_fn, extra_args=True)
