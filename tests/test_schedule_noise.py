"""`with_noise`: timm's lr noise from JAX's PRNG, tested by its distribution and its rules.

timm draws from a ``torch.Generator`` seeded with ``noise_seed + t``, so no value
can equal torch's; what must hold is timm's rule (normal noise with
``noise_std``, redrawn until ``|n| < noise_pct``: a truncated normal; or
uniform in ``[-noise_pct, noise_pct)``), its range of steps, and
reproducibility: the same seed and step give the same value anywhere.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optaxlr.schedules as sch

N = 20_000
#: Kolmogorov-Smirnov: D exceeds 1.95 / sqrt(N) with probability 0.001 under the null.
KS = 1.95 / math.sqrt(N)


def _phi(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2.0)))


def _noise(schedule, base=1.0):
    return np.asarray(schedule(np.arange(N, dtype=np.int32)), np.float64) / base - 1.0


def _ks(sample, cdf):
    x = np.sort(sample)
    f = cdf(x)
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


@pytest.mark.parametrize("pct, std", [(0.67, 1.0), (0.1, 0.05), (0.3, 1.0), (2.0, 0.5)])
def test_normal_noise_is_the_normal_truncated_to_pct(pct, std):
    noise = _noise(sch.with_noise(1.0, 0, noise_pct=pct, noise_std=std, noise_seed=3))
    assert np.all(np.abs(noise) < pct)
    a = pct / std
    mass = _phi(a) - _phi(-a)

    def cdf(x):
        return (_phi(x / std) - _phi(-a)) / mass

    assert _ks(noise, cdf) < KS
    # The truncated normal's variance, and no correlation from one step to the next.
    density = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    variance = std**2 * (1 - 2 * a * density / mass)
    assert abs(noise.mean()) < 4 * math.sqrt(variance / N)
    assert noise.var() == pytest.approx(variance, rel=0.05)
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 4 / math.sqrt(N)


def test_uniform_noise_is_uniform_within_pct():
    noise = _noise(sch.with_noise(2.0, 0, noise_pct=0.25, noise_type="uniform"), base=2.0)
    assert np.all(np.abs(noise) <= 0.25 * (1 + 1e-6))
    assert _ks(noise, lambda x: (x + 0.25) / 0.5) < KS


def test_only_steps_in_the_range_are_noisy():
    base = sch.cosine(0.1, 100, end_value=0.001)
    steps = np.arange(40, dtype=np.int32)
    clean = np.asarray(base(steps))
    # timm's rule, a <= t < b, with the float ends its factory computes (0.105 * 100).
    noisy = np.asarray(sch.with_noise(base, [10.5, 20.0], 0.5)(steps))
    changed = noisy != clean
    assert not changed[:11].any() and changed[11:20].all() and not changed[20:].any()
    from_5 = np.asarray(sch.with_noise(base, 5, 0.5)(steps)) != clean
    assert not from_5[:5].any() and from_5[5:].all()
    np.testing.assert_array_equal(sch.with_noise(base, None)(steps), clean)
    assert sch.with_noise(base, None).bounds() == base.bounds()


def test_the_same_seed_and_step_give_the_same_value_anywhere():
    make = lambda seed: sch.with_noise(sch.constant(1.0), 0, 0.5, noise_seed=seed)
    s = make(7)
    steps = jnp.arange(64, dtype=jnp.int32)
    batch = np.asarray(s(steps))
    np.testing.assert_array_equal(np.asarray(jax.jit(s)(steps)), batch)
    np.testing.assert_array_equal(np.asarray(jax.vmap(s)(steps)), batch)
    np.testing.assert_array_equal([float(s(int(t))) for t in steps[:8]], batch[:8])
    np.testing.assert_array_equal(np.asarray(make(7)(steps[::-1]))[::-1], batch)  # per step
    np.testing.assert_array_equal(sch.from_config(sch.to_config(s))(steps), batch)
    other = np.asarray(make(8)(steps))
    assert np.mean(other == batch) < 0.05
    # A step's draw depends on the step, not on where it sits in a batch or on its epoch.
    per_epoch = np.asarray(sch.per_epoch(s, steps_per_epoch=4)(steps))
    np.testing.assert_array_equal(per_epoch, np.repeat(batch[:16], 4))


def test_the_noise_does_not_depend_on_x64():
    from tests.schedule_cases import enable_x64

    s = sch.with_noise(sch.constant(0.5), 0, 0.3, noise_std=0.2, noise_seed=11)
    steps = np.arange(256, dtype=np.int32)
    narrow = np.asarray(s(steps))
    with enable_x64():
        wide = np.asarray(
            sch.with_noise(sch.constant(0.5), 0, 0.3, noise_std=0.2, noise_seed=11)(steps)
        )
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, narrow, rtol=1e-6)


def test_bounds_hold_every_draw_and_refuse_overflow():
    s = sch.with_noise(sch.linear(1.0, 0.5, 100), [0, 50], noise_pct=0.2)
    low, high = s.bounds()
    values = np.asarray(s(np.arange(200, dtype=np.int32)))
    assert low <= values.min() and values.max() <= high
    assert (low, high) == pytest.approx((0.5, 1.2))
    with pytest.raises(ValueError, match="noise_pct"):
        sch.with_noise(sch.constant(3e38), 0, noise_pct=0.5)
