"""Preprocessing that goes with a :class:`~fineparser.config.ModelConfig`: sampling and normalisation.

Sampling (Sec. 4.3, ``paper-notes.md`` row 1): a window of ``cfg.num_frames`` frames (103) is cut
into N snippets; snippet i is frames [stride * i, stride * i + T) of the window.
"""

from __future__ import annotations

import torch

from fineparser.config import ModelConfig


def snippet_frame_indices(cfg: ModelConfig) -> torch.Tensor:
    """(N, T) indices into the sampled window of the frames of every snippet.

    Example:
        >>> snippet_frame_indices(get_config("paper"))[1]    # tensor([5, 6, ..., 12])
    """
    starts = cfg.snippet_stride * torch.arange(cfg.num_snippets)
    return starts[:, None] + torch.arange(cfg.snippet_frames)[None, :]


def frames_to_snippets(window: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(..., L, 3, H, W) window of ``cfg.num_frames`` frames -> (..., N, 3, T, H, W) snippets."""
    if window.shape[-4] != cfg.num_frames:
        raise ValueError(f"window: expected {cfg.num_frames} frames on dim -4, got {tuple(window.shape)}")
    snippets = window[..., snippet_frame_indices(cfg), :, :, :]  # (..., N, T, 3, H, W)
    return snippets.transpose(-4, -3)


def normalize_frames(frames: torch.Tensor, cfg: ModelConfig, channel_dim: int = -4) -> torch.Tensor:
    """Scale uint8 (0..255) or float (0..1) RGB frames and normalise with the config's mean/std.

    Args:
        frames: e.g. (B, N, 3, T, H, W) snippets (``channel_dim=-4``) or (L, 3, H, W)
            (``channel_dim=-3``).
        cfg: Configuration holding ``pixel_mean`` and ``pixel_std``.
        channel_dim: Dimension holding RGB.
    """
    x = frames.to(torch.float32) / 255.0 if frames.dtype == torch.uint8 else frames.to(torch.float32)
    shape = [1] * x.ndim
    shape[channel_dim] = 3
    mean = torch.tensor(cfg.pixel_mean, device=x.device).reshape(shape)
    std = torch.tensor(cfg.pixel_std, device=x.device).reshape(shape)
    return (x - mean) / std
