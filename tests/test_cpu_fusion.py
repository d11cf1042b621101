"""The fused CPU optimizer step (issue 21): bitwise the default form, used only where XLA fuses it.

XLA reads its backend options once, when the CPU backend starts, so what depends on
``--xla_backend_extra_options=xla_cpu_use_multi_output_fusion`` runs in fresh
processes: this module is also the worker (``python -m tests.test_cpu_fusion``),
which trains every case a few steps, jitted and eagerly, and writes the parameters
and state after every step, whether the step was traced in the fused form (an
``optimization_barrier`` in its jaxpr), and what XLA's cost analysis says the
compiled step moves per parameter. The tests compare three runs: the option set and
the fused form, the option set and the default form (``default_form``), and no
option (today's process).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optaxlr
from optaxlr import training
from optaxlr.fast._cpu_fusion import _with_option

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAG = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
STEPS = 4
MATRICES = lambda p: jax.tree.map(lambda x: jnp.ndim(x) > 1, p)


def _sched(peak):
    return optaxlr.schedules.cosine(peak, 10)


def _adam_nesterov():
    # The Nesterov form of Adam has no alias of its own: a chain given the fused form.
    chain = optax.chain(
        optaxlr.scale_by_adam(nesterov=True), optaxlr.scale_by_learning_rate(_sched(1e-2))
    )
    return optaxlr.fast.cpu_fused(chain)


# name: (optimizer, parameter dtype, on a FlatParams grouped by MATRICES)
CASES = {
    "adam": (lambda: optaxlr.adam(1e-2), "float32", False),
    "adam_l2_maximize": (
        lambda: optaxlr.adam(1e-2, weight_decay=0.1, maximize=True),
        "float32",
        False,
    ),
    "adam_scheduled_b1": (
        lambda: optaxlr.adam(
            optaxlr.schedules.one_cycle(1e-2, 10), b1=optaxlr.schedules.one_cycle_momentum(10)
        ),
        "float32",
        False,
    ),
    "adam_decoupled": (
        lambda: optaxlr.adam(1e-2, weight_decay=0.1, decoupled_weight_decay=True),
        "float32",
        False,
    ),
    "adamw": (lambda: optaxlr.adamw(1e-2), "float32", False),
    "adamw_amsgrad": (lambda: optaxlr.adamw(1e-2, amsgrad=True), "float32", False),
    "adamw_scheduled_masked": (
        lambda: optaxlr.adamw(_sched(1e-2), weight_decay=_sched(0.1), mask=MATRICES),
        "float32",
        False,
    ),
    "adamw_mu_bfloat16": (lambda: optaxlr.adamw(1e-2, mu_dtype="bfloat16"), "float32", False),
    "adamw_bfloat16": (lambda: optaxlr.adamw(1e-2), "bfloat16", False),
    "adamw_float16": (lambda: optaxlr.adamw(1e-2, amsgrad=True), "float16", False),
    "adamw_complex64": (lambda: optaxlr.adamw(1e-2), "complex64", False),
    "adamw_float64": (lambda: optaxlr.adamw(_sched(1e-2), amsgrad=True), "float64", False),
    "adam_nesterov": (_adam_nesterov, "float32", False),
    "sgd_momentum": (lambda: optaxlr.sgd(1e-2, momentum=0.9), "float32", False),
    "sgd_nesterov_l2": (
        lambda: optaxlr.sgd(_sched(1e-2), momentum=0.9, nesterov=True, weight_decay=0.1),
        "float32",
        False,
    ),
    "sgd_dampening_scheduled": (
        lambda: optaxlr.sgd(
            1e-2, momentum=optaxlr.schedules.one_cycle_momentum(10), dampening=0.3, maximize=True
        ),
        "float32",
        False,
    ),
    "sgd_float16": (lambda: optaxlr.sgd(1e-2, momentum=0.9), "float16", False),
    "multi_tensor_adamw": (
        lambda: optaxlr.multi_tensor(optaxlr.adamw(_sched(1e-2), mask=MATRICES)),
        "float32",
        True,
    ),
    "multi_tensor_sgd": (
        lambda: optaxlr.multi_tensor(optaxlr.sgd(1e-2, momentum=0.9, nesterov=True)),
        "float32",
        True,
    ),
}


# Also run without jit (an eager step keeps the default form: it fuses nothing).
EAGER = {"adam_l2_maximize", "adamw_amsgrad", "sgd_dampening_scheduled", "multi_tensor_adamw"}


def _x64(on: bool):
    if not on:
        return contextlib.nullcontext()
    enable = getattr(jax, "enable_x64", None)
    return enable(True) if enable is not None else jax.experimental.enable_x64()


def _params(dtype):
    # w holds a 0 whose first gradient is 0 (Adam's 0/(0 + eps)); s is a scalar.
    return {
        "w": jnp.linspace(-1.0, 1.0, 15).reshape(3, 5).astype(dtype),
        "b": jnp.full((5,), 0.1).astype(dtype),
        "s": jnp.asarray(0.3).astype(dtype),
    }


def _grads(params, i):
    scale = 0.5 if i % 2 else 2.0
    return jax.tree.map(lambda p: (scale * jnp.sin(p * (i + 1) + i)).astype(p.dtype), params)


def _step(opt):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def _bits(x) -> np.ndarray:
    x = np.asarray(x).reshape(-1)
    return x.view(np.uint8) if x.dtype.kind in "fcV" else x


def _train(name: str, jit: bool) -> tuple[list[np.ndarray], bool]:
    """The parameters and state leaves after every step, and whether the step had barriers."""
    make, dtype, flat = CASES[name]
    with _x64(dtype == "float64"):
        opt = make()
        params = _params(dtype)
        grads = [_grads(params, i) for i in range(STEPS)]
        if flat:
            fp = optaxlr.FlatParams.from_tree(params, group_by=MATRICES)
            params, grads = fp, [fp.flatten_like(g) for g in grads]
        state = opt.init(params)
        step = _step(opt)
        jaxpr = str(jax.make_jaxpr(step)(params, state, grads[0]))
        run = jax.jit(step) if jit else step
        out = []
        for g in grads:
            params, state = run(params, state, g)
            out += [_bits(x) for x in jax.tree.leaves((params, state))]
    return out, "optimization_barrier" in jaxpr


def _bytes_per_param(make) -> float:
    """What XLA's cost analysis says the compiled, donated step reads and writes per parameter."""
    n = 1 << 16
    params = {"a": jnp.ones(n), "b": jnp.full((n,), 0.5)}
    opt = make()
    state = opt.init(params)
    compiled = jax.jit(_step(opt), donate_argnums=(0, 1)).lower(params, state, params).compile()
    cost = compiled.cost_analysis()
    cost = (cost[0] if isinstance(cost, list) else cost) or {}
    return float(cost["bytes accessed"]) / (2 * n)


BYTES = {
    "adamw": lambda: optaxlr.adamw(1e-3),
    "adamw_amsgrad": lambda: optaxlr.adamw(1e-3, amsgrad=True),
    "adam_l2": lambda: optaxlr.adam(1e-3, weight_decay=1e-2),
    "sgd_momentum": lambda: optaxlr.sgd(1e-3, momentum=0.9),
}


class Net:
    """A two-layer nnx model (built lazily: flax is imported by the worker only)."""

    @staticmethod
    def build():
        from flax import nnx

        class Mlp(nnx.Module):
            def __init__(self, rngs):
                self.a = nnx.Linear(3, 8, rngs=rngs)
                self.b = nnx.Linear(8, 1, rngs=rngs)

            def __call__(self, x):
                return self.b(jax.nn.tanh(self.a(x)))

        return Mlp(nnx.Rngs(0))


def _nnx_run(directory: pathlib.Path) -> list[np.ndarray]:
    """An ``nnx.split`` training step with adamw: 3 steps, saved, resumed, 3 more."""
    from flax import nnx

    model = Net.build()
    graphdef, params = nnx.split(model, nnx.Param)
    opt = optaxlr.adamw(_sched(1e-2), weight_decay=0.1)

    @jax.jit
    def step(params, opt_state, i):
        x = jax.random.normal(jax.random.fold_in(jax.random.key(1), i), (16, 3))
        y = jnp.sin(x[:, :1])
        loss = lambda p: jnp.mean((nnx.merge(graphdef, p)(x) - y) ** 2)
        updates, opt_state = opt.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    state = opt.init(params)
    for i in range(3):
        params, state = step(params, state, i)
    training.save(directory, params, state)
    params, state = training.resume(directory, nnx.split(Net.build(), nnx.Param)[1], opt)
    for i in range(3, 6):
        params, state = step(params, state, i)
    return [_bits(x) for x in jax.tree.leaves((params, state))]


def _worker(form: str, out: str) -> None:
    from optaxlr.transforms._cpu_fusion import default_form

    form_ctx = default_form if form == "default" else contextlib.nullcontext
    arrays, meta = {}, {"active": optaxlr.fast.cpu_fusion_active(), "barriers": {}, "bytes": {}}
    with form_ctx():
        for name in CASES:
            for jit in (True, False) if name in EAGER else (True,):
                leaves, barriers = _train(name, jit)
                arrays.update({f"{name}/{jit}/{i}": x for i, x in enumerate(leaves)})
            meta["barriers"][name] = barriers
        for name, make in BYTES.items():
            meta["bytes"][name] = _bytes_per_param(make)
        nnx_leaves = _nnx_run(pathlib.Path(tempfile.mkdtemp()) / "ckpt")
        arrays.update({f"nnx/{i}": x for i, x in enumerate(nnx_leaves)})
    np.savez(out, **arrays)
    pathlib.Path(out + ".json").write_text(json.dumps(meta))


# --- the tests -----------------------------------------------------------------------


def _env(xla_flags: str | None) -> dict[str, str]:
    """The environment of a fresh process with exactly ``xla_flags`` as XLA_FLAGS."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return env


def _python(args: list[str], xla_flags: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=_env(xla_flags),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three worker runs, side by side (each compiles on one core)."""
    tmp = tmp_path_factory.mktemp("cpu_fusion")
    setups = {
        "fused": ("fused", FLAG),
        "default form": ("default", FLAG),
        "no option": ("fused", None),
    }
    procs = {}
    for run, (form, flags) in setups.items():
        out = str(tmp / f"{run.replace(' ', '_')}.npz")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_cpu_fusion", form, out],
            env=_env(flags),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs[run] = (out, proc)
    results = {}
    for run, (out, proc) in procs.items():
        _, stderr = proc.communicate(timeout=1800)
        assert proc.returncode == 0, stderr[-4000:]
        with np.load(out) as data:
            arrays = {k: data[k] for k in data.files}
        results[run] = (arrays, json.loads(pathlib.Path(out + ".json").read_text()))
    return results


def test_the_fused_form_is_taken_only_where_the_option_is_in_effect(runs):
    fused, default, none = (runs[k][1] for k in ("fused", "default form", "no option"))
    assert fused["active"] and default["active"] and not none["active"]
    # Complex parameters keep the default form (see optaxlr/transforms/_cpu_fusion.py).
    assert fused["barriers"] == {name: "complex" not in name for name in CASES}
    assert not any(default["barriers"].values()), default["barriers"]
    # The probe falls back: without the option the step is today's.
    assert not any(none["barriers"].values()), none["barriers"]


# Where XLA's code generator contracts a multiply and an add into one FMA differs
# between loops: a rule that adds two products (Adam's Nesterov numerator) can come
# out of the fused loop with another contraction, and complex loops change with the
# backend option itself, whatever the form. Those agree to the last bit or two.
LAST_BIT = {"adam_nesterov", "adamw_complex64"}


def _compare(a: dict, b: dict, name: str, exact: bool, what: str) -> None:
    keys = [k for k in b if k.startswith(f"{name}/")]
    assert keys
    for k in keys:
        assert a[k].shape == b[k].shape, k
        if exact:
            assert np.array_equal(a[k], b[k]), f"{what}: {k} differs"
        elif a[k].dtype == np.uint8:
            dtype = np.complex64 if "complex" in name else np.float32
            np.testing.assert_allclose(a[k].view(dtype), b[k].view(dtype), rtol=1e-6, err_msg=k)
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("name", [*CASES, "nnx"])
def test_the_fused_form_is_bitwise_the_default_form(runs, name):
    fused, default, none = (runs[k][0] for k in ("fused", "default form", "no option"))
    exact = name not in LAST_BIT
    # The fused form against the default form, both with the option; complex
    # parameters keep the default form.
    _compare(fused, default, name, exact or "complex" in name, "fused vs default form")
    # And against today's process, without the option. The nnx step holds a model: on
    # jax 0.7.1 the option also changes the contractions of its forward and backward
    # loops, so there the gradients (and what follows) agree to the last bit or two.
    _compare(fused, none, name, exact and name != "nnx", "fused vs no option")


def test_the_fused_step_moves_each_byte_once(runs):
    # p, g, m, v read, p, m, v written: 28 bytes per float32 AdamW parameter
    # (AMSGrad: +8 for its maximum; SGD's momentum: p, g, b read, p, b written).
    fused, default, none = (runs[k][1]["bytes"] for k in ("fused", "default form", "no option"))
    ideal = {"adamw": 28, "adamw_amsgrad": 36, "adam_l2": 28, "sgd_momentum": 20}
    for name, want in ideal.items():
        assert fused[name] == pytest.approx(want, abs=0.1), (name, fused[name])
        assert default[name] > want + 3 and none[name] > want + 3, (name, default, none)


def test_the_probe_falls_back_without_the_option():
    code = (
        "import jax, jax.numpy as jnp, optaxlr\n"
        "assert not optaxlr.fast.cpu_fusion_active()\n"
        "opt = optaxlr.adamw(1e-3); p = {'w': jnp.ones(3)}; s = opt.init(p)\n"
        "print(jax.make_jaxpr(lambda g, s, p: opt.update(g, s, p))(p, s, p))\n"
    )
    # Other XLA flags set, this option not.
    done = _python(["-c", code], "--xla_cpu_enable_fast_math=false")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "optimization_barrier" not in done.stdout


def test_the_probe_sees_an_option_set_too_late():
    # XLA_FLAGS names the option, but the backend started before: XLA doesn't fuse,
    # and the probe, which compiles, says so.
    code = (
        "import os, jax.numpy as jnp, optaxlr\n"
        "jnp.ones(2).block_until_ready()\n"
        f"os.environ['XLA_FLAGS'] = {FLAG!r}\n"
        "print(optaxlr.fast.cpu_fusion_active())\n"
    )
    done = _python(["-c", code], None)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == "False"


def test_enable_turns_the_fusion_on_at_start_up():
    code = (
        "import os, optaxlr\n"
        "optaxlr.fast.enable_cpu_fusion()\n"
        "optaxlr.fast.enable_cpu_fusion()\n"  # twice: the option once
        "print(os.environ['XLA_FLAGS'])\n"
        "print(optaxlr.fast.cpu_fusion_active())\n"
        "optaxlr.fast.enable_cpu_fusion()\n"  # after start-up, with the option on: quiet
    )
    done = _python(["-c", code], "--xla_cpu_enable_fast_math=false")
    assert done.returncode == 0, done.stderr[-4000:]
    flags, active = done.stdout.split("\n")[:2]
    assert flags.split() == ["--xla_cpu_enable_fast_math=false", FLAG]
    assert active == "True"


def test_enable_refuses_once_the_backend_has_started():
    code = (
        "import jax.numpy as jnp, optaxlr\n"
        "jnp.ones(2).block_until_ready()\n"
        "try:\n"
        "    optaxlr.fast.enable_cpu_fusion()\n"
        "except RuntimeError as e:\n"
        "    print('refused:', e)\n"
        "print(optaxlr.fast.cpu_fusion_active())\n"
    )
    done = _python(["-c", code], None)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "refused:" in done.stdout and "before any JAX computation" in done.stdout
    assert done.stdout.strip().endswith("False")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", FLAG),
        (
            "--xla_force_host_platform_device_count=2",
            f"--xla_force_host_platform_device_count=2 {FLAG}",
        ),
        (
            "--xla_backend_extra_options=a=1,b",
            "--xla_backend_extra_options=a=1,b,xla_cpu_use_multi_output_fusion",
        ),
        (
            "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion=false,a",
            "--xla_backend_extra_options=a,xla_cpu_use_multi_output_fusion",
        ),
        (FLAG, FLAG),
    ],
)
def test_the_option_joins_the_flags_already_set(before, after):
    assert _with_option(before) == after


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
