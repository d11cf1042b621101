"""Parallel hyperparameter sweeps: K copies of a model trained in one ``vmap``-ed program."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._validation import check_callable, check_choice, check_int, check_number
from optaxlr.tools._common import (
    Batches,
    as_batch_source,
    as_model,
    batch_at,
    format_table,
    json_list,
    pure_loss,
    rebuild,
)

__all__ = ["sweep", "SweepResult", "grid", "log_uniform"]


def grid(**axes: Sequence[float]) -> dict[str, np.ndarray]:
    """Every combination of the given values, as equal-length float32 arrays.

    Example:
      >>> optaxlr.tools.grid(learning_rate=[0.1, 0.01], weight_decay=[0.0, 1e-4])
      {'learning_rate': array([0.1 , 0.1 , 0.01, 0.01], dtype=float32),
       'weight_decay': array([0.e+00, 1.e-04, 0.e+00, 1.e-04], dtype=float32)}
    """
    if not axes:
        raise ValueError("grid needs at least one hyperparameter, e.g. learning_rate=[...]")
    values = {}
    for name, vals in axes.items():
        arr = np.asarray(vals, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got {vals!r}")
        values[name] = arr
    combos = list(itertools.product(*values.values()))
    return {
        name: np.asarray([c[i] for c in combos], np.float32) for i, name in enumerate(values)
    }


def log_uniform(
    seed: int | jax.Array, num: int, low: float = 1e-5, high: float = 1e-1
) -> np.ndarray:
    """``num`` values ``10 ** uniform(log10(low), log10(high))``: random search on a log scale.

    The default range is the learning rates of Bergstra & Bengio's (2012)
    random search, ``10 ** uniform(-5, -1)``. ``seed`` is an int (NumPy's
    generator) or a JAX PRNG key.

    Example:
      >>> lrs = optaxlr.tools.log_uniform(0, 8)          # 8 learning rates in [1e-5, 1e-1]
      >>> wds = optaxlr.tools.log_uniform(1, 8, 1e-6, 1e-2)
    """
    n = check_int("num", num, low=1)
    check_number("low", low, low=0.0, low_open=True)
    check_number("high", high, low=0.0, low_open=True)
    if float(high) <= float(low):
        raise ValueError(f"high must be greater than low, got {high} <= {low}")
    lo, hi = math.log10(float(low)), math.log10(float(high))
    if isinstance(seed, jax.Array):
        u = np.asarray(jax.random.uniform(seed, (n,), jnp.float32, lo, hi), np.float64)
    else:
        u = np.random.default_rng(check_int("seed", seed, low=0)).uniform(lo, hi, n)
    return (10.0**u).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Per-copy results of `sweep`; copy ``k`` used ``{name: hparams[name][k]}``.

    Attributes:
      hparams: name -> (K,) the hyperparameters of each copy.
      losses: (K, num_steps) the training loss of every step (before its update).
      eval_steps: (E,) the steps after which ``eval_fn`` ran.
      metrics: name -> (K, E) the ``eval_fn`` curves.
      final: name -> (K,) the final values: ``train_loss`` (the mean of the last
        10% of the training losses) and the last value of every metric.
      params: the trained parameters stacked on a leading K axis, when asked for.
      wall_time: seconds, compilation included.
    """

    hparams: dict[str, np.ndarray]
    losses: np.ndarray
    eval_steps: np.ndarray
    metrics: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    params: Any
    wall_time: float

    @property
    def size(self) -> int:
        """K, the number of copies."""
        return int(self.losses.shape[0])

    def best(self, metric: str = "train_loss", mode: str = "min") -> int:
        """The index of the best copy by a final metric (NaN copies never win)."""
        check_choice("metric", metric, tuple(self.final))
        check_choice("mode", mode, ("min", "max"))
        values = self.final[metric]
        if np.isnan(values).all():
            raise ValueError(f"every copy has a NaN {metric}")
        return int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))

    def best_hparams(self, metric: str = "train_loss", mode: str = "min") -> dict[str, float]:
        k = self.best(metric, mode)
        return {name: float(v[k]) for name, v in self.hparams.items()}

    def table(self) -> str:
        """One row per copy: its hyperparameters and final metrics."""
        headers = ["#", *self.hparams, *self.final]
        rows = [
            [str(k)]
            + [f"{v[k]:.3g}" for v in self.hparams.values()]
            + [f"{v[k]:.4g}" for v in self.final.values()]
            for k in range(self.size)
        ]
        return format_table(headers, rows)

    __str__ = table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN written as None)."""
        return {
            "hparams": {k: v.tolist() for k, v in self.hparams.items()},
            "losses": json_list(self.losses),
            "eval_steps": self.eval_steps.tolist(),
            "metrics": {k: json_list(v) for k, v in self.metrics.items()},
            "final": {k: json_list(v) for k, v in self.final.items()},
            "wall_time": self.wall_time,
        }

    def plot(self, metric: str = "train_loss", hparam: str | None = None):
        """Loss curves of every copy, and a final metric against one hyperparameter.

        Returns the matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        check_choice("metric", metric, tuple(self.final))
        name = hparam or next(iter(self.hparams))
        check_choice("hparam", name, tuple(self.hparams))
        x = self.hparams[name]
        log_x = bool(np.all(x > 0) and x.max() > 10 * x.min())
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        cmap = plt.get_cmap("viridis")
        order = np.argsort(np.log(x) if log_x else x)
        rank = np.empty(len(x))
        rank[order] = np.linspace(0, 1, len(x))
        window = max(1, self.losses.shape[1] // 50)
        kernel = np.ones(window) / window
        for k in range(self.size):
            curve = np.convolve(self.losses[k], kernel, mode="valid")
            left.plot(np.arange(len(curve)) + window, curve, color=cmap(rank[k]), lw=1)
        left.set_yscale("log")
        left.set_xlabel("step")
        left.set_ylabel(f"training loss (mean of {window})")
        left.grid(alpha=0.3)
        right.plot(x[order], self.final[metric][order], "o-", color="C0")
        if log_x:
            right.set_xscale("log")
        right.set_xlabel(name)
        right.set_ylabel(metric)
        right.grid(alpha=0.3, which="both")
        fig.suptitle(f"sweep of {self.size} copies")
        return fig


class _Spec(NamedTuple):
    model_key: Hashable
    optimizer: Callable
    eval_fn: Callable | None
    batch_fn: Callable | None
    num_steps: int
    eval_every: int
    names: tuple[str, ...]
    return_params: bool


def _as_metrics(value: Any) -> dict[str, jax.Array]:
    if isinstance(value, Mapping):
        return {str(k): jnp.asarray(v, jnp.float32) for k, v in value.items()}
    return {"metric": jnp.asarray(value, jnp.float32)}


@functools.partial(jax.jit, static_argnums=0)
def _train_copies(spec: _Spec, hparams: dict[str, jax.Array], params, extra, stacked):
    loss_and_grad = jax.value_and_grad(pure_loss(spec.model_key), has_aux=True)
    num_chunks = spec.num_steps // spec.eval_every

    def train_one(hp: dict[str, jax.Array]):
        optimizer = spec.optimizer(**hp)

        def step(carry, i):
            p, e, state = carry
            (loss, e), grads = loss_and_grad(p, e, batch_at(spec.batch_fn, stacked, i))
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), e, state), loss

        def chunk(carry, start):
            carry, losses = jax.lax.scan(step, carry, start + jnp.arange(spec.eval_every))
            metrics = {}
            if spec.eval_fn is not None:
                metrics = _as_metrics(spec.eval_fn(rebuild(spec.model_key, carry[0], carry[1])))
            return carry, (losses, metrics)

        starts = jnp.arange(num_chunks, dtype=jnp.int32) * spec.eval_every
        init = (params, extra, optimizer.init(params))
        (p, e, _), (losses, metrics) = jax.lax.scan(chunk, init, starts)
        trained = (p, e) if spec.return_params else None
        return losses.reshape(-1), metrics, trained

    return jax.vmap(train_one)(hparams)


def _check_hparams(hparams: Any) -> dict[str, np.ndarray]:
    if not isinstance(hparams, Mapping) or not hparams:
        raise TypeError(
            "hparams must be a non-empty dict name -> array of values, one per copy, e.g. "
            "{'learning_rate': optaxlr.tools.log_uniform(0, 8)}"
        )
    out: dict[str, np.ndarray] = {}
    size = None
    for name, values in hparams.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"hparams keys must be argument names, got {name!r}")
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"hparams[{name!r}] must be a non-empty 1-D array of numbers")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"hparams[{name!r}] must be finite, got {arr}")
        if size is not None and arr.size != size:
            raise ValueError(
                f"every hparams array must have the same length (the number of copies), got "
                f"{size} and {arr.size} for {name!r}"
            )
        size = arr.size
        out[name] = arr.astype(np.float32)
    return out


def sweep(
    loss_fn: Callable[[Any, Any], Any],
    params: Any,
    batches: Batches,
    optimizer: Callable[..., optax.GradientTransformation],
    hparams: Mapping[str, Any],
    *,
    num_steps: int,
    eval_fn: Callable[[Any], Any] | None = None,
    eval_every: int | None = None,
    return_params: bool = False,
) -> SweepResult:
    """Trains K copies of a model at once, each with its own hyperparameters.

    The K training runs are one compiled program: ``jax.vmap`` over the copies
    of a ``lax.scan`` over the steps. Every copy starts from the same
    ``params`` and sees the same batches, so copy ``k`` computes exactly what a
    separate run with ``hparams[...][k]`` would (to float32 rounding). The
    hyperparameters enter the program as arrays: a second call with other
    values (and the same functions, K, shapes and steps) does not recompile.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, or ``loss_fn(model, batch)``
        when ``params`` is a Flax nnx model.
      params: the initial parameters (a pytree), or a Flax nnx model.
      batches: an iterable of batches (``num_steps`` are taken and stacked in
        memory; a shorter re-iterable is cycled) or a jittable function
        ``step -> batch``, which costs no memory (e.g. indexing a shuffled
        dataset that is already on the device).
      optimizer: a factory ``(**hparams) -> GradientTransformation`` called with
        one float32 scalar per name in ``hparams``, e.g. ``lambda learning_rate,
        weight_decay: optaxlr.adamw(optaxlr.schedules.cosine(learning_rate, 1000),
        weight_decay=weight_decay)``. Anything it builds from them (schedules,
        momentum, weight decay) is swept.
      hparams: name -> K values (see `grid` and `log_uniform`).
      num_steps: training steps per copy.
      eval_fn: optional ``eval_fn(params_or_model) -> scalar or dict of
        scalars`` (a jittable function, e.g. a test accuracy), run every
        ``eval_every`` steps.
      eval_every: must divide ``num_steps`` (default: only at the end).
      return_params: keep every copy's trained parameters (and nnx state) in
        the result, stacked on a leading axis.

    Returns:
      A `SweepResult` with per-copy loss curves, metric curves and final values.

    Example:
      >>> result = optaxlr.sweep(
      ...     loss_fn, params, batches,
      ...     lambda learning_rate: optaxlr.sgd(optaxlr.schedules.cosine(learning_rate, 500), 0.9),
      ...     {"learning_rate": optaxlr.tools.log_uniform(0, 16)}, num_steps=500)
      >>> print(result.table()); result.best_hparams()
    """
    check_callable("optimizer", optimizer)
    steps = check_int("num_steps", num_steps, low=1)
    if eval_fn is not None:
        check_callable("eval_fn", eval_fn)
    every = steps if eval_every is None else check_int("eval_every", eval_every, low=1)
    if steps % every:
        raise ValueError(f"eval_every must divide num_steps, got {every} and {steps}")
    if not isinstance(return_params, bool):
        raise TypeError(f"return_params must be a bool, got {return_params!r}")
    values = _check_hparams(hparams)
    model = as_model(loss_fn, params)
    source = as_batch_source(batches, steps)

    spec = _Spec(
        model.key, optimizer, eval_fn, source.fn, steps, every, tuple(values), return_params
    )
    start = time.perf_counter()
    try:
        out = _train_copies(
            spec, {k: jnp.asarray(v) for k, v in values.items()}, model.params, model.extra,
            source.stacked,
        )
    except TypeError as e:
        if "argument" in str(e) and any(name in str(e) for name in values):
            raise TypeError(
                f"optimizer must accept the hparams as keyword arguments {sorted(values)}: {e}"
            ) from e
        raise
    losses, metrics, trained = out
    losses, metrics = jax.device_get((losses, metrics))
    wall = time.perf_counter() - start

    losses = np.asarray(losses, np.float64)
    metrics = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
    tail = max(1, steps // 10)
    final = {"train_loss": losses[:, -tail:].mean(axis=1)}
    final.update({k: v[:, -1] for k, v in metrics.items()})
    return SweepResult(
        hparams=values,
        losses=losses,
        eval_steps=np.arange(every, steps + 1, every),
        metrics=metrics,
        final=final,
        params=trained,
        wall_time=wall,
    )
