"""optaxlr against pure-Python transcriptions of PyTorch's scheduler code, at any step.

The recorded fixtures (tests/fixtures/schedules.json) cover the first few
hundred steps. These references reach where recording every step is not
possible (restarts near 2**31) and the corner cases torch accepts
(``OneCycleLR(total_steps=1)``, ``three_phase=True, pct_start=0.5``). Both are
transcribed from PyTorch's ``torch/optim/lr_scheduler.py`` (2.x; BSD licence):
``CosineAnnealingWarmRestarts.get_lr``/``step`` and ``OneCycleLR.__init__``/
``get_lr``/``_anneal_func``, with the optimizer plumbing removed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import optaxlr.schedules as sch
from tests.schedule_cases import padded

H = 2**31 - 1


# --- CosineAnnealingWarmRestarts --------------------------------------------------------------


class TorchWarmRestarts:
    """torch ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` stepped with ``step()``.

    torch, ``step(epoch=None)``::

        self.T_cur = self.T_cur + 1
        if self.T_cur >= self.T_i:
            self.T_cur = self.T_cur % self.T_i
            self.T_i = self.T_i * self.T_mult

    and ``get_lr``: ``eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.
    The constructor's first ``step()`` sets ``T_cur = 0, T_i = T_0`` (epoch 0). `advance`
    applies ``n`` such steps at once: within a cycle ``T_cur`` grows by one per step, so
    whole cycles are skipped exactly as the one-step recurrence would pass them.
    """

    def __init__(self, T_0: int, T_mult: int = 1, eta_min: float = 0.0, base_lr: float = 1.0):
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_i, self.T_mult = T_0, T_0, T_mult
        self.eta_min, self.base_lr = eta_min, base_lr
        self.T_cur = 0
        self.last_epoch = 0

    def get_lr(self) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def step(self) -> None:
        self.last_epoch += 1
        self.T_cur = self.T_cur + 1
        if self.T_cur >= self.T_i:
            self.T_cur = self.T_cur % self.T_i
            self.T_i = self.T_i * self.T_mult

    def advance(self, n: int) -> None:
        while n > 0:
            left = self.T_i - self.T_cur  # steps until the next restart
            if n < left:
                self.T_cur += n
                self.last_epoch += n
                return
            n -= left
            self.last_epoch += left
            self.T_cur, self.T_i = 0, self.T_i * self.T_mult

    def lr_at(self, steps: list[int]) -> list[float]:
        out = []
        for t in sorted(steps):
            self.advance(t - self.last_epoch)
            out.append(self.get_lr())
        return out


def torch_restarts(T_0: int, T_mult: int) -> list[int]:
    """The steps where torch restarts (T_cur == 0), up to the int32 maximum."""
    ref, out = TorchWarmRestarts(T_0, T_mult), [0]
    while True:
        ref.advance(ref.T_i - ref.T_cur)
        if ref.last_epoch > H:
            return out
        out.append(ref.last_epoch)


def test_the_reference_advance_equals_torch_one_step_recurrence():
    a, b = TorchWarmRestarts(3, 2, 0.1), TorchWarmRestarts(3, 2, 0.1)
    for t in range(1, 200):
        a.step()
        b.advance(1)
        assert (a.T_cur, a.T_i, a.get_lr()) == (b.T_cur, b.T_i, b.get_lr()), t
    assert torch_restarts(3, 2)[:5] == [0, 3, 9, 21, 45]


@pytest.mark.parametrize("T_mult", [2, 3, 5, 10])
@pytest.mark.parametrize("T_0", [1, 3, 7, 1000, 12_345, 10**6])
def test_cosine_restarts_restart_where_torch_does_up_to_int32_max(T_0, T_mult):
    restarts = torch_restarts(T_0, T_mult)
    # Steps around every restart from 2**24 on (where float32 can no longer count steps),
    # around the first few, and the last steps before the int32 maximum.
    around = [r for r in restarts if r >= 2**24] + restarts[1:4]
    steps = sorted({min(max(r + d, 0), H) for r in around for d in (-2, -1, 0, 1, 2)}
                   | {H - 1, H})
    want = np.array(TorchWarmRestarts(T_0, T_mult, eta_min=0.01).lr_at(steps))
    for cycle_mult in (T_mult, float(T_mult)):
        schedule = sch.cosine_restarts(1.0, T_0, cycle_mult=cycle_mult, end_value=0.01)
        got = np.asarray(schedule(padded(steps)), np.float64)[:len(steps)]
        # atol: the last step of a cycle of 2**30 steps is 0.01 + 2e-18 in float64; float32
        # rounds the position, not the cycle.
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7,
                                   err_msg=f"T_0={T_0}, T_mult={T_mult}, steps={steps}")
        restarted = [t for t in steps if t in set(restarts)]
        np.testing.assert_array_equal(schedule(padded(restarted)), 1.0)


def test_torch_closed_form_for_an_explicit_epoch_is_not_the_reference():
    # torch's step(epoch) computes the cycle as int(math.log(epoch / T_0 * (T_mult - 1) + 1,
    # T_mult)), which float rounding puts one cycle early at some restarts: the recurrence
    # above (what step() does) restarts at 121 for T_0=1, T_mult=3; the log form says 4.
    epoch, T_0, T_mult = 121, 1, 3
    assert epoch in torch_restarts(T_0, T_mult)
    assert int(math.log(epoch / T_0 * (T_mult - 1) + 1, T_mult)) == 4  # cycle 5 begins here
    assert float(sch.cosine_restarts(1.0, T_0, T_mult)(epoch)) == 1.0


# --- OneCycleLR -----------------------------------------------------------------------------


class TorchOneCycle:
    """torch ``OneCycleLR`` (``__init__``'s phases and checks, ``get_lr``, ``_anneal_func``)."""

    def __init__(self, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                 base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        self.total_steps = total_steps
        if three_phase:
            self.phases = [
                (float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max_m", "base_m"),
                (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_m",
                 "max_m"),
                (total_steps - 1, "initial_lr", "min_lr", "max_m", "max_m"),
            ]
        else:
            self.phases = [
                (float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max_m", "base_m"),
                (total_steps - 1, "max_lr", "min_lr", "base_m", "max_m"),
            ]
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        self.anneal = anneal_strategy
        self.group = {"initial_lr": max_lr / div_factor, "max_lr": max_lr,
                      "max_m": max_momentum, "base_m": base_momentum}
        self.group["min_lr"] = self.group["initial_lr"] / final_div_factor

    def _anneal_func(self, start, end, pct):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _phase(self, step_num: int) -> tuple[float, float, str, str, str, str]:
        """(start step, end step, and the group keys of the start and end values)."""
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total "
                             f"steps is {self.total_steps}")
        start_step = 0.0
        for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
            if step_num <= end_step or i == len(self.phases) - 1:
                return start_step, end_step, lr0, lr1, m0, m1
            start_step = end_step
        raise AssertionError("unreachable")

    def get(self, step_num: int) -> tuple[float, float]:
        """(lr, momentum) at ``step_num``; ZeroDivisionError where torch divides 0 by 0."""
        start_step, end_step, lr0, lr1, m0, m1 = self._phase(step_num)
        pct = (step_num - start_step) / (end_step - start_step)
        g = self.group
        return self._anneal_func(g[lr0], g[lr1], pct), self._anneal_func(g[m0], g[m1], pct)

    def phase_end(self, step_num: int) -> tuple[float, float]:
        """(lr, momentum) at the end of the phase ``step_num`` is in: what optaxlr documents
        where torch divides by zero (a phase of zero length)."""
        _, _, _, lr1, _, m1 = self._phase(step_num)
        return self.group[lr1], self.group[m1]


ONE_CYCLE = [
    dict(total_steps=1),
    dict(total_steps=1, three_phase=True, pct_start=0.5),
    dict(total_steps=1, pct_start=1.0),
    dict(total_steps=2),
    dict(total_steps=2, three_phase=True, pct_start=0.5),
    dict(total_steps=3, three_phase=True, pct_start=0.5, anneal_strategy="linear"),
    dict(total_steps=10, three_phase=True, pct_start=0.5),
    dict(total_steps=101, three_phase=True, pct_start=0.5),
    dict(total_steps=100, three_phase=True, pct_start=0.3),
    dict(total_steps=50, three_phase=True, pct_start=0.7),  # phase 2 runs past the end
    dict(total_steps=20, pct_start=0.0),
    dict(total_steps=20, pct_start=1.0),
    dict(total_steps=20, pct_start=0.05),  # pct * total == 1: torch's 0 / 0 at step 0
    dict(total_steps=37, pct_start=0.27, anneal_strategy="linear"),
    dict(total_steps=1000, pct_start=0.3),
]


#: The steps where torch's OneCycleLR raises ZeroDivisionError (a phase of zero length).
ZERO_DIVISION = {
    str(sorted(config.items())): [0]
    for config in (
        dict(total_steps=1, pct_start=1.0),
        dict(total_steps=2, three_phase=True, pct_start=0.5),
        dict(total_steps=20, pct_start=0.05),
    )
}


@pytest.mark.parametrize("config", ONE_CYCLE, ids=[str(sorted(c.items())) for c in ONE_CYCLE])
def test_one_cycle_matches_torch(config):
    ref = TorchOneCycle(0.1, **config)
    total = config["total_steps"]
    kwargs = dict(total_steps=total, pct_start=config.get("pct_start", 0.3),
                  anneal="linear" if config.get("anneal_strategy") == "linear" else "cos",
                  three_phase=config.get("three_phase", False))
    lr = sch.one_cycle(0.1, **kwargs)
    momentum = sch.one_cycle_momentum(base_value=0.85, max_value=0.95, **kwargs)
    steps = np.arange(total)  # every step an update uses (torch raises past total_steps)
    want, divides_by_zero = [], []
    for t in steps:
        try:
            want.append(ref.get(int(t)))
        except ZeroDivisionError:  # torch raises: optaxlr documents the phase's end value
            divides_by_zero.append(int(t))
            want.append(ref.phase_end(int(t)))
    want = np.array(want)
    assert divides_by_zero == ZERO_DIVISION.get(str(sorted(config.items())), [])
    np.testing.assert_allclose(lr(padded(steps))[:total], want[:, 0], rtol=2e-6, atol=1e-12)
    np.testing.assert_allclose(momentum(padded(steps))[:total], want[:, 1], rtol=2e-6,
                               atol=1e-12)
    # Long past the end, the final value holds (torch raises).
    np.testing.assert_allclose(lr(np.array([10**9, H])), ref.group["min_lr"], rtol=2e-6)


def test_one_cycle_accepts_exactly_torch_range():
    for pct in (0.0, 0.5, 1.0):
        TorchOneCycle(0.1, 10, pct_start=pct, three_phase=True)
        sch.one_cycle(0.1, 10, pct_start=pct, three_phase=True)
    for pct in (-0.01, 1.01):
        with pytest.raises(ValueError, match="pct_start"):
            TorchOneCycle(0.1, 10, pct_start=pct)
        with pytest.raises(ValueError, match="pct_start"):
            sch.one_cycle(0.1, 10, pct_start=pct)
    with pytest.raises(ValueError, match="total_steps"):
        TorchOneCycle(0.1, 0)
    with pytest.raises(ValueError, match="total_steps"):
        sch.one_cycle(0.1, 0)
