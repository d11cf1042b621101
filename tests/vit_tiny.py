"""A Flax NNX ViT-Tiny/16 whose parameters are named as timm's ``vit_tiny_patch16_224``.

Used by test_layerwise.py to check layer decay on a real ViT parameter tree: the path
``blocks/3/attn/qkv/kernel`` is timm's ``blocks.3.attn.qkv.weight`` (transposed), a norm's
``scale`` is timm's ``weight``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

Seq = getattr(nnx, "List", list)  # nnx.List from flax 0.12; a plain list before


class PatchEmbed(nnx.Module):
    def __init__(self, patch: int, dim: int, rngs: nnx.Rngs):
        self.proj = nnx.Conv(3, dim, (patch, patch), strides=(patch, patch), rngs=rngs)

    def __call__(self, x):
        x = self.proj(x)
        return x.reshape(x.shape[0], -1, x.shape[-1])


class Attention(nnx.Module):
    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs):
        self.heads = heads
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.proj = nnx.Linear(dim, dim, rngs=rngs)

    def __call__(self, x):
        b, n, d = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads), 3, axis=2)
        out = jax.nn.dot_product_attention(q[:, :, 0], k[:, :, 0], v[:, :, 0])
        return self.proj(out.reshape(b, n, d))


class Mlp(nnx.Module):
    def __init__(self, dim: int, hidden: int, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x):
        return self.fc2(nnx.gelu(self.fc1(x)))


class Block(nnx.Module):
    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
        self.attn = Attention(dim, heads, rngs)
        self.norm2 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
        self.mlp = Mlp(dim, 4 * dim, rngs)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nnx.Module):
    def __init__(self, *, image: int = 224, patch: int = 16, dim: int = 192, depth: int = 12,
                 heads: int = 3, classes: int = 1000, rngs: nnx.Rngs):
        tokens = (image // patch) ** 2 + 1
        self.cls_token = nnx.Param(jnp.zeros((1, 1, dim)))
        self.pos_embed = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, tokens, dim)))
        self.patch_embed = PatchEmbed(patch, dim, rngs)
        self.blocks = Seq([Block(dim, heads, rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
        self.head = nnx.Linear(dim, classes, rngs=rngs)

    def __call__(self, images):
        x = self.patch_embed(images)
        cls = jnp.broadcast_to(self.cls_token[...], (x.shape[0], 1, x.shape[-1]))
        x = jnp.concatenate([cls, x], axis=1) + self.pos_embed[...]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def timm_name(path: str) -> str:
    """The timm name of an NNX parameter path (``kernel`` and a norm's ``scale`` -> ``weight``)."""
    parts = path.split("/")
    if parts[-1] in ("kernel", "scale"):
        parts[-1] = "weight"
    return ".".join(parts)
