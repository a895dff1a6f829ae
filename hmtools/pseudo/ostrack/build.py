"""OSTrack builder: composes the network of one configuration of ``config.py`` (where every
architecture constant lives; ``OSTRACK_CONFIGS`` and ``OSTrackConfig`` are re-exported here).

Example:
    >>> net = build_ostrack("tiny")
    >>> net.cfg.search_size, net.cfg.feat_size
    (64, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hmtools.pseudo.ostrack.config import OSTRACK_CONFIGS, OSTrackConfig
from hmtools.pseudo.ostrack.head import CenterPredictor, HeadMaps
from hmtools.pseudo.ostrack.vit import VisionTransformerCE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class OSTrackOutput:
    """Network output for a batch of (template, search) pairs.

    Attributes:
        maps: score / size / offset maps on the ``(F, F)`` search grid.
        removed_indexes: per CE block, ``(B, n_removed)`` eliminated search token positions.
    """

    maps: HeadMaps
    removed_indexes: list[torch.Tensor]


class OSTrack(nn.Module):
    """Backbone + centre head; preprocessing constants travel as (non-persistent) buffers.

    ``preprocess`` computes ``(x / 255 - mean) / std`` in that order, as the official
    ``Preprocessor`` does, so the network sees the official inputs bit for bit.
    """

    def __init__(self, cfg: OSTrackConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = VisionTransformerCE(
            template_size=cfg.template_size, search_size=cfg.search_size, patch_size=cfg.patch_size,
            embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio, ce_loc=cfg.ce_loc, ce_keep_ratio=cfg.ce_keep_ratio,
            pretrain_grid=cfg.pretrain_grid)
        self.box_head = CenterPredictor(cfg.embed_dim, cfg.head_channels)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def preprocess(self, crops_rgb: torch.Tensor) -> torch.Tensor:
        """``(B, S, S, 3)`` uint8 RGB crops -> ``(B, 3, S, S)`` ImageNet-normalised floats."""
        x = crops_rgb.to(self.pixel_mean.device).permute(0, 3, 1, 2).float()
        return (x / 255.0 - self.pixel_mean) / self.pixel_std

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> OSTrackOutput:
        """``(B, 3, Tz, Tz)`` templates and ``(B, 3, S, S)`` searches -> :class:`OSTrackOutput`."""
        out = self.backbone(template, search)
        lens_x = self.backbone.grid_x ** 2
        f = self.cfg.feat_size
        feat = out.tokens[:, -lens_x:].transpose(1, 2).reshape(-1, out.tokens.shape[-1], f, f)
        return OSTrackOutput(maps=self.box_head(feat), removed_indexes=out.removed_indexes)


def build_ostrack(name: str) -> OSTrack:
    """A randomly initialised OSTrack in eval mode; load weights with ``weights.load_ostrack``."""
    if name not in OSTRACK_CONFIGS:
        raise ValueError(f"unknown OSTrack config {name!r}; choose from {sorted(OSTRACK_CONFIGS)}")
    return OSTrack(OSTRACK_CONFIGS[name]).eval()
