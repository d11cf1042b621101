"""Fuzzing the optimizer constructors and `update` with random types and values.

Each example picks an alias or a transformation and draws each argument from values
of the right kind (often out of range) or from anything at all; then, if it builds,
runs ``init`` and two ``update``\\ s on parameters of a random float dtype with
gradients drawn the same way (right or wrong shapes and dtypes). Every call must
either raise a ValueError or TypeError whose message names an argument (of the
constructor, or ``updates``/``state``/``params``/a parameter path), or give finite
updates of the parameters' dtype. Anything else is a failure.

"Names an argument" means the argument the example perturbed: one of the constructor
arguments it drew (not one it filled in with a valid value), or, where it gave
gradients of the wrong shape, dtype or structure, ``updates`` or the parameter's
path. A generic word (``state``, ``schedule``) or another argument's name doesn't count.
"""

from __future__ import annotations

import inspect
import re

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optaxlr
from optaxlr import transforms as T

FACTORIES = {
    **{name: getattr(optaxlr, name) for name in optaxlr.aliases.__all__},
    "trace": T.trace,
    "scale_by_adam": T.scale_by_adam,
    "scale_by_rmsprop": T.scale_by_rmsprop,
    "scale_by_learning_rate": T.scale_by_learning_rate,
    "add_decayed_weights": T.add_decayed_weights,
    "clip_by_global_norm": T.clip_by_global_norm,
    "clip_by_norm": T.clip_by_norm,
    "clip_by_value": T.clip_by_value,
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.sampled_from(
        [
            0,
            1,
            -1,
            2**31,
            10**40,
            0.0,
            -0.0,
            0.5,
            0.9,
            1.0,
            1.5,
            -1e-3,
            1e39,
            1e-45,
            float("nan"),
            float("inf"),
            3e38,
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(0, 1), max_size=3),
    st.sampled_from(
        [
            np.float16(0.5),
            np.float64(0.1),
            np.int8(3),
            jnp.asarray(0.1),
            jnp.bfloat16(0.9),
            np.bool_(True),
            jnp.ones(3),
            1j,
            lambda step: 0.1 + 0.0 * step,
            lambda: 1.0,
            optaxlr.schedules.cosine(0.1, 9),
            optaxlr.schedules.constant(-1.0),
            object(),
            jnp.float32,
            {"w": True},
        ]
    ),
)


def _args(factory, draw):
    params = inspect.signature(factory).parameters
    names = [n for n, p in params.items() if p.kind is not p.VAR_KEYWORD]
    chosen = draw(st.lists(st.sampled_from(names), max_size=4, unique=True)) if names else []
    return {n: draw(junk) for n in chosen}


#: The arguments a factory needs, given a valid value where the example didn't draw
#: them: they are not what the example perturbed.
REQUIRED = {
    "clip_by_global_norm": {"max_norm": 1.0},
    "clip_by_norm": {"max_norm": 1.0},
    "clip_by_value": {"max_delta": 1.0},
    "trace": {"decay": 0.9},
    "scale_by_learning_rate": {"learning_rate": 0.1},
    "add_decayed_weights": {"weight_decay": 0.1},
}


@st.composite
def cases(draw):
    """(name, kwargs, the names of the drawn kwargs, dtype, what the gradients are)."""
    name = draw(st.sampled_from(sorted(FACTORIES)))
    drawn = _args(FACTORIES[name], draw)
    required = dict(REQUIRED.get(name, {}))
    if name == "sgd":
        required["learning_rate"] = draw(st.sampled_from([0.1, 1e-3]))
    kwargs = {**required, **drawn}
    dtype = draw(st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]))
    grads_kind = draw(st.sampled_from(["ok", "ok", "ok", "shape", "int", "structure", "large"]))
    return name, kwargs, set(drawn), dtype, grads_kind


def _names_one_of(message: str, names: set[str]) -> bool:
    """Whether ``message`` names one of ``names`` as a word (``eps`` isn't in ``eps_root``)."""
    return any(re.search(rf"(?<![\w']){re.escape(n)}(?![\w'])", message) for n in names)


#: What a wrong gradient tree is called: the argument, or the parameter's path.
GRADIENT_NAMES = {"updates", "'w'", "'b'"}


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_every_call_either_names_an_argument_or_gives_finite_updates(case):
    name, kwargs, perturbed, dtype, grads_kind = case
    factory = FACTORIES[name]
    try:
        opt = factory(**kwargs)
    except (ValueError, TypeError) as e:
        assert _names_one_of(str(e), perturbed), f"{name}({kwargs}) names none of {perturbed}: {e}"
        return
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3).astype(dtype), "b": jnp.ones(3, dtype)}
    grads = {
        "ok": {"w": jnp.full((2, 3), 0.1, dtype), "b": jnp.full(3, -0.2, dtype)},
        "large": {"w": jnp.full((2, 3), 0.3, dtype), "b": jnp.full(3, 2.0, dtype)},
        "shape": {"w": jnp.ones(3, dtype), "b": jnp.ones(3, dtype)},
        "int": {"w": jnp.ones((2, 3), jnp.int32), "b": jnp.ones(3, jnp.int32)},
        "structure": {"w": jnp.ones((2, 3), dtype)},
    }[grads_kind]
    try:
        state = opt.init(params)
        for _ in range(2):
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
    except (ValueError, TypeError) as e:
        bad_grads = grads_kind in {"shape", "int", "structure"}
        culprits = perturbed | (GRADIENT_NAMES if bad_grads else set())
        assert _names_one_of(str(e), culprits), (
            f"{name}({kwargs}) with {grads_kind} gradients names none of {culprits}: {e}"
        )
        return
    assert grads_kind in {"ok", "large"}, f"{name}({kwargs}) accepted {grads_kind} gradients"
    # A hyperparameter beyond float16's range (a rate of 2**31) moves a float16 parameter
    # past it, in PyTorch too: finite updates are promised where the dtype holds them.
    half_max = float(jnp.finfo(jnp.float16).max)
    representable = dtype != jnp.float16 or not any(
        isinstance(v, int | float | np.number) and abs(float(v)) > half_max
        for v in kwargs.values()
    )
    for key, leaf in updates.items():
        assert leaf.dtype == params[key].dtype, f"{name}({kwargs}): {key} {leaf.dtype}"
        if representable:
            assert bool(jnp.all(jnp.isfinite(leaf.astype(jnp.float32)))), f"{name}({kwargs})"


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_defaults_give_finite_updates_in_every_float_dtype(name):
    kwargs = {
        "sgd": {"learning_rate": 0.1},
        "trace": {"decay": 0.9},
        "scale_by_learning_rate": {"learning_rate": 0.1},
        "add_decayed_weights": {"weight_decay": 0.1},
        "clip_by_global_norm": {"max_norm": 1.0},
        "clip_by_norm": {"max_norm": 1.0},
        "clip_by_value": {"max_delta": 1.0},
    }.get(name, {})
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        opt = FACTORIES[name](**kwargs)
        params = {"w": jnp.ones((2, 3), dtype)}
        updates, _ = opt.update({"w": jnp.full((2, 3), 1e-5, dtype)}, opt.init(params), params)
        assert updates["w"].dtype == dtype
        assert bool(jnp.all(jnp.isfinite(updates["w"].astype(jnp.float32))))


def test_the_naming_check_wants_the_perturbed_argument_itself():
    assert _names_one_of("b1 must be a finite number in [0, 1), got 1.0", {"b1"})
    assert _names_one_of("update: 'w' has shape (3,), expected (2, 3)", GRADIENT_NAMES)
    assert not _names_one_of("eps_root must be >= 0", {"eps"})
    assert not _names_one_of("the schedule reaches -1, must be >= 0", {"learning_rate"})
    assert not _names_one_of("state must be the ScaleByAdamState", {"b2"})
