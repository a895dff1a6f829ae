"""OSTrack's one-stream ViT backbone with candidate elimination (CE).

Parameter names follow the official checkpoint (``backbone.*`` in
``reference/checkpoint-layouts/ostrack-vitb_*_mae_ce.txt``): ``patch_embed.proj``, ``pos_embed_z``,
``pos_embed_x``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``, and the
unused ``cls_token`` / ``pos_embed`` of the MAE pre-training, kept so the checkpoint loads strictly.

Template tokens ``z`` and search tokens ``x`` share ``patch_embed``, get their own position embeddings
and attend jointly as ``[z; x]``. After the attention of a CE block, search tokens are ranked by the
attention they receive from the template's query rows (the centre token for ``CTR_POINT``), averaged
over rows and heads, and only the top ``ceil(keep_ratio * N)`` go on. At the end the eliminated
tokens are put back as zeros at their original positions.

Choice: full attention runs through ``scaled_dot_product_attention`` (flash / memory-efficient kernels
on GPU); the CE ranking re-computes only the few template rows it needs, which gives the same
ranking as the official code without materialising the ``(B, heads, N, N)`` matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention (timm layout: one ``qkv`` linear, one ``proj``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, probe_rows: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend ``x`` ``(B, N, C)``; optionally return the softmax rows of ``probe_rows``.

        Args:
            x: ``(B, N, C)`` tokens.
            probe_rows: ``(B, R)`` token indices whose attention rows are returned.

        Returns:
            ``(B, N, C)`` output and ``(B, heads, R, N)`` attention probabilities (or ``None``).
        """
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, h, N, d) each
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.transpose(1, 2).reshape(b, n, c))
        probe = None
        if probe_rows is not None:
            idx = probe_rows[:, None, :, None].expand(-1, self.num_heads, -1, self.head_dim)
            q_rows = q.gather(2, idx)  # (B, h, R, d)
            probe = ((q_rows * self.scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)
        return out, probe


class Mlp(nn.Module):
    """Two linear layers with GELU (keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def candidate_elimination(probe_attn: torch.Tensor, tokens: torch.Tensor, lens_t: int,
                          keep_ratio: float, global_index_s: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Keep the search tokens the template attends to most.

    Args:
        probe_attn: ``(B, h, R, L_t + L_s)`` attention rows of the template query tokens.
        tokens: ``(B, L_t + L_s, C)`` template then search tokens.
        lens_t: number of template tokens ``L_t``.
        keep_ratio: fraction of search tokens kept: ``ceil(keep_ratio * L_s)`` (official rounding).
        global_index_s: ``(B, L_s)`` original positions of the current search tokens.

    Returns:
        ``(B, L_t + K, C)`` tokens, ``(B, K)`` kept original positions, ``(B, L_s - K)`` removed
        original positions (``None`` when nothing is removed).
    """
    lens_s = tokens.shape[1] - lens_t
    lens_keep = math.ceil(keep_ratio * lens_s)
    if lens_keep >= lens_s:
        return tokens, global_index_s, None
    score = probe_attn[..., lens_t:].mean(dim=2).mean(dim=1)  # (B, L_s)
    order = torch.sort(score, dim=1, descending=True).indices
    keep_local, removed_local = order[:, :lens_keep], order[:, lens_keep:]
    keep_index = global_index_s.gather(1, keep_local)
    removed_index = global_index_s.gather(1, removed_local)
    c = tokens.shape[-1]
    kept = tokens[:, lens_t:].gather(1, keep_local.unsqueeze(-1).expand(-1, -1, c))
    return torch.cat([tokens[:, :lens_t], kept], dim=1), keep_index, removed_index


class CEBlock(nn.Module):
    """Pre-norm transformer block; eliminates search tokens between attention and MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, keep_ratio: float = 1.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.keep_ratio = keep_ratio

    def forward(self, x: torch.Tensor, lens_t: int, global_index_s: torch.Tensor,
                template_rows: torch.Tensor):
        eliminate = self.keep_ratio < 1.0
        out, probe = self.attn(self.norm1(x), template_rows if eliminate else None)
        x = x + out
        removed = None
        if eliminate:
            x, global_index_s, removed = candidate_elimination(probe, x, lens_t, self.keep_ratio,
                                                               global_index_s)
        x = x + self.mlp(self.norm2(x))
        return x, global_index_s, removed


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` convolution to tokens (key ``proj``)."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, H/p * W/p, C)``, row-major."""
        return self.proj(img).flatten(2).transpose(1, 2)


@dataclass
class BackboneOutput:
    """Backbone result.

    Attributes:
        tokens: ``(B, L_z + L_x, C)``; eliminated search tokens are zeros at their positions.
        removed_indexes: per CE block, ``(B, n_removed)`` original search positions removed there.
    """

    tokens: torch.Tensor
    removed_indexes: list[torch.Tensor]


class VisionTransformerCE(nn.Module):
    """ViT over ``[template; search]`` tokens with candidate elimination.

    Args:
        template_size: template crop side in pixels (multiple of ``patch_size``).
        search_size: search crop side in pixels.
        ce_loc: 0-based indexes of the blocks that eliminate candidates.
        ce_keep_ratio: keep ratio at each of ``ce_loc``.
        pretrain_grid: patch grid side of the MAE pre-training (14 for 224 px); sets the shape of the
            unused ``pos_embed`` so the official checkpoint loads strictly.
    """

    def __init__(self, *, template_size: int, search_size: int, patch_size: int = 16,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 ce_loc: tuple[int, ...] = (3, 6, 9), ce_keep_ratio: tuple[float, ...] = (0.7, 0.7, 0.7),
                 pretrain_grid: int = 14):
        super().__init__()
        if len(ce_loc) != len(ce_keep_ratio):
            raise ValueError(f"ce_loc {ce_loc} and ce_keep_ratio {ce_keep_ratio} differ in length")
        for side, what in ((template_size, "template_size"), (search_size, "search_size")):
            if side % patch_size:
                raise ValueError(f"{what} {side} is not a multiple of patch_size {patch_size}")
        self.patch_size = patch_size
        self.grid_z = template_size // patch_size
        self.grid_x = search_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid ** 2 + 1, embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, self.grid_z ** 2, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, self.grid_x ** 2, embed_dim))
        keep = dict(zip(ce_loc, ce_keep_ratio))
        self.blocks = nn.ModuleList(
            CEBlock(embed_dim, num_heads, mlp_ratio, keep.get(i, 1.0)) for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        for p in (self.pos_embed, self.pos_embed_z, self.pos_embed_x, self.cls_token):
            nn.init.trunc_normal_(p, std=0.02)

    def centre_rows(self, batch: int, device: torch.device) -> torch.Tensor:
        """``(B, 1)`` index of the template's centre token (official ``CTR_POINT``: (g-1)//2)."""
        c = (self.grid_z - 1) // 2
        return torch.full((batch, 1), c * self.grid_z + c, dtype=torch.long, device=device)

    def forward(self, z: torch.Tensor, x: torch.Tensor,
                template_rows: torch.Tensor | None = None) -> BackboneOutput:
        """Run the joint backbone.

        Args:
            z: ``(B, 3, Hz, Wz)`` normalised template crops.
            x: ``(B, 3, Hx, Wx)`` normalised search crops.
            template_rows: ``(B, R)`` template token indexes whose attention ranks the candidates;
                defaults to the centre token.
        """
        b = x.shape[0]
        z_tok = self.patch_embed(z) + self.pos_embed_z
        x_tok = self.patch_embed(x) + self.pos_embed_x
        lens_z, lens_x = z_tok.shape[1], x_tok.shape[1]
        tokens = torch.cat([z_tok, x_tok], dim=1)
        if template_rows is None:
            template_rows = self.centre_rows(b, x.device)
        global_index_s = torch.arange(lens_x, device=x.device).expand(b, -1)
        removed: list[torch.Tensor] = []
        for blk in self.blocks:
            tokens, global_index_s, rm = blk(tokens, lens_z, global_index_s, template_rows)
            if rm is not None:
                removed.append(rm)
        tokens = self.norm(tokens)
        if removed:
            c = tokens.shape[-1]
            search = torch.zeros(b, lens_x, c, dtype=tokens.dtype, device=tokens.device)
            search.scatter_(1, global_index_s.unsqueeze(-1).expand(-1, -1, c), tokens[:, lens_z:])
            tokens = torch.cat([tokens[:, :lens_z], search], dim=1)
        return BackboneOutput(tokens=tokens, removed_indexes=removed)
