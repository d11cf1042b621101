"""Monitoring the size of updates relative to the parameters."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optaxlr._hyperparams import HyperparamRecord
from optaxlr._validation import check_int
from optaxlr.transforms._common import init_count, transformation, upcast
from optaxlr.transforms._path import path_to_str

__all__ = ["UpdateRatioMonitorState", "update_ratio_monitor"]


class UpdateRatioMonitorState(NamedTuple):
    """State of `update_ratio_monitor`."""

    count: jax.Array  # int32 scalar, saturating: updates seen
    record: HyperparamRecord  # update_ratio, update_ratio/<path>, ...


def _sum_squares(x: jax.Array) -> jax.Array:
    x = upcast(x)
    return jnp.sum(x * x)


def _ratio(num_sq: jax.Array, den_sq: jax.Array) -> jax.Array:
    # 0 / 0 is 0 (nothing moved); x / 0 is inf.
    num, den = jnp.sqrt(num_sq), jnp.sqrt(den_sq)
    safe = jnp.where(den > 0, den, 1.0)
    return jnp.where(den > 0, num / safe, jnp.where(num > 0, jnp.inf, 0.0)).astype(jnp.float32)


def update_ratio_monitor(
    every_k_steps: int = 1, *, prefix: str = "update_ratio", separator: str = "/"
) -> optax.GradientTransformation:
    r"""Records :math:`\lVert u \rVert_2 / \lVert \theta \rVert_2`, per parameter and overall.

    Put it last in the chain, where it sees the final updates :math:`u` (the
    change the step makes to the parameters :math:`\theta`). It passes the
    updates through unchanged and keeps in its state, for `optaxlr.hyperparams`:

    - ``update_ratio``: the global ratio, all leaves together;
    - ``update_ratio/<path>``: each parameter's ratio, named as
      `optaxlr.transforms.path_to_str` writes its path (``update_ratio/dense/kernel``).

    The rule of thumb (Karpathy's *CS231n* notes, and the tuning literature
    since) is a ratio near 1e-3: much lower and the learning rate is too
    small, much higher and it is too large. 0/0 (a zero parameter not moving)
    reads 0, a moving zero parameter inf.

    Cost: two sums of squares per leaf, fused by XLA into the update, and a
    few scalars of state. ``every_k_steps=N`` computes them only every N-th
    update (behind ``jax.lax.cond``; the other updates keep the last values and
    cost nothing but the branch), for logging every N steps at no cost in
    between. Inside `accumulate`, put it in the wrapped optimizer so that it
    sees real updates.

    Args:
      every_k_steps: compute the ratios on updates 0, N, 2N, ..., an integer >= 1.
      prefix: the name of the global ratio and the prefix of the per-leaf ones.
      separator: joins the keys of a parameter's path.

    Returns:
      An ``optax.GradientTransformation`` with state `UpdateRatioMonitorState`;
      its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optax, optaxlr
      >>> opt = optax.chain(optaxlr.sgd(0.1), optaxlr.training.update_ratio_monitor())
      >>> params = {"w": jnp.full(4, 2.0)}
      >>> state = opt.init(params)
      >>> _, state = opt.update({"w": jnp.ones(4)}, state, params)
      >>> round(float(optaxlr.hyperparams(state)["update_ratio/w"]), 6)
      0.05
    """
    every_k_steps = check_int("every_k_steps", every_k_steps, low=1)
    if not isinstance(prefix, str) or not prefix:
        raise TypeError(f"prefix must be a non-empty string, got {prefix!r}")
    if not isinstance(separator, str):
        raise TypeError(f"separator must be a string, got {separator!r}")

    def names(params) -> list[str]:
        paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        return [f"{prefix}{separator}{path_to_str(p, separator)}" for p in paths]

    def init_fn(params):
        zero = jnp.zeros([], jnp.float32)
        ratios = {prefix: zero, **{name: zero for name in names(params)}}
        return UpdateRatioMonitorState(init_count(), HyperparamRecord.of(ratios))

    def compute(updates, params) -> dict[str, jax.Array]:
        u_sq = [_sum_squares(u) for u in jax.tree.leaves(updates)]
        p_sq = [_sum_squares(p) for p in jax.tree.leaves(params)]
        ratios = {prefix: _ratio(sum(u_sq, jnp.float32(0)), sum(p_sq, jnp.float32(0)))}
        for name, u, p in zip(names(params), u_sq, p_sq, strict=True):
            ratios[name] = _ratio(u, p)
        return ratios

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "update_ratio_monitor needs the parameters: call update(updates, state, params)"
            )

        def measured():
            return HyperparamRecord.of(compute(updates, params))

        if every_k_steps == 1:
            record = measured()
        else:
            record = jax.lax.cond(state.count % every_k_steps == 0, measured, lambda: state.record)
        count = jnp.asarray(optax.safe_increment(state.count))
        return updates, UpdateRatioMonitorState(count, record)

    return transformation(init_fn, update_fn)
