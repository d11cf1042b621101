"""``torch.optim.ASGD`` and its averaged parameters."""

from __future__ import annotations

from typing import Any

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_asgd
from optaxlr.transforms._asgd import ScaleByAsgdState
from optaxlr.transforms._common import find_states


def asgd(
    learning_rate: Hyperparam = 1e-2,
    lambd: Hyperparam = 1e-4,
    alpha: Hyperparam = 0.75,
    t0: Hyperparam = 1e6,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.ASGD``: averaged SGD (see `scale_by_asgd`).

    .. math::
        \eta_t = \frac{\gamma}{(1 + \lambda \gamma (t - 1))^{\alpha}}, \quad
        \theta_t = \theta_{t-1} (1 - \lambda \eta_t) - \eta_t (g_t + w \theta_{t-1})

    and the average :math:`\bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t -
    \bar\theta_{t-1})` with :math:`\mu_t = 1 / \max(1, t - 1 - t_0)`, which is
    :math:`\theta_t` itself until ``t0`` updates have been made. Read the average
    with `asgd_average` (evaluate on it, keep training on the parameters).
    ``update`` needs ``params``. optax has no ASGD.

    Args:
      learning_rate: >= 0 (1e-2 in PyTorch), or a schedule.
      lambd: decay term >= 0, or a schedule.
      alpha: power of the rate's decay >= 0, or a schedule.
      t0: the update count from which the averaging starts, or a schedule.
      weight_decay: L2 coefficient >= 0, or a schedule.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.asgd(1e-2, t0=1000.0)
    """
    return chain(
        "asgd", scale_by_asgd(learning_rate, lambd, alpha, t0, weight_decay), maximize=maximize
    )


def asgd_average(state: Any) -> Any:
    """The averaged parameters ``ax`` of `asgd` (or `scale_by_asgd`) in an optimizer state.

    ``state`` may be the alias's own state or any state holding it (a chain,
    ``optax.inject_hyperparams``, ``optaxlr.multi_tensor``, where the average is a
    `FlatParams`, or an ``nnx.Optimizer``'s ``opt_state``). The average has the
    parameters' structure (float32 leaves for float16 parameters); it equals the
    parameters until ``t0`` updates have been made, and is zeros before the first.

    Raises:
      ValueError: if ``state`` holds no ASGD state, or more than one.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> opt = optaxlr.asgd(0.1, lambd=0.0, t0=0.0)
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
      >>> optaxlr.asgd_average(state)["w"]
      Array([0.9, 0.9], dtype=float32)
    """
    found = find_states(state, ScaleByAsgdState)
    if len(found) != 1:
        raise ValueError(
            "asgd_average: the state must hold exactly one ASGD state (of optaxlr.asgd or "
            f"scale_by_asgd), found {len(found)}"
        )
    return found[0].ax
