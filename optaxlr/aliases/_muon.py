"""``torch.optim.Muon`` for the matrices, AdamW for the other parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._adam import adamw as _adamw
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_muon
from optaxlr.transforms._common import check_like_params
from optaxlr.transforms._fused import scale_and_decouple
from optaxlr.transforms._muon import NOT_ON_FLAT_PARAMS, NS_COEFFICIENTS
from optaxlr.transforms._per_parameter import ParameterGroups
from optaxlr.transforms._weight_decay import Mask, check_mask, decay_mask

__all__ = ["muon", "muon_labels"]


def _is_matrix(params: Any) -> Any:
    return jax.tree.map(lambda p: p.ndim == 2, params)


def muon_labels(mask: Mask = None) -> Any:
    """The ``param_labels`` function of `muon`'s ``optax.partition``: "muon" or "adamw".

    Args:
      mask: where Muon applies (a tree of booleans or a function of the
        parameters); ``None``: the leaves with ``ndim == 2``.

    Example:
      >>> import jax.numpy as jnp, optaxlr
      >>> optaxlr.aliases.muon_labels()({"w": jnp.ones((3, 2)), "b": jnp.ones(2)})
      {'b': 'adamw', 'w': 'muon'}
    """
    mask = check_mask(mask)

    def labels(params: Any) -> Any:
        if isinstance(params, ParameterGroups):  # before its mask, which would fail first
            raise ValueError(f"muon: {NOT_ON_FLAT_PARAMS}")
        chosen = decay_mask(_is_matrix if mask is None else mask, params)
        names = ["muon" if m else "adamw" for m in chosen]
        return jax.tree.unflatten(jax.tree.structure(params), names)

    return labels


def muon(
    learning_rate: Hyperparam = 1e-3,
    weight_decay: Hyperparam = 0.1,
    momentum: Hyperparam = 0.95,
    nesterov: bool = True,
    ns_coefficients: Sequence[Hyperparam] = NS_COEFFICIENTS,
    eps: Hyperparam = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    *,
    mask: Mask = None,
    adamw: optax.GradientTransformation | None = None,
    layout: str = "flax",
    ns_dtype: Any = None,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Muon`` (torch 2.13) for the matrices, `adamw` for the rest.

    .. math::
        \theta_t = (1 - \eta_t \lambda)\, \theta_{t-1} - \eta_t\, s(A, B)\,
            \mathrm{NS}(\tilde B_t)

    with :math:`\tilde B_t` the (Nesterov) momentum of `scale_by_muon`,
    :math:`\mathrm{NS}` its Newton-Schulz orthogonalization and :math:`s` the
    shape factor of ``adjust_lr_fn``. The decay is torch's decoupled
    ``p.mul_(1 - lr * weight_decay)``, before the step.

    torch's Muon refuses every parameter that is not 2-D; its documentation
    sends biases, norms and embeddings to AdamW. Here that is built in: an
    ``optax.partition`` with the labels of `muon_labels`. ``mask`` (True: Muon)
    chooses; by default the leaves with ``ndim == 2`` go to Muon and every
    other leaf (biases, norm scales, scalars, conv kernels) to ``adamw``. Name
    the matrices Muon should not take (embeddings, the head) in ``mask``; to
    give it the conv kernels too, pass
    ``mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)``: a kernel is
    orthogonalized as its ``(out, rest)`` matrix (see `scale_by_muon`;
    ``layout`` says where its output axis is, last in Flax, first in torch).

    Newton-Schulz runs in float32 (float64 for float64 parameters); torch's
    runs in bfloat16, whose rounding makes its runs differ from one machine to
    the next. ``ns_dtype=jnp.bfloat16`` gives torch's numbers within bfloat16
    rounding. The trajectory matches torch's, with its iteration in float32,
    step for step. This is not ``optax.contrib.muon``: that one has no weight
    decay by default, uses ``eps=1e-8`` added to the norm, bias-corrects the
    momentum, scales by :math:`\sqrt{\max(1, \mathrm{out}/\mathrm{in})}` of the
    ``(in, out)`` matrix, and its Adam has ``adam_weight_decay=0``.

    ``hyperparams`` reports the two optimizers' values: names both have
    (``learning_rate``, ``weight_decay``, ``eps``) as ``muon/...`` and
    ``adamw/...``, the others (``momentum``, ``ns_a``..., ``b1``, ``b2``) as
    they are.

    Args:
      learning_rate: Muon's rate >= 0, or a schedule.
      weight_decay: Muon's decoupled decay >= 0, or a schedule.
      momentum: >= 0, or a schedule.
      nesterov: use Nesterov momentum.
      ns_coefficients: Newton-Schulz's ``(a, b, c)`` (numbers, arrays or schedules).
      eps: lower bound of the norm Newton-Schulz divides by.
      ns_steps: Newton-Schulz iterations, in [0, 99].
      adjust_lr_fn: ``None``/``"original"`` (:math:`\sqrt{\max(1, A/B)}`) or
        ``"match_rms_adamw"`` (:math:`0.2\sqrt{\max(A, B)}`), for an
        :math:`A \times B` (out :math:`\times` in) matrix.
      mask: where Muon applies (a tree of booleans or a function of the
        parameters); default: the 2-D leaves.
      adamw: the optimizer of the other leaves; default
        ``optaxlr.adamw(learning_rate)`` (torch's AdamW defaults, Muon's rate).
        A recipe's own, e.g. ``optaxlr.adamw(3e-4, weight_decay=0.01)``.
      layout: ``"flax"`` (a kernel's output axis last) or ``"torch"`` (first).
      ns_dtype: dtype of the Newton-Schulz iteration (``jnp.bfloat16`` for torch's).
      maximize: maximize the objective: negate the gradients first (torch's
        Muon has no such flag; every optaxlr alias has it).

    Example:
      >>> import jax, optaxlr
      >>> opt = optaxlr.muon(0.02, adjust_lr_fn="match_rms_adamw",
      ...                    adamw=optaxlr.adamw(3e-4, weight_decay=0.01))
    """
    muon_part = optax.chain(
        scale_by_muon(
            momentum,
            nesterov,
            ns_coefficients,
            eps,
            ns_steps,
            adjust_lr_fn,
            ns_dtype=ns_dtype,
            layout=layout,
        ),
        scale_and_decouple(learning_rate, weight_decay),
    )
    labels = muon_labels(mask)
    others = _adamw(learning_rate) if adamw is None else adamw
    if not isinstance(others, optax.GradientTransformation):
        raise TypeError(f"adamw must be an optax.GradientTransformation, got {adamw!r}")
    partition = optax.partition({"muon": muon_part, "adamw": others}, labels)

    def update_fn(updates, state, params=None):
        if not hasattr(state, "inner_states"):
            raise TypeError(
                "muon: state must be the state its init returned (optax.partition's), got "
                f"{type(state).__name__}"
            )
        # partition labels the updates, so a gradient of the wrong shape would be labelled
        # (and refused) as another kind of leaf: compare it with its parameter first
        if params is not None:
            check_like_params("muon", updates, params)
        return partition.update(updates, state, params)

    return chain("muon", optax.GradientTransformation(partition.init, update_fn), maximize=maximize)
