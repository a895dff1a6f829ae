"""Tiny synthetic clips for the pseudo-mask backends' tests."""

from __future__ import annotations

import cv2
import numpy as np

from hmtools.pseudo.prompts import Prompt


def panned_clip(n=10, size_hw=(40, 60), pan_px=2, seed=0):
    """A textured panorama seen through a camera panning right, a blue block moving down."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    pano = rng.integers(0, 120, (h, w + n * pan_px, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        img = pano[:, t * pan_px:t * pan_px + w].copy()
        m = np.zeros((h, w), bool)
        m[5 + 2 * t:15 + 2 * t, 25:33] = True
        img[m] = (20, 40, 230)
        frames.append(img)
        masks.append(m)
    return frames, masks


def square_clip(folder, n: int = 8, size_hw=(48, 64), seed: int = 0) -> list[np.ndarray]:
    """A red square moving right over a static textured background; returns the true masks."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    bg = cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    folder.mkdir(parents=True, exist_ok=True)
    masks = []
    for t in range(n):
        img = bg.copy()
        m = np.zeros((h, w), bool)
        m[14:30, 8 + 2 * t:20 + 2 * t] = True
        img[m] = (30, 30, 220)  # BGR red
        cv2.imwrite(str(folder / f"{100 + t:05d}.png"), img)
        masks.append(m)
    return masks


def prompt_for(video_id: str, mask: np.ndarray) -> Prompt:
    ys, xs = np.nonzero(mask)
    return Prompt(video_id, 0, 1, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
