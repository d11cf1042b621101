"""scale_for_batch_size: the linear (Goyal et al.) and square-root rules."""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optaxlr
import optaxlr.schedules as sch
from optaxlr.training import scale_for_batch_size


@pytest.mark.parametrize(
    "rule, batch, base, factor",
    [("linear", 8192, 256, 32.0), ("linear", 64, 256, 0.25), ("sqrt", 4096, 256, 4.0),
     ("sqrt", 512, 256, math.sqrt(2.0)), ("linear", 256, 256, 1.0)],
)
def test_numbers(rule, batch, base, factor):
    out = scale_for_batch_size(0.1, batch, base, rule=rule)
    assert isinstance(out, float)
    assert out == pytest.approx(0.1 * factor, rel=1e-15)


def test_goyal_example():
    # Goyal et al.: 0.1 per 256 images, 8192 images per batch -> 3.2.
    assert scale_for_batch_size(0.1, 8192, 256) == pytest.approx(3.2)


def test_schedules_stay_schedules_and_round_trip(variant):
    base = sch.warmup(sch.cosine(1e-3, 900), warmup_steps=100)
    scaled = scale_for_batch_size(base, 1024, 256, rule="sqrt")
    assert isinstance(scaled, optaxlr.Schedule)
    steps = jnp.arange(0, 1000, 37)
    np.testing.assert_allclose(variant(scaled)(steps), 2.0 * base(steps), rtol=1e-6)
    rebuilt = sch.from_config(sch.to_config(scaled))
    np.testing.assert_array_equal(rebuilt(steps), scaled(steps))


def test_plain_callables_and_arrays(variant):
    scaled = scale_for_batch_size(lambda t: 0.5 / (1.0 + t), 512, 128)
    out = variant(scaled)(jnp.int32(3))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, 0.5, rtol=1e-6)
    arr = scale_for_batch_size(jnp.float32(0.2), 128, 512)
    np.testing.assert_allclose(arr, 0.05, rtol=1e-6)


def test_drives_an_optimizer():
    lr = scale_for_batch_size(sch.step_decay(0.1, 10, 0.5), 1024, 256)
    opt = optaxlr.sgd(lr, momentum=0.9)
    params = {"w": jnp.ones(2)}
    _, state = jax.jit(opt.update)(params, opt.init(params), params)
    np.testing.assert_allclose(optaxlr.hyperparams(state)["learning_rate"], 0.4, rtol=1e-6)


INVALID = [
    (dict(learning_rate=0.1, batch_size=0, base_batch_size=256), ValueError,
     "batch_size must be an integer in [1, 2147483647]"),
    (dict(learning_rate=0.1, batch_size=256, base_batch_size=0), ValueError,
     "base_batch_size must be an integer in [1, 2147483647]"),
    (dict(learning_rate=0.1, batch_size=256.0, base_batch_size=256), TypeError,
     "batch_size must be an integer"),
    (dict(learning_rate=0.1, batch_size=512, base_batch_size=256, rule="log"), ValueError,
     "rule must be one of 'linear', 'sqrt'"),
    (dict(learning_rate=-0.1, batch_size=512, base_batch_size=256), ValueError,
     "learning_rate must be a finite number in [0, inf)"),
    (dict(learning_rate="0.1", batch_size=512, base_batch_size=256), TypeError,
     "learning_rate must be a number or a schedule"),
]


@pytest.mark.parametrize("kwargs, error, text", INVALID, ids=[str(k) for k, _, _ in INVALID])
def test_invalid_argument_raises_at_construction(kwargs, error, text):
    with pytest.raises(error) as info:
        scale_for_batch_size(**kwargs)
    assert text in str(info.value)


def test_every_argument_has_an_invalid_case():
    covered = {name for kwargs, _, _ in INVALID for name in kwargs}
    assert set(inspect.signature(scale_for_batch_size).parameters) <= covered
