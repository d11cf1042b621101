#!/usr/bin/env python
"""Write tests/fixtures/schedules.json: reference values of peer learning-rate schedules.

Each case runs one schedule of a peer library (PyTorch, Keras 3, optax, TF1,
timm, fastai) in float64 and records its value at every step, next to the
optaxlr config that is meant to reproduce it. ``tests/test_schedule_fixtures.py``
rebuilds each config with ``optaxlr.schedules.from_config`` and compares.

Run it in a reference virtualenv that has the peers installed, never in the
project's own environment: this script must not import optaxlr. See
scripts/README.md for the setup. Peers that are not installed are skipped and
listed under "skipped" in the output.

``step`` is the number of updates already applied; the first update uses step 0.

* torch: ``SGD([p], lr=base, momentum=0.9)`` plus the scheduler; for each update
  ``t`` record ``param_groups[0]["lr"]`` (the lr update ``t`` uses), then call
  ``optimizer.step(); scheduler.step()``.
* timm: ``scheduler.step_update(num_updates=t)`` before update ``t``, then read the lr.
* Keras / optax / TF1: ``schedule(step)`` in float64.
* fastai: the annealer at ``pos = t / total``.

Usage::

    python scripts/generate_schedule_fixtures.py            # write the fixtures
    python scripts/generate_schedule_fixtures.py --check    # compare with the committed file
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "schedules.json"

CASES: list[dict[str, Any]] = []
VERSIONS: dict[str, str] = {}
SKIPPED: dict[str, str] = {}


# --------------------------------------------------------------------------- helpers


class Raw(str):
    """A string shown as it is in a case id (not quoted)."""


def _fmt(v: Any) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool | int | str):
        return repr(v) if isinstance(v, str) else str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_fmt(k)}:{_fmt(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _call(name: str, kwargs: dict[str, Any], sep: str = ",") -> str:
    return f"{name}(" + sep.join(f"{k}={_fmt(v)}" for k, v in kwargs.items()) + ")"


def _as_float_list(values: Any) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"non-finite reference value in {out}")
    return out


def add_case(
    source: str,
    peer: str,
    case_id: str,
    reference: str,
    config: dict[str, Any],
    values: list[float],
    steps: list[int] | None = None,
    **extra: Any,
) -> None:
    if steps is None:
        steps = list(range(len(values)))
    if len(steps) != len(values):
        raise ValueError(f"{case_id}: {len(steps)} steps but {len(values)} values")
    if any(c["id"] == case_id for c in CASES):
        raise ValueError(f"duplicate case id {case_id}")
    case = {
        "id": case_id,
        "source": source,
        "peer": peer,
        "reference": reference,
        "config": config,
        "steps": [int(s) for s in steps],
        "values": _as_float_list(values),
    }
    case.update(extra)
    CASES.append(case)


def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


# --------------------------------------------------------------------------- torch


def gen_torch() -> None:
    import torch
    from torch.optim import SGD, Adam
    from torch.optim import lr_scheduler as L

    VERSIONS["torch"] = torch.__version__
    torch.manual_seed(0)

    def run(
        make: Callable[[torch.optim.Optimizer], Any],
        base_lr: float,
        n: int,
        read: str = "lr",
        adam: bool = False,
    ) -> list[float]:
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = Adam([p], lr=base_lr) if adam else SGD([p], lr=base_lr, momentum=0.9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sched = make(opt)
            out = []
            for _ in range(n):
                g = opt.param_groups[0]
                if read == "lr":
                    out.append(g["lr"])
                elif read == "momentum":
                    out.append(g["momentum"])
                elif read == "beta1":
                    out.append(g["betas"][0])
                else:
                    raise ValueError(read)
                p.grad = torch.ones_like(p)
                opt.step()
                sched.step()
        return [float(v) for v in out]

    def ref(cls: str, base: float, kw: dict[str, Any], adam: bool = False) -> str:
        opt = f"Adam([p], lr={base!r})" if adam else f"SGD([p], lr={base!r}, momentum=0.9)"
        args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        return f"torch.optim.lr_scheduler.{cls}({opt}, {args})"

    def cid(cls: str, base: float, kw: dict[str, Any], suffix: str = "") -> str:
        shown = dict(kw) if base == 0.1 else {"lr": base, **kw}
        return "torch." + _call(cls, shown) + suffix

    def simple(cls: str, base: float, kw: dict[str, Any], n: int, config: dict[str, Any]):
        sched_cls = getattr(L, cls)
        values = run(lambda o: sched_cls(o, **kw), base, n)
        add_case("torch", cls, cid(cls, base, kw), ref(cls, base, kw), config, values)

    # LinearLR -> linear
    for base, kw, n in [
        (0.1, dict(start_factor=1 / 3, end_factor=1.0, total_iters=5), 15),
        (0.1, dict(start_factor=1.0, end_factor=0.05, total_iters=10), 25),
        (0.2, dict(start_factor=0.25, end_factor=0.75, total_iters=7), 20),
        (1.0, dict(start_factor=0.001, end_factor=1.0, total_iters=1), 5),
    ]:
        cfg = {
            "name": "linear",
            "init_value": base * kw["start_factor"],
            "end_value": base * kw["end_factor"],
            "transition_steps": kw["total_iters"],
        }
        simple("LinearLR", base, kw, n, cfg)

    # StepLR -> step_decay
    for base, kw, n in [
        (0.1, dict(step_size=3, gamma=0.5), 12),
        (0.1, dict(step_size=1, gamma=0.9), 30),
        (1.0, dict(step_size=7, gamma=0.1), 25),
    ]:
        cfg = {"name": "step_decay", "init_value": base, **kw}
        simple("StepLR", base, kw, n, cfg)

    # MultiStepLR -> multistep (a repeated milestone multiplies by gamma twice)
    for base, kw, n in [
        (0.1, dict(milestones=[3, 7, 7, 12], gamma=0.5), 20),
        (0.1, dict(milestones=[5, 10], gamma=0.1), 15),
        (0.5, dict(milestones=[1, 2, 4, 8], gamma=0.7), 14),
    ]:
        cfg = {"name": "multistep", "init_value": base, **kw}
        simple("MultiStepLR", base, kw, n, cfg)

    # ConstantLR -> piecewise_constant
    for base, kw, n in [
        (0.1, dict(factor=0.25, total_iters=4), 12),
        (0.1, dict(factor=0.5, total_iters=1), 6),
        (0.05, dict(factor=0.1, total_iters=10), 25),
    ]:
        cfg = {
            "name": "piecewise_constant",
            "boundaries": [kw["total_iters"]],
            "values": [base * kw["factor"], base],
        }
        simple("ConstantLR", base, kw, n, cfg)

    # ExponentialLR -> exponential
    for base, kw, n in [
        (0.1, dict(gamma=0.9), 40),
        (0.1, dict(gamma=0.99), 300),
        (1.0, dict(gamma=0.5), 30),
    ]:
        cfg = {"name": "exponential", "init_value": base, "decay_rate": kw["gamma"]}
        simple("ExponentialLR", base, kw, n, cfg)

    # PolynomialLR -> polynomial
    for base, kw, n in [
        (0.1, dict(total_iters=10, power=1.0), 25),
        (0.1, dict(total_iters=8, power=2.0), 20),
        (1.0, dict(total_iters=6, power=0.5), 15),
    ]:
        cfg = {
            "name": "polynomial",
            "init_value": base,
            "end_value": 0.0,
            "decay_steps": kw["total_iters"],
            "power": kw["power"],
        }
        simple("PolynomialLR", base, kw, n, cfg)

    # CosineAnnealingLR, run past T_max -> periodic cosine
    for base, kw, n in [
        (0.1, dict(T_max=10, eta_min=0.0), 45),
        (0.1, dict(T_max=7, eta_min=0.001), 30),
        (1.0, dict(T_max=25, eta_min=1e-4), 80),
    ]:
        cfg = {
            "name": "cosine",
            "init_value": base,
            "decay_steps": kw["T_max"],
            "end_value": kw["eta_min"],
            "periodic": True,
        }
        simple("CosineAnnealingLR", base, kw, n, cfg)

    # CosineAnnealingWarmRestarts -> cosine_restarts
    for base, kw, n in [
        (0.1, dict(T_0=5, T_mult=1, eta_min=0.0), 20),
        (0.1, dict(T_0=3, T_mult=2, eta_min=0.01), 50),
        (1.0, dict(T_0=4, T_mult=3, eta_min=0.001), 60),
    ]:
        cfg = {
            "name": "cosine_restarts",
            "init_value": base,
            "first_cycle_steps": kw["T_0"],
            "cycle_mult": float(kw["T_mult"]),
            "end_value": kw["eta_min"],
        }
        simple("CosineAnnealingWarmRestarts", base, kw, n, cfg)

    # CyclicLR -> cyclic
    for kw, n in [
        (dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular"), 30),
        (dict(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=6, mode="triangular"), 30),
        (dict(base_lr=0.001, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"), 40),
        (dict(base_lr=0.01, max_lr=0.2, step_size_up=5, mode="exp_range", gamma=0.97), 40),
        (
            dict(
                base_lr=0.001,
                max_lr=0.01,
                step_size_up=3,
                step_size_down=4,
                mode="exp_range",
                gamma=0.9,
            ),
            30,
        ),
    ]:
        full = {**kw, "cycle_momentum": False}
        cfg = {
            "name": "cyclic",
            "base_value": kw["base_lr"],
            "max_value": kw["max_lr"],
            "step_size_up": kw["step_size_up"],
            "step_size_down": kw.get("step_size_down"),
            "mode": kw["mode"],
            "gamma": kw.get("gamma", 1.0),
        }
        values = run(lambda o, full=full: L.CyclicLR(o, **full), 0.1, n)
        add_case(
            "torch",
            "CyclicLR",
            "torch." + _call("CyclicLR", full),
            ref("CyclicLR", 0.1, full),
            cfg,
            values,
        )

    # OneCycleLR -> one_cycle (lr) and one_cycle_momentum (momentum / Adam beta1)
    one_cycle_cases = [
        dict(max_lr=0.1, total_steps=20, pct_start=0.3, anneal_strategy="cos"),
        dict(max_lr=0.5, total_steps=23, pct_start=0.25, anneal_strategy="linear"),
        dict(max_lr=1.0, total_steps=30, pct_start=0.3, anneal_strategy="cos", three_phase=True),
        dict(
            max_lr=0.2,
            total_steps=17,
            pct_start=0.35,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
        ),
        dict(
            max_lr=0.05,
            total_steps=100,
            pct_start=0.3,
            anneal_strategy="cos",
            base_momentum=0.8,
            max_momentum=0.9,
        ),
        dict(
            max_lr=0.3,
            total_steps=41,
            pct_start=0.1,
            anneal_strategy="cos",
            div_factor=5.0,
            final_div_factor=1000.0,
        ),
    ]
    for kw in one_cycle_cases:
        full = {
            "max_lr": kw["max_lr"],
            "total_steps": kw["total_steps"],
            "pct_start": kw["pct_start"],
            "anneal_strategy": kw["anneal_strategy"],
            "div_factor": kw.get("div_factor", 25.0),
            "final_div_factor": kw.get("final_div_factor", 1e4),
            "three_phase": kw.get("three_phase", False),
            "cycle_momentum": True,
            "base_momentum": kw.get("base_momentum", 0.85),
            "max_momentum": kw.get("max_momentum", 0.95),
        }
        n = kw["total_steps"]
        lr_cfg = {
            "name": "one_cycle",
            "max_value": full["max_lr"],
            "total_steps": n,
            "pct_start": full["pct_start"],
            "div_factor": full["div_factor"],
            "final_div_factor": full["final_div_factor"],
            "anneal": full["anneal_strategy"],
            "three_phase": full["three_phase"],
        }
        mom_cfg = {
            "name": "one_cycle_momentum",
            "total_steps": n,
            "base_value": full["base_momentum"],
            "max_value": full["max_momentum"],
            "pct_start": full["pct_start"],
            "anneal": full["anneal_strategy"],
            "three_phase": full["three_phase"],
        }

        def make(o, full=full):
            return L.OneCycleLR(o, **full)

        base_id = "torch." + _call("OneCycleLR", kw)
        add_case(
            "torch", "OneCycleLR", base_id, ref("OneCycleLR", 0.1, full), lr_cfg, run(make, 0.1, n)
        )
        add_case(
            "torch",
            "OneCycleLR",
            base_id + "[momentum]",
            ref("OneCycleLR", 0.1, full) + ' -> param_groups[0]["momentum"]',
            mom_cfg,
            run(make, 0.1, n, read="momentum"),
        )
        add_case(
            "torch",
            "OneCycleLR",
            base_id + "[Adam.betas[0]]",
            ref("OneCycleLR", 0.1, full, adam=True) + ' -> param_groups[0]["betas"][0]',
            mom_cfg,
            run(make, 0.1, n, read="beta1", adam=True),
        )

    # SequentialLR -> join
    seq_cases = [
        (0.1, dict(start_factor=0.1, total_iters=4), "ExponentialLR", dict(gamma=0.9), 5, 20),
        (0.1, dict(start_factor=0.2, total_iters=6), "ExponentialLR", dict(gamma=0.8), 3, 15),
        (
            0.1,
            dict(start_factor=0.01, total_iters=5),
            "CosineAnnealingLR",
            dict(T_max=10, eta_min=0.001),
            5,
            35,
        ),
        (
            1.0,
            dict(start_factor=0.5, end_factor=1.0, total_iters=8),
            "CosineAnnealingLR",
            dict(T_max=6, eta_min=0.0),
            4,
            25,
        ),
    ]
    for base, lin_kw, second, second_kw, milestone, n in seq_cases:
        lin_cfg = {
            "name": "linear",
            "init_value": base * lin_kw["start_factor"],
            "end_value": base * lin_kw.get("end_factor", 1.0),
            "transition_steps": lin_kw["total_iters"],
        }
        if second == "ExponentialLR":
            second_cfg = {
                "name": "exponential",
                "init_value": base,
                "decay_rate": second_kw["gamma"],
            }
        else:
            second_cfg = {
                "name": "cosine",
                "init_value": base,
                "decay_steps": second_kw["T_max"],
                "end_value": second_kw["eta_min"],
                "periodic": True,
            }
        cfg = {"name": "join", "schedules": [lin_cfg, second_cfg], "boundaries": [milestone]}

        def make(o, lin_kw=lin_kw, second=second, second_kw=second_kw, milestone=milestone):
            s1 = L.LinearLR(o, **lin_kw)
            s2 = getattr(L, second)(o, **second_kw)
            return L.SequentialLR(o, [s1, s2], milestones=[milestone])

        inner = f"[{_call('LinearLR', lin_kw)},{_call(second, second_kw)}]"
        case_id = (
            "torch.SequentialLR("
            + (f"lr={base!r}," if base != 0.1 else "")
            + f"schedulers={inner},milestones=[{milestone}])"
        )
        reference = (
            f"opt = SGD([p], lr={base!r}, momentum=0.9); torch.optim.lr_scheduler.SequentialLR("
            f"opt, [LinearLR(opt, {', '.join(f'{k}={v!r}' for k, v in lin_kw.items())}), "
            f"{second}(opt, {', '.join(f'{k}={v!r}' for k, v in second_kw.items())})], "
            f"milestones=[{milestone}])"
        )
        add_case("torch", "SequentialLR", case_id, reference, cfg, run(make, base, n))

    # ChainedScheduler -> product
    for base, c_kw, gamma, n in [
        (0.1, dict(factor=0.5, total_iters=4), 0.9, 15),
        (0.05, dict(factor=0.1, total_iters=10), 0.95, 30),
    ]:
        cfg = {
            "name": "product",
            "schedules": [
                {"name": "constant", "value": base},
                {
                    "name": "piecewise_constant",
                    "boundaries": [c_kw["total_iters"]],
                    "values": [c_kw["factor"], 1.0],
                },
                {"name": "exponential", "init_value": 1.0, "decay_rate": gamma},
            ],
        }

        def make(o, c_kw=c_kw, gamma=gamma):
            return L.ChainedScheduler([L.ConstantLR(o, **c_kw), L.ExponentialLR(o, gamma=gamma)])

        case_id = (
            "torch.ChainedScheduler("
            + (f"lr={base!r}," if base != 0.1 else "")
            + f"schedulers=[{_call('ConstantLR', c_kw)},ExponentialLR(gamma={gamma!r})])"
        )
        reference = (
            f"opt = SGD([p], lr={base!r}, momentum=0.9); torch.optim.lr_scheduler.ChainedScheduler("
            f"[ConstantLR(opt, factor={c_kw['factor']!r}, total_iters={c_kw['total_iters']}), "
            f"ExponentialLR(opt, gamma={gamma!r})])"
        )
        add_case("torch", "ChainedScheduler", case_id, reference, cfg, run(make, base, n))


# --------------------------------------------------------------------------- optax


def gen_optax() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    VERSIONS["optax"] = optax.__version__
    VERSIONS["jax"] = jax.__version__
    VERSIONS["jaxlib"] = _version("jaxlib")

    def evaluate(fn: Callable[[Any], Any], n: int) -> list[float]:
        out = np.asarray(fn(jnp.arange(n, dtype=jnp.int64)))
        out = np.broadcast_to(out, (n,))
        if out.dtype != np.float64:
            raise TypeError(f"optax returned {out.dtype}, expected float64")
        return [float(v) for v in out]

    def add(
        peer: str,
        kw: dict[str, Any],
        fn: Callable[[Any], Any],
        cfg: dict[str, Any],
        n: int,
        id_kw: dict[str, Any] | None = None,
        reference: str | None = None,
    ):
        reference = (
            reference or f"optax.{peer}(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
        )
        add_case(
            "optax",
            peer,
            "optax." + _call(peer, id_kw if id_kw is not None else kw),
            reference,
            cfg,
            evaluate(fn, n),
        )

    # linear_schedule -> linear
    for kw, n in [
        (dict(init_value=0.0, end_value=0.1, transition_steps=10), 25),
        (dict(init_value=1.0, end_value=0.01, transition_steps=20, transition_begin=5), 60),
        (dict(init_value=0.2, end_value=0.0, transition_steps=7, transition_begin=3), 25),
    ]:
        cfg = {
            "name": "linear",
            "init_value": kw["init_value"],
            "end_value": kw["end_value"],
            "transition_steps": kw["transition_steps"],
            "transition_begin": kw.get("transition_begin", 0),
        }
        add("linear_schedule", kw, optax.linear_schedule(**kw), cfg, n)

    # piecewise_constant_schedule -> piecewise_constant(convention="optax")
    for kw, n in [
        (dict(init_value=0.1, boundaries_and_scales={5: 0.5, 10: 0.1, 15: 2.0}), 25),
        (dict(init_value=1.0, boundaries_and_scales={3: 0.1}), 10),
        (dict(init_value=0.1, boundaries_and_scales={0: 0.5, 4: 0.1, 8: 0.1}), 16),
    ]:
        bounds = sorted(kw["boundaries_and_scales"])
        values = [kw["init_value"]]
        for b in bounds:
            values.append(values[-1] * kw["boundaries_and_scales"][b])
        cfg = {
            "name": "piecewise_constant",
            "boundaries": bounds,
            "values": values,
            "convention": "optax",
        }
        add("piecewise_constant_schedule", kw, optax.piecewise_constant_schedule(**kw), cfg, n)

    # exponential_decay -> exponential
    for kw, n in [
        (dict(init_value=0.1, transition_steps=5, decay_rate=0.5), 40),
        (dict(init_value=0.1, transition_steps=4, decay_rate=0.7, staircase=True), 30),
        (
            dict(
                init_value=1.0,
                transition_steps=3,
                decay_rate=0.8,
                transition_begin=10,
                end_value=0.01,
            ),
            80,
        ),
        (dict(init_value=0.1, transition_steps=2, decay_rate=1.5, end_value=0.5), 30),
        (
            dict(
                init_value=0.5,
                transition_steps=3,
                decay_rate=0.5,
                transition_begin=4,
                staircase=True,
                end_value=0.02,
            ),
            40,
        ),
        (dict(init_value=0.1, transition_steps=1, decay_rate=0.99), 300),
    ]:
        cfg = {
            "name": "exponential",
            "init_value": kw["init_value"],
            "decay_rate": kw["decay_rate"],
            "decay_steps": kw["transition_steps"],
            "staircase": kw.get("staircase", False),
            "end_value": kw.get("end_value"),
            "transition_begin": kw.get("transition_begin", 0),
        }
        add("exponential_decay", kw, optax.exponential_decay(**kw), cfg, n)

    # cosine_decay_schedule -> cosine
    for kw, n in [
        (dict(init_value=0.1, decay_steps=20, alpha=0.0), 50),
        (dict(init_value=1.0, decay_steps=15, alpha=0.1, exponent=2.0), 40),
        (dict(init_value=0.1, decay_steps=7, alpha=0.05, exponent=0.5), 20),
    ]:
        cfg = {
            "name": "cosine",
            "init_value": kw["init_value"],
            "decay_steps": kw["decay_steps"],
            "end_value": kw["alpha"] * kw["init_value"],
            "exponent": kw.get("exponent", 1.0),
        }
        add("cosine_decay_schedule", kw, optax.cosine_decay_schedule(**kw), cfg, n)

    # join_schedules -> join
    fn = optax.join_schedules(
        [optax.linear_schedule(0.0, 0.1, 5), optax.cosine_decay_schedule(0.1, 20)], [5]
    )
    cfg = {
        "name": "join",
        "boundaries": [5],
        "schedules": [
            {"name": "linear", "init_value": 0.0, "end_value": 0.1, "transition_steps": 5},
            {"name": "cosine", "init_value": 0.1, "decay_steps": 20},
        ],
    }
    add(
        "join_schedules",
        {},
        fn,
        cfg,
        60,
        id_kw={
            "schedules": Raw("[linear_schedule(0.0,0.1,5),cosine_decay_schedule(0.1,20)]"),
            "boundaries": [5],
        },
        reference="optax.join_schedules([optax.linear_schedule(0.0, 0.1, 5), "
        "optax.cosine_decay_schedule(0.1, 20)], [5])",
    )
    fn = optax.join_schedules(
        [
            optax.constant_schedule(0.01),
            optax.linear_schedule(0.01, 0.1, 10),
            optax.exponential_decay(0.1, 5, 0.5),
        ],
        [3, 13],
    )
    cfg = {
        "name": "join",
        "boundaries": [3, 13],
        "schedules": [
            {"name": "constant", "value": 0.01},
            {"name": "linear", "init_value": 0.01, "end_value": 0.1, "transition_steps": 10},
            {"name": "exponential", "init_value": 0.1, "decay_rate": 0.5, "decay_steps": 5},
        ],
    }
    add(
        "join_schedules",
        {},
        fn,
        cfg,
        45,
        id_kw={
            "schedules": Raw(
                "[constant_schedule(0.01),linear_schedule(0.01,0.1,10),"
                "exponential_decay(0.1,5,0.5)]"
            ),
            "boundaries": [3, 13],
        },
        reference="optax.join_schedules([optax.constant_schedule(0.01), "
        "optax.linear_schedule(0.01, 0.1, 10), optax.exponential_decay(0.1, 5, 0.5)], "
        "[3, 13])",
    )

    # warmup_cosine_decay_schedule -> warmup(cosine)
    for kw, n in [
        (dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=25, end_value=0.001), 60),
        (
            dict(
                init_value=0.01,
                peak_value=1.0,
                warmup_steps=10,
                decay_steps=50,
                end_value=0.0,
                exponent=2.0,
            ),
            120,
        ),
        (dict(init_value=0.0, peak_value=0.1, warmup_steps=1, decay_steps=12, end_value=0.01), 30),
    ]:
        inner = {
            "name": "cosine",
            "init_value": kw["peak_value"],
            "decay_steps": kw["decay_steps"] - kw["warmup_steps"],
            "end_value": kw["end_value"],
        }
        if kw.get("exponent", 1.0) != 1.0:
            inner["exponent"] = kw["exponent"]
        cfg = {
            "name": "warmup",
            "schedule": inner,
            "warmup_steps": kw["warmup_steps"],
            "start_value": kw["init_value"],
        }
        add("warmup_cosine_decay_schedule", kw, optax.warmup_cosine_decay_schedule(**kw), cfg, n)

    # warmup_exponential_decay_schedule -> warmup(exponential)
    for kw, n in [
        (
            dict(
                init_value=0.0,
                peak_value=0.1,
                warmup_steps=5,
                transition_steps=4,
                decay_rate=0.5,
                transition_begin=3,
                staircase=True,
                end_value=0.001,
            ),
            60,
        ),
        (
            dict(
                init_value=0.001,
                peak_value=0.2,
                warmup_steps=8,
                transition_steps=10,
                decay_rate=0.9,
            ),
            80,
        ),
    ]:
        inner = {
            "name": "exponential",
            "init_value": kw["peak_value"],
            "decay_rate": kw["decay_rate"],
            "decay_steps": kw["transition_steps"],
            "staircase": kw.get("staircase", False),
            "end_value": kw.get("end_value"),
            "transition_begin": kw.get("transition_begin", 0),
        }
        cfg = {
            "name": "warmup",
            "schedule": inner,
            "warmup_steps": kw["warmup_steps"],
            "start_value": kw["init_value"],
        }
        add(
            "warmup_exponential_decay_schedule",
            kw,
            optax.warmup_exponential_decay_schedule(**kw),
            cfg,
            n,
        )


# --------------------------------------------------------------------------- keras


def gen_keras() -> None:
    # Keras' type promotion turns every 64-bit float into float32 except under the
    # TensorFlow backend, and there a Python float argument still passes through float32
    # (cast(convert_to_tensor(0.7), float64) is 0.699999988). So run Keras on TensorFlow
    # with every float argument given as a float64 tensor; then every op stays float64.
    import keras
    import tensorflow as tf
    from keras.optimizers import schedules as S

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"run with KERAS_BACKEND=tensorflow (got {keras.backend.backend()})")
    keras.config.set_floatx("float64")
    VERSIONS["keras"] = keras.__version__
    VERSIONS["keras_backend"] = keras.backend.backend()

    def f64(v: Any) -> Any:
        if isinstance(v, float):
            return tf.constant(v, tf.float64)
        if isinstance(v, list):
            return [f64(x) for x in v]
        return v

    def evaluate(sched: Any, n: int) -> list[float]:
        out = []
        for t in range(n):
            v = sched(tf.constant(t, tf.int64))
            if v.dtype != tf.float64:
                raise TypeError(f"keras returned {v.dtype}, expected float64")
            out.append(float(v.numpy()))
        return out

    def add(cls: str, kw: dict[str, Any], cfg: dict[str, Any], n: int):
        sched = getattr(S, cls)(**{k: f64(v) for k, v in kw.items()})
        reference = (
            f"keras.optimizers.schedules.{cls}("
            + ", ".join(f"{k}={v!r}" for k, v in kw.items())
            + ")(step) with KERAS_BACKEND=tensorflow, floatx float64 and every float argument"
            " passed as tf.constant(x, tf.float64)"
        )
        add_case("keras", cls, "keras." + _call(cls, kw), reference, cfg, evaluate(sched, n))

    for kw, n in [
        (dict(boundaries=[5, 10], values=[0.1, 0.01, 0.001]), 20),
        (dict(boundaries=[3], values=[1.0, 0.5]), 10),
        (dict(boundaries=[2, 4, 8, 16], values=[0.1, 0.2, 0.05, 0.01, 0.001]), 30),
    ]:
        cfg = {
            "name": "piecewise_constant",
            "boundaries": kw["boundaries"],
            "values": kw["values"],
            "convention": "keras",
        }
        add("PiecewiseConstantDecay", kw, cfg, n)

    for kw, n in [
        (dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5), 30),
        (dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.7, staircase=True), 25),
        (dict(initial_learning_rate=1.0, decay_steps=10, decay_rate=0.96), 100),
    ]:
        cfg = {
            "name": "exponential",
            "init_value": kw["initial_learning_rate"],
            "decay_rate": kw["decay_rate"],
            "decay_steps": kw["decay_steps"],
            "staircase": kw.get("staircase", False),
        }
        add("ExponentialDecay", kw, cfg, n)

    for kw, n in [
        (dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5), 30),
        (dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=1.0, staircase=True), 25),
        (dict(initial_learning_rate=1.0, decay_steps=1, decay_rate=0.1), 50),
    ]:
        cfg = {
            "name": "inverse_time",
            "init_value": kw["initial_learning_rate"],
            "decay_rate": kw["decay_rate"],
            "decay_steps": kw["decay_steps"],
            "staircase": kw.get("staircase", False),
        }
        add("InverseTimeDecay", kw, cfg, n)

    for kw, n in [
        (dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.001, power=1.0), 25),
        (
            dict(
                initial_learning_rate=0.1,
                decay_steps=6,
                end_learning_rate=0.01,
                power=2.0,
                cycle=True,
            ),
            40,
        ),
        (dict(initial_learning_rate=1.0, decay_steps=8, end_learning_rate=0.0, power=0.5), 20),
        (
            dict(
                initial_learning_rate=0.1,
                decay_steps=5,
                end_learning_rate=0.0001,
                power=1.0,
                cycle=True,
            ),
            30,
        ),
    ]:
        cfg = {
            "name": "polynomial",
            "init_value": kw["initial_learning_rate"],
            "end_value": kw["end_learning_rate"],
            "decay_steps": kw["decay_steps"],
            "power": kw["power"],
            "cycle": kw.get("cycle", False),
        }
        add("PolynomialDecay", kw, cfg, n)

    for kw, n in [
        (dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.0), 50),
        (dict(initial_learning_rate=1.0, decay_steps=13, alpha=0.05), 30),
    ]:
        cfg = {
            "name": "cosine",
            "init_value": kw["initial_learning_rate"],
            "decay_steps": kw["decay_steps"],
            "end_value": kw["alpha"] * kw["initial_learning_rate"],
        }
        add("CosineDecay", kw, cfg, n)

    for kw, n in [
        (dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=2.0, m_mul=0.5, alpha=0.1), 80),
        (
            dict(initial_learning_rate=0.1, first_decay_steps=6, t_mul=1.0, m_mul=0.8, alpha=0.01),
            40,
        ),
        (dict(initial_learning_rate=1.0, first_decay_steps=4, t_mul=1.5, m_mul=1.0, alpha=0.0), 50),
        (dict(initial_learning_rate=0.5, first_decay_steps=3, t_mul=3.0, m_mul=0.7, alpha=0.2), 45),
    ]:
        cfg = {
            "name": "cosine_restarts",
            "init_value": kw["initial_learning_rate"],
            "first_cycle_steps": kw["first_decay_steps"],
            "cycle_mult": kw["t_mul"],
            "cycle_decay": kw["m_mul"],
            "end_value": kw["alpha"] * kw["initial_learning_rate"],
            "convention": "keras",
        }
        add("CosineDecayRestarts", kw, cfg, n)


# --------------------------------------------------------------------------- tensorflow (TF1)


def gen_tensorflow() -> None:
    import tensorflow as tf
    from tensorflow.python.keras.optimizer_v2 import learning_rate_schedule as tf_lrs

    VERSIONS["tensorflow"] = tf.__version__

    def evaluate(make: Callable[[Any], Any], n: int, dtype: Any = tf.float64) -> list[float]:
        out = []
        for t in range(n):
            v = make(tf.constant(t, tf.int64))
            v = v() if callable(v) else v
            if v.dtype != dtype:
                raise TypeError(f"tensorflow returned {v.dtype}, expected {dtype}")
            out.append(float(v.numpy()))
        return out

    # natural_exp_decay computes exp(-decay_rate) with decay_rate as given; a Python float
    # becomes a float32 tensor there, so pass float64 tensors to keep the reference float64.
    for lr, kw, n in [
        (0.1, dict(decay_steps=4, decay_rate=0.5), 30),
        (0.1, dict(decay_steps=3, decay_rate=0.3, staircase=True), 25),
        (1.0, dict(decay_steps=1, decay_rate=0.05), 100),
    ]:

        def make(step, lr=lr, kw=kw):
            return tf.compat.v1.train.natural_exp_decay(
                tf.constant(lr, tf.float64),
                step,
                kw["decay_steps"],
                tf.constant(kw["decay_rate"], tf.float64),
                staircase=kw.get("staircase", False),
            )

        cfg = {
            "name": "natural_exp",
            "init_value": lr,
            "decay_rate": kw["decay_rate"],
            "decay_steps": kw["decay_steps"],
            "staircase": kw.get("staircase", False),
        }
        reference = (
            f"tf.compat.v1.train.natural_exp_decay(tf.constant({lr!r}, tf.float64), step, "
            f"decay_steps={kw['decay_steps']}, decay_rate=tf.constant({kw['decay_rate']!r}, "
            f"tf.float64), staircase={kw.get('staircase', False)})"
        )
        add_case(
            "tensorflow",
            "natural_exp_decay",
            "tf1." + _call("natural_exp_decay", {"learning_rate": lr, **kw}),
            reference,
            cfg,
            evaluate(make, n),
        )

    # LinearCosineDecay multiplies by constant_op.constant(math.pi), a float32 tensor, so a
    # float64 learning rate fails; evaluate it with that one constant made float64 (and the
    # float arguments as float64 tensors: a Python float is cast through float32) and check
    # the result against the unpatched float32 run.
    real_constant_op = tf_lrs.constant_op

    class _Float64Constants(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(real_constant_op, name)

        @staticmethod
        def constant(value: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
            if dtype is None and isinstance(value, float):
                dtype = tf.float64
            return real_constant_op.constant(value, dtype, *args, **kwargs)

    for lr, kw, n in [
        (0.1, dict(decay_steps=20, num_periods=0.5, alpha=0.0, beta=0.001), 50),
        (1.0, dict(decay_steps=30, num_periods=2.0, alpha=0.1, beta=0.01), 60),
        (0.1, dict(decay_steps=10, num_periods=1.5, alpha=0.5, beta=0.0), 25),
    ]:

        def make(step, lr=lr, kw=kw, dtype=tf.float64):
            floats = {
                k: tf.constant(v, dtype) if isinstance(v, float) else v for k, v in kw.items()
            }
            return tf.compat.v1.train.linear_cosine_decay(tf.constant(lr, dtype), step, **floats)

        tf_lrs.constant_op = _Float64Constants("constant_op")
        try:
            values = evaluate(make, n)
        finally:
            tf_lrs.constant_op = real_constant_op
        values32 = evaluate(lambda s, make=make: make(s, dtype=tf.float32), n, tf.float32)
        np.testing.assert_allclose(values, values32, rtol=1e-5, atol=1e-6 * max(values))
        cfg = {"name": "linear_cosine", "init_value": lr, **kw}
        reference = (
            f"tf.compat.v1.train.linear_cosine_decay(tf.constant({lr!r}, tf.float64), step, "
            + ", ".join(f"{k}={v!r}" for k, v in kw.items())
            + ") with float arguments as tf.constant(x, tf.float64) and LinearCosineDecay's"
            " float32 pi constant made float64"
        )
        add_case(
            "tensorflow",
            "linear_cosine_decay",
            "tf1." + _call("linear_cosine_decay", {"learning_rate": lr, **kw}),
            reference,
            cfg,
            values,
        )


# --------------------------------------------------------------------------- timm


def _import_timm_cosine() -> Any:
    """timm.scheduler.cosine_lr without running timm/__init__ (which needs torchvision)."""
    try:
        import timm.scheduler.cosine_lr as mod

        return mod
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        del sys.modules[name]
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("timm is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for pkg, path in [("timm", root), ("timm.scheduler", root / "scheduler")]:
        module = types.ModuleType(pkg)
        module.__path__ = [str(path)]
        sys.modules[pkg] = module
    return importlib.import_module("timm.scheduler.cosine_lr")


def gen_timm() -> None:
    import torch

    cosine_lr = _import_timm_cosine()
    VERSIONS["timm"] = _version("timm")

    def run(kw: dict[str, Any], base: float, n: int) -> list[float]:
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = torch.optim.SGD([p], lr=base, momentum=0.9)
        sched = cosine_lr.CosineLRScheduler(opt, t_in_epochs=False, **kw)
        out = []
        for t in range(n):
            sched.step_update(num_updates=t)
            out.append(float(opt.param_groups[0]["lr"]))
            p.grad = torch.ones_like(p)
            opt.step()
        return out

    for base, kw, n in [
        (0.1, dict(t_initial=10, lr_min=0.001, cycle_mul=1.0, cycle_decay=0.5, cycle_limit=3), 50),
        (0.1, dict(t_initial=5, lr_min=0.01, cycle_mul=2.0, cycle_decay=0.7, cycle_limit=4), 90),
        (1.0, dict(t_initial=8, lr_min=0.0, cycle_mul=1.0, cycle_decay=1.0, cycle_limit=1), 20),
        (0.1, dict(t_initial=4, lr_min=0.005, cycle_mul=1.0, cycle_decay=0.8, cycle_limit=100), 40),
        (
            0.1,
            dict(
                t_initial=10,
                lr_min=0.001,
                cycle_mul=1.0,
                cycle_decay=0.5,
                cycle_limit=2,
                warmup_t=3,
                warmup_lr_init=0.0001,
                warmup_prefix=True,
            ),
            35,
        ),
        (
            0.1,
            dict(
                t_initial=6,
                lr_min=0.002,
                cycle_mul=2.0,
                cycle_decay=0.5,
                cycle_limit=3,
                warmup_t=5,
                warmup_lr_init=0.0,
                warmup_prefix=True,
            ),
            60,
        ),
        (
            0.1,
            dict(
                t_initial=10,
                lr_min=0.001,
                cycle_mul=1.0,
                cycle_decay=0.5,
                cycle_limit=2,
                warmup_t=4,
                warmup_lr_init=0.001,
                warmup_prefix=False,
            ),
            35,
        ),
    ]:
        cos_cfg = {
            "name": "cosine_restarts",
            "init_value": base,
            "first_cycle_steps": kw["t_initial"],
            "cycle_mult": kw["cycle_mul"],
            "cycle_decay": kw["cycle_decay"],
            "end_value": kw["lr_min"],
            "cycle_limit": kw["cycle_limit"],
            "convention": "timm",
        }
        # timm's warmup_prefix=False ramps to the base lr, then runs the cosine at the
        # unshifted step: optaxlr's warmup(prefix=False, combine="replace").
        if kw.get("warmup_t", 0) > 0:
            cfg = {
                "name": "warmup",
                "schedule": cos_cfg,
                "warmup_steps": kw["warmup_t"],
                "start_value": kw["warmup_lr_init"],
                "mode": "linear",
                "prefix": kw["warmup_prefix"],
            }
            if not kw["warmup_prefix"]:
                cfg["combine"] = "replace"
        else:
            cfg = cos_cfg
        shown = dict(kw) if base == 0.1 else {"lr": base, **kw}
        reference = (
            f"timm.scheduler.CosineLRScheduler(SGD([p], lr={base!r}, momentum=0.9), "
            + ", ".join(f"{k}={v!r}" for k, v in kw.items())
            + ", t_in_epochs=False); scheduler.step_update(num_updates=t) before update t"
        )
        add_case(
            "timm",
            "CosineLRScheduler",
            "timm." + _call("CosineLRScheduler", shown),
            reference,
            cfg,
            run(kw, base, n),
        )


# --------------------------------------------------------------------------- fastai


def gen_fastai() -> None:
    import fastai.callback.schedule as sched_mod
    import torch
    from fastai.callback.schedule import combined_cos

    VERSIONS["fastai"] = _version("fastai")
    real_tensor = sched_mod.tensor

    for lr_max, total, pct, div, div_final in [
        (0.1, 40, 0.25, 25.0, 1e5),
        (0.01, 23, 0.3, 10.0, 1e4),
        (1.0, 100, 0.25, 25.0, 1e5),
    ]:
        # combine_scheds builds its phase boundaries with fastai's `tensor`, which turns
        # float64 into float32, so pct=0.3 and every position would be rounded to float32
        # (up to 2e-6 relative). Evaluate with that one call kept float64.
        sched_mod.tensor = lambda x, *rest, **kw: torch.tensor(list(x), dtype=torch.float64)
        try:
            fn = combined_cos(pct, lr_max / div, lr_max, lr_max / div_final)
            values = [float(fn(t / total)) for t in range(total)]
        finally:
            sched_mod.tensor = real_tensor
        fn32 = combined_cos(pct, lr_max / div, lr_max, lr_max / div_final)
        values32 = [float(fn32(t / total)) for t in range(total)]
        np.testing.assert_allclose(values, values32, rtol=1e-5, atol=1e-7 * lr_max)
        cfg = {
            "name": "one_cycle",
            "max_value": lr_max,
            "total_steps": total,
            "pct_start": pct,
            "div_factor": div,
            "final_div_factor": div_final,
            "convention": "fastai",
        }
        case_id = (
            f"fastai.combined_cos(pct={pct!r},start={lr_max!r}/{div!r},middle={lr_max!r},"
            f"end={lr_max!r}/{div_final!r})[total={total}]"
        )
        reference = (
            f"fastai.callback.schedule.combined_cos({pct!r}, {lr_max!r}/{div!r}, {lr_max!r}, "
            f"{lr_max!r}/{div_final!r})(t / {total}) for t in range({total}), "
            "with combine_scheds' phase boundaries kept float64"
        )
        add_case("fastai", "combined_cos", case_id, reference, cfg, values)


# --------------------------------------------------------------------------- main

GENERATORS: dict[str, Callable[[], None]] = {
    "torch": gen_torch,
    "optax": gen_optax,
    "keras": gen_keras,
    "tensorflow": gen_tensorflow,
    "timm": gen_timm,
    "fastai": gen_fastai,
}


def build(required: set[str]) -> dict[str, Any]:
    for source, gen in GENERATORS.items():
        before = len(CASES)
        try:
            gen()
        except ImportError as e:
            if source in required:
                raise
            del CASES[before:]
            SKIPPED[source] = f"not installed: {e}"
            print(f"skipped {source}: {e}", file=sys.stderr)
            continue
        print(f"{source}: {len(CASES) - before} cases", file=sys.stderr)
    if "optaxlr" in sys.modules:
        raise RuntimeError("a peer imported optaxlr; the references would not be independent")
    VERSIONS["numpy"] = np.__version__
    VERSIONS["python"] = platform.python_version()
    return {
        "generated_by": "scripts/generate_schedule_fixtures.py",
        "versions": dict(sorted(VERSIONS.items())),
        "skipped": SKIPPED,
        "cases": CASES,
    }


def dumps(data: dict[str, Any]) -> str:
    # One case per line keeps diffs readable and the file small.
    head = {k: v for k, v in data.items() if k != "cases"}
    lines = json.dumps(head, indent=1)[:-2]
    cases = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in data["cases"])
    return lines + ',\n "cases": [\n' + cases + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--check", action="store_true", help="compare with the existing file instead of writing it"
    )
    parser.add_argument(
        "--require",
        default="torch,optax,keras",
        help="comma-separated peers that must be installed",
    )
    args = parser.parse_args(argv)
    required = {s for s in args.require.split(",") if s}
    data = build(required)
    text = dumps(data)
    json.loads(text)  # the hand-assembled layout is still valid JSON
    if args.check:
        old = json.loads(args.out.read_text())
        new = json.loads(text)
        old_cases = {c["id"]: c for c in old["cases"]}
        new_cases = {c["id"]: c for c in new["cases"]}
        problems = sorted(set(old_cases) ^ set(new_cases))
        for cid in sorted(set(old_cases) & set(new_cases)):
            a, b = old_cases[cid], new_cases[cid]
            if (
                a["config"] != b["config"]
                or a["steps"] != b["steps"]
                or not np.allclose(a["values"], b["values"], rtol=1e-12, atol=0.0)
            ):
                problems.append(cid)
        for cid in problems:
            print(f"differs: {cid}", file=sys.stderr)
        print(f"{len(new_cases)} cases, {len(problems)} differ", file=sys.stderr)
        return 1 if problems else 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {len(CASES)} cases to {args.out} ({len(text) // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
