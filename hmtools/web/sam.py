"""SAM re-prompting for the editor: a box or clicks on one frame -> a mask (``SamPredictor``).

The model is built only on the first request (importing torch and segment-anything and loading the
checkpoint take seconds); the image embedding of the last frame is kept, so several prompts on one
frame cost one encoder pass.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hmtools.errors import HMError


class SamPrompter:
    """Prompt SAM on frames.

    Args:
        build: returns a ``segment_anything.modeling.Sam`` (called once, lazily).
        device: ``"cpu"`` or ``"cuda"``.

    Example:
        >>> sam = SamPrompter.from_checkpoint("sam_vit_b_01ec64.pth", "vit_b")   # doctest: +SKIP
        >>> mask = sam.predict(("v1", 3), rgb, box_xyxy=(10, 20, 60, 120))        # doctest: +SKIP
    """

    def __init__(self, build: Callable[[], object], device: str = "cpu"):
        self._build = build
        self.device = device
        self._predictor = None
        self._key = None
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, model_type: str = "vit_b", device: str = "cpu") -> "SamPrompter":
        """A prompter for a local SAM checkpoint (checked now, loaded on first use)."""
        from hmtools.pseudo.sam import SAM_CHECKPOINTS, SAM_URL, load_sam
        from hmtools.pseudo.checkpoints import require_checkpoint

        if model_type not in SAM_CHECKPOINTS:
            raise HMError(f"unknown SAM model {model_type!r}; choose from {sorted(SAM_CHECKPOINTS)}")
        require_checkpoint(checkpoint, f"SAM {model_type}", SAM_URL + SAM_CHECKPOINTS[model_type])
        return cls(lambda: load_sam(model_type, checkpoint, retry_flag=None), device)

    def _get_predictor(self):
        if self._predictor is None:
            from segment_anything import SamPredictor

            self._predictor = SamPredictor(self._build().to(self.device).eval())
        return self._predictor

    def predict(self, key, image_rgb: np.ndarray | Callable[[], np.ndarray], *,
                box_xyxy: Sequence[float] | None = None,
                points_xyl: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """One mask ``(H, W)`` bool from a box and/or clicks ``[(x, y, 1 = object | 0 = background)]``.

        Args:
            key: identifies the frame (its embedding is reused while the key stays the same).
            image_rgb: ``(H, W, 3)`` uint8, or a function returning it (called only for a new key).
        """
        if box_xyxy is None and not points_xyl:
            raise HMError("SAM needs a box or at least one click")
        with self._lock:
            predictor = self._get_predictor()
            if key != self._key:
                predictor.set_image(image_rgb() if callable(image_rgb) else image_rgb, image_format="RGB")
                self._key = key
            kwargs = {"multimask_output": True}
            if box_xyxy is not None:
                kwargs["box"] = np.asarray(box_xyxy, dtype=np.float32)
            if points_xyl:
                pts = np.asarray(points_xyl, dtype=np.float32)
                kwargs["point_coords"], kwargs["point_labels"] = pts[:, :2], pts[:, 2].astype(np.int64)
            masks, scores, _ = predictor.predict(**kwargs)
            return masks[int(np.argmax(scores))].astype(bool)
