"""The demo: range tests, then the optimizer and schedule comparisons on MNIST-1D."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optaxlr._validation import check_choice, check_int, check_number
from optaxlr.demo._configs import (
    DEFAULT_NO_TUNING,
    DEFAULT_OPTIMIZERS,
    DEFAULT_SCHEDULES,
    NO_TUNING,
    OPTIMIZERS,
    SCHEDULES,
    UNTUNED,
    make_optimizer,
)
from optaxlr.demo._data import describe, load_mnist1d
from optaxlr.demo._report import best_run, results_table, write_json, write_plots
from optaxlr.demo._train import RunResult, batch_indices, make_loss, train
from optaxlr.tools import LRFinderResult, find_lr
from optaxlr.tools._find_lr import SUGGESTION_RULES

__all__ = ["DemoConfig", "DemoResults", "run_demo", "range_test", "prepare"]

#: The most training steps of a run, and of a range test.
MAX_STEPS = 1_000_000
MAX_RANGE_TEST_STEPS = 100_000


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Each optimizer in ``optimizers`` is trained with a constant learning rate,
    and ``schedule_optimizer`` with each schedule in ``schedules``
    (``grid=True``: every optimizer with every schedule). A learning rate not
    given in ``lr`` (one number for all, or a dict by optimizer) is the range
    test's suggestion by ``suggestion`` for that optimizer; the schedules other
    than ``constant`` spend most of their steps below their peak and take
    ``peak_factor`` times that suggestion as their peak (a given ``lr`` is used
    as it is). Each optimizer in ``no_tuning`` (those meant to need no tuning,
    `NO_TUNING`) also runs at its reference's default rate, with no range test
    and no schedule: the "no tuning" rows, as schedule ``"default"``.

    Example:
      >>> config = DemoConfig(optimizers=("adam",), schedules=("one-cycle",), lr=3e-3)
      >>> config.runs()
      [('adam', 'constant'), ('momentum', 'one-cycle'), ('prodigy', 'default'),
       ('schedule-free-adamw', 'default')]
      >>> DemoConfig(steps=0)
      Traceback (most recent call last):
      ...
      ValueError: steps must be an integer in [1, 1000000], got 0
    """

    optimizers: tuple[str, ...] = DEFAULT_OPTIMIZERS
    schedules: tuple[str, ...] = DEFAULT_SCHEDULES
    schedule_optimizer: str = "momentum"
    no_tuning: tuple[str, ...] = DEFAULT_NO_TUNING
    lr: float | Mapping[str, float] | None = None
    steps: int = 1500
    batch_size: int = 100
    eval_every: int = 100
    seed: int = 0
    data_seed: int = 42
    grid: bool = False
    range_test_steps: int = 100
    min_lr: float = 1e-7
    max_lr: float = 10.0
    suggestion: str = "minimum"
    peak_factor: float = 3.0
    output: str | Path = "optaxlr-demo"
    quiet: bool = False
    progress: bool | None = None  # None: a bar when stderr is a terminal and not quiet

    def __post_init__(self):
        for name, choices in (("optimizers", tuple(OPTIMIZERS)), ("schedules", tuple(SCHEDULES)),
                              ("no_tuning", tuple(NO_TUNING))):
            values = getattr(self, name)
            if isinstance(values, str):
                values = tuple(v for v in values.split(",") if v)
            values = tuple(values)
            for v in values:
                check_choice("no_tuning" if name == "no_tuning" else name[:-1], v, choices)
            object.__setattr__(self, name, values)
        if not self.optimizers and not self.schedules and not self.no_tuning:
            raise ValueError("optimizers, schedules and no_tuning are empty: nothing to run")
        check_choice("schedule_optimizer", self.schedule_optimizer, tuple(OPTIMIZERS))
        if isinstance(self.lr, Mapping):
            for k, v in self.lr.items():
                check_choice("lr key", k, tuple(OPTIMIZERS))
                check_number(f"lr[{k!r}]", v, low=0.0, low_open=True)
        elif self.lr is not None:
            check_number("lr", self.lr, low=0.0, low_open=True)
        # The batch order of every run is drawn up front: (steps, batch_size) indices.
        check_int("steps", self.steps, low=1, high=MAX_STEPS)
        check_int("batch_size", self.batch_size, low=1, high=4000)
        check_int("eval_every", self.eval_every, low=1)
        check_int("seed", self.seed, low=0)
        check_int("data_seed", self.data_seed, low=0)
        check_int("range_test_steps", self.range_test_steps, low=10, high=MAX_RANGE_TEST_STEPS)
        check_number("min_lr", self.min_lr, low=0.0, low_open=True)
        check_number("max_lr", self.max_lr, low=0.0, low_open=True)
        if self.max_lr <= self.min_lr:
            raise ValueError(f"max_lr must be greater than min_lr, got {self.max_lr}")
        check_choice("suggestion", self.suggestion, SUGGESTION_RULES)
        check_number("peak_factor", self.peak_factor, low=0.0, low_open=True)
        if not isinstance(self.output, str | Path):
            raise TypeError(f"output must be a path, got {self.output!r}")

    def runs(self) -> list[tuple[str, str]]:
        """The (optimizer, schedule) pairs, in order, without repeats."""
        if self.grid:
            pairs = [(o, s) for o in self.optimizers for s in (self.schedules or ("constant",))]
        else:
            pairs = [(o, "constant") for o in self.optimizers]
            pairs += [(self.schedule_optimizer, s) for s in self.schedules]
        pairs += [(o, UNTUNED) for o in self.no_tuning]
        # An untuned optimizer's constant run without a given rate is its no-tuning run.
        pairs = [(o, s) for o, s in pairs
                 if not (s == "constant" and o in self.no_tuning and self.given_lr(o) is None)]
        return list(dict.fromkeys(pairs))

    def given_lr(self, optimizer: str, schedule: str = "constant") -> float | None:
        if schedule == UNTUNED:
            return NO_TUNING[optimizer]
        if isinstance(self.lr, Mapping):
            return self.lr.get(optimizer)
        return self.lr

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["output"] = str(self.output)
        out["lr"] = dict(self.lr) if isinstance(self.lr, Mapping) else self.lr
        return out


@dataclasses.dataclass
class DemoResults:
    config: DemoConfig
    range_tests: dict[str, LRFinderResult]
    runs: list[RunResult]
    files: list[Path]
    total_time: float

    @property
    def best(self) -> RunResult:
        return best_run(self.runs)

    def table(self) -> str:
        return results_table(self.runs)


def prepare(data_seed: int = 42, seed: int = 0, cache_dir: Path | None = None):
    """(data on the device, graphdef, initial params): what every run starts from."""
    from flax import nnx

    from optaxlr.demo._model import MNIST1DCNN

    data = {k: jnp.asarray(v) for k, v in load_mnist1d(data_seed, cache_dir=cache_dir).items()}
    graphdef, params = nnx.split(MNIST1DCNN(rngs=nnx.Rngs(seed)))
    return data, graphdef, params


def range_test(
    optimizer: str,
    data: Mapping[str, jax.Array],
    graphdef: Any,
    params: Any,
    *,
    batch_size: int = 100,
    num_steps: int = 100,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    mode: str = "exp",
    seed: int = 0,
) -> LRFinderResult:
    """`optaxlr.find_lr` for a named demo optimizer on the demo's model and data."""
    check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
    check_int("batch_size", batch_size, low=1, high=len(data["y_train"]))
    check_int("num_steps", num_steps, low=2, high=MAX_RANGE_TEST_STEPS)
    check_int("seed", seed, low=0)
    check_choice("mode", mode, ("exp", "linear"))
    check_number("min_lr", min_lr, low=0.0, low_open=mode == "exp")
    check_number("max_lr", max_lr, low=0.0, low_open=True)
    loss = make_loss(graphdef)
    idx = batch_indices(len(data["y_train"]), batch_size, num_steps, seed + 1)
    xs, ys = np.asarray(data["x_train"])[idx], np.asarray(data["y_train"])[idx]
    return find_lr(
        lambda p, batch: loss(p, batch[0], batch[1]),
        params,
        list(zip(xs, ys, strict=True)),
        lambda lr: OPTIMIZERS[optimizer](lr, None),
        min_lr=min_lr,
        max_lr=max_lr,
        num_steps=num_steps,
        mode=mode,
    )


class _Progress:
    """tqdm over all training steps, or one line per run when there is no bar."""

    def __init__(self, total: int, enabled: bool, say: Callable[[str], None]):
        self.say = say
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, leave=True)

    def start(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_description(name)

    def step(self, n: int, acc: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(test_acc=f"{acc:.3f}", refresh=False)
            self.bar.update(n)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            self.say(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_demo(config: DemoConfig | None = None, log: Callable[[str], None] = print) -> DemoResults:
    """Runs the demo and writes its outputs; returns the results.

    ``log`` receives the progress lines (not with ``config.quiet``).

    Writes into ``config.output``: ``lr_range_test.png``, ``loss_curves.png``,
    ``accuracy_curves.png``, ``lr_curves.png``, ``results.json`` and
    ``results.txt`` (the table and the range-test summaries), and caches the
    generated dataset there (``mnist1d_seed42.npz``).
    """
    config = DemoConfig() if config is None else config
    start = time.perf_counter()
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda text: None) if config.quiet else log
    data, graphdef, params = prepare(config.data_seed, config.seed, cache_dir=out)
    say(describe({k: np.asarray(v) for k, v in data.items()}) + f"; device: {_device()}")

    pairs = config.runs()
    range_tests: dict[str, LRFinderResult] = {}
    lrs: dict[str, tuple[float, str]] = {}
    for optimizer in dict.fromkeys(o for o, s in pairs if s != UNTUNED):
        given = config.given_lr(optimizer)
        if given is not None:
            lrs[optimizer] = (float(given), "given")
        elif optimizer in NO_TUNING:
            lrs[optimizer] = (float(NO_TUNING[optimizer]), "its default (no range test)")
    need_test = [o for o in dict.fromkeys(o for o, _ in pairs) if o not in lrs and
                 any(config.given_lr(o, s) is None for p, s in pairs if p == o)]
    if need_test:
        say(f"LR range tests ({config.range_test_steps} steps, lr {config.min_lr:g} -> "
            f"{config.max_lr:g}) for: {', '.join(need_test)}")
    for optimizer in need_test:
        t = time.perf_counter()
        result = range_test(optimizer, data, graphdef, params, batch_size=config.batch_size,
                            num_steps=config.range_test_steps, min_lr=config.min_lr,
                            max_lr=config.max_lr, seed=config.seed)
        range_tests[optimizer] = result
        lr = result.suggestions.get(config.suggestion) or result.suggestion
        if lr is None:
            raise RuntimeError(f"the range test for {optimizer} suggested nothing:\n{result}")
        lrs[optimizer] = (lr, f"range test ({config.suggestion})")
        say(f"  {optimizer:>9}: lr {lr:.3g}  [{result.stop_reason} after {result.steps_run} "
            f"steps, {time.perf_counter() - t:.1f} s; valley {_fmt(result, 'valley')}, steepest "
            f"{_fmt(result, 'steep')}, minimum/10 {_fmt(result, 'minimum')}]")

    progress = config.progress
    if progress is None:
        progress = not config.quiet and sys.stderr.isatty()
    bar = _Progress(config.steps * len(pairs), bool(progress), say)
    runs: list[RunResult] = []
    try:
        for optimizer, schedule in pairs:
            name = f"{optimizer}/{schedule}"
            if schedule == UNTUNED:
                lr, source = float(NO_TUNING[optimizer]), "its default (no tuning)"
            else:
                lr, source = lrs[optimizer]
                if schedule != "constant" and source != "given" and config.peak_factor != 1:
                    lr, source = lr * config.peak_factor, f"{source} x {config.peak_factor:g}"
            bar.start(name)
            tx = make_optimizer(optimizer, schedule, lr, config.steps)
            history = train(graphdef, params, data, tx, steps=config.steps,
                            batch_size=config.batch_size, eval_every=config.eval_every,
                            seed=config.seed, on_chunk=bar.step)
            run = RunResult(name=name, optimizer=optimizer, schedule=schedule, lr=lr,
                            lr_source=source, **history)
            runs.append(run)
            bar.log(f"{name:>20}: final test acc {run.final_acc:.1%}, best {run.best_acc:.1%} "
                    f"({run.wall_time:.1f} s)")
    finally:
        bar.close()

    table = results_table(runs)
    files = write_plots(out, runs, range_tests, config.schedule_optimizer)
    total = time.perf_counter() - start
    files.append(write_json(out / "results.json", config=config.to_dict(),
                            data_info=_data_info(data, config), range_tests=range_tests,
                            runs=runs, total_time=total, device=_device()))
    text = [table, ""] + [f"[{k}] {v.summary()}" for k, v in range_tests.items()]
    (out / "results.txt").write_text("\n".join(text) + "\n")
    files.append(out / "results.txt")
    return DemoResults(config, range_tests, runs, files, total)


def _fmt(result: LRFinderResult, rule: str) -> str:
    v = result.suggestions.get(rule)
    return "-" if v is None else f"{v:.3g}"


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform} ({d.device_kind})"


def _data_info(data: Mapping[str, jax.Array], config: DemoConfig) -> dict[str, Any]:
    return {
        "name": "MNIST-1D (mnist1d.data.make_dataset, generated offline)",
        "seed": config.data_seed,
        "train": int(data["y_train"].shape[0]),
        "test": int(data["y_test"].shape[0]),
        "length": int(data["x_train"].shape[1]),
    }

