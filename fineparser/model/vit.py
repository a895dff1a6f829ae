"""ViT-S/16 for the SVE (Table 8), in the state-dict layout of timm's ``vit_small_patch16_224``.

Keys and shapes match ``timm.create_model("vit_small_patch16_224")`` (timm 0.9 - 1.0) minus its
``head.*`` classifier, so its published weights file (``pytorch_model.bin`` / ``model.safetensors``
of ``timm/vit_small_patch16_224.augreg_in21k_ft_in1k``, read with ``torch.load`` or
``safetensors.torch.load_file``) loads with :func:`fineparser.model.weights.load_sve_weights`::

    cls_token (1, 1, 384)   pos_embed (1, 197, 384)   patch_embed.proj.{weight (384, 3, 16, 16), bias}
    blocks.{0..11}.norm1, .attn.qkv (1152 x 384), .attn.proj, .norm2, .mlp.fc1 (1536), .mlp.fc2
    norm.{weight, bias}

The computation is timm's: pre-norm blocks (LayerNorm eps 1e-6, exact GELU, qkv with bias, no
layer scale), the class token's final normalised feature as the pooled output (``global_pool
="token"``), 384-d per frame. timm itself is not needed; ``tests/fineparser/test_vit.py`` checks
keys and outputs against timm's model when timm is installed (``pip install hm-aqa[timm]``).

Frames other than 224 x 224 get a position table of their own patch grid (the tiny test preset);
only 224 x 224 loads the published weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hmtools.pseudo.ostrack.vit import Mlp  # timm's fc1 / GELU / fc2, shared with the OSTrack ViT

VIT_SMALL = {"dim": 384, "depth": 12, "heads": 6, "mlp_ratio": 4, "patch": 16}


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (timm ``Attention`` keys)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, HW/p^2, dim)


class VisionTransformer(nn.Module):
    """ViT without classifier: (B, 3, H, W) frames -> (B, dim) class-token features.

    Args:
        image_hw: Frame size (H, W), multiples of ``patch``; 224 x 224 for the published weights.
        dim, depth, heads, mlp_ratio, patch: ViT-S/16 by default (384, 12, 6, 4, 16).

    Example:
        >>> vit = VisionTransformer((224, 224))
        >>> vit(torch.rand(2, 3, 224, 224)).shape          # (2, 384)
    """

    def __init__(self, image_hw: tuple[int, int] = (224, 224), dim: int = 384, depth: int = 12,
                 heads: int = 6, mlp_ratio: int = 4, patch: int = 16):
        super().__init__()
        if image_hw[0] % patch or image_hw[1] % patch:
            raise ValueError(f"VisionTransformer: expected a frame size divisible by {patch}, got {image_hw}")
        tokens = (image_hw[0] // patch) * (image_hw[1] // patch)
        self.feature_dim = dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.patch_embed = PatchEmbed(patch, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():  # timm's default ("jax"-free) initialisation of the linears
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(frames)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


def build_vit_small(image_hw: tuple[int, int], width: float = 1.0) -> VisionTransformer:
    """ViT-S/16 for ``image_hw`` frames; ``width < 1`` narrows it (tests only, 6 heads kept)."""
    spec = dict(VIT_SMALL)
    if width != 1.0:
        spec["dim"] = max(1, round(spec["dim"] * width / spec["heads"])) * spec["heads"]
    return VisionTransformer(tuple(image_hw), **spec)
