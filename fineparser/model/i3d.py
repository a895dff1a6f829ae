"""I3D (Inception-v1 inflated to 3D) in the key layout of the Kinetics ``model_rgb.pth``.

The parameter names and shapes match the checkpoint converted from DeepMind's TensorFlow I3D by
hassony2/kinetics_i3d_pytorch and used by CoRe, TSA and FineParser
(``conv3d_1a_7x7.conv3d.weight``, ``mixed_3b.branch_1.1.batch3d.running_mean``, ...), so that file
loads with ``strict=True`` (its ``conv3d_0c_1x1`` logits are not part of this backbone).

Behaviour kept from the TensorFlow original: SAME padding (computed from the input size at run time,
asymmetric where the stride demands it), ReLU after every unit. The batch-norm epsilon is a switch
(``bn_eps``): 1e-3 is TensorFlow's and hassony2's port's; the copies in CoRe, TSA and FineParser
(``models/i3d.py``: ``BatchNorm3d(out_channels)``) use PyTorch's default 1e-5, which is what the AQA
numbers were obtained with. Same weights, different eps: the features differ noticeably wherever the
running variances are small. For even
input sizes (224 x 224, 8 frames) the padding is exactly that of the published PyTorch port; for odd
sizes we follow TensorFlow's SAME rule, which the port only approximated. Max pools pad with zeros:
their inputs are post-ReLU, so this equals padding with -inf.

The network is split into the paper's four stages (Sec. 3.2, Table 9)::

    B1 = conv3d_1a_7x7                                   -> (64,  T/2, H/2,  W/2)
    B2 = maxPool3d_2a, conv3d_2b, conv3d_2c              -> (192, T/2, H/4,  W/4)   56x56 at 224
    B3 = maxPool3d_3a, mixed_3b .. maxPool3d_4a .. 4f    -> (832, T/4, H/16, W/16)
    B4 = maxPool3d_5a, mixed_5b, mixed_5c                -> (1024, T/8, H/32, W/32)

Table 9's "stage 3" is read two ways (``stage3_end``): ``mixed_4f`` (above, the default: the
paper's four stages split at the three strided pools) or ``mixed_3c``, where the FineParser code's
segmenter taps the backbone: B3 = maxPool3d_3a, mixed_3b, mixed_3c -> (480, T/2, H/8, W/8) and B4
starts at maxPool3d_4a. Only where SAP sits (``sap_stage=3``) depends on it.

followed by a global average over (time, height, width) -> 1024 per snippet (the published code's
fixed ``AvgPool3d`` window assumes one input size; the global mean is the same for 8 x 224 x 224).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon (the Kinetics checkpoint was trained with it)
BN_EPS_AQA = 1e-5  # PyTorch's default, used by the I3D copies of CoRe, TSA and FineParser
STAGE3_ENDS = ("mixed_4f", "mixed_3c")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one dimension.

    Example: ``same_padding(224, 7, 2) == (2, 3)``; ``same_padding(7, 7, 2) == (3, 3)``.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    """Zero-pad a (B, C, T, H, W) tensor so that a VALID op with kernel/stride acts as SAME."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        pads.extend(same_padding(size, k, s))  # F.pad wants (W_before, W_after, H_before, ...)
    return F.pad(x, pads) if any(pads) else x


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm3d (eps ``bn_eps``) + ReLU with TF SAME padding.

    Keys: ``conv3d.weight``, ``batch3d.{weight,bias,running_mean,running_var,num_batches_tracked}``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), bn_eps: float = BN_EPS):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        # Stride 1 with an odd kernel pads symmetrically: let the convolution do it (no copy).
        self.static_pad = all(s == 1 and k % 2 == 1 for k, s in zip(self.kernel, self.stride))
        padding = tuple(k // 2 for k in self.kernel) if self.static_pad else 0
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding, bias=False)
        self.batch3d = nn.BatchNorm3d(out_channels, eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.static_pad:
            x = _pad_same(x, self.kernel, self.stride)
        return F.relu(self.batch3d(self.conv3d(x)))


class MaxPool3dSame(nn.Module):
    """Max pooling with TF SAME padding (no parameters)."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        native = _native_pool_padding(x.shape[2:], self.kernel, self.stride)
        if native is None:
            return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)
        padding, ceil_mode = native
        return F.max_pool3d(x, self.kernel, self.stride, padding, ceil_mode=ceil_mode)


def _native_pool_padding(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int]
                         ) -> tuple[tuple[int, ...], bool] | None:
    """``(padding, ceil_mode)`` with which ``F.max_pool3d`` gives TF SAME pooling without a copy.

    PyTorch ignores window cells outside the input, which equals zero padding for the
    non-negative (post-ReLU) inputs every pool of the I3D sees: a symmetric SAME padding becomes
    ``padding``, one extra cell after the input becomes ``ceil_mode``. None when the output
    size would differ from TF's (then the input is padded explicitly).
    """
    before = []
    for n, k, s in zip(sizes, kernel, stride):
        b, a = same_padding(n, k, s)
        if b > k // 2 or a - b not in (0, 1):
            return None
        before.append(b)
    ceil_mode = any(sum(same_padding(n, k, s)) % 2 for n, k, s in zip(sizes, kernel, stride))
    for n, k, s, p in zip(sizes, kernel, stride, before):
        out = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1  # PyTorch drops a last window that would start in the right padding
        if out != math.ceil(n / s):
            return None
    return tuple(before), ceil_mode


class Mixed(nn.Module):
    """Inception block; ``channels`` = (b0, b1a, b1b, b2a, b2b, b3) as in the TF I3D.

    Keys: ``branch_0``, ``branch_1.{0,1}``, ``branch_2.{0,1}``, ``branch_3.1`` (``branch_3.0`` is
    the parameter-free pool).
    """

    def __init__(self, in_channels: int, channels: Sequence[int], bn_eps: float = BN_EPS):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = channels
        e = bn_eps
        self.branch_0 = Unit3D(in_channels, b0, bn_eps=e)
        self.branch_1 = nn.Sequential(Unit3D(in_channels, b1a, bn_eps=e), Unit3D(b1a, b1b, (3, 3, 3), bn_eps=e))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, b2a, bn_eps=e), Unit3D(b2a, b2b, (3, 3, 3), bn_eps=e))
        self.branch_3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, b3, bn_eps=e))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], 1)


class I3D(nn.Module):
    """I3D backbone with stage-wise forward (no logits).

    Args:
        stem_channels: Output channels of conv3d_1a, conv3d_2b, conv3d_2c (64, 64, 192).
        mixed_channels: ``{"mixed_3b": (b0, b1a, b1b, b2a, b2b, b3), ...}`` in network order.
        in_channels: 3 for RGB.
        bn_eps: Batch-norm epsilon of every unit (module docstring).
        stage3_end: Last block of stage 3, ``mixed_4f`` or ``mixed_3c`` (module docstring).

    Example:
        >>> i3d = build_i3d(width=1.0)                     # from fineparser.model.build
        >>> x = i3d.forward_stage(1, snippets)             # (M, 3, 8, 224, 224) -> (M, 64, 4, 112, 112)
    """

    BLOCKS = ("conv3d_1a_7x7", "maxPool3d_2a_3x3", "conv3d_2b_1x1", "conv3d_2c_3x3", "maxPool3d_3a_3x3",
              "mixed_3b", "mixed_3c", "maxPool3d_4a_3x3", "mixed_4b", "mixed_4c", "mixed_4d",
              "mixed_4e", "mixed_4f", "maxPool3d_5a_2x2", "mixed_5b", "mixed_5c")

    def __init__(self, stem_channels: Sequence[int], mixed_channels: dict[str, Sequence[int]],
                 in_channels: int = 3, bn_eps: float = BN_EPS, stage3_end: str = "mixed_4f"):
        super().__init__()
        if stage3_end not in STAGE3_ENDS:
            raise ValueError(f"stage3_end: expected one of {STAGE3_ENDS}, got {stage3_end!r}")
        blocks, end3 = self.BLOCKS, self.BLOCKS.index(stage3_end) + 1
        self.stages = {1: blocks[:1], 2: blocks[1:4], 3: blocks[4:end3], 4: blocks[end3:]}
        c1, c2b, c2c = stem_channels
        # Attribute order follows the checkpoint so that state_dict() lists keys in its order.
        self.conv3d_1a_7x7 = Unit3D(in_channels, c1, (7, 7, 7), (2, 2, 2), bn_eps)
        self.maxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv3d_2b_1x1 = Unit3D(c1, c2b, bn_eps=bn_eps)
        self.conv3d_2c_3x3 = Unit3D(c2b, c2c, (3, 3, 3), bn_eps=bn_eps)
        self.maxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = c2c
        pools = {"mixed_4b": ("maxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
                 "mixed_5b": ("maxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2))}
        for name, spec in mixed_channels.items():
            if name in pools:
                pool_name, kernel, stride = pools[name]
                setattr(self, pool_name, MaxPool3dSame(kernel, stride))
            block = Mixed(channels, spec, bn_eps)
            setattr(self, name, block)
            channels = block.out_channels
        self.stage_channels = {1: c1, 2: c2c, 3: getattr(self, stage3_end).out_channels, 4: channels}
        self.out_channels = channels

    def forward_stage(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Run stage ``stage`` (1..4) of the backbone on (M, C, T, H, W)."""
        for name in self.stages[stage]:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(M, 3, T, H, W) snippets -> (M, C4) globally averaged stage-4 features."""
        for stage in (1, 2, 3, 4):
            x = self.forward_stage(stage, x)
        return x.mean(dim=(2, 3, 4))
