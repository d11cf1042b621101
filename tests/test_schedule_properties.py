"""Property tests: what each schedule promises, for arguments drawn by hypothesis.

For every family: finite values inside the range its parameters span, monotone
where it promises to be, continuous across phase edges where it promises to be
(no jump larger than the steepest slope allows), and the right value far past
the end (step 10**9) without int32 overflow.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import optaxlr.schedules as sch

settings.register_profile("optaxlr", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("optaxlr")

FAR = 10**9
values = st.floats(1e-6, 10.0)
fractions = st.floats(0.0, 1.0)
lengths = st.integers(1, 100_000)
steps_lists = st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=20)


def _eval(schedule, steps) -> np.ndarray:
    return np.asarray(schedule(np.asarray(steps, np.int32)), np.float64)


def _within(v, low, high, rel=2e-6):
    assert np.all(np.isfinite(v))
    tol = rel * max(abs(low), abs(high))
    assert np.all(v >= low - tol) and np.all(v <= high + tol), (v.min(), v.max(), low, high)


def _monotone(v, direction, scale, rel=2e-6):
    d = np.diff(v) * (1 if direction == "inc" else -1)
    assert np.all(d >= -rel * scale), d.min()


def _continuous(schedule, edges, max_jump):
    for e in edges:
        for t in (e - 1, e):
            if t < 0:
                continue
            a, b = _eval(schedule, [t, t + 1])
            assert abs(b - a) <= max_jump, (t, a, b, max_jump)


@given(init=values, frac=fractions, steps=lengths, extra=steps_lists)
def test_cosine(init, frac, steps, extra):
    end = init * frac
    s = sch.cosine(init, steps, end_value=end)
    ts = np.sort(np.r_[extra, 0, steps - 1, steps, steps + 1, FAR] % (2**31 - 1))
    v = _eval(s, ts)
    _within(v, end, init)
    _monotone(v, "dec", init)
    np.testing.assert_allclose(_eval(s, [0, steps, FAR]), [init, end, end], rtol=2e-6,
                               atol=1e-7 * init)
    _continuous(s, [steps // 2, steps], (init - end) * math.pi / (2 * steps) * 1.01 + 1e-6 * init)


@given(init=values, end=values, steps=lengths, begin=st.integers(0, 1000))
def test_linear(init, end, steps, begin):
    s = sch.linear(init, end, steps, transition_begin=begin)
    ts = np.arange(0, begin + steps + 5, max(1, (begin + steps) // 200))
    v = _eval(s, ts)
    _within(v, min(init, end), max(init, end))
    _monotone(v, "inc" if end >= init else "dec", max(init, end))
    np.testing.assert_allclose(_eval(s, [begin, begin + steps, FAR]), [init, end, end], rtol=2e-6)


@given(init=values, rate=st.floats(0.01, 0.999), steps=st.integers(1, 1000),
       staircase=st.booleans(), extra=steps_lists)
def test_exponential_family(init, rate, steps, staircase, extra):
    ts = np.sort(np.r_[extra, 0, steps, FAR])
    for s in (sch.exponential(init, rate, steps, staircase), sch.natural_exp(init, rate, steps,
                                                                             staircase),
              sch.inverse_time(init, rate, steps, staircase)):
        v = _eval(s, ts)
        _within(v, 0.0, init)
        _monotone(v, "dec", init)
        assert v[-1] <= init * 1e-3 + 1e-12 or s.name == "inverse_time"
    floor = init * rate**3
    v = _eval(sch.exponential(init, rate, steps, staircase, end_value=floor), ts)
    _within(v, floor, init)
    np.testing.assert_allclose(v[-1], floor, rtol=2e-6)


@given(init=values, frac=fractions, steps=lengths, power=st.floats(0.1, 5.0),
       extra=steps_lists)
def test_polynomial(init, frac, steps, power, extra):
    end = init * frac
    s = sch.polynomial(init, end, steps, power)
    ts = np.sort(np.r_[extra, 0, steps, FAR])
    v = _eval(s, ts)
    _within(v, end, init)
    _monotone(v, "dec", init)
    np.testing.assert_allclose(_eval(s, [0, steps, FAR]), [init, end, end], rtol=2e-6,
                               atol=1e-7 * init)
    cyc = _eval(sch.polynomial(init, end, steps, power, cycle=True), ts)
    _within(cyc, end, init)


@given(init=values, gamma=st.floats(0.01, 1.0), size=st.integers(1, 1000),
       milestones=st.lists(st.integers(0, 5000), max_size=6), extra=steps_lists)
def test_step_and_multistep(init, gamma, size, milestones, extra):
    ts = np.sort(np.r_[extra, 0, FAR])
    for s in (sch.step_decay(init, size, gamma), sch.multistep(init, sorted(milestones), gamma)):
        v = _eval(s, ts)
        _within(v, 0.0, init)
        _monotone(v, "dec", init)
    v = _eval(sch.multistep(init, sorted(milestones), gamma), [FAR])
    np.testing.assert_allclose(v, init * gamma ** len(milestones), rtol=5e-6, atol=1e-30)


@given(base=values, span=values, up=st.integers(1, 2000), down=st.integers(1, 2000),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
       gamma=st.floats(0.9, 1.0), extra=steps_lists)
def test_cyclic(base, span, up, down, mode, gamma, extra):
    s = sch.cyclic(base, base + span, up, down, mode=mode, gamma=gamma)
    v = _eval(s, np.r_[extra, FAR])
    _within(v, base, base + span)
    peak = base + span * (gamma**up if mode == "exp_range" else 1.0)
    np.testing.assert_allclose(_eval(s, [0, up]), [base, peak], rtol=2e-6)
    _continuous(s, [up, up + down], span / min(up, down) * 1.01 + 1e-6 * (base + span))


@given(peak=values, total=st.integers(2, 100_000), pct=st.floats(0.01, 0.99),
       div=st.floats(1.0, 100.0), final_div=st.floats(1.0, 1e5),
       anneal=st.sampled_from(["cos", "linear"]), convention=st.sampled_from(["torch", "fastai"]))
def test_one_cycle(peak, total, pct, div, final_div, anneal, convention):
    s = sch.one_cycle(peak, total, pct, div, final_div, anneal, convention=convention)
    ts = np.unique(np.r_[np.linspace(0, total + 10, 300).astype(int), FAR])
    v = _eval(s, ts)
    final = peak / (div if convention == "torch" else 1.0) / final_div
    low = min(final, peak / div)
    _within(v, low, peak)
    lag = 1 if convention == "torch" else 0
    rise_end = pct * total - lag
    _monotone(v[ts <= rise_end], "inc", peak)
    _monotone(v[ts >= math.ceil(rise_end)], "dec", peak)
    np.testing.assert_allclose(_eval(s, [total - lag, FAR]), [final, final], rtol=5e-6)
    m = sch.one_cycle_momentum(total, 0.85, 0.95, pct, anneal, convention=convention)
    _within(_eval(m, ts), 0.85, 0.95)


@given(init=values, frac=fractions, first=st.integers(1, 1000), mult=st.sampled_from(
    [1.0, 1.5, 2.0, 3.0]), decay=st.floats(0.1, 1.0), convention=st.sampled_from(
    ["keras", "timm"]), extra=steps_lists)
def test_cosine_restarts(init, frac, first, mult, decay, convention, extra):
    end = init * frac
    s = sch.cosine_restarts(init, first, mult, decay, end, convention=convention)
    v = _eval(s, np.r_[extra, 0, FAR])
    # timm decays the peak itself, which may sink below the floor.
    _within(v, 0.0 if convention == "timm" else end, init)
    # The first steps of the first three cycles are peaks decayed i times.
    if mult == 1.0 or mult == 2.0 or mult == 3.0:
        starts = [0, first, first + int(first * mult)]
        peaks = [init, init * decay, init * decay**2]
        if convention == "keras":
            peaks = [end + (init - end) * decay**i for i in range(3)]
        np.testing.assert_allclose(_eval(s, starts), peaks, rtol=5e-6,
                                   atol=1e-7 * init)


@given(inner_peak=values, start_frac=fractions, warm=st.integers(1, 5000),
       decay=st.integers(1, 5000), mode=st.sampled_from(["linear", "cosine"]))
def test_warmup_prefix_rises_then_hands_over(inner_peak, start_frac, warm, decay, mode):
    start = inner_peak * start_frac
    inner = sch.cosine(inner_peak, decay)
    s = sch.warmup(inner, warm, start_value=start, mode=mode)
    ts = np.arange(0, warm + 1)
    v = _eval(s, ts)
    _monotone(v, "inc", inner_peak)
    np.testing.assert_allclose(v[[0, -1]], [start, inner_peak], rtol=2e-6, atol=1e-7 * inner_peak)
    slope = (inner_peak - start) / warm * (math.pi / 2 if mode == "cosine" else 1.0)
    _continuous(s, [warm], slope * 1.01 + inner_peak * math.pi / decay + 1e-6 * inner_peak)
    np.testing.assert_allclose(_eval(s, [FAR]), [0.0], atol=1e-7 * inner_peak)


@given(peak=values, total=st.integers(10, 100_000), data=st.data(),
       shape=st.sampled_from(["linear", "cosine", "1-sqrt"]), frac=fractions)
def test_warmup_stable_decay(peak, total, data, shape, frac):
    warm = data.draw(st.integers(0, total // 2))
    decay = data.draw(st.integers(1, total - warm))
    end = peak * frac
    s = sch.warmup_stable_decay(peak, total, warm, decay, end, shape)
    ts = np.unique(np.r_[np.linspace(0, total + 5, 400).astype(int), warm, total - decay])
    v = _eval(s, ts)
    _within(v, 0.0, peak)
    _monotone(v[ts <= warm], "inc", peak)
    _monotone(v[ts >= warm], "dec", peak)
    np.testing.assert_allclose(_eval(s, [total - decay, total, FAR]), [peak, end, end],
                               rtol=2e-6, atol=1e-7 * peak)


@given(low=st.floats(1e-8, 1e-2), ratio=st.floats(2.0, 1e9), n=st.integers(2, 10_000),
       mode=st.sampled_from(["exp", "linear"]))
def test_lr_range(low, ratio, n, mode):
    s = sch.lr_range(low, low * ratio, n, mode)
    v = _eval(s, np.r_[np.linspace(0, n + 3, 200).astype(int), FAR])
    _within(v, low, low * ratio)
    _monotone(v, "inc", low * ratio)
    np.testing.assert_allclose(_eval(s, [0, n - 1, FAR]), [low, low * ratio, low * ratio],
                               rtol=5e-6)


@given(init=values, warm=st.integers(0, 10_000), extra=steps_lists)
def test_rsqrt(init, warm, extra):
    s = sch.rsqrt(init, warm)
    v = _eval(s, np.sort(np.r_[extra, 0, warm, FAR]))
    _within(v, 0.0, init)
    _monotone(v, "dec", init)
    _continuous(s, [warm], init / max(warm, 1) + 1e-6 * init)
