"""OSTrack configurations and builder: every architecture constant lives here.

``vitb_256`` and ``vitb_384`` are the official ``vitb_256_mae_ce_32x4_ep300`` and
``vitb_384_mae_ce_32x4_ep300`` (ViT-B/16, CE after blocks 3, 6, 9 keeping 0.7, centre-point template
range, centre head with 256 channels); ``tiny`` is a random-weight variant for tests.

Example:
    >>> net = build_ostrack("tiny")
    >>> net.cfg.search_size, net.cfg.feat_size
    (64, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hmtools.pseudo.ostrack.head import CenterPredictor, HeadMaps
from hmtools.pseudo.ostrack.vit import VisionTransformerCE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class OSTrackConfig:
    """Architecture and tracking constants of one OSTrack variant.

    Attributes:
        template_size / search_size: crop sides in pixels fed to the network.
        template_factor / search_factor: crop side = ``ceil(sqrt(w * h) * factor)`` of the box.
        ce_loc / ce_keep_ratio: candidate-elimination blocks (0-based) and keep ratios.
        head_channels: first conv width of the centre head.
        pretrain_grid: patch grid of the MAE pre-training (shape of the unused ``pos_embed``).
    """

    name: str
    template_size: int
    template_factor: float
    search_size: int
    search_factor: float
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    ce_loc: tuple[int, ...] = (3, 6, 9)
    ce_keep_ratio: tuple[float, ...] = (0.7, 0.7, 0.7)
    head_channels: int = 256
    pretrain_grid: int = 14

    @property
    def feat_size(self) -> int:
        """Side of the search feature map (16 for 256 px, 24 for 384 px)."""
        return self.search_size // self.patch_size


OSTRACK_CONFIGS: dict[str, OSTrackConfig] = {
    "vitb_256": OSTrackConfig("vitb_256", template_size=128, template_factor=2.0,
                              search_size=256, search_factor=4.0),
    "vitb_384": OSTrackConfig("vitb_384", template_size=192, template_factor=2.0,
                              search_size=384, search_factor=5.0),
    "tiny": OSTrackConfig("tiny", template_size=32, template_factor=2.0, search_size=64,
                          search_factor=4.0, embed_dim=32, depth=4, num_heads=2,
                          ce_loc=(1, 2, 3), head_channels=32, pretrain_grid=2),
}


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
    """Backbone + centre head; preprocessing constants travel as (non-persistent) buffers."""

    def __init__(self, cfg: OSTrackConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = VisionTransformerCE(
            template_size=cfg.template_size, search_size=cfg.search_size, patch_size=cfg.patch_size,
            embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio, ce_loc=cfg.ce_loc, ce_keep_ratio=cfg.ce_keep_ratio,
            pretrain_grid=cfg.pretrain_grid)
        self.box_head = CenterPredictor(cfg.embed_dim, cfg.head_channels)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255,
                             persistent=False)

    def preprocess(self, crops_rgb: torch.Tensor) -> torch.Tensor:
        """``(B, S, S, 3)`` uint8 RGB crops -> ``(B, 3, S, S)`` ImageNet-normalised floats."""
        x = crops_rgb.to(self.pixel_mean.device).permute(0, 3, 1, 2).float()
        return (x - self.pixel_mean) / self.pixel_std

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
