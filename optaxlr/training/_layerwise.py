"""Layer-wise rates: ViT/BERT layer decay and muP width scaling, as `scale_by_path` rules.

Each function returns plain data (``{pattern: factor}`` dicts of strings and
floats, or a predicate for a weight-decay ``mask``), so a recipe's rates are
written into and read from a config as they are, and `optaxlr.hyperparams`
reports every factor as ``scale[<pattern>]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from optaxlr._paths import path_to_str
from optaxlr._validation import check_choice, check_int, check_number

__all__ = ["MupScales", "layer_decay", "mup_scales", "no_weight_decay_mask"]

#: The embedding parameters of a timm / BEiT ViT (layer 0).
VIT_STEM = r"(cls_token|reg_token|dist_token|mask_token|pos_embed|patch_embed|norm_pre)(/.*)?"
VIT_BLOCK = r"blocks/{i}/.*"
VIT_FINAL_NORM = r"norm/.*"


def layer_decay(
    decay: float,
    num_blocks: int,
    *,
    rule: str = "timm",
    stem: str = VIT_STEM,
    block: str = VIT_BLOCK,
    final_norm: str | None = VIT_FINAL_NORM,
    min_scale: float = 0.0,
) -> dict[str, float]:
    r"""Layer-wise learning-rate decay for a ViT or BERT: rules for `scale_by_path`.

    Layer :math:`\ell` of :math:`L + 1` has its rate multiplied by
    :math:`\max(\text{min\_scale}, d^{L - \ell})`: the head learns at the full
    rate and each layer below at ``decay`` times the one above. The layers:

    * ``rule="timm"`` (``timm.optim.param_groups_layer_decay`` with a ViT's
      ``group_matcher``): the embeddings (``stem``) are layer 0, block ``i``
      is layer ``i + 1``, the final norm shares the last block's layer, and
      everything else (the head) is the top layer, :math:`L = n + 1`.
    * ``rule="beit"`` (BEiT's ``get_num_layer_for_vit``, also MAE's and
      DeiT III's): the same, except that the final norm is in the top layer
      with the head (its rate is not decayed).

    The patterns are regular expressions over `optaxlr.path_to_str` paths
    (``"blocks/3/attn/qkv/kernel"`` for a Flax NNX ViT whose blocks are a list
    named ``blocks``); ``block`` holds ``{i}`` for the block index. For a BERT,
    ``stem=r"embeddings/.*"`` and ``block=r"encoder/layer/{i}/.*"``.

    Args:
      decay: the factor between adjacent layers, in (0, 1].
      num_blocks: the number of transformer blocks, >= 1.
      rule: ``"timm"`` or ``"beit"``.
      stem: the pattern of the embedding parameters (layer 0).
      block: the pattern of block ``{i}``'s parameters.
      final_norm: the pattern of the final norm (``None``: the model has none).
      min_scale: the smallest factor (timm's ``min_scale``), in [0, 1].

    Returns:
      ``{pattern: factor}``, bottom layer first; a parameter no pattern matches
      (the head) keeps the full rate. Pass it to `optaxlr.scale_by_path` after
      the optimizer (a config stores it as it is).

    Example:
      >>> rules = optaxlr.training.layer_decay(0.75, num_blocks=2)
      >>> {k: round(v, 4) for k, v in rules.items()}  # doctest: +NORMALIZE_WHITESPACE
      {'(cls_token|reg_token|dist_token|mask_token|pos_embed|patch_embed|norm_pre)(/.*)?': 0.4219,
       'blocks/0/.*': 0.5625, 'blocks/1/.*': 0.75, 'norm/.*': 0.75}
    """
    check_number("decay", decay, low=0.0, high=1.0, low_open=True)
    blocks = check_int("num_blocks", num_blocks, low=1)
    check_choice("rule", rule, ("timm", "beit"))
    check_number("min_scale", min_scale, low=0.0, high=1.0)
    for name, pattern in (("stem", stem), ("block", block), ("final_norm", final_norm)):
        if pattern is None and name == "final_norm":
            continue
        if not isinstance(pattern, str):
            raise TypeError(f"{name} must be a regular expression (str), got {pattern!r}")
    if "{i}" not in block:
        raise ValueError(f"block must hold {{i}} for the block index, got {block!r}")
    top = blocks + 1

    def scale(layer: int) -> float:
        return max(float(min_scale), float(decay) ** (top - layer))

    rules = {stem: scale(0)}
    rules.update({block.replace("{i}", str(i)): scale(i + 1) for i in range(blocks)})
    if final_norm is not None and rule == "timm":
        rules[final_norm] = scale(blocks)
    for pattern in rules:
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {e}") from None
    return rules


def no_weight_decay_mask(
    no_weight_decay: Sequence[str] = (), *, exclude_1d: bool = True, separator: str = "/"
) -> Callable[[Any], Any]:
    """A weight-decay ``mask``: ``True`` where the decay applies, as timm and BEiT group it.

    A parameter is not decayed if it has at most one dimension (biases, norm
    scales; timm's ``weight_decay_exclude_1d``) or if its path fully matches one
    of ``no_weight_decay`` (a ViT's ``no_weight_decay()``: ``pos_embed``,
    ``cls_token``, ...). Pass the result as the ``mask`` of `optaxlr.adamw`,
    `optaxlr.lion` or `optaxlr.decoupled_weight_decay`.

    Args:
      no_weight_decay: regular expressions over `optaxlr.path_to_str` paths.
      exclude_1d: never decay parameters with ``ndim <= 1``.
      separator: joins the keys of a path, as in `scale_by_path`.

    Example:
      >>> import jax.numpy as jnp
      >>> mask = optaxlr.training.no_weight_decay_mask([r"pos_embed"])
      >>> mask({"pos_embed": jnp.zeros((1, 4, 8)), "w": jnp.zeros((8, 8)), "b": jnp.zeros(8)})
      {'b': False, 'pos_embed': False, 'w': True}
    """
    if isinstance(no_weight_decay, str) or not isinstance(no_weight_decay, Sequence):
        raise TypeError(
            f"no_weight_decay must be a sequence of regular expressions, got {no_weight_decay!r}"
        )
    compiled = []
    for pattern in no_weight_decay:
        if not isinstance(pattern, str):
            raise TypeError(f"no_weight_decay must hold regular expressions, got {pattern!r}")
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {e}") from None

    def mask(params: Any) -> Any:
        def decayed(path: Any, p: Any) -> bool:
            if exclude_1d and np.ndim(p) <= 1:
                return False
            text = path_to_str(path, separator)
            return not any(r.fullmatch(text) for r in compiled)

        return jax.tree_util.tree_map_with_path(decayed, params)

    return mask


class MupScales(NamedTuple):
    """Per-parameter muP multipliers, as `scale_by_path` rules (exact, escaped paths)."""

    learning_rate: dict[str, float]  # multiplies the update (after the preconditioner)
    init_std: dict[str, float]  # multiplies the initial weights' standard deviation


def mup_scales(
    params: Any, base_params: Any, *, optimizer: str = "adam", separator: str = "/"
) -> MupScales:
    r"""muP's learning-rate and initialization multipliers, from a base model's shapes.

    The rules of Microsoft's ``mup`` 1.0.0 (Yang et al., 2022, "Tensor Programs
    V"): a dimension that differs between ``params`` and ``base_params`` is a
    width, :math:`m = \text{dim} / \text{base dim}`. With ``optimizer="adam"``
    (``mup.MuAdam``, also for AdamW, RMSProp, Adagrad, Lion) a parameter with two
    width dimensions (a hidden matrix) gets its rate divided by the fan-in's
    :math:`m`; with ``"sgd"`` (``mup.MuSGD``) a parameter with one width dimension
    gets its rate multiplied by it, and a hidden matrix divided by
    :math:`m_\text{in} / m_\text{out}`. A hidden matrix's initial standard
    deviation is divided by :math:`\sqrt{m_\text{in}}` (``mup.init``'s
    constant-std rule). The output layer's ``1 / m`` multiplier (``mup.MuReadout``)
    belongs to the model's forward pass.

    Dimensions follow Flax: a kernel is ``(..., fan_in, fan_out)`` (torch's
    ``(fan_out, fan_in)`` reversed), so the fan-in is the second-to-last axis.

    ``mup`` also scales the weight decay inversely to the rate, so that
    AdamW's decay :math:`\eta \lambda` is unchanged: place `scale_by_path` with
    ``learning_rate`` between the optimizer's rate and a decoupled weight decay
    (``chain(scale_by_adam(), scale_by_learning_rate(lr), scale_by_path(...),
    decoupled_weight_decay(lr, wd))``) to get ``mup.MuAdamW`` exactly.

    Args:
      params: the model's parameters (or shapes) at the width to train.
      base_params: the same model's at the base width (``jax.eval_shape`` of
        its init is enough).
      optimizer: ``"adam"`` (entrywise-normalized updates) or ``"sgd"``.
      separator: joins the keys of a path, as in `scale_by_path`.

    Returns:
      `MupScales`; parameters whose multiplier is 1 are left out.

    Raises:
      ValueError: if the trees differ in structure or rank, or a parameter has
        more than two width dimensions (as ``mup``).

    Example:
      >>> import jax.numpy as jnp
      >>> base = {"w_in": jnp.zeros((8, 16)), "w": jnp.zeros((16, 16)), "w_out": jnp.zeros((16, 4))}
      >>> wide = {"w_in": jnp.zeros((8, 64)), "w": jnp.zeros((64, 64)), "w_out": jnp.zeros((64, 4))}
      >>> optaxlr.training.mup_scales(wide, base).learning_rate
      {'w': 0.25}
    """
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    flat = jax.tree_util.tree_flatten_with_path(params)
    base_flat = jax.tree_util.tree_flatten_with_path(base_params)
    if flat[1] != base_flat[1]:
        raise ValueError(
            "params and base_params must have the same tree structure (the same model at two "
            f"widths), got {flat[1]} and {base_flat[1]}"
        )
    lr: dict[str, float] = {}
    init: dict[str, float] = {}
    for (path, p), (_, b) in zip(flat[0], base_flat[0], strict=True):
        name = path_to_str(path, separator)
        shape, base_shape = tuple(np.shape(p)), tuple(np.shape(b))
        if len(shape) != len(base_shape):
            raise ValueError(
                f"{name}: rank {len(shape)} in params, {len(base_shape)} in base_params"
            )
        mults = [d / bd if d != bd else 1.0 for d, bd in zip(shape, base_shape, strict=True)]
        wide = [i for i, (d, bd) in enumerate(zip(shape, base_shape, strict=True)) if d != bd]
        if len(wide) > 2:
            raise ValueError(f"{name}: more than two width dimensions ({shape} vs {base_shape})")
        key = re.escape(name)
        if len(wide) == 2:
            if len(shape) < 2 or set(wide) != {len(shape) - 2, len(shape) - 1}:
                raise ValueError(
                    f"{name}: the width dimensions must be the fan-in and fan-out "
                    f"(the last two), got axes {wide} of {shape}"
                )
            fan_in, fan_out = mults[-2], mults[-1]
            lr[key] = 1.0 / fan_in if optimizer == "adam" else fan_out / fan_in
            init[key] = 1.0 / math.sqrt(fan_in)
        elif len(wide) == 1 and optimizer == "sgd":
            lr[key] = mults[wide[0]]
    return MupScales(
        {k: v for k, v in lr.items() if v != 1.0}, {k: v for k, v in init.items() if v != 1.0}
    )
