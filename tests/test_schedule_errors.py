"""Every invalid schedule argument fails at construction with the argument's name."""

from __future__ import annotations

import pytest

import optaxlr.schedules as sch

# (constructor, arguments, exception, text the message must contain)
INVALID = [
    # non-positive or negative step counts
    (sch.linear, dict(init_value=1.0, end_value=0.0, transition_steps=0), ValueError,
     "transition_steps must be an integer in [1, inf]"),
    (sch.linear, dict(init_value=1.0, end_value=0.0, transition_steps=10, transition_begin=-1),
     ValueError, "transition_begin"),
    (sch.linear, dict(init_value=1.0, end_value=0.0, transition_steps=2.5), TypeError,
     "transition_steps must be an integer"),
    (sch.step_decay, dict(init_value=0.1, step_size=0), ValueError, "step_size"),
    (sch.step_decay, dict(init_value=0.1, step_size=-3), ValueError, "step_size"),
    (sch.exponential, dict(init_value=0.1, decay_rate=0.9, decay_steps=0), ValueError,
     "decay_steps"),
    (sch.natural_exp, dict(init_value=0.1, decay_rate=0.9, decay_steps=0), ValueError,
     "decay_steps"),
    (sch.inverse_time, dict(init_value=0.1, decay_rate=0.9, decay_steps=-1), ValueError,
     "decay_steps"),
    (sch.polynomial, dict(init_value=0.1, end_value=0.0, decay_steps=0), ValueError,
     "decay_steps"),
    (sch.cosine, dict(init_value=0.1, decay_steps=0), ValueError, "decay_steps"),
    (sch.linear_cosine, dict(init_value=0.1, decay_steps=0), ValueError, "decay_steps"),
    (sch.cosine_restarts, dict(init_value=0.1, first_cycle_steps=0), ValueError,
     "first_cycle_steps"),
    (sch.cosine_restarts, dict(init_value=0.1, first_cycle_steps=10, cycle_limit=0), ValueError,
     "cycle_limit"),
    (sch.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=0), ValueError, "step_size_up"),
    (sch.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=5, step_size_down=0),
     ValueError, "step_size_down"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=0), ValueError, "total_steps"),
    (sch.one_cycle_momentum, dict(total_steps=1), ValueError, "total_steps"),
    (sch.warmup, dict(schedule=0.1, warmup_steps=-1), ValueError, "warmup_steps"),
    (sch.rsqrt, dict(init_value=0.1, warmup_steps=-1), ValueError, "warmup_steps"),
    (sch.rsqrt, dict(init_value=0.1, timescale=0.0), ValueError, "timescale"),
    (sch.lr_range, dict(min_value=1e-7, max_value=1.0, num_steps=1), ValueError, "num_steps"),
    (sch.per_epoch, dict(fn=[0.1], steps_per_epoch=0), ValueError, "steps_per_epoch"),
    # unsorted or invalid milestones / boundaries
    (sch.multistep, dict(init_value=0.1, milestones=[30, 10]), ValueError,
     "milestones must be sorted"),
    (sch.multistep, dict(init_value=0.1, milestones=[-1, 10]), ValueError, "milestones[0]"),
    (sch.multistep, dict(init_value=0.1, milestones=30), TypeError,
     "milestones must be a sequence"),
    (sch.piecewise_constant, dict(boundaries=[10, 5], values=[1.0, 2.0, 3.0]), ValueError,
     "boundaries must be strictly increasing"),
    (sch.piecewise_constant, dict(boundaries=[5, 5], values=[1.0, 2.0, 3.0]), ValueError,
     "boundaries must be strictly increasing"),
    (sch.piecewise_constant, dict(boundaries=[5], values=[1.0]), ValueError,
     "values must have len(boundaries) + 1"),
    (sch.join, dict(schedules=[0.1, 0.2], boundaries=[20, 10]), ValueError, "boundaries"),
    (sch.join, dict(schedules=[0.1, 0.2], boundaries=[]), ValueError,
     "boundaries must have len(schedules) - 1"),
    # gamma <= 0 and other rates out of range
    (sch.step_decay, dict(init_value=0.1, step_size=10, gamma=0.0), ValueError,
     "gamma must be a finite number in (0, inf)"),
    (sch.step_decay, dict(init_value=0.1, step_size=10, gamma=-0.5), ValueError, "gamma"),
    (sch.multistep, dict(init_value=0.1, milestones=[10], gamma=0.0), ValueError, "gamma"),
    (sch.exponential, dict(init_value=0.1, decay_rate=0.0), ValueError, "decay_rate"),
    (sch.natural_exp, dict(init_value=0.1, decay_rate=-1.0), ValueError, "decay_rate"),
    (sch.inverse_time, dict(init_value=0.1, decay_rate=-1.0), ValueError, "decay_rate"),
    (sch.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=5, mode="exp_range",
                      gamma=0.0), ValueError, "gamma"),
    (sch.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=5, gamma=1.5), ValueError,
     "gamma"),
    (sch.cosine_restarts, dict(init_value=0.1, first_cycle_steps=10, cycle_mult=0.5), ValueError,
     "cycle_mult must be a finite number in [1, inf)"),
    (sch.cosine_restarts, dict(init_value=0.1, first_cycle_steps=10, cycle_decay=0.0), ValueError,
     "cycle_decay"),
    (sch.polynomial, dict(init_value=0.1, end_value=0.0, decay_steps=10, power=0.0), ValueError,
     "power"),
    (sch.cosine, dict(init_value=0.1, decay_steps=10, exponent=-1.0), ValueError, "exponent"),
    # pct_start outside (0, 1)
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, pct_start=0.0), ValueError,
     "pct_start must be a finite number in (0, 1)"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, pct_start=1.0), ValueError, "pct_start"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, pct_start=1.5), ValueError, "pct_start"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, pct_start=0.6, three_phase=True),
     ValueError, "pct_start must be a finite number in (0, 0.5)"),
    (sch.one_cycle_momentum, dict(total_steps=100, pct_start=-0.1), ValueError, "pct_start"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, div_factor=0.0), ValueError,
     "div_factor"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, final_div_factor=-1.0), ValueError,
     "final_div_factor"),
    (sch.one_cycle_momentum, dict(total_steps=100, max_value=1.5), ValueError, "max_value"),
    # warmup longer than total
    (sch.warmup_stable_decay, dict(peak_value=0.1, total_steps=100, warmup_steps=90,
                                   decay_steps=20), ValueError,
     "warmup_steps + decay_steps must be <= total_steps"),
    (sch.warmup_stable_decay, dict(peak_value=0.1, total_steps=100, warmup_steps=10,
                                   decay_steps=0), ValueError, "decay_steps"),
    # unknown modes and conventions
    (sch.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=5, mode="sine"), ValueError,
     "mode must be one of 'triangular', 'triangular2', 'exp_range'"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, anneal="cosine"), ValueError,
     "anneal must be one of 'cos', 'linear'"),
    (sch.one_cycle, dict(max_value=0.1, total_steps=100, convention="keras"), ValueError,
     "convention must be one of 'torch', 'fastai'"),
    (sch.warmup, dict(schedule=0.1, warmup_steps=5, mode="exp"), ValueError,
     "mode must be one of 'linear', 'cosine', 'constant'"),
    (sch.warmup, dict(schedule=0.1, warmup_steps=5, prefix=False, combine="add"), ValueError,
     "combine must be one of 'multiply', 'replace'"),
    (sch.warmup, dict(schedule=0.1, warmup_steps=5, combine="replace"), ValueError,
     "combine only applies with prefix=False"),
    (sch.warmup_stable_decay, dict(peak_value=0.1, total_steps=100, warmup_steps=10,
                                   decay_steps=20, decay_shape="sqrt"), ValueError,
     "decay_shape must be one of"),
    (sch.lr_range, dict(min_value=1e-7, max_value=1.0, num_steps=10, mode="log"), ValueError,
     "mode must be one of 'exp', 'linear'"),
    (sch.piecewise_constant, dict(boundaries=[5], values=[1.0, 2.0], convention="tf"),
     ValueError, "convention"),
    (sch.cosine_restarts, dict(init_value=0.1, first_cycle_steps=10, convention="torch"),
     ValueError, "convention must be one of 'keras', 'timm'"),
    # values that are not numbers, or not finite
    (sch.constant, dict(value="0.1"), TypeError, "value must be a number"),
    (sch.constant, dict(value=float("nan")), ValueError, "value must be a finite number"),
    (sch.cosine, dict(init_value=float("inf"), decay_steps=10), ValueError, "init_value"),
    (sch.step_decay, dict(init_value=-0.1, step_size=10), ValueError,
     "init_value must be a finite number in [0, inf)"),
    (sch.lr_range, dict(min_value=0.0, max_value=1.0, num_steps=10), ValueError,
     "min_value must be a finite number in (0, inf)"),
    (sch.lr_range, dict(min_value=1.0, max_value=0.1, num_steps=10), ValueError,
     "max_value must be greater than min_value"),
    (sch.warmup, dict(schedule="cosine", warmup_steps=5), TypeError, "schedule must be"),
    (sch.per_epoch, dict(fn=[], steps_per_epoch=5), ValueError, "fn must not be an empty"),
    (sch.per_epoch, dict(fn=lambda e, lr: float("nan"), steps_per_epoch=5, num_epochs=3,
                         init_value=0.1), ValueError, "fn(0)"),
    (sch.per_epoch, dict(fn=[0.1], steps_per_epoch=5, init_value=0.1), ValueError, "init_value"),
    (sch.product, dict(schedules=[]), ValueError, "schedules must hold at least 1"),
]


@pytest.mark.parametrize(
    "constructor, kwargs, error, text",
    INVALID,
    ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, _, _) in enumerate(INVALID)],
)
def test_invalid_argument_raises_at_construction(constructor, kwargs, error, text):
    with pytest.raises(error) as info:
        constructor(**kwargs)
    assert text in str(info.value)


def test_positional_mistakes_name_the_constructor():
    with pytest.raises(TypeError, match=r"cosine\(\): missing a required argument"):
        sch.cosine(0.1)
