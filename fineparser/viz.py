"""Pictures of what the model attends to: SAP attention over frames, and A1/A2 vs T (Fig. 7).

Both functions take tensors or arrays of one video and write a PNG (matplotlib, Agg backend)::

    attention_overlay_png(frames, out.query.attention[0, i], "sap_snippet3.png")
    temporal_attention_png(out.query.a1[0], out.query.a2[0], targets[0], "fig7.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hmtools.atomic import atomic_savefig


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
    atomic_savefig(fig, path, dpi=dpi)
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
    atomic_savefig(fig, path)
    plt.close(fig)
    return path


def training_curve_png(metrics: list[dict], path: str | Path) -> Path:
    """Loss terms per epoch (left) and the evaluated rho per epoch (right), from the
    ``metrics.jsonl`` lines of a run.

    Args:
        metrics: one dict per epoch with ``epoch``, ``loss_e``, ``loss_a``, ``loss_t`` and, on
            evaluated epochs, ``eval.rho`` (and ``eval_split``, for the label).
        path: Output PNG.
    """
    plt = _pyplot()
    if not metrics:
        raise ValueError("training_curve_png: no epochs to plot")
    epochs = [m["epoch"] for m in metrics]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100, layout="constrained")
    for key, label in (("loss_e", "L_E (score)"), ("loss_a", "L_A (attention)"),
                       ("loss_t", "L_T (steps)")):
        values = [m.get(key) for m in metrics]
        if any(v for v in values):
            left.plot(epochs, values, marker="o", label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    left.legend()
    evaluated = [(m["epoch"], m["eval"]["rho"]) for m in metrics
                 if isinstance(m.get("eval"), dict) and m["eval"].get("rho") is not None]
    split = next((m.get("eval_split") for m in metrics if m.get("eval_split")), "evaluation")
    if evaluated:
        right.plot(*zip(*evaluated), marker="o", color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel(f"Spearman rho ({split} split)")
    right.set_ylim(-0.2, 1.0)
    right.axhline(0.0, color="grey", lw=0.5)
    right.grid(alpha=0.3)
    path = Path(path)
    atomic_savefig(fig, path)
    plt.close(fig)
    return path


def predictions_png(true, pred, path: str | Path, title: str = "", baseline=None) -> Path:
    """Predicted against true scores, one dot per clip, with the identity line.

    Args:
        true, pred: (Q,) scores.
        path: Output PNG.
        title: Written above the plot (e.g. the split and rho).
        baseline: optional (Q,) predictions of a baseline (the Delta = 0 vote), drawn in grey.
    """
    plt = _pyplot()
    true, pred = _as_numpy(true).astype(float), _as_numpy(pred).astype(float)
    if true.shape != pred.shape or true.ndim != 1:
        raise ValueError(f"predictions_png: expected two (Q,) arrays, got {true.shape}, {pred.shape}")
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100, layout="constrained")
    if baseline is not None:
        ax.scatter(true, _as_numpy(baseline).astype(float), s=10, color="0.7", label="Delta = 0 vote")
    ax.scatter(true, pred, s=14, color="tab:blue", label="model")
    lo, hi = float(np.nanmin([true.min(), pred.min()])), float(np.nanmax([true.max(), pred.max()]))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    atomic_savefig(fig, path)
    plt.close(fig)
    return path
