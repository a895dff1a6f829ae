"""Spatial action parsing (SAP): the mask-guided action attention of Eqs. 2 and 5.

Reading of the paper (see ``paper-notes.md`` rows 4-7):

- ``A_mea`` and ``A_max`` are the mean and the maximum over channels of the stage features;
  ``f_A`` is a 1x1(x1) convolution over those two maps (2 weights + 1 bias = 3 parameters),
  ``sigma`` the sigmoid (Sec. 4.3), so ``A`` lies in [0, 1] with shape (T_s, H_s, W_s).
- Eq. 5: features continue as ``B12 * (A + 1)`` (``residual=True``) or ``B12 * A`` (Table 10).

The ground truth ``M_gt`` (Eq. 3) and the loss ``L_A`` (Eq. 4) are in :mod:`fineparser.losses`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SpatialAttention(nn.Module):
    """Mask-guided action attention ``A = sigmoid(f_A(A_mea, A_max))`` applied to stage features.

    Args:
        residual: Multiply by (A + 1) (paper) instead of A.
        prior: about A at initialisation (f_A's bias is ``logit(prior)``),
            about the share of a frame an athlete covers; None keeps PyTorch's default
            initialisation (A near 0.5).

    Example:
        >>> sap = SpatialAttention()
        >>> feats, attn = sap(torch.rand(2, 192, 4, 56, 56))   # attn: (2, 4, 56, 56)
    """

    def __init__(self, residual: bool = True, prior: float | None = 0.05):
        super().__init__()
        self.residual = residual
        self.f_a = nn.Conv3d(2, 1, kernel_size=1)
        if prior is not None:
            nn.init.constant_(self.f_a.bias, math.log(prior / (1 - prior)))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, C, T, H, W) -> (enhanced features (M, C, T, H, W), attention A (M, T, H, W))."""
        a_mea = feats.mean(dim=1, keepdim=True)
        a_max = feats.amax(dim=1, keepdim=True)
        attn = torch.sigmoid(self.f_a(torch.cat([a_mea, a_max], dim=1)))
        scale = attn + 1.0 if self.residual else attn
        return feats * scale, attn.squeeze(1)
