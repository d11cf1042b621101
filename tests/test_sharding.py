"""Sharding: every optaxlr transform under jit with parameters sharded over 8 CPU devices.

The checks need ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before
JAX starts, so in an ordinary run (``pytest -n 2``) this module holds one test
that reruns the module in a fresh interpreter with that flag and checks that
every sharded test in it passed. Run with the flag already set (as that child
does), the sharded tests run here directly:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 pytest tests/test_sharding.py

What is checked, on a 4 x 2 mesh (axes ``x`` and ``y``):

- every alias, every transformation of `optaxlr.transforms` and every
  `optaxlr.training` transformation runs under ``jax.jit``, and its state takes
  the parameters' shardings: each params-shaped leaf has exactly its
  parameter's ``NamedSharding``, scalars are replicated; after ``update`` too.
  Both with the classic mesh (``AxisType.Auto``: ``init`` outside ``jit``
  keeps the shardings, ``jit(update)`` propagates them) and with JAX's explicit
  sharding (``jax.make_mesh`` + ``jax.set_mesh``: ``jit(init)`` itself gives them);
- data-parallel training with global-norm clipping inside gradient accumulation
  gives the single-device parameters to 1e-6;
- a sharded checkpoint restores with its shardings, dtypes and bits.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

FLAG = "--xla_force_host_platform_device_count=8"
IN_PROCESS = FLAG in os.environ.get("XLA_FLAGS", "")

if not IN_PROCESS:

    def test_sharded_checks_pass_on_8_cpu_devices():
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FLAG}".strip()
        env["JAX_PLATFORMS"] = "cpu"
        result = subprocess.run(
            [sys.executable, "-m", "pytest", os.path.abspath(__file__), "-q", "-p", "no:xdist",
             "-p", "no:cacheprovider", "-o", "addopts=-ra"],
            env=env, capture_output=True, text=True, timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        passed = re.search(r"(\d+) passed", output)
        assert passed and int(passed.group(1)) >= 5, output
        assert "skipped" not in output and "failed" not in output, output

else:
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import AxisType, Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import optaxlr
    from optaxlr import training

    # Parameters with distinct shapes, so that a state leaf's shape names its parameter.
    PARAMS = {
        "w": ((16, 8), jnp.float32, P("x", "y")),
        "b": ((8,), jnp.float32, P("y")),
        "e": ((6, 8), jnp.float32, P(None, "x")),
        "h": ((8, 6), jnp.bfloat16, P("y", None)),
    }
    LR = optaxlr.schedules.warmup(optaxlr.schedules.cosine(0.1, 100), warmup_steps=5)
    ALIAS_EXTRA = {"sgd": {"momentum": 0.9}, "rmsprop": {"momentum": 0.9, "centered": True},
                   "adam": {"amsgrad": True},
                   # Rprop's rate is its initial step size: its step-size bound is scheduled.
                   "rprop": {"learning_rate": 1e-2,
                             "step_sizes": (1e-6, optaxlr.schedules.linear(50.0, 10.0, 100))}}
    TRANSFORM_ARGS = {
        "add_decayed_weights": {"weight_decay": 1e-2},
        "clip_by_global_norm": {"max_norm": 1.0},
        "clip_by_norm": {"max_norm": 1.0},
        "clip_by_value": {"max_delta": 1.0},
        "decoupled_weight_decay": {"learning_rate": LR, "weight_decay": 1e-2},
        "scale_by_learning_rate": {"learning_rate": LR},
        "scale_by_path": {"rules": {"w": 0.5, "e|h": LR}},
        "trace": {"decay": 0.9},
    }

    def _all_transforms() -> dict:
        """Every optaxlr transformation, built with a schedule where it takes one."""
        out = {}
        for name in optaxlr.aliases.__all__:
            out[f"alias/{name}"] = getattr(optaxlr, name)(
                **{"learning_rate": LR, **ALIAS_EXTRA.get(name, {})})
        for name in optaxlr.transforms.__all__:
            fn = getattr(optaxlr.transforms, name)
            if name[0].islower() and name not in {"path_to_str", "chain", "per_parameter",
                                                  "newton_schulz", "scale_by_muon"}:
                out[f"transforms/{name}"] = fn(**TRANSFORM_ARGS.get(name, {}))
        # Muon takes matrices only: the others pass through it unchanged
        out["transforms/scale_by_muon"] = optax.masked(
            optaxlr.transforms.scale_by_muon(momentum=LR),
            lambda p: jax.tree.map(lambda x: x.ndim == 2, p))
        out["training/accumulate"] = training.accumulate(optaxlr.adamw(LR), 2)
        out["training/reduce_on_plateau"] = optax.chain(optaxlr.sgd(LR),
                                                        training.reduce_on_plateau(patience=0))
        out["training/param_ema"] = optax.chain(optaxlr.sgd(LR), training.param_ema(0.9))
        out["training/skip_nonfinite"] = training.skip_nonfinite(optaxlr.nadam(LR))
        out["training/update_ratio_monitor"] = training.update_ratio_monitor()
        out["training/grad_norm_monitor"] = training.grad_norm_monitor(
            optaxlr.schedules.linear(1.0, 0.5, 10), per_path_every=2
        )
        out["training/spike_guard"] = training.spike_guard(optaxlr.adamw(LR), warmup=2)
        out["training/accumulate_scheduled_k"] = training.accumulate(
            optaxlr.adamw(LR), optaxlr.schedules.piecewise_constant([1], [1.0, 2.0]), rule="sqrt"
        )
        return out

    def _params(mesh) -> dict:
        out = {}
        for i, (name, (shape, dtype, spec)) in enumerate(PARAMS.items()):
            value = jnp.linspace(-1.0, 1.0 + i, int(np.prod(shape))).reshape(shape).astype(dtype)
            out[name] = jax.device_put(value, NamedSharding(mesh, spec))
        return out

    def _is_adafactor(x):
        return isinstance(x, optaxlr.transforms.ScaleByAdafactorState)

    def _check_factored(label, tree, params, failures):
        """``tree`` without Adafactor's row and column moments, each checked to have its
        parameter's sharding with the reduced axis whole (it has size 1)."""

        def check(node):
            if not _is_adafactor(node):
                return node
            for field, axis in (("row_var", -1), ("col_var", -2)):
                for name, p in params.items():
                    leaf = getattr(node, field)[name]
                    if leaf is None:
                        continue
                    spec = [*p.sharding.spec, *[None] * (p.ndim - len(p.sharding.spec))]
                    spec[axis] = None
                    want = NamedSharding(p.sharding.mesh, P(*spec))
                    if not leaf.sharding.is_equivalent_to(want, leaf.ndim):
                        failures.append(f"{label}{field}[{name!r}]: {leaf.sharding} "
                                        f"instead of {want}")
            return node._replace(row_var=None, col_var=None)

        return jax.tree.map(check, tree, is_leaf=_is_adafactor)

    def _check_state(label, tree, params, failures):
        tree = _check_factored(label, tree, params, failures)
        by_shape = {p.shape: p.sharding for p in jax.tree.leaves(params)}
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            where = f"{label}{jax.tree_util.keystr(path)}"
            if leaf.shape in by_shape:
                if not leaf.sharding.is_equivalent_to(by_shape[leaf.shape], leaf.ndim):
                    failures.append(f"{where}: {leaf.sharding} instead of {by_shape[leaf.shape]}")
            elif leaf.ndim == 0:
                if not leaf.sharding.is_fully_replicated:
                    failures.append(f"{where}: a scalar sharded as {leaf.sharding}")
            else:
                failures.append(f"{where}: unexpected shape {leaf.shape}")

    def _grads(params):
        return jax.tree.map(lambda p: (jnp.cos(p.astype(jnp.float32)) * 0.1).astype(p.dtype),
                            params)

    def _update_all(opts):
        def update(grads, states, params):
            out = {}
            for name, opt in opts.items():
                extra = {"value": jnp.float32(1.0)} if "plateau" in name else {}
                out[name] = opt.update(grads, states[name], params, **extra)
            return out

        return jax.jit(update)

    def _run_all(params, init, failures):
        opts = _all_transforms()
        states = init(opts, params)
        for name, state in states.items():
            _check_state(f"{name} init: ", state, params, failures)
        results = _update_all(opts)(_grads(params), states, params)
        for name, (updates, state) in results.items():
            _check_state(f"{name} updates: ", updates, params, failures)
            _check_state(f"{name} state: ", state, params, failures)
            if any(not np.all(np.isfinite(np.asarray(u, np.float32)))
                   for u in jax.tree.leaves(updates)):
                failures.append(f"{name}: non-finite updates")
        return len(opts)

    def test_eight_devices():
        assert jax.device_count() == 8

    def test_state_takes_the_params_shardings_auto_mesh():
        mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"),
                    axis_types=(AxisType.Auto, AxisType.Auto))
        failures = []
        params = _params(mesh)
        eager_init = lambda opts, p: {n: o.init(p) for n, o in opts.items()}  # noqa: E731
        n = _run_all(params, eager_init, failures)
        assert n >= 25
        assert not failures, "\n".join(failures)

    def test_state_takes_the_params_shardings_explicit_mesh():
        mesh = jax.make_mesh((4, 2), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
        failures = []
        with jax.set_mesh(mesh):
            params = _params(mesh)
            def jit_init(opts, p):
                return jax.jit(lambda p: {n: o.init(p) for n, o in opts.items()})(p)

            n = _run_all(params, jit_init, failures)
        assert n >= 25
        assert not failures, "\n".join(failures)

    def _batches(steps=12, batch=32):
        xs = jax.random.normal(jax.random.key(0), (steps, batch, 16))
        return xs, jnp.sin(xs[..., :8])

    def _loss(p, x, y):
        h = jnp.tanh(x @ p["w"] + p["b"])
        return jnp.mean((h - y) ** 2) + 1e-3 * jnp.sum(p["e"].astype(jnp.float32) ** 2)

    def _data_parallel_run(params, x_sharding, opt):
        xs, ys = _batches()

        @jax.jit
        def step(p, s, x, y):
            updates, s = opt.update(jax.grad(_loss)(p, x, y), s, p)
            return optax.apply_updates(p, updates), s

        state = opt.init(params)
        for x, y in zip(xs, ys, strict=True):
            params, state = step(params, state, jax.device_put(x, x_sharding), y)
        return params, state

    def test_clipping_and_accumulation_match_one_device():
        mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"),
                    axis_types=(AxisType.Auto, AxisType.Auto))

        def make():
            return training.accumulate(
                optax.chain(optaxlr.clip_by_global_norm(0.05), optaxlr.adam(LR)), 4)

        sharded = _params(mesh)
        one = jax.devices()[0]
        single = jax.tree.map(lambda p: jax.device_put(np.asarray(p), one), sharded)
        p8, s8 = _data_parallel_run(sharded, NamedSharding(mesh, P("x", None)), make())
        p1, s1 = _data_parallel_run(single, jax.sharding.SingleDeviceSharding(one), make())
        assert len(p8["w"].sharding.device_set) == 8 and len(p1["w"].sharding.device_set) == 1
        for name in PARAMS:
            a = np.asarray(p8[name], np.float32)
            b = np.asarray(p1[name], np.float32)
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)
            assert p8[name].sharding.is_equivalent_to(sharded[name].sharding, a.ndim)
        assert not np.array_equal(np.asarray(p1["w"]), np.asarray(single["w"]))  # it trained
        hp8, hp1 = optaxlr.hyperparams(s8), optaxlr.hyperparams(s1)
        assert int(hp8["step"]) == int(hp1["step"]) == 3
        # The clipping threshold was hit, so the global norm (a sum over every shard) mattered:
        # the first update clips the mean gradient of the first 4 batches at the initial params.
        xs, ys = _batches()
        grads = [jax.grad(_loss)(single, x, y) for x, y in zip(xs[:4], ys[:4], strict=True)]
        mean = jax.tree.map(lambda *g: sum(g) / 4, *grads)
        assert float(optax.global_norm(mean)) > 2 * 0.05

    def test_sharded_checkpoint_keeps_shardings_dtypes_and_bits(tmp_path):
        mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"),
                    axis_types=(AxisType.Auto, AxisType.Auto))
        opt = optax.chain(training.accumulate(optaxlr.adamw(LR), 2),
                          training.reduce_on_plateau())
        params = _params(mesh)
        state = opt.init(params)
        update = jax.jit(functools.partial(opt.update, value=jnp.float32(0.5)))
        for _ in range(3):
            updates, state = update(_grads(params), state, params)
            params = optax.apply_updates(params, updates)
        training.save(tmp_path / "ckpt", params, state)
        template = _params(mesh)
        restored = training.restore(tmp_path / "ckpt", template, opt.init(template))
        for a, b in zip(jax.tree.leaves((params, state)), jax.tree.leaves(restored), strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert b.sharding.is_equivalent_to(a.sharding, a.ndim) or a.ndim == 0
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        # The state's counts come back on the parameters' mesh (replicated), not committed
        # to one device, so the jitted step takes them next to the sharded parameters.
        for count in (s for s in jax.tree.leaves(restored[1]) if s.ndim == 0):
            assert len(count.sharding.device_set) == 8
        resumed = update(_grads(restored[0]), restored[1], restored[0])
        straight = update(_grads(params), state, params)
        for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    @pytest.mark.parametrize("name", sorted(PARAMS))
    def test_params_are_really_sharded(name):
        mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"))
        p = _params(mesh)[name]
        assert len(p.sharding.device_set) == 8
        assert p.sharding.spec == PARAMS[name][2]

    def test_sweep_over_a_mesh_gives_the_single_device_numbers():
        # 12 copies on 8 devices: the last copy fills the 4 spare places and is dropped.
        mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"))
        rng = np.random.default_rng(0)
        xs = rng.normal(size=(40, 16, 5)).astype(np.float32)
        ys = np.tanh(xs @ rng.normal(size=(5, 3))).astype(np.float32)
        params = {"w1": jnp.asarray(rng.normal(size=(5, 8)), jnp.float32) * 0.5,
                  "w2": jnp.zeros((8, 3), jnp.float32)}

        def loss_fn(p, batch):
            x, y = batch
            return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)

        def optimizer(learning_rate, weight_decay):
            return optaxlr.adamw(optaxlr.schedules.cosine(learning_rate, 40),
                                 weight_decay=weight_decay)

        hparams = {"learning_rate": np.geomspace(1e-3, 1e-1, 12),
                   "weight_decay": np.linspace(0.0, 0.1, 12)}
        kwargs = dict(num_steps=40, eval_fn=lambda p: loss_fn(p, (xs[0], ys[0])),
                      eval_every=20, return_params=True)
        batches = list(zip(xs, ys, strict=True))
        one = optaxlr.sweep(loss_fn, params, batches, optimizer, hparams, **kwargs)
        spread = optaxlr.sweep(loss_fn, params, batches, optimizer, hparams, mesh=mesh,
                               **kwargs)
        assert spread.size == one.size == 12
        np.testing.assert_allclose(spread.losses, one.losses, rtol=1e-6, atol=0)
        np.testing.assert_allclose(spread.metrics["metric"], one.metrics["metric"], rtol=1e-6)
        for a, b in zip(jax.tree.leaves(spread.params), jax.tree.leaves(one.params), strict=True):
            assert a.shape[0] == 12
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        # The copies differ: the sweep really trained each with its own values.
        assert len(set(np.round(spread.final["train_loss"], 6))) == 12
        with pytest.raises(TypeError, match=r"mesh must be a jax\.sharding\.Mesh"):
            optaxlr.sweep(loss_fn, params, batches, optimizer, hparams, num_steps=4,
                          mesh=jax.devices())
