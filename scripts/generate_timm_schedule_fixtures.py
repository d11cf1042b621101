#!/usr/bin/env python
"""Write tests/fixtures/schedules_timm_hf.json: timm's and HF's schedulers, step by step.

The cases have the layout of ``tests/fixtures/schedules.json`` (see
``generate_schedule_fixtures.py``): a peer schedule's values at steps ``0..N-1``
(``step`` = updates already applied) next to the optaxlr config meant to
reproduce them. ``tests/test_schedule_timm_hf.py`` reads only the JSON.

* timm 1.0.31 (``CosineLRScheduler`` with ``k_decay``, ``PolyLRScheduler``,
  ``TanhLRScheduler``, ``WSDLRScheduler``, ``StepLRScheduler``,
  ``MultiStepLRScheduler``, and ``create_scheduler_v2(sched="wsd")`` for its
  fraction-of-run ``decay_epochs``): ``t_in_epochs=False``, then
  ``scheduler.step_update(num_updates=t)`` before update ``t`` and read the lr;
  with ``t_in_epochs=True``, ``step_update`` each update (which does nothing)
  and ``scheduler.step(epoch + 1)`` after each epoch, as timm's train.py does.
  No noise: its draws come from torch's generator (tested for distribution in
  ``tests/test_schedule_noise.py`` instead).
* transformers 5.25.0 ``get_wsd_schedule`` (a ``LambdaLR``): read the lr before
  update ``t``, then ``optimizer.step(); scheduler.step()``; its warmup as a
  fraction goes through ``TrainingArguments.get_warmup_steps``.

Run it in the reference environment (never in the project's: it must not
import optaxlr)::

    /tmp/torchref/bin/python scripts/generate_timm_schedule_fixtures.py
    /tmp/torchref/bin/python scripts/generate_timm_schedule_fixtures.py --check
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "schedules_timm_hf.json"

CASES: list[dict[str, Any]] = []


def _show(kw: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


def add_case(
    source: str,
    peer: str,
    case_id: str,
    reference: str,
    config: dict[str, Any],
    values: list[float],
) -> None:
    if any(c["id"] == case_id for c in CASES):
        raise ValueError(f"duplicate case id {case_id}")
    values = [float(v) for v in values]
    if not all(np.isfinite(values)):
        raise ValueError(f"{case_id}: non-finite reference values")
    CASES.append(
        {
            "id": case_id,
            "source": source,
            "peer": peer,
            "reference": reference,
            "config": config,
            "steps": list(range(len(values))),
            "values": values,
        }
    )


# --------------------------------------------------------------------------- timm


def _optimizer(base: float):
    import torch

    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    return p, torch.optim.SGD([p], lr=base, momentum=0.9)


def _per_update(make, base: float, n: int) -> list[float]:
    """timm with t_in_epochs=False: step_update(t) before update t."""
    import torch

    p, opt = _optimizer(base)
    sched = make(opt)
    out = []
    for t in range(n):
        sched.step_update(num_updates=t)
        out.append(float(opt.param_groups[0]["lr"]))
        p.grad = torch.ones_like(p)
        opt.step()
    return out


def _per_epoch(make, base: float, epochs: int, updates_per_epoch: int) -> list[float]:
    """timm with t_in_epochs=True, driven as train.py drives it."""
    import torch

    p, opt = _optimizer(base)
    sched = make(opt)
    out, num_updates = [], 0
    for epoch in range(epochs):
        for _ in range(updates_per_epoch):
            out.append(float(opt.param_groups[0]["lr"]))
            p.grad = torch.ones_like(p)
            opt.step()
            num_updates += 1
            sched.step_update(num_updates=num_updates)  # nothing, with t_in_epochs=True
        sched.step(epoch + 1)
    return out


def _restart_config(name: str, base: float, kw: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {"name": name, "init_value": base, "first_cycle_steps": kw["t_initial"]}
    if name == "polynomial_restarts":
        cfg["power"] = kw.get("power", 0.5)
    if name == "tanh_restarts":
        cfg["lower"], cfg["upper"] = kw.get("lb", -7.0), kw.get("ub", 3.0)
    cfg.update(
        cycle_mult=kw.get("cycle_mul", 1.0),
        cycle_decay=kw.get("cycle_decay", 1.0),
        end_value=kw.get("lr_min", 0.0),
        cycle_limit=kw.get("cycle_limit", 1),
    )
    if name == "cosine_restarts":
        cfg["convention"] = "timm"
    if name != "tanh_restarts":
        cfg["k_decay"] = kw.get("k_decay", 1.0)
    return cfg


def _with_warmup(
    cfg: dict[str, Any],
    kw: dict[str, Any],
    tanh_target: float | None = None,
    prefix_default: bool = False,
) -> dict[str, Any]:
    """timm's warmup: a linear rise from warmup_lr_init over warmup_t steps, before the
    schedule (warmup_prefix=True) or in place of its first steps."""
    if not kw.get("warmup_t"):
        return cfg
    prefix = kw.get("warmup_prefix", prefix_default)
    out = {
        "name": "warmup",
        "schedule": cfg,
        "warmup_steps": kw["warmup_t"],
        "start_value": kw.get("warmup_lr_init", 0.0),
        "mode": "linear",
        "prefix": prefix,
    }
    if not prefix:
        out["combine"] = "replace"
    if tanh_target is not None:
        out["end_value"] = tanh_target
    return out


def gen_timm(versions: dict[str, str]) -> None:
    import timm
    import timm.scheduler as S

    versions["timm"] = timm.__version__

    def case(
        cls: str,
        base: float,
        kw: dict[str, Any],
        n: int,
        config: dict[str, Any],
        make=None,
        note: str = "",
    ) -> None:
        make = make or (lambda o: getattr(S, cls)(o, t_in_epochs=False, **kw))
        shown = {"lr": base, **kw}
        reference = (
            f"timm.scheduler.{cls}(SGD([p], lr={base!r}, momentum=0.9), {_show(kw)}, "
            "t_in_epochs=False); scheduler.step_update(num_updates=t) before update t" + note
        )
        add_case(
            "timm",
            cls,
            f"timm.{cls}({_show(shown)})",
            reference,
            config,
            _per_update(make, base, n),
        )

    for base, kw, n in [
        (0.1, dict(t_initial=20, lr_min=0.001, k_decay=2.0), 30),
        (
            0.1,
            dict(
                t_initial=8,
                lr_min=0.002,
                cycle_mul=2.0,
                cycle_decay=0.5,
                cycle_limit=3,
                k_decay=0.5,
            ),
            70,
        ),
        (0.1, dict(t_initial=10, lr_min=0.0, cycle_mul=1.5, cycle_decay=0.8, cycle_limit=4), 90),
        (
            0.5,
            dict(
                t_initial=12,
                lr_min=0.01,
                cycle_decay=0.7,
                cycle_limit=3,
                k_decay=1.5,
                warmup_t=5,
                warmup_lr_init=1e-4,
            ),
            50,
        ),
        (
            0.1,
            dict(
                t_initial=10,
                lr_min=0.001,
                k_decay=3.0,
                warmup_t=4,
                warmup_lr_init=0.01,
                warmup_prefix=True,
            ),
            20,
        ),
    ]:
        cfg = _with_warmup(_restart_config("cosine_restarts", base, kw), kw)
        case("CosineLRScheduler", base, kw, n, cfg)

    for base, kw, n in [
        (0.1, dict(t_initial=20), 30),
        (
            0.1,
            dict(
                t_initial=6,
                power=2.0,
                lr_min=0.001,
                cycle_mul=2.0,
                cycle_decay=0.5,
                cycle_limit=3,
                k_decay=1.5,
            ),
            50,
        ),
        (
            1.0,
            dict(
                t_initial=15,
                power=1.0,
                lr_min=0.01,
                cycle_limit=2,
                warmup_t=4,
                warmup_lr_init=0.01,
                warmup_prefix=True,
            ),
            40,
        ),
        (0.1, dict(t_initial=25, power=0.9, k_decay=0.7, warmup_t=5, warmup_lr_init=0.0), 30),
        (0.1, dict(t_initial=9, power=0.5, cycle_mul=1.5, cycle_decay=0.9, cycle_limit=3), 40),
    ]:
        cfg = _with_warmup(_restart_config("polynomial_restarts", base, kw), kw)
        case("PolyLRScheduler", base, kw, n, cfg)

    for base, kw, n in [
        (0.1, dict(t_initial=20, lr_min=1e-4), 30),
        (
            0.1,
            dict(t_initial=5, lb=-3.0, ub=5.0, cycle_mul=2.0, cycle_decay=0.7, cycle_limit=3),
            45,
        ),
        (
            0.1,
            dict(
                t_initial=16,
                lb=-2.0,
                ub=2.0,
                lr_min=0.001,
                warmup_t=5,
                warmup_lr_init=0.001,
                warmup_prefix=True,
            ),
            30,
        ),
        (
            0.1,
            dict(t_initial=16, lb=-2.0, ub=2.0, lr_min=0.001, warmup_t=5, warmup_lr_init=0.001),
            30,
        ),
    ]:
        target = None
        if kw.get("warmup_t"):
            # timm's tanh warmup rises to the base lr (prefix) or to the unshifted curve's
            # value at warmup_t, as its constructor computes them.
            _, probe_opt = _optimizer(base)
            probe = S.TanhLRScheduler(probe_opt, t_in_epochs=False, **kw)
            target = base if kw.get("warmup_prefix") else probe._get_lr(kw["warmup_t"])[0]
        cfg = _with_warmup(_restart_config("tanh_restarts", base, kw), kw, tanh_target=target)
        case("TanhLRScheduler", base, kw, n, cfg)

    for base, kw, n in [
        (0.1, dict(t_initial=40, decay_t=10, lr_min=0.001, warmup_t=5, warmup_lr_init=1e-4), 50),
        (0.1, dict(t_initial=30, decay_t=12, decay_fn="linear"), 35),
        (
            1.0,
            dict(
                t_initial=40,
                decay_t=15,
                lr_min=0.01,
                decay_fn="cosine",
                warmup_t=6,
                warmup_lr_init=0.1,
            ),
            50,
        ),
    ]:
        warm = kw.get("warmup_t", 0)
        cfg = {
            "name": "warmup_stable_decay",
            "peak_value": base,
            "total_steps": warm + kw["t_initial"],
            "warmup_steps": warm,
            "decay_steps": kw["decay_t"],
            "end_value": kw.get("lr_min", 0.0),
            "decay_shape": kw.get("decay_fn", "1-sqrt"),
            "start_value": kw.get("warmup_lr_init", 0.0),
        }
        case("WSDLRScheduler", base, kw, n, cfg)
        if warm == 5:  # the same run as a cooldown branched off the plateau
            plateau = {
                "name": "warmup",
                "schedule": base,
                "warmup_steps": warm,
                "start_value": kw["warmup_lr_init"],
            }
            branch = {
                "name": "decay_from",
                "schedule": plateau,
                "step": warm + kw["t_initial"] - kw["decay_t"],
                "length": kw["decay_t"],
                "shape": "1-sqrt",
                "end_value": kw["lr_min"],
            }
            add_case(
                "timm",
                "WSDLRScheduler",
                f"timm.WSDLRScheduler({_show({'lr': base, **kw})}) as decay_from",
                CASES[-1]["reference"],
                branch,
                CASES[-1]["values"],
            )

    # create_scheduler_v2(sched="wsd"): decay_epochs below 1 is a fraction of the stable and
    # decay phases, rounded as Python rounds.
    for base, kw, n in [
        (
            0.1,
            dict(num_epochs=50, decay_epochs=0.2, warmup_epochs=5, warmup_lr=1e-5, min_lr=1e-4),
            55,
        ),
        (
            0.1,
            dict(
                num_epochs=47,
                decay_epochs=0.3,
                warmup_epochs=4,
                warmup_lr=0.0,
                min_lr=0.0,
                warmup_prefix=True,
                decay_fn="cosine",
            ),
            55,
        ),
    ]:

        def make(o, kw=kw):
            return S.create_scheduler_v2(
                o, sched="wsd", step_on_epochs=False, updates_per_epoch=1, **kw
            )[0]

        total = kw["num_epochs"] + (kw["warmup_epochs"] if kw.get("warmup_prefix") else 0)
        cfg = {
            "name": "warmup_stable_decay",
            "peak_value": base,
            "total_steps": total,
            "warmup_steps": kw["warmup_epochs"],
            "decay_steps": None,
            "end_value": kw["min_lr"],
            "decay_shape": kw.get("decay_fn", "1-sqrt"),
            "start_value": kw["warmup_lr"],
            "decay_ratio": kw["decay_epochs"],
        }
        add_case(
            "timm",
            "create_scheduler_v2",
            f"timm.create_scheduler_v2(sched='wsd', {_show({'lr': base, **kw})})",
            f"timm.scheduler.create_scheduler_v2(SGD([p], lr={base!r}), sched='wsd', "
            f"{_show(kw)}, step_on_epochs=False, updates_per_epoch=1); "
            "step_update(num_updates=t) before update t",
            cfg,
            _per_update(make, base, n),
        )

    # StepLRScheduler (warmup_prefix=True by default) and MultiStepLRScheduler, whose milestone
    # m applies from t = m - 1.
    kw = dict(decay_t=3, decay_rate=0.5, warmup_t=2, warmup_lr_init=0.001)
    cfg = _with_warmup(
        {"name": "step_decay", "init_value": 0.1, "step_size": 3, "gamma": 0.5},
        kw,
        prefix_default=True,
    )
    case("StepLRScheduler", 0.1, kw, 20, cfg)
    kw = dict(decay_t=[5, 9, 9], decay_rate=0.1)
    cfg = {"name": "multistep", "init_value": 0.1, "milestones": [4, 8, 8], "gamma": 0.1}
    case("MultiStepLRScheduler", 0.1, kw, 15, cfg)

    # t_in_epochs=True: the lr changes once an epoch, at scheduler.step(epoch + 1).
    for cls, base, kw, epochs, spe, inner in [
        (
            "CosineLRScheduler",
            0.1,
            dict(
                t_initial=6,
                lr_min=0.001,
                cycle_decay=0.5,
                cycle_limit=2,
                warmup_t=2,
                warmup_lr_init=0.01,
            ),
            15,
            4,
            "cosine_restarts",
        ),
        (
            "PolyLRScheduler",
            0.1,
            dict(t_initial=8, power=2.0, warmup_t=2, warmup_lr_init=0.0, warmup_prefix=True),
            12,
            3,
            "polynomial_restarts",
        ),
    ]:

        def make(o, cls=cls, kw=kw):
            return getattr(S, cls)(o, t_in_epochs=True, **kw)

        cfg = {
            "name": "per_epoch",
            "fn": _with_warmup(_restart_config(inner, base, kw), kw),
            "steps_per_epoch": spe,
            "num_epochs": None,
            "init_value": None,
        }
        add_case(
            "timm",
            cls,
            f"timm.{cls}({_show({'lr': base, **kw})}, t_in_epochs=True)[{spe} updates/epoch]",
            f"timm.scheduler.{cls}(SGD([p], lr={base!r}, momentum=0.9), {_show(kw)}, "
            f"t_in_epochs=True); {spe} updates an epoch, step_update(num_updates) after "
            "each, scheduler.step(epoch + 1) after each epoch",
            cfg,
            _per_epoch(make, base, epochs, spe),
        )


# --------------------------------------------------------------------------- transformers


def gen_transformers(versions: dict[str, str]) -> None:
    import torch
    import transformers
    from transformers.optimization import get_wsd_schedule
    from transformers.training_args import TrainingArguments

    versions["transformers"] = transformers.__version__

    def run(base: float, kw: dict[str, Any], n: int) -> list[float]:
        p, opt = _optimizer(base)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = get_wsd_schedule(opt, **kw)
            out = []
            for _ in range(n):
                out.append(float(opt.param_groups[0]["lr"]))
                p.grad = torch.ones_like(p)
                opt.step()
                sched.step()
        return out

    for base, kw, n, ratio in [
        (0.1, dict(num_warmup_steps=5, num_decay_steps=10, num_training_steps=50), 60, None),
        (
            0.1,
            dict(
                num_warmup_steps=8,
                num_decay_steps=20,
                num_training_steps=60,
                warmup_type="cosine",
                decay_type="1-sqrt",
                min_lr_ratio=0.1,
            ),
            70,
            None,
        ),
        (
            1.0,
            dict(
                num_warmup_steps=6,
                num_decay_steps=14,
                num_training_steps=40,
                warmup_type="1-sqrt",
                decay_type="linear",
                min_lr_ratio=0.05,
            ),
            45,
            None,
        ),
        (0.1, dict(num_warmup_steps=3, num_decay_steps=7, num_stable_steps=10), 25, None),
        # TrainingArguments(warmup_steps=0.1): a fraction of the run, rounded up.
        (0.1, dict(num_decay_steps=15, num_training_steps=73, decay_type="1-sqrt"), 80, 0.1),
        (
            0.1,
            dict(num_decay_steps=11, num_training_steps=41, decay_type="linear", min_lr_ratio=0.2),
            45,
            0.15,
        ),
    ]:
        if ratio is not None:
            args = types.SimpleNamespace(warmup_steps=ratio)
            kw = {
                "num_warmup_steps": TrainingArguments.get_warmup_steps(
                    args, kw["num_training_steps"]
                ),
                **kw,
            }
        total = kw.get("num_training_steps") or (
            kw["num_warmup_steps"] + kw["num_stable_steps"] + kw["num_decay_steps"]
        )
        m = kw.get("min_lr_ratio", 0.0)
        cfg = {
            "name": "warmup_stable_decay",
            "peak_value": base,
            "total_steps": total,
            "warmup_steps": kw["num_warmup_steps"],
            "decay_steps": kw["num_decay_steps"],
            "end_value": m * base,
            "decay_shape": kw.get("decay_type", "cosine"),
            "start_value": m * base,
            "warmup_shape": kw.get("warmup_type", "linear"),
        }
        note = ""
        if ratio is not None:
            cfg["warmup_steps"], cfg["warmup_ratio"] = None, ratio
            note = (
                f"; num_warmup_steps = TrainingArguments.get_warmup_steps() of "
                f"warmup_steps={ratio!r} = {kw['num_warmup_steps']}"
            )
        values = run(base, kw, n)
        shown = _show({"lr": base, **kw})
        add_case(
            "transformers",
            "get_wsd_schedule",
            f"transformers.get_wsd_schedule({shown})",
            f"transformers.get_wsd_schedule(SGD([p], lr={base!r}, momentum=0.9), "
            f"{_show(kw)}); lr before update t, then optimizer.step(); scheduler.step()" + note,
            cfg,
            values,
        )
        if kw.get("warmup_type", "linear") == "linear" and m == 0.0 and ratio is None:
            # The same run as a cooldown branched off a warmed-up plateau.
            plateau = {"name": "warmup", "schedule": base, "warmup_steps": kw["num_warmup_steps"]}
            branch = {
                "name": "decay_from",
                "schedule": plateau,
                "step": total - kw["num_decay_steps"],
                "length": kw["num_decay_steps"],
                "shape": cfg["decay_shape"],
                "end_value": 0.0,
            }
            add_case(
                "transformers",
                "get_wsd_schedule",
                f"transformers.get_wsd_schedule({shown}) as decay_from",
                CASES[-1]["reference"],
                branch,
                values,
            )


# --------------------------------------------------------------------------- main


def build() -> dict[str, Any]:
    import torch

    versions = {"torch": torch.__version__}
    gen_timm(versions)
    gen_transformers(versions)
    if "optaxlr" in sys.modules:
        raise RuntimeError("a peer imported optaxlr; the references would not be independent")
    versions["numpy"] = np.__version__
    versions["python"] = platform.python_version()
    return {
        "generated_by": "scripts/generate_timm_schedule_fixtures.py",
        "versions": dict(sorted(versions.items())),
        "cases": CASES,
    }


def dumps(data: dict[str, Any]) -> str:
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
    args = parser.parse_args(argv)
    text = dumps(build())
    if args.check:
        old = {c["id"]: c for c in json.loads(args.out.read_text())["cases"]}
        new = {c["id"]: c for c in json.loads(text)["cases"]}
        problems = sorted(set(old) ^ set(new))
        problems += [
            cid
            for cid in sorted(set(old) & set(new))
            if old[cid]["config"] != new[cid]["config"]
            or not np.allclose(old[cid]["values"], new[cid]["values"], rtol=1e-12, atol=0.0)
        ]
        for cid in problems:
            print(f"differs: {cid}", file=sys.stderr)
        print(f"{len(new)} cases, {len(problems)} differ", file=sys.stderr)
        return 1 if problems else 0
    args.out.write_text(text)
    print(f"wrote {len(CASES)} cases to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
