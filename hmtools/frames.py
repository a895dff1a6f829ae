"""Find and read the image of one stored frame (for CVAT export, contact sheets and the editor).

A store document names its frames (``doc.frames``) and where they came from (``doc.source``: a
folder of frame images or a video file). :class:`FrameReader` resolves, in order:

1. ``doc.source`` itself when it exists (relative paths are taken from the working folder);
2. with ``frames_root``: ``frames_root/doc.source`` (relative sources), ``frames_root/<video_id>``,
   ``frames_root/<last two parts of doc.source>`` (FineDiving's ``<competition>/<idx>``) and
   ``frames_root/<last part of doc.source>``.

A folder source yields ``folder/<frame name>``; a video source is decoded by frame index with OpenCV,
reading forward from the last position (a seek is never trusted to be frame-exact), so walking a
video frame by frame costs one decode per frame.

Example:
    >>> reader = FrameReader(frames_root="data/FINADiving_MTL_256s")   # doctest: +SKIP
    >>> rgb = reader.read_rgb(doc, 12)                                  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePath

import numpy as np

from hmtools.errors import VideoError
from hmtools.store import VideoDoc
from hmtools.video import VIDEO_SUFFIXES


class FrameReader:
    """Resolves and reads frame images of store documents. Thread-safe; one open video at a time.

    Args:
        frames_root: optional folder that overrides or completes ``doc.source`` (see module doc).
    """

    def __init__(self, frames_root: str | Path | None = None):
        self.frames_root = Path(frames_root) if frames_root else None
        self._lock = threading.Lock()
        self._cap = None
        self._cap_path: Path | None = None
        self._cap_pos = 0

    def source_path(self, doc: VideoDoc) -> Path:
        """The existing folder or video file holding ``doc``'s frames.

        Raises:
            VideoError: naming the video and every place that was tried.
        """
        tried = []
        for cand in self._candidates(doc):
            tried.append(str(cand))
            if cand.is_dir() or (cand.is_file() and cand.suffix.lower() in VIDEO_SUFFIXES):
                return cand
        hint = "" if self.frames_root else " (pass --frames-root to say where the frames are)"
        raise VideoError(f"video {doc.video_id}: frames not found; tried "
                         f"{', '.join(tried) or 'nothing (the document has no source)'}{hint}")

    def _candidates(self, doc: VideoDoc) -> list[Path]:
        out: list[Path] = []
        src = PurePath(doc.source) if doc.source else None
        if src is not None:
            out.append(Path(src))
        if self.frames_root is not None:
            root = self.frames_root
            if src is not None and not src.is_absolute():
                out.append(root / src)
            out.append(root / doc.video_id)
            if src is not None and len(src.parts) >= 2:
                out.append(root / src.parts[-2] / src.parts[-1])
            if src is not None and src.parts:
                out.append(root / src.parts[-1])
        seen, uniq = set(), []
        for p in out:
            if str(p) not in seen:
                seen.add(str(p))
                uniq.append(p)
        return uniq

    def frame_file(self, doc: VideoDoc, frame_idx: int) -> Path | None:
        """The image file of a frame when the source is a folder, else ``None`` (video file)."""
        src = self.source_path(doc)
        if src.is_dir():
            path = src / doc.frames[frame_idx]
            if not path.is_file():
                raise VideoError(f"video {doc.video_id}: frame image {path} is missing")
            return path
        return None

    def read_rgb(self, doc: VideoDoc, frame_idx: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB of one frame, resized to the document's size if it differs.

        Raises:
            VideoError: the frame cannot be found or decoded.
        """
        import cv2

        if not 0 <= frame_idx < doc.n_frames:
            raise VideoError(f"video {doc.video_id}: frame index {frame_idx} outside 0..{doc.n_frames - 1}")
        path = self.frame_file(doc, frame_idx)
        if path is not None:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise VideoError(f"{path}: cannot read frame image (corrupt or unsupported)")
        else:
            bgr = self._decode(self.source_path(doc), frame_idx)
        h, w = doc.size_hw
        if bgr.shape[:2] != (h, w):
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _decode(self, path: Path, frame_idx: int) -> np.ndarray:
        import cv2

        with self._lock:
            if self._cap is None or self._cap_path != path or frame_idx < self._cap_pos:
                self.close_locked()
                self._cap = cv2.VideoCapture(str(path))
                if not self._cap.isOpened():
                    self.close_locked()
                    raise VideoError(f"{path}: cannot open video (corrupt file or unsupported codec)")
                self._cap_path, self._cap_pos = path, 0
            while self._cap_pos < frame_idx:
                if not self._cap.grab():
                    self.close_locked()
                    raise VideoError(f"{path}: video ends before frame {frame_idx}")
                self._cap_pos += 1
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                self.close_locked()
                raise VideoError(f"{path}: cannot decode frame {frame_idx}")
            self._cap_pos += 1
            return bgr

    def close_locked(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._cap_path, self._cap_pos = None, None, 0

    def close(self) -> None:
        """Release the open video, if any."""
        with self._lock:
            self.close_locked()


def overlay_rgb(image_rgb: np.ndarray, masks: dict[int, np.ndarray], alpha: float = 0.45) -> np.ndarray:
    """Tint each object's ``(H, W)`` mask in its own colour and draw its outline; returns a copy.

    Args:
        image_rgb: ``(H, W, 3)`` uint8.
        masks: object id -> ``(H, W)`` bool.
    """
    import cv2

    out = image_rgb.copy()
    for obj_id, mask in masks.items():
        if not mask.any():
            continue
        color = np.array(OBJECT_COLORS_RGB[(obj_id - 1) % len(OBJECT_COLORS_RGB)], dtype=np.float32)
        out[mask] = (out[mask].astype(np.float32) * (1 - alpha) + color * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), 1)
    return out


OBJECT_COLORS_RGB = ((255, 64, 64), (64, 160, 255), (80, 220, 80), (255, 200, 0))
