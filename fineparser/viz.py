"""Pictures of what the model attends to: SAP attention over frames, and A1/A2 vs T (Fig. 7).

Both functions take tensors or arrays of one video and write a PNG (matplotlib, Agg backend)::

    attention_overlay_png(frames, out.query.attention[0, i], "sap_snippet3.png")
    temporal_attention_png(out.query.a1[0], out.query.a2[0], targets[0], "fig7.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def attention_overlay_png(frames, attention, path: str | Path, alpha: float = 0.5,
                          panel_px: int = 160) -> Path:
    """Overlay the SAP attention of one snippet on its frames, one panel per frame.

    Args:
        frames: (T, H, W, 3) RGB, uint8 or float in [0, 1] (un-normalised), or (3, T, H, W).
        attention: (T_s, H_s, W_s) in [0, 1]; frame t uses attention slot t * T_s // T.
        path: Output PNG.
        alpha: Opacity of the heat map.
        panel_px: Size of each panel in pixels (plus a 20-pixel title row).

    Returns:
        The written path.
    """
    plt = _pyplot()
    frames, attention = _as_numpy(frames), _as_numpy(attention)
    if frames.ndim == 4 and frames.shape[0] == 3 and frames.shape[-1] != 3:
        frames = frames.transpose(1, 2, 3, 0)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected (T, H, W, 3) or (3, T, H, W), got {frames.shape}")
    if attention.ndim != 3:
        raise ValueError(f"attention: expected (T_s, H_s, W_s), got {attention.shape}")
    if frames.dtype == np.uint8:
        frames = frames.astype(np.float32) / 255.0
    frames = np.clip(frames, 0.0, 1.0)
    t, h, w, _ = frames.shape
    dpi, title_px = 100, 20
    fig, axes = plt.subplots(1, t, figsize=(t * panel_px / dpi, (panel_px + title_px) / dpi), dpi=dpi,
                             squeeze=False)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=panel_px / (panel_px + title_px), wspace=0.04)
    for i, ax in enumerate(axes[0]):
        ax.imshow(frames[i], extent=(0, w, h, 0))
        ax.imshow(attention[i * attention.shape[0] // t], cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0,
                  extent=(0, w, h, 0), interpolation="bilinear")
        ax.set_title(f"frame {i}", fontsize=7, pad=2)
        ax.axis("off")
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def temporal_attention_png(a1, a2, targets, path: str | Path) -> Path:
    """Fig. 7: heat maps of A1, A2 and the soft labels T (steps x snippets), side by side.

    Args:
        a1, a2: (Lq, N) attention of one video.
        targets: (Lq, N) soft labels of the same video.
        path: Output PNG.

    Returns:
        The written path.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    maps = [_as_numpy(a1), _as_numpy(a2), _as_numpy(targets)]
    if not all(m.ndim == 2 and m.shape == maps[0].shape for m in maps):
        raise ValueError(f"temporal_attention_png: expected three (Lq, N) arrays of one shape, got "
                         f"{[m.shape for m in maps]}")
    lq, n = maps[0].shape
    fig, axes = plt.subplots(1, 3, figsize=(3 * max(3.0, n * 0.25) + 1.0, max(2.5, lq * 0.35 + 1.2)),
                             dpi=100, layout="constrained")
    vmax = max(float(m.max()) for m in maps) or 1.0
    for ax, m, title in zip(axes, maps, ("A1", "A2", "T (soft labels)")):
        im = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("snippet")
        ax.set_ylabel("step (query)")
        ax.set_yticks(range(lq))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=list(axes), fraction=0.03, label="attention")
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
