"""Reference fixtures for layer-wise rates: timm's and BEiT's layer decay, and muP.

Writes
- ``tests/fixtures/layerwise.json``: for every parameter of timm's
  ``vit_tiny_patch16_224`` (built without weights), its shape and the learning-rate
  scale and weight decay of ``timm.optim.param_groups_layer_decay`` (two settings) and
  of BEiT's rule (``get_num_layer_for_vit`` from microsoft/unilm ``beit/optim_factory.py``,
  copied below as the reference: it is not packaged); and the per-parameter rate
  multipliers of ``mup.MuAdam`` and ``mup.MuSGD`` for an MLP at width 64 over base 16;
- ``tests/fixtures/mup_adamw.npz``: 30 steps of ``mup.MuAdamW`` on that MLP
  (``mup.MuReadout`` output), its parameters after every step, in float32 and float64.

Run with torch, timm and mup installed: ``python scripts/generate_layerwise_fixtures.py``.
"""

from __future__ import annotations

import collections
import json
import pathlib

import mup
import numpy as np
import timm
import torch
from timm.optim import param_groups_layer_decay

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures"
WIDTH, BASE, D_IN, D_OUT, STEPS = 64, 16, 8, 4, 30


def _groups_by_name(groups: list[dict], names: dict[int, str]) -> dict[str, list[float]]:
    out = {}
    for g in groups:
        for p in g["params"]:
            out[names[id(p)]] = [float(g.get("lr_scale", 1.0)), float(g["weight_decay"])]
    return out


def timm_layer_decay(model, **kwargs) -> dict[str, list[float]]:
    names = {id(p): n for n, p in model.named_parameters()}
    groups = param_groups_layer_decay(
        model, weight_decay=0.05, no_weight_decay_list=model.no_weight_decay(), **kwargs
    )
    return _groups_by_name(groups, names)


# microsoft/unilm beit/optim_factory.py (the reference BEiT fine-tuning recipe).
def get_num_layer_for_vit(var_name, num_max_layer):
    if var_name in ("cls_token", "mask_token", "pos_embed"):
        return 0
    elif var_name.startswith("patch_embed"):
        return 0
    elif var_name.startswith("rel_pos_bias"):
        return num_max_layer - 1
    elif var_name.startswith("blocks"):
        layer_id = int(var_name.split(".")[1])
        return layer_id + 1
    else:
        return num_max_layer - 1


def beit_layer_decay(model, decay: float, weight_decay: float) -> dict[str, list[float]]:
    num_layers = len(model.blocks) + 2
    scales = [decay ** (num_layers - 1 - i) for i in range(num_layers)]
    skip = model.no_weight_decay()
    out = {}
    for name, param in model.named_parameters():
        no_decay = len(param.shape) == 1 or name.endswith(".bias") or name in skip
        out[name] = [scales[get_num_layer_for_vit(name, num_layers)],
                     0.0 if no_decay else weight_decay]
    return out


def mlp(width: int) -> torch.nn.Module:
    """Linear, tanh, Linear, tanh, ``mup.MuReadout``."""
    return torch.nn.Sequential(collections.OrderedDict([
        ("w_in", torch.nn.Linear(D_IN, width)), ("act_in", torch.nn.Tanh()),
        ("hidden", torch.nn.Linear(width, width)), ("act", torch.nn.Tanh()),
        ("out", mup.MuReadout(width, D_OUT)),
    ]))


def mup_model(dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    model = mlp(WIDTH)
    mup.set_base_shapes(model, mlp(BASE), rescale_params=False)
    rng = np.random.default_rng(1)
    with torch.no_grad():  # the same initial numbers in both precisions
        for p in model.parameters():
            p.copy_(torch.as_tensor(rng.normal(0, 0.3, p.shape)))
    return model.to(dtype)


def mup_multipliers(optimizer) -> dict[str, float]:
    model = mup_model(torch.float32)
    names = {id(p): n for n, p in model.named_parameters()}
    opt = optimizer(model.parameters(), lr=1.0)
    return {names[id(p)]: float(g["lr"]) for g in opt.param_groups for p in g["params"]}


def mup_adamw_run(dtype) -> dict[str, np.ndarray]:
    model = mup_model(dtype)
    opt = mup.MuAdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    rng = np.random.default_rng(2)
    xs = torch.as_tensor(rng.normal(size=(STEPS, 32, D_IN)), dtype=dtype)
    target = torch.as_tensor(rng.normal(size=(D_IN, D_OUT)), dtype=dtype)
    init = {f"init/{n}": p.detach().numpy().astype(np.float64) for n, p in model.named_parameters()}
    history = {n: [] for n, _ in model.named_parameters()}
    for x in xs:
        loss = ((model(x) - torch.sin(x @ target)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        for n, p in model.named_parameters():
            history[n].append(p.detach().numpy().astype(np.float64).copy())
    arrays = {f"params/{n}": np.stack(v) for n, v in history.items()}
    arrays.update(init)
    arrays["x"] = xs.numpy().astype(np.float64)
    arrays["target"] = target.numpy().astype(np.float64)
    return arrays


def main() -> None:
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    data = {
        "generated_by": "scripts/generate_layerwise_fixtures.py",
        "versions": {"torch": torch.__version__, "timm": timm.__version__,
                     "mup": getattr(mup, "__version__", "1.0.0")},
        "vit_tiny": {
            "shapes": {n: list(p.shape) for n, p in model.named_parameters()},
            "depth": len(model.blocks),
            "no_weight_decay": sorted(model.no_weight_decay()),
            "timm_0.75": timm_layer_decay(model, layer_decay=0.75),
            "timm_0.65_min_0.1": timm_layer_decay(model, layer_decay=0.65, min_scale=0.1),
            "beit_0.75": beit_layer_decay(model, 0.75, 0.05),
        },
        "mup": {
            "width": WIDTH, "base": BASE,
            "shapes": {n: list(p.shape) for n, p in mup_model(torch.float32).named_parameters()},
            "adam_lr": mup_multipliers(mup.MuAdam),
            "sgd_lr": mup_multipliers(mup.MuSGD),
        },
    }
    (OUT / "layerwise.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    run32, run64 = mup_adamw_run(torch.float32), mup_adamw_run(torch.float64)
    drift = max(float(np.max(np.abs(run32[k] - run64[k]) / np.maximum(np.abs(run64[k]), 0.1)))
                for k in run32 if k.startswith("params/"))
    print(f"MuAdamW float64 vs float32: params {drift:.2e}")
    if drift > 1e-5:
        raise SystemExit("the MuAdamW run is ill-conditioned; pick other settings")
    manifest = {"generated_by": "scripts/generate_layerwise_fixtures.py",
                "versions": data["versions"], "steps": STEPS, "lr": 1e-2, "weight_decay": 0.1,
                "width": WIDTH, "base": BASE, "conditioning": {"params_rel": drift}}
    arrays = {f"float32/{k}": v for k, v in run32.items()}
    arrays.update({f"float64/{k}": v for k, v in run64.items() if k.startswith("params/")})
    arrays["manifest"] = np.asarray(json.dumps(manifest))
    np.savez_compressed(OUT / "mup_adamw.npz", **arrays)
    print("wrote tests/fixtures/layerwise.json and tests/fixtures/mup_adamw.npz")


if __name__ == "__main__":
    main()
