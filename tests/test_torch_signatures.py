"""Every argument of each mirrored ``torch.optim`` class is on its alias, with torch's default.

Fixture: ``tests/fixtures/torch_signatures.json`` from
``scripts/generate_torch_signatures.py`` (torch alone, ``inspect.signature`` of each
class's ``__init__``). A torch argument must either be an argument of the alias with
the same default (under the names below) or be listed in `NOT_APPLICABLE` with the
reason; a new torch argument therefore fails here until it is ported or excused.
Regenerate the fixture when torch is upgraded.
"""

from __future__ import annotations

import functools
import inspect
import json
import pathlib

import pytest

import optaxlr

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "torch_signatures.json"

#: torch's names -> optaxlr's, for every alias. ``betas`` is split: its default, a
#: pair, gives the two defaults.
RENAMES: dict[str, tuple[str, ...]] = {
    "lr": ("learning_rate",),
    "betas": ("b1", "b2"),
}

#: Renames for one alias only (alias -> torch name -> optaxlr names). None today: every
#: mirrored class keeps torch's names apart from the two above.
ALIAS_RENAMES: dict[str, dict[str, tuple[str, ...]]] = {}

#: torch arguments with no optaxlr counterpart, each with the reason.
NOT_APPLICABLE: dict[str, str] = {
    "params": "optax gets the parameters at init and update, not when it is built",
    "foreach": "implementation switch (multi-tensor kernels); XLA fuses the step itself",
    "fused": "implementation switch (one fused kernel); XLA fuses the step itself",
    "capturable": "implementation switch (CUDA graph capture); every jitted step is captured",
    "differentiable": "implementation switch (autograd through step); JAX differentiates "
    "any update",
}

#: optaxlr arguments torch does not have (alias -> name -> reason).
EXTRAS: dict[str, dict[str, str]] = {
    "adam": {
        "mu_dtype": "dtype of the first moment (optax's)",
        "nu_dtype": "dtype of the second moment",
    },
    "adamw": {
        "mask": "where to decay, as optax.adamw's (torch uses parameter groups)",
        "mu_dtype": "dtype of the first moment (optax's)",
        "nu_dtype": "dtype of the second moment",
    },
    "muon": {
        "mask": "which leaves Muon takes (torch's Muon refuses all but 2-D parameters)",
        "adamw": "the optimizer of the other leaves (torch: a second optimizer)",
        "layout": "where a kernel's output axis is: Flax's (in, out) or torch's (out, in)",
        "ns_dtype": "dtype of Newton-Schulz (torch's is always bfloat16)",
        "maximize": "torch's Muon has none; every optaxlr alias has it",
    },
}

#: Aliases with no torch.optim class (their peer is another library).
NO_TORCH_CLASS = {
    "lion": "lion_pytorch.Lion, which has no maximize and no signature here",
    "lamb": "pytorch_optimizer.Lamb; its signature is checked in tests/test_lamb_lars.py",
    "lars": "pytorch_optimizer.LARS; its signature is checked in tests/test_lamb_lars.py",
    "schedule_free_sgd": "schedulefree.SGDScheduleFree (tests/test_schedule_free.py)",
    "schedule_free_adamw": "schedulefree.AdamWScheduleFree (tests/test_schedule_free.py)",
    "prodigy": "prodigyopt.Prodigy (tests/test_lr_free.py), which has no maximize",
    "dadapt_adam": "dadaptation.DAdaptAdam (tests/test_lr_free.py), which has no maximize",
    "dadapt_sgd": "dadaptation.DAdaptSGD (tests/test_lr_free.py), which has no maximize",
}


@functools.cache
def _fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def _same(ours, theirs) -> bool:
    """Equal defaults, a bool only to a bool (``False == 0`` is not a match); a pair such
    as Rprop's ``etas`` element by element (JSON stores torch's tuple as a list)."""
    if isinstance(ours, tuple | list) or isinstance(theirs, tuple | list):
        return (
            isinstance(ours, tuple | list)
            and isinstance(theirs, tuple | list)
            and len(ours) == len(theirs)
            and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
        )
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return type(ours) is type(theirs) and ours == theirs
    return ours == theirs


def mismatches(alias: str, torch_parameters: list[dict], signature: inspect.Signature) -> list[str]:
    """What about ``torch_parameters`` the alias's ``signature`` misses, in words."""
    ours = signature.parameters
    renames = {**RENAMES, **ALIAS_RENAMES.get(alias, {})}
    problems = []
    for param in torch_parameters:
        name = param["name"]
        if name in NOT_APPLICABLE:
            continue
        targets = renames.get(name, (name,))
        if param.get("required"):
            defaults = [inspect.Parameter.empty] * len(targets)
        elif len(targets) > 1:
            defaults = list(param["default"])
        else:
            defaults = [param["default"]]
        for target, default in zip(targets, defaults, strict=True):
            if target not in ours:
                problems.append(f"{alias}: torch's {name!r} is missing (as {target!r})")
            elif default is inspect.Parameter.empty:
                if ours[target].default is not inspect.Parameter.empty:
                    problems.append(f"{alias}: {target!r} has a default, torch's {name!r} none")
            elif not _same(ours[target].default, default):
                problems.append(
                    f"{alias}: {target!r} defaults to {ours[target].default!r}, "
                    f"torch's {name!r} to {default!r}"
                )
    return problems


def _cases() -> list[tuple[str, dict]]:
    return sorted(_fixture()["optimizers"].items())


@pytest.mark.parametrize("cls_name,entry", _cases(), ids=[c for c, _ in _cases()])
def test_every_torch_argument_is_on_the_alias_with_its_default(cls_name, entry):
    alias = entry["alias"]
    signature = inspect.signature(getattr(optaxlr, alias))
    assert mismatches(alias, entry["parameters"], signature) == []


@pytest.mark.parametrize("cls_name,entry", _cases(), ids=[c for c, _ in _cases()])
def test_the_alias_adds_only_documented_arguments(cls_name, entry):
    alias = entry["alias"]
    renames = {**RENAMES, **ALIAS_RENAMES.get(alias, {})}
    mirrored = {t for p in entry["parameters"] for t in renames.get(p["name"], (p["name"],))}
    extra = set(inspect.signature(getattr(optaxlr, alias)).parameters) - mirrored
    assert extra == set(EXTRAS.get(alias, {}))


def test_every_torch_mirroring_alias_is_in_the_fixture():
    covered = {entry["alias"] for entry in _fixture()["optimizers"].values()}
    assert covered == set(optaxlr.aliases.__all__) - set(NO_TORCH_CLASS), (
        "add the alias's torch class to CLASSES in scripts/generate_torch_signatures.py "
        "and regenerate"
    )


def test_the_fixture_is_torch_2_13():
    assert _fixture()["versions"]["torch"].startswith("2.13")


def test_a_new_torch_argument_fails():
    """A torch release that adds an argument (or changes a default) is caught."""
    entry = _fixture()["optimizers"]["Adam"]
    signature = inspect.signature(optaxlr.adam)
    assert mismatches("adam", entry["parameters"], signature) == []
    added = [*entry["parameters"], {"name": "grad_scale", "kind": "KEYWORD_ONLY", "default": 1.0}]
    assert mismatches("adam", added, signature) == [
        "adam: torch's 'grad_scale' is missing (as 'grad_scale')"
    ]
    changed = [
        {**p, "default": [0.8, 0.999]} if p["name"] == "betas" else p for p in entry["parameters"]
    ]
    assert mismatches("adam", changed, signature) == [
        "adam: 'b1' defaults to 0.9, torch's 'betas' to 0.8"
    ]
    flag = [{**p, "default": 0} if p["name"] == "maximize" else p for p in entry["parameters"]]
    assert len(mismatches("adam", flag, signature)) == 1
