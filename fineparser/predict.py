"""``fineparser predict``: the score of one video, its per-step Delta table and attention pictures.

The video (a file OpenCV reads, or a folder of frames) is sampled like the training clips of the
checkpoint's dataset (:data:`fineparser.sampling.DATASET_SAMPLING`), centrally cropped, and compared
with M exemplars of the given action type (AN; the given difficulty for DD) from the training split
of the checkpoint's dataset (``--set data_root=...`` when the data moved). The run is loaded by
:func:`fineparser.run.load_run` and the score, the mean of the M single-exemplar predictions
(Eq. 10), comes from :meth:`fineparser.predictor.Predictor.predict_clip`.

Written to the output folder:

* ``prediction.json``: score, per-exemplar predictions, Delta per step (mean and standard
  deviation over the exemplars, in score units: DD differences are multiplied by the difficulty);
* ``attention_snippet<i>.png``: the SAP attention over the frames of snippet i (the middle one by
  default);
* ``temporal_attention.png``: A1, A2 and the soft labels T (empty when the video's step transitions
  are unknown; give ``transitions`` or predict a clip of the dataset, whose labels are used).

Example:
    >>> p = predict_video("clips/dive.mp4", "runs/demo/best.pt", "407C")   # doctest: +SKIP
    >>> p.score, p.delta_mean                                              # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hmtools.atomic import new_folder_removed_on_error
from hmtools.errors import DatasetError


@dataclass
class Prediction:
    """What :func:`predict_video` returns (paths are inside ``out_dir``)."""

    video: str
    action_type: str
    difficulty: float | None
    score: float
    delta_mean: list[float]
    delta_std: list[float]
    exemplars: list[dict]
    weights: str
    out_dir: Path
    overlay_png: Path | None
    temporal_png: Path
    json_path: Path
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"video": self.video, "action_type": self.action_type, "difficulty": self.difficulty,
                "score": self.score, "weights": self.weights,
                "delta_per_step": [{"step": m + 1, "mean": a, "std": b}
                                   for m, (a, b) in enumerate(zip(self.delta_mean, self.delta_std))],
                "exemplars": self.exemplars,
                "overlay_png": str(self.overlay_png) if self.overlay_png else None,
                "temporal_png": str(self.temporal_png), "notes": self.notes}


def read_window(source: str | Path, num_frames: int, sampling: str,
                params) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The sampled, transformed window of a video: ``(frames (F, H, W, 3) uint8, names, frame_idx)``
    with ``frame_idx`` the (F,) video frame indices of the window.

    Frame folders decode only the sampled frames; a video file is decoded once, keeping every frame
    already cropped (its true length is only known at the end).
    """
    from fineparser.sampling import sample_frame_indices
    from hmtools.video import VideoSource, open_video, prefetch

    src = open_video(source)
    if not src.is_file:
        n = len(src.frame_paths)
        idx = sample_frame_indices(n, num_frames, sampling)
        picked = VideoSource.from_frame_paths(src.video_id, [src.frame_paths[i] for i in idx])
        frames = [(f.name, params.apply(f.image_rgb)) for f in picked.frames()]
        return np.stack([f for _, f in frames]), [name for name, _ in frames], idx
    kept = [(f.name, params.apply(f.image_rgb)) for f in prefetch(src.frames())]
    idx = sample_frame_indices(len(kept), num_frames, sampling)
    return np.stack([kept[i][1] for i in idx]), [kept[i][0] for i in idx], idx


def predict_video(source: str | Path, checkpoint: str | Path, action_type: str,
                  difficulty: float | None = None, out_dir: str | Path | None = None,
                  overrides: Sequence[str] = (), use_ema: bool = True, snippet: int | None = None,
                  transitions: Sequence[int] | None = None) -> Prediction:
    """Predict the score of one video; see the module docstring.

    Args:
        source: video file or frame folder.
        checkpoint: a training run's ``best.pt``/``last.pt``.
        action_type: the dive number / class (exemplars share it in the AN setting).
        difficulty: degree of difficulty (required by DD; scales Delta to score units).
        out_dir: output folder (default ``predict_<video name>`` in the working directory).
        overrides: ``key=value`` changes of the stored configuration (``data_root=...``,
            ``model.num_exemplars=5``).
        use_ema: EMA weights (default) or raw ones.
        snippet: snippet whose SAP attention is drawn (default: the middle one).
        transitions: clip-relative frames where steps start (first and last are used) for the
            soft labels of the temporal plot.

    Raises:
        DatasetError: no exemplar of that action type (or difficulty) in the training split.
        VideoError, CheckpointError: unreadable video or checkpoint.
    """
    from fineparser.run import load_run
    from fineparser.sampling import DATASET_SAMPLING, window_transitions
    from fineparser.transforms import CropParams, resize_target

    run = load_run(checkpoint, overrides, use_ema)
    cfg, mcfg, data = run.cfg, run.mcfg, run.data
    dd = mcfg.exemplar_setting == "DD"
    if dd and difficulty is None:
        raise DatasetError(f"{checkpoint}: the model uses the DD setting: give the video's difficulty")
    notes: list[str] = []
    exemplars = data.chooser.plan_for(action_type, difficulty, mcfg.num_exemplars, cfg.seed)
    if not exemplars:
        known = sorted({data.table.action_types[r] for r in data.chooser.pool})
        what = (f"action type {action_type!r} (known: {', '.join(known[:15])}"
                f"{', ...' if len(known) > 15 else ''})" if not dd else f"difficulty {difficulty}")
        raise DatasetError(f"{cfg.data_root}: no training clip with {what}")

    params = CropParams.draw(mcfg.frame_size_hw, resize_target(mcfg, cfg.resize_scale), False, False,
                             np.random.default_rng(0))
    frames, names, frame_idx = read_window(source, mcfg.num_frames, DATASET_SAMPLING[cfg.dataset], params)
    if transitions is None:
        transitions = _dataset_transitions(source, data.samples)
        if transitions is not None:
            notes.append("step transitions taken from the dataset's labels of this clip")
    trans, trans_ok = window_transitions(tuple(transitions or ()), frame_idx)

    clip = run.predictor(workers=0).predict_clip(torch.from_numpy(frames).permute(0, 3, 1, 2), exemplars,
                                                 difficulty)
    delta, y_hat, table = clip.pairs.delta, clip.pairs.y_hat, data.table

    out_dir = Path(out_dir) if out_dir is not None else Path(f"predict_{Path(source).stem or 'video'}")
    with new_folder_removed_on_error(out_dir):  # a failed write leaves no output folder it made
        out_dir.mkdir(parents=True, exist_ok=True)
        overlay, temporal = _pictures(clip.features, frames, mcfg, trans, trans_ok, snippet, out_dir, notes)
        pred = Prediction(
            video=str(source), action_type=action_type, difficulty=difficulty, score=clip.score,
            delta_mean=[float(v) for v in delta.mean(axis=0)],
            delta_std=[float(v) for v in delta.std(axis=0)],
            exemplars=[{"video_id": table.video_ids[r], "score": float(table.scores[r]),
                        "prediction": float(p)} for r, p in zip(exemplars, y_hat)],
            weights=run.weights, out_dir=out_dir, overlay_png=overlay, temporal_png=temporal,
            json_path=out_dir / "prediction.json", notes=notes)
        pred.json_path.write_text(json.dumps(pred.to_json(), indent=2) + "\n")
    return pred


def _dataset_transitions(source, samples) -> tuple[int, ...] | None:
    """The labelled transitions when ``source`` is the frame folder of one of the dataset's clips."""
    path = Path(source).resolve()
    if not path.is_dir():
        return None
    for s in samples:
        if s.frame_paths and s.frame_paths[0].parent == path:
            return s.transitions or None
    return None


def _pictures(q, frames: np.ndarray, mcfg, trans: np.ndarray, trans_ok: bool, snippet: int | None,
              out_dir: Path, notes: list[str]) -> tuple[Path | None, Path]:
    from fineparser.losses import snippet_transitions, soft_labels
    from fineparser.model.preprocess import snippet_frame_indices
    from fineparser.viz import attention_overlay_png, temporal_attention_png

    overlay = None
    if q.attention is not None:
        i = mcfg.num_snippets // 2 if snippet is None else snippet
        if not 0 <= i < mcfg.num_snippets:
            raise ValueError(f"snippet: expected 0..{mcfg.num_snippets - 1}, got {i}")
        window = frames[snippet_frame_indices(mcfg)[i].numpy()]
        overlay = attention_overlay_png(window, q.attention[0, i], out_dir / f"attention_snippet{i}.png")
    else:
        notes.append("the model has no SAP: no attention overlay")
    a1, a2 = q.a1[0], q.a2[0]
    if trans_ok and mcfg.tap:
        t = snippet_transitions(torch.as_tensor(trans)[None], mcfg.snippet_stride, mcfg.num_snippets)
        targets = soft_labels(t, mcfg.num_snippets, mcfg.num_queries, mcfg.soft_label_centre,
                              mcfg.soft_label_sigma, mcfg.snippet_stride, mcfg.snippet_frames)[0]
    else:
        targets = torch.zeros_like(a1)
        notes.append("step transitions unknown: the soft-label panel T is empty")
    temporal = temporal_attention_png(a1, a2, targets, out_dir / "temporal_attention.png")
    return overlay, temporal
