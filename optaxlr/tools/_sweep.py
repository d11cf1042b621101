"""Parallel hyperparameter sweeps: K copies of a model trained in one ``vmap``-ed program."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optaxlr._validation import check_bool, check_callable, check_choice, check_int, check_number
from optaxlr.plotting import plot_sweep
from optaxlr.tools._common import Batches, as_batch_source, as_model, format_table, to_json
from optaxlr.tools._loop import Loop, check_transformation, run

__all__ = ["sweep", "SweepResult", "grid", "log_uniform"]


def grid(**axes: Sequence[float]) -> dict[str, np.ndarray]:
    """Every combination of the given values, as equal-length float32 arrays.

    Example:
      >>> g = optaxlr.tools.grid(learning_rate=[0.1, 0.01], weight_decay=[0.0, 1e-4])
      >>> g["learning_rate"]
      array([0.1 , 0.1 , 0.01, 0.01], dtype=float32)
      >>> len(g["weight_decay"])  # every combination: 2 x 2
      4
    """
    if not axes:
        raise ValueError("grid needs at least one hyperparameter, e.g. learning_rate=[...]")
    values = {}
    for name, vals in axes.items():
        try:
            arr = np.asarray(vals, dtype=np.float64)
        except (ValueError, TypeError):  # strings, ragged lists
            arr = np.asarray([])
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got {vals!r}")
        values[name] = arr
    combos = list(itertools.product(*values.values()))
    return {name: np.asarray([c[i] for c in combos], np.float32) for i, name in enumerate(values)}


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
        """JSON-ready (NaN written as None); the trained parameters are left out."""
        return to_json(self, skip=("params",))

    def plot(self, metric: str = "train_loss", hparam: str | None = None):
        """Loss curves of every copy, and a final metric against one hyperparameter.

        Returns the matplotlib Figure (see `optaxlr.plotting.plot_sweep`).
        """
        return plot_sweep(self, metric, hparam)


def _check_hparams(hparams: Any) -> dict[str, np.ndarray]:
    if not isinstance(hparams, Mapping) or not hparams:
        raise TypeError(
            "hparams must be a non-empty dict name -> array of values, one per copy, e.g. "
            "{'learning_rate': optaxlr.tools.log_uniform(0, 8)}"
        )
    out: dict[str, np.ndarray] = {}
    for name, values in hparams.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"hparams keys must be argument names, got {name!r}")
        try:
            arr = np.asarray(values)
        except ValueError:  # ragged
            arr = np.asarray(None)
        real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        if arr.ndim != 1 or arr.size == 0 or not real:
            raise ValueError(f"hparams[{name!r}] must be a non-empty 1-D array of real numbers")
        with np.errstate(over="ignore"):
            values32 = arr.astype(np.float32)  # what the copies receive
        bad = np.flatnonzero(~np.isfinite(values32))
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"hparams[{name!r}] must be finite in float32, got {arr[k].item()!r} at {k}"
            )
        if out and arr.size != len(next(iter(out.values()))):
            raise ValueError(
                f"every hparams array must have the same length (the number of copies), got "
                f"{len(next(iter(out.values())))} and {arr.size} for {name!r}"
            )
        out[name] = values32
    return out


def _check_points(optimizer: Callable, values: dict[str, np.ndarray]) -> None:
    """Builds the optimizer once per distinct set of values, with Python numbers.

    Inside the vmapped run the values are traced, which constructors cannot
    check; built here, the optimizer's own validation rejects (say) a negative
    learning rate or ``b1=1.5``, and the error names the swept value.
    """
    names = tuple(values)
    try:
        inspect.signature(optimizer).bind(**dict.fromkeys(names))
    except TypeError as e:
        raise TypeError(
            f"optimizer must accept the hparams as keyword arguments {sorted(names)}: {e}"
        ) from None
    except ValueError:  # no signature to inspect (some builtins): calling it will tell
        pass

    def error(point: tuple[float, ...]) -> Exception | None:
        try:
            tx = optimizer(**dict(zip(names, point, strict=True)))
        except (ValueError, TypeError) as e:
            return e
        check_transformation("optimizer(...)", tx)
        return None

    points = list(zip(*(v.tolist() for v in values.values()), strict=True))
    errors = {p: error(p) for p in dict.fromkeys(points)}
    k, point = next(((k, p) for k, p in enumerate(points) if errors[p] is not None), (None, None))
    if point is None:
        return
    e = errors[point]
    kind = TypeError if isinstance(e, TypeError) else ValueError
    # Which value is to blame: the one that, put into a point that builds, breaks it.
    good = next((p for p, err in errors.items() if err is None), None)
    j = 0 if len(names) == 1 else None
    if j is None and good is not None:
        trials = (good[:i] + (point[i],) + good[i + 1 :] for i in range(len(names)))
        j = next((i for i, trial in enumerate(trials) if error(trial) is not None), None)
    if j is not None:
        where = f"hparams[{names[j]!r}][{k}] = {point[j]:g}"
    else:
        values_k = ", ".join(f"{n}={v:g}" for n, v in zip(names, point, strict=True))
        where = f"copy {k} of hparams ({values_k})"
    raise kind(f"{where} is rejected by the optimizer: {e}") from e


def _spread(values: dict[str, np.ndarray], mesh: jax.sharding.Mesh | None) -> Any:
    """The hyperparameters split over ``mesh``, the last copy repeated to fill it."""
    if mesh is None:
        return values
    size = len(next(iter(values.values())))
    pad = -size % mesh.size
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(mesh.axis_names))
    return {
        k: jax.device_put(np.concatenate([v, np.repeat(v[-1:], pad)]), sharding)
        for k, v in values.items()
    }


def _gather(tree: Any) -> Any:
    """Every process's copies, where a mesh spans several processes."""
    leaves = jax.tree.leaves(tree)
    if all(getattr(x, "is_fully_addressable", True) for x in leaves):
        return tree
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


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
    mesh: jax.sharding.Mesh | None = None,
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
        momentum, weight decay) is swept. Before anything is compiled it is
        called once per distinct set of values, with Python floats, so that
        its constructors check every swept value (a ValueError names the
        hyperparameter, the value and the copy).
      hparams: name -> K values (see `grid` and `log_uniform`).
      num_steps: training steps per copy.
      eval_fn: optional ``eval_fn(params_or_model) -> scalar or dict of
        scalars`` (a jittable function, e.g. a test accuracy), run every
        ``eval_every`` steps.
      eval_every: must divide ``num_steps`` (default: only at the end).
      return_params: keep every copy's trained parameters (and nnx state) in
        the result, stacked on a leading axis.
      mesh: a ``jax.sharding.Mesh`` to split the K copies over (all its devices,
        in every process of a ``jax.distributed`` run): each device trains its
        own copies, with the parameters and batches replicated to it, and the
        copies are gathered at the end. The numbers are those of one device.
        K need not divide the device count: the last copy is repeated to fill
        the devices, and the repeats are dropped from the result.

    Returns:
      A `SweepResult` with per-copy loss curves, metric curves and final values.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> loss_fn = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
      >>> batches = [(jnp.ones((8, 3)), jnp.ones(8))]
      >>> result = optaxlr.sweep(
      ...     loss_fn, jnp.zeros(3), batches,
      ...     lambda learning_rate: optaxlr.sgd(optaxlr.schedules.cosine(learning_rate, 50), 0.9),
      ...     {"learning_rate": optaxlr.tools.log_uniform(0, 4)}, num_steps=50)
      >>> sorted(result.best_hparams())
      ['learning_rate']
    """
    check_callable("optimizer", optimizer)
    steps = check_int("num_steps", num_steps, low=1)  # and int32: the loop's step counter
    if eval_fn is not None:
        check_callable("eval_fn", eval_fn)
    every = steps if eval_every is None else check_int("eval_every", eval_every, low=1)
    if steps % every:
        raise ValueError(f"eval_every must divide num_steps, got {every} and {steps}")
    return_params = check_bool("return_params", return_params)
    values = _check_hparams(hparams)
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    _check_points(optimizer, values)
    model = as_model(loss_fn, params)
    source = as_batch_source(batches, steps)

    loop = Loop(
        model_key=model.key,
        optimizer=optimizer,
        batch_fn=source.fn,
        num_steps=steps,
        eval_every=every,
        eval_fn=eval_fn,
        return_params=return_params,
        copies=True,
        mesh=mesh,
    )
    start = time.perf_counter()
    size = len(next(iter(values.values())))
    out = run(loop, _spread(values, mesh), None, model.params, model.extra, source.stacked)
    out = jax.tree.map(lambda x: x[:size], _gather(out))
    losses, metrics = jax.device_get((out.losses, out.metrics))
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
        params=out.trained,
        wall_time=wall,
    )
