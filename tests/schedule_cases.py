"""One representative instance of every schedule, with what it promises.

Shared by the unit tests and the property tests: ``low``/``high`` bound every
value, ``monotone`` is ``"dec"``, ``"inc"`` or None, ``tail`` gives the exact
(float64) values far past the end, at steps such as 10**9 and the int32
maximum, from the schedule's formula written out here independently, and
``edges`` are the steps where a phase ends.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

import optaxlr.schedules as sch

FAR = 10**9
INT32_MAX = 2**31 - 1


def enable_x64():
    """A context with ``jax_enable_x64`` on (``jax.enable_x64`` from JAX 0.8, before that
    ``jax.experimental.enable_x64``)."""
    import jax

    enable = getattr(jax, "enable_x64", None)
    if enable is not None:
        return enable(True)
    import jax.experimental

    return jax.experimental.enable_x64()  # type: ignore[attr-defined]


def padded(steps, size: int = 256):
    """``steps`` as int32, padded (with its last step) to a multiple of ``size``: eager JAX
    compiles each operation once per shape, so a few shapes keep the tests fast."""
    steps = np.asarray(steps, np.int64).ravel()
    n = -(-len(steps) // size) * size
    return np.concatenate([steps, np.full(n - len(steps), steps[-1])]).astype(np.int32)


def _const(value: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full(np.shape(t), value, np.float64)


def _restarts_tail(t: np.ndarray) -> np.ndarray:
    """cosine_restarts(0.1, 20, cycle_mult=2, cycle_decay=0.5, end_value=0.001), Keras form."""
    out = []
    for step in np.asarray(t).tolist():
        start, length, i = 0, 20, 0
        while step >= start + length:  # torch's restarts: each cycle twice as long
            start, length, i = start + length, 2 * length, i + 1
        c = (1 + math.cos(math.pi * (step - start) / length)) / 2
        out.append(0.001 + (0.1 - 0.001) * 0.5**i * c)
    return np.array(out)


def _polynomial_cycle_tail(t: np.ndarray) -> np.ndarray:
    """polynomial(0.1, 0.001, 50, cycle=True): Keras stretches the horizon to ceil(t/50)*50."""
    t = np.asarray(t, np.int64)
    horizon = np.maximum(-(-t // 50), 1) * 50
    return (0.1 - 0.001) * (1 - t / horizon) + 0.001


def _tanh_tail(t: np.ndarray) -> np.ndarray:
    """tanh_restarts(0.1, 20, -3.0, 3.0, cycle_decay=0.5, end_value=0.001): the peak halves
    every 20 steps (to 0 far away), the weight is (1 - tanh(-3 (1 - r) + 3 r)) / 2."""
    t = np.asarray(t, np.int64)
    r = (t % 20) / 20
    weight = (1 - np.tanh(-3.0 * (1 - r) + 3.0 * r)) / 2
    return 0.001 + (0.1 * 0.5 ** (t // 20).astype(np.float64) - 0.001) * weight


def _uniform_noise_tail(t: np.ndarray) -> np.ndarray:
    """with_noise(constant(0.1), 5.5, 0.1, noise_type="uniform"): 0.1 * (1 + n) from step 6,
    n = (2u - 1) * 0.1 with u the float32 uniform draw of fold_in(key(42), step)."""
    import jax

    def n(step: int) -> float:
        key = jax.random.fold_in(jax.random.key(42), np.uint32(min(step, INT32_MAX)))
        u = float(jax.random.uniform(key, dtype=np.float32))
        return (2.0 * u - 1.0) * 0.1

    return np.array([0.1 * (1 + n(int(s))) if s >= 6 else 0.1 for s in np.ravel(t)])


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[[], sch.Schedule]
    low: float
    high: float
    monotone: str | None
    tail: Callable[[np.ndarray], np.ndarray]
    edges: tuple[int, ...]


CASES: dict[str, Case] = {
    "constant": Case(lambda: sch.constant(0.1), 0.1, 0.1, "dec", _const(0.1), ()),
    "linear": Case(lambda: sch.linear(0.1, 0.01, 100, transition_begin=10), 0.01, 0.1, "dec",
                   _const(0.01), (10, 110)),
    "linear_up": Case(lambda: sch.linear(0.0, 0.1, 50), 0.0, 0.1, "inc", _const(0.1), (50,)),
    "step_decay": Case(lambda: sch.step_decay(0.1, 30, 0.5), 0.0, 0.1, "dec",
                       lambda t: 0.1 * 0.5 ** (np.asarray(t) // 30), (30, 60)),
    "multistep": Case(lambda: sch.multistep(0.1, [30, 80, 80], 0.1), 1e-4, 0.1, "dec",
                      _const(1e-4), (30, 80)),
    "piecewise_constant": Case(lambda: sch.piecewise_constant([10, 20], [0.1, 0.05, 0.01]),
                               0.01, 0.1, "dec", _const(0.01), (10, 20)),
    "exponential": Case(lambda: sch.exponential(0.1, 0.9, 10, end_value=0.001), 0.001, 0.1,
                        "dec", _const(0.001), ()),
    "natural_exp": Case(lambda: sch.natural_exp(0.1, 0.5, 10, staircase=True), 0.0, 0.1, "dec",
                        lambda t: 0.1 * np.exp(-0.5 * (np.asarray(t) // 10)), (10, 20)),
    "inverse_time": Case(lambda: sch.inverse_time(0.1, 0.5, 10), 0.0, 0.1, "dec",
                         lambda t: 0.1 / (1 + 0.5 * np.asarray(t) / 10), ()),
    "polynomial": Case(lambda: sch.polynomial(0.1, 0.001, 100, power=2.0), 0.001, 0.1, "dec",
                       _const(0.001), (100,)),
    "polynomial_cycle": Case(lambda: sch.polynomial(0.1, 0.001, 50, cycle=True), 0.001, 0.1,
                             None, _polynomial_cycle_tail, (50, 100)),
    "cosine": Case(lambda: sch.cosine(0.1, 100, end_value=0.001), 0.001, 0.1, "dec",
                   _const(0.001), (100,)),
    "cosine_periodic": Case(lambda: sch.cosine(0.1, 100, periodic=True), 0.0, 0.1, None,
                            lambda t: 0.05 * (1 + np.cos(np.pi * (np.asarray(t) % 200) / 100)),
                            (100, 200)),
    "linear_cosine": Case(lambda: sch.linear_cosine(0.1, 100, num_periods=2.0), 0.0, 0.2, None,
                          _const(1e-4), (100,)),
    "cosine_restarts": Case(lambda: sch.cosine_restarts(0.1, 20, 2.0, 0.5, 0.001), 0.001, 0.1,
                            None, _restarts_tail, (20, 60, 140)),
    "cosine_restarts_limit": Case(lambda: sch.cosine_restarts(0.1, 20, cycle_limit=2,
                                                              end_value=0.01), 0.01, 0.1, None,
                                  _const(0.01), (20, 40)),
    "cosine_restarts_k_decay": Case(
        lambda: sch.cosine_restarts(0.1, 20, 1.0, 0.5, 0.001, cycle_limit=2, convention="timm",
                                    k_decay=2.0), 0.001, 0.1, None, _const(0.001), (20, 40)),
    "polynomial_restarts": Case(
        lambda: sch.polynomial_restarts(0.1, 20, 2.0, 2.0, 0.5, 0.001, cycle_limit=3,
                                        k_decay=1.5), 0.001, 0.1, None, _const(0.001),
        (20, 60, 140)),
    "tanh_restarts": Case(lambda: sch.tanh_restarts(0.1, 20, -3.0, 3.0, cycle_decay=0.5,
                                                    end_value=0.001),
                          0.0, 0.1, None, _tanh_tail, (20, 40)),
    "cyclic": Case(lambda: sch.cyclic(0.001, 0.006, 20, 10, mode="triangular2"), 0.001, 0.006,
                   None, _const(0.001), (20, 30, 50)),
    "one_cycle": Case(lambda: sch.one_cycle(0.1, 100), 0.1 / 25 / 1e4, 0.1, None,
                      _const(0.1 / 25 / 1e4), (29, 99)),
    "one_cycle_three_phase": Case(lambda: sch.one_cycle(0.1, 100, three_phase=True,
                                                        anneal="linear"),
                                  0.1 / 25 / 1e4, 0.1, None, _const(0.1 / 25 / 1e4),
                                  (29, 58, 99)),
    "one_cycle_momentum": Case(lambda: sch.one_cycle_momentum(100), 0.85, 0.95, None,
                               _const(0.95), (29, 99)),
    "warmup": Case(lambda: sch.warmup(sch.cosine(0.1, 90), 10), 0.0, 0.1, None, _const(0.0),
                   (10, 100)),
    "warmup_factor": Case(lambda: sch.warmup(sch.step_decay(0.1, 50), 10, start_value=0.1,
                                             prefix=False), 0.0, 0.1, None,
                          lambda t: 0.1 * 0.1 ** (np.asarray(t) // 50), (10, 50)),
    "rsqrt": Case(lambda: sch.rsqrt(0.1, 100), 0.0, 0.1, "dec",
                  lambda t: 0.1 * np.sqrt(100 / np.maximum(np.asarray(t), 100)), (100,)),
    "warmup_stable_decay": Case(lambda: sch.warmup_stable_decay(0.1, 100, 10, 20, 0.001,
                                                                "1-sqrt"),
                                0.0, 0.1, None, _const(0.001), (10, 80, 100)),
    "wsd_ratio": Case(lambda: sch.warmup_stable_decay(0.1, 100, warmup_ratio=0.1, decay_ratio=0.25,
                                                      decay_shape="cosine", warmup_shape="1-sqrt"),
                      0.0, 0.1, None, _const(0.0), (10, 78, 100)),
    "decay_from": Case(lambda: sch.decay_from(sch.warmup_stable_decay(0.1, 200, 10, 20), 50, 30,
                                              "1-sqrt", 0.001),
                       0.0, 0.1, None, _const(0.001), (10, 50, 80)),
    "warmup_end_value": Case(lambda: sch.warmup(sch.tanh_restarts(0.1, 50, cycle_limit=1,
                                                                  end_value=0.001),
                                                10, 0.001, end_value=0.1),
                             0.001, 0.1, None, _const(0.001), (10, 60)),
    "with_noise": Case(lambda: sch.with_noise(sch.cosine(0.1, 100, end_value=0.001), [10, 60],
                                              0.2, 1.0, 7),
                       0.001, 0.12, None, _const(0.001), (10, 60, 100)),
    "with_noise_uniform": Case(lambda: sch.with_noise(sch.constant(0.1), 5.5, 0.1,
                                                      noise_type="uniform"),
                               0.09, 0.11, None, _uniform_noise_tail, (6,)),
    "lr_range": Case(lambda: sch.lr_range(1e-7, 10.0, 100), 1e-7, 10.0, "inc", _const(10.0),
                     (99,)),
    "join": Case(lambda: sch.join([sch.linear(0.0, 0.1, 10), sch.exponential(0.1, 0.95)], [10]),
                 0.0, 0.1, None, lambda t: 0.1 * 0.95 ** (np.asarray(t) - 10.0), (10,)),
    "product": Case(lambda: 0.5 * sch.rsqrt(1.0, 10) * sch.warmup(1.0, 10, prefix=False), 0.0,
                    0.5, None, lambda t: 0.5 * np.sqrt(10 / np.asarray(t, np.float64)), (10,)),
    "per_epoch": Case(lambda: sch.per_epoch([0.1, 0.05, 0.01], steps_per_epoch=10), 0.01, 0.1,
                      "dec", _const(0.01), (10, 20)),
}

# Registry names whose representative case has a different key above.
COVERS = {
    "linear_up": "linear",
    "polynomial_cycle": "polynomial",
    "cosine_periodic": "cosine",
    "cosine_restarts_limit": "cosine_restarts",
    "one_cycle_three_phase": "one_cycle",
    "warmup_factor": "warmup",
    "cosine_restarts_k_decay": "cosine_restarts",
    "wsd_ratio": "warmup_stable_decay",
    "warmup_end_value": "warmup",
    "with_noise_uniform": "with_noise",
}

