"""OSTrack configurations: every architecture and tracking constant of each variant, no torch.

``vitb_256`` and ``vitb_384`` are the official ``vitb_256_mae_ce_32x4_ep300`` and
``vitb_384_mae_ce_32x4_ep300`` (ViT-B/16, CE after blocks 3, 6, 9 keeping 0.7, centre-point template
range, centre head with 256 channels); ``tiny`` is a random-weight variant for tests. Kept apart
from ``build.py`` so the command line can list the variants without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OSTrackConfig:
    """Architecture and tracking constants of one OSTrack variant.

    Attributes:
        template_size / search_size: crop sides in pixels fed to the network.
        template_factor / search_factor: crop side = ``ceil(sqrt(w * h) * factor)`` of the box.
        ce_loc / ce_keep_ratio: candidate-elimination blocks (0-based) and keep ratios.
        head_channels: first conv width of the centre head.
        pretrain_grid: patch grid of the MAE pre-training (shape of the unused ``pos_embed``).
        official: the official experiment whose ``OSTrack_ep0300.pth.tar`` fits this variant;
            ``None`` for test variants (no published checkpoint).
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
    official: str | None = None

    @property
    def feat_size(self) -> int:
        """Side of the search feature map (16 for 256 px, 24 for 384 px)."""
        return self.search_size // self.patch_size


OSTRACK_CONFIGS: dict[str, OSTrackConfig] = {
    "vitb_256": OSTrackConfig("vitb_256", template_size=128, template_factor=2.0,
                              search_size=256, search_factor=4.0,
                              official="vitb_256_mae_ce_32x4_ep300"),
    "vitb_384": OSTrackConfig("vitb_384", template_size=192, template_factor=2.0,
                              search_size=384, search_factor=5.0,
                              official="vitb_384_mae_ce_32x4_ep300"),
    "tiny": OSTrackConfig("tiny", template_size=32, template_factor=2.0, search_size=64,
                          search_factor=4.0, embed_dim=32, depth=4, num_heads=2,
                          ce_loc=(1, 2, 3), head_channels=32, pretrain_grid=2),
}

# The configurations with a published checkpoint: the choices of ``hmtools pseudo-mask --ostrack-config``.
PUBLISHED_CONFIGS = tuple(name for name, cfg in OSTRACK_CONFIGS.items() if cfg.official)
