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
VIT_BACKBONES = ("vit_small_patch16_224",)


def build_resnet(name: str, width: float = 1.0) -> nn.Module:
    """A randomly initialised torchvision ResNet (``resnet18|34|50``) with ``fc`` removed.

    ``width < 1`` scales every stage's channels (64, 128, 256, 512 -> rounded, at least 4) with
    the same module layout, for the CPU demo; only ``width = 1.0`` loads torchvision weights.
    """
    from torchvision.models import resnet

    if name not in RESNET_FEATURE_DIMS:
        raise ValueError(f"sve_backbone: expected one of {sorted(RESNET_FEATURE_DIMS)}, got {name!r}")
    model = getattr(resnet, name)(weights=None)
    if width != 1.0:
        _narrow(model, width)
    model.fc = nn.Identity()
    return model


def resnet_feature_dim(name: str, width: float = 1.0) -> int:
    """Pooled feature size of :func:`build_resnet` (512 / 2048 at width 1)."""
    expansion = RESNET_FEATURE_DIMS[name] // 512
    return _scaled(512, width) * expansion


def _scaled(channels: int, width: float) -> int:
    return max(4, round(channels * width))


def _narrow(model: nn.Module, width: float) -> None:
    """Rebuild a torchvision ResNet's stem and stages with scaled widths (same key layout)."""
    block = type(model.layer1[0])
    depths = [len(getattr(model, f"layer{i}")) for i in range(1, 5)]
    stem = _scaled(64, width)
    model.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(stem)
    model.inplanes = stem
    for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths), start=1):
        layer = model._make_layer(block, _scaled(planes, width), depth, stride=1 if i == 1 else 2)
        setattr(model, f"layer{i}", layer)
    for m in model.modules():  # torchvision's own initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class StaticVisualEncoder(nn.Module):
    """ResNet features of frames T/2 and T/2 + 1 of each snippet, concatenated (and projected).

    Args:
        backbone: torchvision ResNet name, or ``vit_small_patch16_224``.
        out_dim: C4, the I3D feature size the result is added to.
        width: channel multiplier of the backbone (1.0: the torchvision / timm layout).
        image_hw: frame size (H, W); the ViT's position table depends on it.

    Example:
        >>> sve = StaticVisualEncoder("resnet34", 1024)
        >>> sve(torch.rand(40, 3, 8, 224, 224)).shape       # (40, 1024)
    """

    def __init__(self, backbone: str = "resnet34", out_dim: int = 1024, width: float = 1.0,
                 image_hw: tuple[int, int] = (224, 224)):
        super().__init__()
        if backbone in VIT_BACKBONES:
            from fineparser.model.vit import build_vit_small

            self.backbone = build_vit_small(image_hw, width)
            concat_dim = 2 * self.backbone.feature_dim
        else:
            self.backbone = build_resnet(backbone, width)
            concat_dim = 2 * resnet_feature_dim(backbone, width)
        self.proj = nn.Identity() if concat_dim == out_dim else nn.Linear(concat_dim, out_dim)

    def forward(self, snippets: torch.Tensor) -> torch.Tensor:
        """(M, 3, T, H, W) snippets -> (M, C4) static features."""
        m, c, t, h, w = snippets.shape
        frames = snippets[:, :, t // 2: t // 2 + 2].transpose(1, 2).reshape(m * 2, c, h, w)
        feats = self.backbone(frames).reshape(m, -1)
        return self.proj(feats)
