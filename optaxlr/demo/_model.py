"""The MNIST-1D paper's small CNN, in Flax nnx.

Three 1-D convolutions (25 channels, kernel 5 then 3, stride 2, padding 1, ReLU)
and a linear layer, 5,210 parameters: the ``ConvBase`` model of the MNIST-1D
repository, whose test accuracy there is about 94%.

The convolutions are written as a gather of strided slices and one ``einsum``
(im2col). On CPU, XLA runs this about 9x faster than ``lax.conv`` at these tiny
sizes, which is what lets the whole demo finish in a few minutes on two cores;
the arithmetic is that of ``nnx.Conv``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

__all__ = ["Conv1D", "MNIST1DCNN", "cross_entropy", "accuracy"]


class Conv1D(nnx.Module):
    """A 1-D convolution on ``(batch, length, channels)`` inputs, as strided slices + einsum.

    Example:
      >>> conv = Conv1D(1, 25, kernel_size=5, stride=2, padding=1, rngs=nnx.Rngs(0))
      >>> conv(jnp.ones((8, 40, 1))).shape
      (8, 19, 25)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        rngs: nnx.Rngs,
    ):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (kernel_size, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))
        self.stride = stride
        self.padding = padding

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel.shape[0]
        x = jnp.pad(x, ((0, 0), (self.padding, self.padding), (0, 0)))
        n = (x.shape[1] - k) // self.stride + 1
        stop = self.stride * (n - 1) + 1
        patches = jnp.stack(
            [x[:, i : i + stop : self.stride, :] for i in range(k)], axis=2
        )  # (batch, n, k, in)
        return jnp.einsum("bnki,kio->bno", patches, self.kernel[...]) + self.bias[...]


class MNIST1DCNN(nnx.Module):
    """The MNIST-1D CNN: ``(batch, 40)`` signals to ``(batch, 10)`` logits.

    Example:
      >>> model = MNIST1DCNN(rngs=nnx.Rngs(0))
      >>> model(jnp.zeros((4, 40))).shape
      (4, 10)
    """

    def __init__(self, *, channels: int = 25, length: int = 40, rngs: nnx.Rngs):
        self.conv1 = Conv1D(1, channels, 5, stride=2, padding=1, rngs=rngs)
        self.conv2 = Conv1D(channels, channels, 3, stride=2, padding=1, rngs=rngs)
        self.conv3 = Conv1D(channels, channels, 3, stride=2, padding=1, rngs=rngs)
        out = length
        for k in (5, 3, 3):
            out = (out + 2 - k) // 2 + 1
        self.linear = nnx.Linear(channels * out, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x[..., None]
        h = jax.nn.relu(self.conv1(h))
        h = jax.nn.relu(self.conv2(h))
        h = jax.nn.relu(self.conv3(h))
        return self.linear(h.reshape(h.shape[0], -1))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, -1) == labels)
