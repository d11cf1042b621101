"""``torch.optim.Rprop``."""

from __future__ import annotations

import optax

from optaxlr._hyperparams import Hyperparam
from optaxlr.aliases._common import chain
from optaxlr.transforms import scale_by_rprop


def rprop(
    learning_rate: Hyperparam = 1e-2,
    etas: tuple[Hyperparam, Hyperparam] = (0.5, 1.2),
    step_sizes: tuple[Hyperparam, Hyperparam] = (1e-6, 50.0),
    *,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Rprop``: resilient backpropagation (see `scale_by_rprop`).

    Every element moves by its own step size against the sign of its gradient; the
    step size grows by ``eta_plus`` while the sign holds and shrinks by ``eta_minus``
    where it flips (that element then skips a step), within ``step_sizes``.

    ``learning_rate`` is the *initial* step size, read once at ``init`` as PyTorch
    reads ``lr``: a schedule is refused, and changing it after ``init`` changes only
    what ``optaxlr.hyperparams`` reports. ``etas`` and ``step_sizes`` are pairs as in
    PyTorch; each element may be a schedule. Rprop is meant for full-batch
    gradients: on noisy minibatches its signs flip at random. optax has no Rprop.

    Args:
      learning_rate: the initial step size, >= 0 (1e-2 in PyTorch).
      etas: ``(eta_minus, eta_plus)``, ``0 < eta_minus < 1 < eta_plus``.
      step_sizes: ``(step_size_min, step_size_max)``, ``0 <= min <= max``.
      maximize: maximize the objective: negate the gradients first, as PyTorch.

    Example:
      >>> import optaxlr
      >>> opt = optaxlr.rprop(1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0))
    """
    return chain("rprop", scale_by_rprop(learning_rate, etas, step_sizes), maximize=maximize)
