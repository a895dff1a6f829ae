"""Snippet sampling and normalisation constants that travel with the config."""

import torch

from fineparser.model import get_config
from fineparser.model.preprocess import frames_to_snippets, normalize_frames, snippet_frame_indices


def test_snippets_cover_the_103_frame_window():
    idx = snippet_frame_indices(get_config("paper"))
    assert idx.shape == (20, 8) and idx[1].tolist() == list(range(5, 13)) and idx[-1, -1] == 102


def test_window_to_snippets_and_normalisation():
    cfg = get_config("tiny")
    window = torch.arange(cfg.num_frames).reshape(-1, 1, 1, 1).expand(-1, 3, 2, 2).to(torch.uint8)
    snippets = frames_to_snippets(window, cfg)
    assert snippets.shape == (4, 3, 8, 2, 2) and snippets[2, 0, :, 0, 0].tolist() == list(range(10, 18))
    norm = normalize_frames(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8), cfg, channel_dim=-3)
    expected = [(1 - m) / s for m, s in zip(cfg.pixel_mean, cfg.pixel_std)]
    assert torch.allclose(norm.flatten(), torch.tensor(expected))
