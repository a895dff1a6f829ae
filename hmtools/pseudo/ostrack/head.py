"""OSTrack's centre head: a score map, a sub-cell offset and a box size per feature cell.

Key layout as in the official checkpoint: ``conv{1..4}_{ctr,offset,size}.{0: Conv3x3, 1: BN}`` and a
final 1x1 ``conv5_*``; channels ``C_in -> c -> c/2 -> c/4 -> c/8 -> {1, 2, 2}`` (c = 256 for ViT-B).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=True), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


@dataclass
class HeadMaps:
    """Head output on a ``(F, F)`` feature grid.

    Attributes:
        score: ``(B, 1, F, F)`` centre probability, clamped to ``[1e-4, 1 - 1e-4]``.
        size: ``(B, 2, F, F)`` box ``(w, h)`` as a fraction of the search crop.
        offset: ``(B, 2, F, F)`` sub-cell ``(dx, dy)`` in cells.
    """

    score: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor


class CenterPredictor(nn.Module):
    """Three conv branches (centre, offset, size) over the search feature map."""

    def __init__(self, in_channels: int = 768, channels: int = 256):
        super().__init__()
        widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
        for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
            for i in range(4):
                setattr(self, f"conv{i + 1}_{branch}", _conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(widths[4], out, kernel_size=1))

    def _branch(self, name: str, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{name}")(x)
        return x

    def forward(self, feat: torch.Tensor) -> HeadMaps:
        """``(B, C, F, F)`` search features -> :class:`HeadMaps`."""
        score = self._branch("ctr", feat).sigmoid().clamp(1e-4, 1 - 1e-4)
        size = self._branch("size", feat).sigmoid().clamp(1e-4, 1 - 1e-4)
        offset = self._branch("offset", feat)
        return HeadMaps(score=score, size=size, offset=offset)


def maps_to_box(ranking: torch.Tensor, size: torch.Tensor, offset: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Box at the arg-max cell of ``ranking``.

    Args:
        ranking: ``(B, 1, F, F)`` map whose arg-max picks the cell (the score, or score x Hann).
        size: ``(B, 2, F, F)``; offset: ``(B, 2, F, F)``.

    Returns:
        ``(B, 4)`` box ``(cx, cy, w, h)`` as fractions of the search crop, and the ``(B,)`` flat
        index of the chosen cell.
    """
    b, _, f, _ = ranking.shape
    idx = ranking.flatten(1).argmax(dim=1)  # (B,)
    iy = torch.div(idx, f, rounding_mode="floor")
    ix = idx % f
    gather = idx[:, None, None].expand(b, 2, 1)
    wh = size.flatten(2).gather(2, gather).squeeze(-1)
    off = offset.flatten(2).gather(2, gather).squeeze(-1)
    cx = (ix.to(off.dtype) + off[:, 0]) / f
    cy = (iy.to(off.dtype) + off[:, 1]) / f
    return torch.stack([cx, cy, wh[:, 0], wh[:, 1]], dim=1), idx
