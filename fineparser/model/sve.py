"""Static visual encoding (SVE): a 2D ResNet on the two central frames of every snippet.

``X_i^V = Concat(V(X_i[T/2 : T/2 + 2]))`` (Sec. 3.2): with 0-based slicing these are frames T/2 and
T/2 + 1 (4 and 5 of 8). Each frame gives the ResNet's globally pooled feature (512 for ResNet-18/34,
2048 for ResNet-50); the two are concatenated. ResNet-18/34 give 1024 = C4 and are added to the I3D
feature as they are. Where the concatenation does not match C4 (ResNet-50: 4096; a reduced-width
I3D in the test presets) a linear projection to C4 is added; the paper does not say how ResNet-50
(Table 8) was matched, this is our choice.

The backbone is torchvision's ResNet without ``fc``, so torchvision state dicts (minus ``fc.*``)
load into ``StaticVisualEncoder.backbone`` unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

RESNET_FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def build_resnet(name: str) -> nn.Module:
    """A randomly initialised torchvision ResNet (``resnet18|34|50``) with ``fc`` removed."""
    from torchvision.models import resnet

    if name not in RESNET_FEATURE_DIMS:
        raise ValueError(f"sve_backbone: expected one of {sorted(RESNET_FEATURE_DIMS)}, got {name!r}")
    model = getattr(resnet, name)(weights=None)
    model.fc = nn.Identity()
    return model


class StaticVisualEncoder(nn.Module):
    """ResNet features of frames T/2 and T/2 + 1 of each snippet, concatenated (and projected).

    Args:
        backbone: torchvision ResNet name.
        out_dim: C4, the I3D feature size the result is added to.

    Example:
        >>> sve = StaticVisualEncoder("resnet34", 1024)
        >>> sve(torch.rand(40, 3, 8, 224, 224)).shape       # (40, 1024)
    """

    def __init__(self, backbone: str = "resnet34", out_dim: int = 1024):
        super().__init__()
        self.backbone = build_resnet(backbone)
        concat_dim = 2 * RESNET_FEATURE_DIMS[backbone]
        self.proj = nn.Identity() if concat_dim == out_dim else nn.Linear(concat_dim, out_dim)

    def forward(self, snippets: torch.Tensor) -> torch.Tensor:
        """(M, 3, T, H, W) snippets -> (M, C4) static features."""
        m, c, t, h, w = snippets.shape
        frames = snippets[:, :, t // 2: t // 2 + 2].transpose(1, 2).reshape(m * 2, c, h, w)
        feats = self.backbone(frames).reshape(m, -1)
        return self.proj(feats)
