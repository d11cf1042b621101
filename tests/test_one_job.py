"""One job per public transformation: an alias is the chain of the public ones.

``scale_by_learning_rate`` scales, ``trace`` keeps momentum, ``decoupled_weight_decay``
shrinks the weights. The aliases may run two of them as one state, privately; what a
user sees is the same: the chain of public transformations reproduces torch.optim
(the committed fixtures, tests/fixtures/optimizers.npz), the alias takes the chain's
trajectory and reports the chain's hyperparameters, and an error names the argument
as the user wrote it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import transforms as T
from tests.test_optimizer_fixtures import ATOL, RTOL, _data, _runs, build, replay


def test_scale_by_learning_rate_takes_no_weight_decay_or_mask():
    with pytest.raises(TypeError, match="weight_decay"):
        T.scale_by_learning_rate(0.1, weight_decay=1e-2)  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match="mask"):
        T.scale_by_learning_rate(0.1, mask=None)  # pyright: ignore[reportCallIssue]


def test_trace_takes_no_learning_rate():
    with pytest.raises(TypeError, match="learning_rate"):
        T.trace(0.9, learning_rate=0.1)  # pyright: ignore[reportCallIssue]


# --- the public chain against torch -------------------------------------------------------


def _schedules(spec):
    return {
        name: getattr(optaxlr.schedules, s["schedule"])(**s["kwargs"])
        for name, s in spec["optaxlr"]["schedules"].items()
    }


def _sgd_chain(learning_rate, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    parts = [T.add_decayed_weights(weight_decay)] if weight_decay else []
    if momentum:
        parts.append(T.trace(momentum, nesterov, dampening))
    return optax.chain(*parts, T.scale_by_learning_rate(learning_rate))


def _rmsprop_chain(learning_rate, alpha=0.99, momentum=0.0, centered=False, weight_decay=0.0):
    parts = [T.add_decayed_weights(weight_decay)] if weight_decay else []
    parts.append(T.scale_by_rmsprop(alpha, 1e-8, centered=centered, eps_in_sqrt=False))
    if momentum:
        parts.append(T.trace(momentum))
    return optax.chain(*parts, T.scale_by_learning_rate(learning_rate))


def _decoupled_chain(preconditioner, learning_rate, weight_decay):
    return optax.chain(
        preconditioner,
        T.scale_by_learning_rate(learning_rate),
        T.decoupled_weight_decay(learning_rate, weight_decay),
    )


def _chain_for(spec):
    """The chain of public transformations that a torch fixture's alias stands for."""
    kw = {**spec["optaxlr"]["kwargs"], **_schedules(spec)}
    name = spec["optimizer"]
    if name == "sgd":
        return _sgd_chain(**kw)
    if name == "rmsprop":
        return _rmsprop_chain(**kw)
    lr, wd = kw.pop("learning_rate", 1e-3), kw.pop("weight_decay", 1e-2)
    if name == "adamw":
        return _decoupled_chain(T.scale_by_adam(amsgrad=kw.get("amsgrad", False)), lr, wd)
    assert kw.pop("decoupled_weight_decay")
    pre = T.scale_by_radam() if name == "radam" else T.scale_by_nadam()
    return _decoupled_chain(pre, lr, wd)


def _fused_runs():
    """The fixtures whose alias fuses two transformations: momentum or decoupled decay."""
    out = []
    for r in _runs():
        kw = {**r["optaxlr"]["kwargs"], **r["optaxlr"]["schedules"]}
        if (
            (r["optimizer"] in ("sgd", "rmsprop") and kw.get("momentum"))
            or r["optimizer"] == "adamw"
            or kw.get("decoupled_weight_decay")
        ):
            out.append(r["name"])
    return out


@pytest.mark.parametrize("name", _fused_runs())
def test_the_public_chain_matches_torch_and_the_alias(name):
    manifest, arrays = _data()
    spec = next(r for r in _runs() if r["name"] == name)
    leaves, init, grads = manifest["leaves"], arrays["init"], arrays[f"{name}/grads"]
    chain_traj, chain_hps = replay(_chain_for(spec), init, grads, leaves)
    alias_traj, alias_hps = replay(build(spec), init, grads, leaves)
    ref = arrays[f"{name}/params"]
    ours = np.asarray(chain_traj)[arrays["checkpoints"] - 1]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=name)
    # The alias's fused steps do the chain's arithmetic: the same float32 trajectory.
    np.testing.assert_allclose(alias_traj, chain_traj, rtol=1e-7, atol=0, err_msg=name)
    # ... and report what the chain reports, each value under its own name.
    assert set(alias_hps) == set(chain_hps)
    for key, value in chain_hps.items():
        np.testing.assert_allclose(alias_hps[key], value, rtol=1e-7, err_msg=key)


# --- the alias against the chain, off the fixtures' paths ----------------------------------

SCHED = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 20), 3)
MOMENTUM = optaxlr.schedules.one_cycle_momentum(20)


def _params(dtype):
    w = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
    b = jnp.full((4,), 0.25)
    if dtype == jnp.complex64:
        w, b = w * (1 + 0.5j), b * (0.5 - 1j)
    return {"w": w.astype(dtype), "b": b.astype(dtype)}


def _train(opt, params, update, steps=6):
    state = opt.init(params)
    for i in range(steps):
        grads = jax.tree.map(lambda p, i=i: (0.3 * p + 0.1 * (i + 1)).astype(p.dtype), params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


PAIRS = {
    "sgd_nesterov": (
        lambda: optaxlr.sgd(SCHED, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda: _sgd_chain(SCHED, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ),
    "sgd_damped_scheduled_momentum": (
        lambda: optaxlr.sgd(0.05, momentum=MOMENTUM, dampening=0.2),
        lambda: _sgd_chain(0.05, momentum=MOMENTUM, dampening=0.2),
    ),
    "rmsprop_momentum": (
        lambda: optaxlr.rmsprop(SCHED, momentum=0.5, centered=True),
        lambda: _rmsprop_chain(SCHED, momentum=0.5, centered=True),
    ),
    "adamw_masked": (
        lambda: optaxlr.adamw(SCHED, weight_decay=0.1, mask={"w": True, "b": False}),
        lambda: optax.chain(
            T.scale_by_adam(),
            T.scale_by_learning_rate(SCHED),
            T.decoupled_weight_decay(SCHED, 0.1, mask={"w": True, "b": False}),
        ),
    ),
    "nadam_decoupled": (
        lambda: optaxlr.nadam(2e-3, weight_decay=0.1, decoupled_weight_decay=True),
        lambda: _decoupled_chain(T.scale_by_nadam(), 2e-3, 0.1),
    ),
    "lion_masked": (
        lambda: optaxlr.lion(SCHED, weight_decay=0.1, mask={"w": True, "b": False}),
        lambda: optax.chain(
            T.scale_by_lion(),
            T.scale_by_learning_rate(SCHED),
            T.decoupled_weight_decay(SCHED, 0.1, mask={"w": True, "b": False}),
        ),
    ),
    "adamax_l2": (
        lambda: optaxlr.adamax(SCHED, weight_decay=0.1),
        lambda: optax.chain(
            T.add_decayed_weights(0.1), T.scale_by_adamax(), T.scale_by_learning_rate(SCHED)
        ),
    ),
}

# Half precision: the fused step rounds once fewer (the rate multiplies the float32 value).
TOLERANCE = {jnp.float32: 1e-7, jnp.complex64: 1e-7, jnp.bfloat16: 2e-2}


@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_the_alias_is_its_chain(name, dtype, variant):
    alias, chain = (make() for make in PAIRS[name])
    params = _params(dtype)
    p_alias, s_alias = _train(alias, params, variant(alias.update))
    p_chain, s_chain = _train(chain, params, variant(chain.update))
    tol = TOLERANCE[dtype]
    for k in params:
        np.testing.assert_allclose(
            np.asarray(p_alias[k], np.complex128),
            np.asarray(p_chain[k], np.complex128),
            rtol=tol,
            atol=tol * 1e-2,
            err_msg=k,
        )
    hps_alias, hps_chain = optaxlr.hyperparams(s_alias), optaxlr.hyperparams(s_chain)
    assert set(hps_alias) == set(hps_chain)
    for key, value in hps_chain.items():
        np.testing.assert_allclose(hps_alias[key], value, rtol=1e-7, err_msg=key)


REPORTS = {
    "adamw": (lambda: optaxlr.adamw(SCHED, weight_decay=0.05), {"weight_decay": 0.05}),
    "sgd": (lambda: optaxlr.sgd(SCHED, momentum=MOMENTUM), {"momentum": MOMENTUM(4)}),
    "radam_decoupled": (
        lambda: optaxlr.radam(SCHED, weight_decay=0.2, decoupled_weight_decay=True),
        {"weight_decay": 0.2},
    ),
    "rmsprop": (lambda: optaxlr.rmsprop(SCHED, momentum=0.7), {"momentum": 0.7}),
}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_aliases_report_the_values_of_the_last_update(name, variant):
    make, expected = REPORTS[name]
    opt = make()
    _, state = _train(opt, _params(jnp.float32), variant(opt.update), steps=5)
    hps = optaxlr.hyperparams(state)
    assert int(hps["step"]) == 5
    for key, value in {"learning_rate": SCHED(4), **expected}.items():
        np.testing.assert_allclose(hps[key], value, rtol=1e-6, err_msg=key)


# --- errors name what the user wrote --------------------------------------------------------

ERRORS = [
    # sgd's momentum is trace's decay: the message says momentum.
    (lambda: optaxlr.sgd(0.1, momentum=1.5), ValueError, r"^momentum must .*\[0, 1\]"),
    (lambda: optaxlr.sgd(0.1, nesterov=True), ValueError, r"nesterov=True requires .*momentum"),
    (
        lambda: optaxlr.sgd(0.1, momentum=0.9, nesterov=True, dampening=0.1),
        ValueError,
        r"nesterov=True requires dampening=0, got dampening=0\.1",
    ),
    # Without momentum the term is left out, and its arguments are still checked.
    (lambda: optaxlr.sgd(0.1, dampening=1.5), ValueError, r"^dampening must .*\[0, 1\]"),
    (lambda: optaxlr.sgd(0.1, nesterov="no"), TypeError, r"^nesterov must be True or False"),
    (lambda: optaxlr.sgd(0.1, momentum=False), TypeError, r"^momentum"),
    (lambda: optaxlr.rmsprop(momentum=-0.1), ValueError, r"^momentum must"),
    (lambda: optaxlr.rmsprop(centered=1), TypeError, r"^centered must be True or False"),
    (lambda: optaxlr.adamw(weight_decay=-1.0), ValueError, r"^weight_decay must"),
    (lambda: optaxlr.adamw(mask=[1, 0]), TypeError, r"^mask must"),
    (lambda: optaxlr.adamw(-1e-3), ValueError, r"^learning_rate must"),
]


@pytest.mark.parametrize("make, error, match", ERRORS)
def test_errors_name_the_alias_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_momentum_zero_leaves_the_term_out_only_when_it_is_a_number():
    params = _params(jnp.float32)
    for zero in (0, 0.0, np.float32(0.0)):
        hps = optaxlr.hyperparams(optaxlr.sgd(0.1, momentum=zero).init(params))
        assert "momentum" not in hps, zero
    # An array may change (optax.inject_hyperparams): the term stays, reported.
    hps = optaxlr.hyperparams(optaxlr.sgd(0.1, momentum=jnp.asarray(0.0)).init(params))
    assert float(hps["momentum"]) == 0.0


@pytest.mark.parametrize(
    "make, who",
    [
        (lambda: T.clip_by_global_norm(1.0), "clip_by_global_norm"),
        (lambda: T.clip_by_norm(1.0), "clip_by_norm"),
        (lambda: T.clip_by_value(1.0), "clip_by_value"),
    ],
)
def test_clipping_errors_name_the_transformation(make, who):
    params = _params(jnp.float32)
    tx = make()
    with pytest.raises(TypeError, match=rf"^{who}: state must be the ClipState"):
        tx.update(params, optax.EmptyState(), params)
