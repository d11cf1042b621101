"""The learning-rate range test (Smith 2017; fastai's ``lr_find``) as one compiled loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._validation import check_callable, check_choice, check_int, check_number
from optaxlr.plotting import plot_lr_find
from optaxlr.schedules import lr_range
from optaxlr.tools._common import Batches, as_batch_source, as_model, to_json
from optaxlr.tools._loop import Loop, check_transformation, run
from optaxlr.transforms import LEARNING_RATE_FREE_STATES, SCHEDULE_FREE_STATES

__all__ = ["find_lr", "LRFinderResult", "suggest_lrs"]

_STOP_REASONS = ("completed", "diverged", "nan")
SUGGESTION_RULES = ("minimum", "steep", "valley")


@dataclasses.dataclass(frozen=True)
class LRFinderResult:
    """What `find_lr` measured, and the learning rates it suggests.

    Attributes:
      lrs: the learning rate of each step that was run (float64 NumPy array).
      losses: the training loss at each step, before that step's update.
      smoothed: the debiased exponential moving average of ``losses``.
      suggestions: learning rate by rule (None where a rule found none):
        ``"minimum"`` (a tenth of the learning rate at the lowest smoothed
        loss), ``"steep"`` (the steepest descent of the smoothed loss against
        log-lr) and ``"valley"`` (inside the longest descending stretch of the
        smoothed curve, fastai's default since 2021).
      stop_reason: ``"completed"`` (every step ran), ``"diverged"`` (the
        smoothed loss passed ``diverge_threshold`` times its best) or ``"nan"``
        (a non-finite loss; that step is left out of the arrays).
      min_lr: the sweep's first learning rate, as requested.
      max_lr: the sweep's last learning rate, as requested.
      num_steps: the sweep's length, as requested.
      mode: the sweep's growth, as requested.
      diverge_threshold: the stopping factor used.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: dict[str, float | None]
    stop_reason: str
    min_lr: float
    max_lr: float
    num_steps: int
    mode: str
    diverge_threshold: float

    @property
    def suggestion(self) -> float | None:
        """The default suggestion: ``minimum``, else ``steep``, else ``valley``.

        ``minimum`` (Smith's and fastai's original rule) is the default because
        it proved the most reliable for a constant learning rate on the
        MNIST-1D demo, across all seven optimizers: with 100 steps and the
        0.98 moving average (a memory of ~50 steps), the smoothed curve falls
        steadily from the start, so ``valley`` lands early on the long slope
        (a rate 5-40x too small) and ``steep`` late (the average lags).
        """
        for rule in SUGGESTION_RULES:
            if self.suggestions.get(rule) is not None:
                return self.suggestions[rule]
        return None

    @property
    def steps_run(self) -> int:
        return len(self.lrs)

    @property
    def best_index(self) -> int | None:
        return int(np.argmin(self.smoothed)) if len(self.smoothed) else None

    def summary(self) -> str:
        """A few lines of text: the sweep, where it stopped, the suggestions."""
        head = (
            f"LR range test: {self.num_steps} steps, lr {self.min_lr:.3g} -> {self.max_lr:.3g} "
            f"({self.mode})"
        )
        if self.stop_reason == "completed":
            stop = "ran every step"
        elif self.stop_reason == "diverged":
            stop = (
                f"stopped at step {self.steps_run} (lr {self.lrs[-1]:.3g}): smoothed loss above "
                f"{self.diverge_threshold:g} x its best"
            )
        else:
            stop = f"stopped at step {self.steps_run + 1}: non-finite loss"
        lines = [head, stop]
        i = self.best_index
        if i is None:
            lines.append("no finite loss was recorded: try a smaller min_lr")
            return "\n".join(lines)
        lines.append(f"lowest smoothed loss {self.smoothed[i]:.4g} at lr {self.lrs[i]:.3g}")
        names = {"minimum": "minimum/10", "steep": "steepest", "valley": "valley"}
        parts = [
            f"{names[r]} {self.suggestions[r]:.3g}"
            for r in SUGGESTION_RULES
            if self.suggestions.get(r) is not None
        ]
        lines.append("suggested lr: " + (", ".join(parts) if parts else "none (too few steps)"))
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the arrays as lists (a non-finite value as None)."""
        return to_json(self, suggestion=self.suggestion)

    def plot(self, ax: Any = None, *, title: str | None = None, show_raw: bool = True):
        """The smoothed loss against the learning rate, with the suggestions marked.

        Returns the matplotlib Figure (see `optaxlr.plotting.plot_lr_find`).

        Example:
          >>> import jax.numpy as jnp, optaxlr
          >>> loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
          >>> batches = [(jnp.ones((8, 3)), jnp.ones(8))]
          >>> result = optaxlr.find_lr(loss_fn, jnp.zeros(3), batches, optaxlr.adam, num_steps=30)
          >>> result.plot().savefig("lr_find.png")
        """
        return plot_lr_find(self, ax, title=title, show_raw=show_raw)


def _longest_descent(values: np.ndarray) -> tuple[int, int]:
    """fastai's valley bounds: (end - length, end) of the longest decreasing subsequence."""
    n = len(values)
    length = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = values[:i] > values[i]
        if higher.any():
            length[i] = length[:i][higher].max() + 1
    end = int(np.argmax(length))
    return max(0, end - int(length[end])), end


def suggest_lrs(
    lrs: np.ndarray, smoothed: np.ndarray, skip_start: int = 0, skip_end: int = 0
) -> dict[str, float | None]:
    """Learning rates suggested by a range test's smoothed loss curve (fastai's rules).

    The first ``skip_start`` and last ``skip_end`` points are left out (the
    start is noisy and the end is the explosion), unless fewer than five
    points would remain.

    - ``valley``: the longest descending stretch of the curve, taken at 55% of
      the way down it (fastai's ``valley``);
    - ``steep``: the steepest descent of the loss against log-lr;
    - ``minimum``: a tenth of the learning rate at the lowest loss.

    Example:
      >>> lrs = np.geomspace(1e-4, 1.0, 50)
      >>> loss = 1.0 / (1 + lrs * 100) + (lrs > 0.3) * 10.0
      >>> suggest_lrs(lrs, loss)["minimum"]  # a tenth of the lr at the lowest loss
      0.0268...
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    out: dict[str, float | None] = dict.fromkeys(SUGGESTION_RULES)
    if len(lrs) - skip_start - skip_end >= 5:
        lrs = lrs[skip_start : len(lrs) - skip_end]
        smoothed = smoothed[skip_start : len(smoothed) - skip_end]
    keep = np.isfinite(smoothed) & (lrs > 0)
    lrs, smoothed = lrs[keep], smoothed[keep]
    if len(lrs) == 0:
        return out
    out["minimum"] = float(lrs[np.argmin(smoothed)] / 10.0)
    if len(lrs) < 3:
        return out
    slope = np.gradient(smoothed, np.log(lrs))
    if np.isfinite(slope).any() and np.nanmin(slope) < 0:
        out["steep"] = float(lrs[np.nanargmin(slope)])
    start, end = _longest_descent(smoothed)
    if end > start:
        third = (end - start) / 3
        out["valley"] = float(lrs[start + int(third) + int(third / 2)])
    return out


@dataclasses.dataclass(frozen=True)
class _RangeOptimizer:
    """The user's factory given the sweep's schedule (hashable: part of the loop's key)."""

    factory: Callable[[Any], optax.GradientTransformation]
    num_steps: int
    mode: str

    def __call__(self, min_lr: Any, max_lr: Any) -> optax.GradientTransformation:
        return self.factory(lr_range(min_lr, max_lr, self.num_steps, self.mode))


@dataclasses.dataclass(frozen=True)
class _Divergence:
    """The loop's `Watch`: smooths the loss and stops on divergence or a non-finite loss.

    Records each step's learning rate and smoothed loss.
    """

    num_steps: int
    mode: str
    records: ClassVar[tuple[str, ...]] = ("lrs", "smoothed")

    def init(self) -> tuple[jax.Array, jax.Array]:
        zero = jnp.zeros([], jnp.float32)
        return zero, zero  # the moving average and the best smoothed loss

    def __call__(self, state, step, loss, args):
        average, best = state
        smoothing, threshold = args["smoothing"], args["diverge_threshold"]
        average = smoothing * average + (1.0 - smoothing) * loss
        smooth = average / (1.0 - smoothing ** (step + 1).astype(jnp.float32))
        best = jnp.where((step == 0) | (smooth < best), smooth, best)
        # For a positive loss: smooth > threshold * best.
        diverged = smooth - best > (threshold - 1.0) * jnp.abs(best)
        # An index into _STOP_REASONS.
        stop = jnp.where(~jnp.isfinite(loss), 2, jnp.where(diverged, 1, 0)).astype(jnp.int32)
        lr = lr_range(args["min_lr"], args["max_lr"], self.num_steps, self.mode)(step)
        return (average, best), stop, {"lrs": lr, "smoothed": smooth}


def _float32(name: str, value: Any, **bounds: Any) -> np.float32:
    """The value the loop receives, checked in float32 (``1e39`` is inf there, and
    ``0.9999999999`` is 1.0), even when JAX computes in float64."""
    return np.float32(check_number(name, value, dtype=np.float32, **bounds))


def _refuse_learning_rate_free(tx: optax.GradientTransformation, params: Any) -> None:
    """Refuses an optimizer that sets its own step size, found by its state's types."""
    state = jax.eval_shape(tx.init, params)
    is_free = lambda x: isinstance(x, LEARNING_RATE_FREE_STATES)
    found = [type(s).__name__ for s in jax.tree.leaves(state, is_leaf=is_free) if is_free(s)]
    if found:
        raise ValueError(
            f"find_lr: the optimizer estimates its own step size ({', '.join(found)}: "
            "Prodigy or D-Adaptation), so a learning-rate range test does not apply: its "
            "learning_rate is a multiplier of the estimate, best left at 1 (or a schedule "
            "from 1). Train with the defaults and read the step size it takes from "
            "optaxlr.hyperparams(state)['effective_learning_rate']; to tune, sweep d_coef "
            "or d0 with optaxlr.sweep."
        )
    is_sf = lambda x: isinstance(x, SCHEDULE_FREE_STATES)
    if any(is_sf(s) for s in jax.tree.leaves(state, is_leaf=is_sf)):
        raise ValueError(
            "find_lr: the optimizer is schedule-free (ScaleByScheduleFreeState), so a "
            "learning-rate range test does not apply: its parameters are an average over "
            "the whole run weighted by the largest rate seen so far, so a short run with a "
            "rising rate says nothing about a long one at a constant rate. Start from the "
            "reference's default rate (with warmup_steps), and sweep learning_rate and "
            "warmup_steps with optaxlr.sweep."
        )


def find_lr(
    loss_fn: Callable[[Any, Any], Any],
    params: Any,
    batches: Batches,
    optimizer: Callable[[Any], optax.GradientTransformation],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_threshold: float = 4.0,
) -> LRFinderResult:
    """The learning-rate range test: train while the learning rate grows, watch the loss.

    The learning rate follows ``optaxlr.schedules.lr_range(min_lr, max_lr,
    num_steps, mode)``, one training step each. The loss is smoothed with a
    debiased exponential moving average (``smoothing`` = 0.98, as fastai), and
    the test stops as soon as the smoothed loss passes ``diverge_threshold``
    times the best one seen, or a loss is NaN or infinite. The whole sweep is a
    single compiled ``lax.while_loop``: one compilation, no host round trip per
    step. Calling it again with the same ``loss_fn``, ``optimizer``, batch
    shapes, ``num_steps`` and ``mode`` reuses the compiled program (``min_lr``,
    ``max_lr``, ``smoothing`` and ``diverge_threshold`` are traced). The
    caller's ``params`` (or model) are not modified.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, or ``loss_fn(model, batch)``
        when ``params`` is a Flax nnx model.
      params: the initial parameters (any pytree of float arrays), or a Flax nnx
        model whose ``nnx.Param`` variables are trained (its other state, such
        as batch statistics and RNG counts, is carried along).
      batches: an iterable of batches (``num_steps`` of them are taken and
        stacked; a shorter re-iterable collection is cycled), or a jittable
        function ``step -> batch``.
      optimizer: a factory ``learning_rate -> GradientTransformation``, e.g.
        ``lambda lr: optaxlr.sgd(lr, momentum=0.9)``; it is given the sweep's
        schedule, once on the host before compiling (so that its constructors'
        checks apply) and once inside the compiled loop.
      min_lr: the first learning rate of the sweep; > 0 for ``mode="exp"``.
      max_lr: the last learning rate of the sweep; > ``min_lr``.
      num_steps: the number of steps of the sweep (>= 2).
      mode: ``"exp"`` (geometric growth) or ``"linear"``.
      smoothing: the moving average's decay, in [0, 1).
      diverge_threshold: stop when the smoothed loss exceeds this factor (> 1)
        times its best (for a loss that can be negative: when it rises by
        ``diverge_threshold - 1`` times the best's magnitude).

    Returns:
      An `LRFinderResult` with ``lrs``, ``losses``, ``smoothed``,
      ``suggestions``, ``.plot()`` and ``.summary()``.

    Example:
      >>> import jax, jax.numpy as jnp, optaxlr
      >>> x = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
      >>> batches = [(x, x @ jnp.asarray([1.0, -2.0, 0.5]))]
      >>> loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
      >>> opt = lambda lr: optaxlr.sgd(lr, momentum=0.9)
      >>> result = optaxlr.find_lr(loss_fn, jnp.zeros(3), batches, opt, num_steps=50)
      >>> lr = result.suggestion
      >>> bool(1e-7 < lr < 10.0)
      True
    """
    check_callable("optimizer", optimizer)
    check_choice("mode", mode, ("exp", "linear"))
    steps = check_int("num_steps", num_steps, low=2)  # and int32: the loop's step counter
    low = _float32("min_lr", min_lr, low=0.0, low_open=mode == "exp")
    high = _float32("max_lr", max_lr, low=0.0, low_open=True)
    if high <= low:
        raise ValueError(f"max_lr must be greater than min_lr, got {max_lr} and {min_lr}")
    args = {
        "min_lr": low,
        "max_lr": high,
        "smoothing": _float32("smoothing", smoothing, low=0.0, high=1.0, high_open=True),
        "diverge_threshold": _float32(
            "diverge_threshold", diverge_threshold, low=1.0, low_open=True
        ),
    }
    model = as_model(loss_fn, params)
    source = as_batch_source(batches, steps)
    loop = Loop(
        model_key=model.key,
        optimizer=_RangeOptimizer(optimizer, steps, mode),
        batch_fn=source.fn,
        num_steps=steps,
        eval_every=steps,
        watch=_Divergence(steps, mode),
    )
    hparams = {"min_lr": low, "max_lr": high}
    # Built once on the host, so that a factory that fails says so here, not inside jit.
    try:
        tx = loop.optimizer(**{k: float(v) for k, v in hparams.items()})
    except (ValueError, TypeError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"optimizer failed on the range test's learning-rate schedule: {e}") from e
    check_transformation("optimizer(...)", tx)
    _refuse_learning_rate_free(tx, model.params)

    out = jax.device_get(run(loop, hparams, args, model.params, model.extra, source.stacked))
    reason = _STOP_REASONS[int(out.stop)]
    n = int(out.steps) - (1 if reason == "nan" else 0)
    lrs = np.asarray(out.records["lrs"][:n], np.float64)
    losses = np.asarray(out.losses[:n], np.float64)
    smoothed = np.asarray(out.records["smoothed"][:n], np.float64)
    return LRFinderResult(
        lrs=lrs,
        losses=losses,
        smoothed=smoothed,
        suggestions=suggest_lrs(lrs, smoothed, skip_start=steps // 10, skip_end=5),
        stop_reason=reason,
        min_lr=float(min_lr),
        max_lr=float(max_lr),
        num_steps=steps,
        mode=mode,
        diverge_threshold=float(diverge_threshold),
    )
