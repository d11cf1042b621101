"""Layer-wise rates against their references: timm's and BEiT's layer decay, and muP.

The references are ``tests/fixtures/layerwise.json`` and ``mup_adamw.npz``
(``scripts/generate_layerwise_fixtures.py``: timm 1.0.31's
``param_groups_layer_decay`` on ``vit_tiny_patch16_224``, BEiT's
``get_num_layer_for_vit``, and ``mup`` 1.0.0's ``MuAdam``/``MuSGD``/``MuAdamW``).
The factor a parameter gets is measured, not read from the rules: `scale_by_path`
updates a gradient of ones, and each leaf comes out as its factor.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import optaxlr
from optaxlr import training
from optaxlr.transforms import path_to_str
from tests.vit_tiny import ViT, timm_name

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
REF = json.loads((FIXTURES / "layerwise.json").read_text())
VIT = REF["vit_tiny"]


@pytest.fixture(scope="module")
def vit_params():
    return nnx.split(ViT(rngs=nnx.Rngs(0)), nnx.Param)[1]


def _by_timm_name(tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {timm_name(path_to_str(k)): np.asarray(v) for k, v in leaves}


def _applied_factors(rules, params) -> dict[str, float]:
    """The factor scale_by_path multiplies each parameter's update by, by timm name."""
    tx = optaxlr.scale_by_path(rules)
    ones = jax.tree.map(jnp.ones_like, params)
    updates, _ = jax.jit(tx.update)(ones, tx.init(params), params)
    out = {}
    for name, u in _by_timm_name(updates).items():
        assert np.all(u == u.flat[0]), name  # one factor per parameter
        out[name] = float(u.flat[0])
    return out


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("timm_0.75", {"decay": 0.75}),
        ("timm_0.65_min_0.1", {"decay": 0.65, "min_scale": 0.1}),
        ("beit_0.75", {"decay": 0.75, "rule": "beit"}),
    ],
)
def test_layer_decay_matches_the_reference_groups_on_a_vit(vit_params, case, kwargs):
    rules = training.layer_decay(num_blocks=VIT["depth"], **kwargs)
    factors = _applied_factors(rules, vit_params)
    # timm's model.no_weight_decay(), as regular expressions over paths.
    mask = training.no_weight_decay_mask(VIT["no_weight_decay"])(vit_params)
    decayed = {n: bool(v) for n, v in _by_timm_name(mask).items()}
    assert set(factors) == set(VIT[case])
    for name, (lr_scale, weight_decay) in VIT[case].items():
        np.testing.assert_allclose(factors[name], lr_scale, rtol=1e-6, err_msg=name)
        assert decayed[name] == (weight_decay > 0), name


def test_the_two_rules_differ_only_at_the_final_norm():
    timm_rules = training.layer_decay(0.75, 12)
    beit_rules = training.layer_decay(0.75, 12, rule="beit")
    assert {k: v for k, v in timm_rules.items() if k != "norm/.*"} == beit_rules
    assert VIT["timm_0.75"]["norm.weight"][0] == 0.75 and VIT["beit_0.75"]["norm.weight"][0] == 1


def test_layer_decay_in_an_nnx_training_step_with_reported_scales():
    rules = json.loads(json.dumps(training.layer_decay(0.75, VIT["depth"])))  # via a config
    mask = training.no_weight_decay_mask(VIT["no_weight_decay"])
    lr = optaxlr.schedules.cosine(1e-3, 100)
    plain = optaxlr.adamw(lr, weight_decay=0.05, mask=mask)
    layer_wise = optax.chain(plain, optaxlr.scale_by_path(rules))
    # 32x32 images (4 patches): the parameter tree of ViT-Tiny/16 with a shorter pos_embed.
    images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    labels = jnp.asarray([3, 7])

    def loss_fn(model):
        logits = model(images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    model = ViT(image=32, rngs=nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    grads = nnx.jit(nnx.grad(loss_fn))(model)
    updates = {}
    for name, tx in (("plain", plain), ("layer_wise", layer_wise)):
        updates[name] = _by_timm_name(jax.jit(tx.update)(grads, tx.init(params), params)[0])
    # Each parameter's update is its layer's factor times plain AdamW's.
    for name, (lr_scale, _) in VIT["timm_0.75"].items():
        np.testing.assert_allclose(updates["layer_wise"][name], lr_scale * updates["plain"][name],
                                   rtol=1e-6, err_msg=name)

    # The same step from nnx.Optimizer moves the parameters by those updates.
    optimizer = nnx.Optimizer(model, layer_wise, wrt=nnx.Param)
    before = _by_timm_name(params)

    # The same gradients (Adam's first step divides them by their own magnitude, so a
    # gradient rounded differently near eps would move by far more than a rounding).
    nnx.jit(lambda model, optimizer, grads: optimizer.update(model, grads))(
        model, optimizer, grads)
    after = _by_timm_name(nnx.state(model, nnx.Param))
    for name, p in before.items():
        ulp = 2 * np.finfo(np.float32).eps * max(np.abs(p).max(), 1e-3)
        np.testing.assert_allclose(after[name] - p, updates["layer_wise"][name], rtol=0,
                                   atol=ulp, err_msg=name)
    reported = optaxlr.hyperparams(optimizer.opt_state)
    assert float(reported["scale[blocks/0/.*]"]) == pytest.approx(0.75**12, rel=1e-6)
    assert float(reported["scale[norm/.*]"]) == pytest.approx(0.75, rel=1e-6)


def test_layer_decay_errors():
    with pytest.raises(ValueError, match=r"decay must be .* \(0, 1\]"):
        training.layer_decay(0.0, 12)
    with pytest.raises(ValueError, match="num_blocks"):
        training.layer_decay(0.75, 0)
    with pytest.raises(ValueError, match="rule must be one of 'timm', 'beit'"):
        training.layer_decay(0.75, 12, rule="mae")
    with pytest.raises(ValueError, match=r"block must hold \{i\}"):
        training.layer_decay(0.75, 12, block="blocks/.*")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        training.layer_decay(0.75, 12, stem="(")
    with pytest.raises(TypeError, match="no_weight_decay must be a sequence"):
        training.no_weight_decay_mask("pos_embed")


# --- muP --------------------------------------------------------------------------

MUP = REF["mup"]


def _mlp_shapes(width: int) -> dict:
    """The fixture's MLP at ``width``, Flax layout: kernels are (fan_in, fan_out)."""
    d_in, d_out = MUP["shapes"]["w_in.weight"][1], MUP["shapes"]["out.weight"][0]
    dims = {"w_in": (d_in, width), "hidden": (width, width), "out": (width, d_out)}
    return {k: {"kernel": jnp.zeros(s), "bias": jnp.zeros(s[1])} for k, s in dims.items()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_mup_rate_multipliers_match_mup(optimizer):
    scales = training.mup_scales(_mlp_shapes(MUP["width"]), _mlp_shapes(MUP["base"]),
                                 optimizer=optimizer)
    factors = _applied_factors(scales.learning_rate or {".*": 1.0}, _mlp_shapes(MUP["width"]))
    for name, factor in factors.items():
        assert factor == pytest.approx(MUP[f"{optimizer}_lr"][name], rel=1e-7), name


def test_mup_init_multiplier_is_the_constant_std_rule():
    scales = training.mup_scales(_mlp_shapes(MUP["width"]), _mlp_shapes(MUP["base"]))
    # Only the hidden matrix has two width dimensions: std / sqrt(64 / 16).
    assert scales.init_std == {"hidden/kernel": 0.5}


def test_mup_adamw_trajectory_matches_mup():
    ref = np.load(FIXTURES / "mup_adamw.npz")
    manifest = json.loads(str(ref["manifest"]))
    # torch's (out, in) weights transposed into Flax's (in, out) kernels.
    params = {k: {"kernel": jnp.asarray(ref[f"float32/init/{k}.weight"].T, jnp.float32),
                  "bias": jnp.asarray(ref[f"float32/init/{k}.bias"], jnp.float32)}
              for k in ("w_in", "hidden", "out")}
    width_mult = manifest["width"] / manifest["base"]
    scales = training.mup_scales(params, _mlp_shapes(manifest["base"]))
    lr, wd = manifest["lr"], manifest["weight_decay"]
    # mup.MuAdamW: the rate scaled per parameter, AdamW's decay lr * wd unchanged.
    opt = optax.chain(
        optaxlr.scale_by_adam(),
        optaxlr.scale_by_learning_rate(lr),
        optaxlr.scale_by_path(scales.learning_rate),
        optaxlr.decoupled_weight_decay(lr, wd),
    )

    def loss_fn(p, x, target):
        h = jnp.tanh(x @ p["w_in"]["kernel"] + p["w_in"]["bias"])
        h = jnp.tanh(h @ p["hidden"]["kernel"] + p["hidden"]["bias"])
        out = (h / width_mult) @ p["out"]["kernel"] + p["out"]["bias"]  # mup.MuReadout
        return jnp.mean((out - jnp.sin(x @ target)) ** 2)

    @jax.jit
    def step(p, state, x, target):
        grads = jax.grad(loss_fn)(p, x, target)
        updates, state = opt.update(grads, state, p)
        return optax.apply_updates(p, updates), state

    state = opt.init(params)
    xs = jnp.asarray(ref["float32/x"], jnp.float32)
    target = jnp.asarray(ref["float32/target"], jnp.float32)
    for t in range(manifest["steps"]):
        params, state = step(params, state, xs[t], target)
        for k in ("w_in", "hidden", "out"):
            for leaf, torch_leaf, transpose in (("kernel", "weight", True),
                                                ("bias", "bias", False)):
                want = ref[f"float32/params/{k}.{torch_leaf}"][t]
                got = np.asarray(params[k][leaf])
                got = got.T if transpose else got
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(),
                                           err_msg=f"{k}/{leaf} after step {t + 1}")


def test_mup_errors():
    wide = {"w": jnp.zeros((4, 64, 64, 64))}
    base = {"w": jnp.zeros((4, 16, 16, 16))}
    with pytest.raises(ValueError, match="more than two width dimensions"):
        training.mup_scales(wide, base)
    with pytest.raises(ValueError, match="same tree structure"):
        training.mup_scales({"a": jnp.zeros(2)}, {"b": jnp.zeros(2)})
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'sgd'"):
        training.mup_scales(wide, wide, optimizer="lion")
