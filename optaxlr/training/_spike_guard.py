"""Skipping updates whose gradient norm or loss spikes above its running statistics."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_choice, check_int, check_number, check_real_value
from optaxlr.training._accumulate import check_transformation
from optaxlr.training._nonfinite import (
    check_max_consecutive,
    count_skip,
    skip_allowed,
    update_unless,
)
from optaxlr.transforms._clipping import global_norm, squared_norms
from optaxlr.transforms._common import init_count, transformation

__all__ = ["SpikeGuardState", "spike_guard"]


class SpikeGuardState(NamedTuple):
    """State of `spike_guard`.

    No ``count`` field, as `skip_nonfinite`: the wrapped optimizer counts the
    updates applied. The statistics are float32 scalars over the applied steps.
    """

    record: HyperparamRecord  # spikes_skipped, consecutive_spikes, spike_threshold
    skipped: jax.Array  # int32, saturating: steps skipped so far
    consecutive: jax.Array  # int32: spikes in a row, skipped or (past the cap) applied
    observations: jax.Array  # int32, saturating: applied steps fed to the statistics
    weight: jax.Array  # float32: the sum of the observations' weights, W
    mean: jax.Array  # float32: their weighted mean
    m2: jax.Array  # float32: their weighted sum of squared deviations, S (variance S / W)
    inner_state: Any  # the wrapped optimizer's state


def _record(skipped, consecutive, threshold) -> HyperparamRecord:
    return HyperparamRecord.of(
        {
            "spikes_skipped": skipped,
            "consecutive_spikes": consecutive,
            "spike_threshold": threshold,
        }
    )


def spike_guard(
    inner: optax.GradientTransformation,
    z: float = 6.0,
    *,
    watch: str = "grad_norm",
    warmup: int = 100,
    decay: float = 0.99,
    max_consecutive: int | None = 10,
) -> optax.GradientTransformationExtraArgs:
    r"""Skips an update whose gradient norm (or loss) spikes above its running statistics.

    Each step observes :math:`x_t`: the global L2 norm of the gradients
    (``watch="grad_norm"``, as `optaxlr.clip_by_global_norm` computes it) or
    the loss passed to ``update`` as ``loss=`` (``watch="loss"``). After
    ``warmup`` applied steps, a step is a spike when

    .. math::
        x_t > \mu_{t-1} + z\, \sigma_{t-1}

    and a spike is skipped as `skip_nonfinite` skips a non-finite step: zero
    updates, ``inner``'s state untouched (its moments, its step count, so every
    schedule inside it), and the skip counted. A skipped step does not feed
    :math:`\mu, \sigma`, so a run of spikes cannot raise the bar that detects
    it (karpathy/llm.c#711). After ``max_consecutive`` spikes skipped in a row,
    the next spikes of the run are applied (and fed to the statistics, which
    then follow a lasting change of level) until a step below the bar ends
    the run.

    The statistics are Welford's running mean and variance with exponentially
    decaying weights (West, 1979): the step :math:`i` observations ago weighs
    :math:`\beta^i` (``decay``),

    .. math::
        W_t = \beta W_{t-1} + 1,\quad
        \mu_t = \mu_{t-1} + \frac{x_t - \mu_{t-1}}{W_t},\quad
        S_t = \beta S_{t-1} + (x_t - \mu_{t-1})(x_t - \mu_t),\quad
        \sigma_t^2 = \frac{S_t}{W_t},

    which is the exact weighted mean and (population) variance of the applied
    steps. Why not a plain EMA or plain Welford: an EMA started at 0 (or at the
    first value) is biased over the first :math:`1/(1-\beta)` steps, where the
    warmup ends, while the weighted Welford is exact from the first step; plain
    Welford (``decay=1``, equal weights for the whole run) is available, but the
    loss and the gradient norm drift by orders of magnitude over a run and a
    whole-run mean stops describing the recent steps. ``decay=0.99`` averages
    over about the last 100 steps.

    The state reports, through `optaxlr.hyperparams`: ``spikes_skipped`` (steps
    skipped so far), ``consecutive_spikes`` (the current run of spikes, those
    applied past the cap included) and ``spike_threshold`` (the bar
    :math:`\mu + z\sigma` the last step was compared with; inf during the
    warmup). A non-finite :math:`x_t` is not a spike and is not fed to the
    statistics: wrap the guard in `skip_nonfinite` for NaN and Inf gradients.
    Wrap the whole optimizer (`accumulate` included: a skipped micro-batch then
    adds nothing to the buffer).

    Args:
      inner: the optimizer to protect.
      z: standard deviations above the running mean that make a spike, > 0.
      watch: ``"grad_norm"`` (the gradients' global norm) or ``"loss"`` (the
        ``loss=`` argument every ``update`` then needs).
      warmup: applied steps observed before the guard skips any, an integer >= 2.
      decay: the weight :math:`\beta` in (0, 1] of the running statistics.
      max_consecutive: spikes in a row that are skipped, an integer >= 0, or None
        for no limit.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state `SpikeGuardState`.
      Its ``update`` passes its extra arguments (``loss=`` included) to ``inner``.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> opt = optaxlr.training.spike_guard(optaxlr.sgd(0.1), z=3.0, warmup=4)
      >>> params = {"w": jnp.zeros(2)}
      >>> state = opt.init(params)
      >>> for g in [1.0, 1.1, 0.9, 1.0, 50.0]:
      ...     updates, state = opt.update({"w": jnp.full(2, g)}, state, params)
      >>> updates["w"].tolist(), int(optaxlr.hyperparams(state)["spikes_skipped"])
      ([0.0, 0.0], 1)
    """
    check_transformation("inner", inner)
    z = float(check_number("z", z, low=0.0, low_open=True))
    check_choice("watch", watch, ("grad_norm", "loss"))
    warmup = check_int("warmup", warmup, low=2)
    decay = float(check_number("decay", decay, low=0.0, high=1.0, low_open=True))
    limit = check_max_consecutive(max_consecutive)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        zero, zero_f = init_count(), jnp.zeros([], jnp.float32)
        return SpikeGuardState(
            _record(zero, zero, jnp.full([], jnp.inf, jnp.float32)),
            skipped=zero,
            consecutive=zero,
            observations=zero,
            weight=zero_f,
            mean=zero_f,
            m2=zero_f,
            inner_state=inner.init(params),
        )

    def observe(updates, extra_args) -> jax.Array:
        if watch == "grad_norm":
            return global_norm(squared_norms(updates)).astype(jnp.float32)
        if "loss" not in extra_args:
            raise ValueError(
                "spike_guard(watch='loss') needs the loss: call "
                "update(grads, state, params, loss=loss)"
            )
        return jnp.asarray(check_real_value("loss", extra_args["loss"]), jnp.float32)

    def update_fn(updates, state, params=None, **extra_args):
        x = observe(updates, extra_args)
        finite = jnp.isfinite(x)
        std = jnp.sqrt(state.m2 / jnp.maximum(state.weight, 1.0))
        warm = state.observations >= warmup
        threshold = jnp.where(warm, state.mean + z * std, jnp.inf)
        spike = finite & (x > threshold)
        consecutive = jnp.where(spike, optax.safe_increment(state.consecutive), 0)
        skip = spike & skip_allowed(consecutive, limit)
        updates, inner_state = update_unless(
            skip, inner, updates, state.inner_state, params, **extra_args
        )

        # Welford with decaying weights, fed with the applied finite steps only.
        feed = finite & ~skip
        weight = decay * state.weight + 1.0
        delta = x - state.mean
        mean = state.mean + delta / weight
        m2 = decay * state.m2 + delta * (x - mean)
        skipped = count_skip(state.skipped, skip)
        new_state = SpikeGuardState(
            _record(skipped, consecutive, threshold),
            skipped=skipped,
            consecutive=consecutive.astype(jnp.int32),
            observations=jnp.where(
                feed, optax.safe_increment(state.observations), state.observations
            ),
            weight=jnp.where(feed, weight, state.weight),
            mean=jnp.where(feed, mean, state.mean),
            m2=jnp.where(feed, m2, state.m2),
            inner_state=inner_state,
        )
        return updates, new_state

    return transformation(init_fn, update_fn, extra_args=True)
