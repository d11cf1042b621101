"""The optimizers the benchmarks compare, built for the same math in each library.

``KINDS``:

* ``adamw``: AdamW, lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2;
* ``sgdm``: SGD with momentum 0.9 (heavy ball, no dampening);
* ``clip_adamw``: clip by global norm 1.0, then ``adamw``.

``CONTENDERS`` (JAX): ``optax`` (per leaf), ``optaxlr`` (the alias, per leaf),
``optax.flatten`` (optax's concatenate-every-step wrapper), ``multi_tensor``
(``optaxlr.multi_tensor`` on a ``FlatParams`` kept across steps).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from _common import Compiled, JaxRunner, grads_like, jax_step

import optaxlr

KINDS = ("adamw", "sgdm", "clip_adamw")
LR = 1e-3


def optax_opt(kind: str) -> optax.GradientTransformation:
    if kind == "adamw":
        return optax.adamw(LR, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2)
    if kind == "sgdm":
        return optax.sgd(LR, momentum=0.9)
    if kind == "clip_adamw":
        return optax.chain(optax.clip_by_global_norm(1.0), optax_opt("adamw"))
    raise ValueError(kind)


def optaxlr_opt(kind: str, **adam_kwargs: Any) -> optax.GradientTransformation:
    if kind == "adamw":
        return optaxlr.adamw(LR, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2, **adam_kwargs)
    if kind == "sgdm":
        return optaxlr.sgd(LR, momentum=0.9)
    if kind == "clip_adamw":
        # eps=0: optax's formula (optaxlr's default 1e-6 is PyTorch's).
        return optax.chain(optaxlr.clip_by_global_norm(1.0, eps=0.0), optaxlr_opt("adamw"))
    raise ValueError(kind)


def build(name: str, kind: str, params: Any) -> tuple[Any, Any, Any, optax.GradientTransformation]:
    """(params, grads, state, optimizer) in the layout the contender uses."""
    grads = grads_like(params)
    if name == "optax":
        opt = optax_opt(kind)
    elif name == "optaxlr":
        opt = optaxlr_opt(kind)
    elif name == "optaxlr(mu bf16)":
        opt = optaxlr_opt(kind, mu_dtype="bfloat16")
    elif name == "optax.flatten":
        opt = optax.flatten(optax_opt(kind))
    elif name == "multi_tensor":
        opt = optaxlr.multi_tensor(optaxlr_opt(kind))
        flat = optaxlr.FlatParams.from_tree(params)
        params, grads = flat, flat.flatten_like(grads)
    else:
        raise ValueError(name)
    return params, grads, opt.init(params), opt


def toy_loss(params: Any) -> Any:
    """A stand-in model: elementwise work and a reduction per leaf."""
    return sum(jnp.vdot(jnp.tanh(x), x) for x in jax.tree.leaves(params))


def train_step(opt: optax.GradientTransformation) -> Any:
    """A whole training step: the gradient of `toy_loss`, then the optimizer step.

    On a ``FlatParams`` the loss reads ``unflatten()`` and the gradient comes back
    as one concatenation per buffer.
    """

    def step(params, state, _):
        if isinstance(params, optaxlr.FlatParams):
            grads = jax.grad(lambda f: toy_loss(f.unflatten()))(params)
        else:
            grads = jax.grad(toy_loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def compile_contender(
    name: str, kind: str, params: Any, donate: bool = True, train=False, keep_initial=False
):
    """(Compiled, JaxRunner) for one contender on one tree (``train``: with the gradient)."""
    p, g, s, opt = build(name, kind, params)
    compiled = Compiled((train_step if train else jax_step)(opt), p, s, g, donate=donate)
    return compiled, JaxRunner(compiled, p, s, g, keep_initial=keep_initial)
