"""The settings of a pseudo-mask run: one frozen dataclass that owns every default, and the hash
that makes runs resumable.

Backend names are checked against the registries of :mod:`hmtools.pseudo.backends`; which fields
shape a backend's output (recorded in the producer's params and hashed) is declared there too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Sequence

from hmtools.pseudo.backends import DETECTORS, SEGMENTERS, TRACKERS
from hmtools.pseudo.classical import ClassicalParams
from hmtools.pseudo.prompts import Prompt
from hmtools.pseudo.quality import QualityThresholds
from hmtools.pseudo.seeded import SeededParams


@dataclass(frozen=True)
class PseudoMaskSettings:
    """Everything that configures a pseudo-mask run (library defaults live here).

    Attributes:
        tracker: a key of ``TRACKERS``: ``ostrack``, ``sam2`` (SAM 2 video backend: tracks and
            segments, ``segmenter`` does not apply), ``opencv`` (cv2 MIL) or ``none`` (previous
            mask's box).
        segmenter: a key of ``SEGMENTERS``: ``sam``, ``classical`` (GrabCut) or ``seeded`` (the colours
            of a known mask: a corrected frame, else GrabCut's first mask).
        ostrack_config / ostrack_checkpoint: ``vitb_256`` or ``vitb_384`` and its local file.
        sam_model / sam_checkpoint: ``vit_h`` / ``vit_l`` / ``vit_b`` and its local file.
        sam2_config / sam2_checkpoint: a key of ``hmtools.pseudo.sam2_video.SAM2_CONFIGS``
            (``None``: from the official file name) and its local ``sam2.1_hiera_*.pt``.
        sam2_chunk_frames: frames per SAM 2 memory chunk (each chunk seeded by the last masks).
        device: ``cpu`` or ``cuda`` (``cuda:<LOCAL_RANK>`` under torchrun).
        detect: a key of ``DETECTORS`` (``hog``) to find people on the first ``detect_frames``
            frames of videos without prompts; ``None`` to require prompts.
        sam_encoder_batch: frames per SAM encoder call (only with ``ostrack``).
        sam_multimask: pick the best of SAM's three masks by predicted IoU.
        half: reduced precision on CUDA.
        allow_pickled_objects: let checkpoints that pickled training objects load (placeholders).
        prefetch_frames: frames decoded ahead in a background thread.
        classical / seeded: parameters of those segmenters (``seeded`` uses both).
    """

    tracker: str = "opencv"
    segmenter: str = "classical"
    ostrack_config: str = "vitb_256"
    ostrack_checkpoint: str | None = None
    sam_model: str = "vit_h"
    sam_checkpoint: str | None = None
    sam2_config: str | None = None
    sam2_checkpoint: str | None = None
    sam2_chunk_frames: int = 64
    device: str = "cpu"
    detect: str | None = None
    detect_frames: int = 10
    sam_encoder_batch: int = 4
    sam_multimask: bool = True
    half: bool = True
    allow_pickled_objects: bool = False
    prefetch_frames: int = 8
    classical: ClassicalParams = ClassicalParams()
    seeded: SeededParams = SeededParams()
    thresholds: QualityThresholds = QualityThresholds()

    def __post_init__(self):
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {tuple(TRACKERS)}, got {self.tracker!r}")
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"segmenter must be one of {tuple(SEGMENTERS)}, got {self.segmenter!r}")
        if self.detect is not None and self.detect not in DETECTORS:
            raise ValueError(f"detect must be one of {tuple(DETECTORS)} or None, got {self.detect!r}")
        if self.detect_frames < 1 or self.sam_encoder_batch < 1 or self.prefetch_frames < 1:
            raise ValueError("detect_frames, sam_encoder_batch and prefetch_frames must be >= 1")
        if self.sam2_chunk_frames < 2:
            raise ValueError(f"sam2_chunk_frames must be >= 2, got {self.sam2_chunk_frames}")

    @property
    def video_backend(self) -> bool:
        """The tracker segments too (SAM 2): ``segmenter`` does not apply."""
        return TRACKERS[self.tracker].segmenter is not None

    @property
    def backend(self) -> str:
        return self.tracker if self.video_backend else f"{self.tracker}+{self.segmenter}"

    def output_params(self) -> dict:
        """The settings that shape the masks (not device, batch sizes or prefetching): the common
        ones, then each backend's ``params`` from its registry entry."""
        segmenter = None if self.video_backend else self.segmenter
        p: dict[str, Any] = {"tracker": self.tracker, "segmenter": segmenter,
                             "detect": self.detect, "detect_frames": self.detect_frames,
                             "thresholds": asdict(self.thresholds)}
        names = TRACKERS[self.tracker].params + (SEGMENTERS[segmenter].params if segmenter else ())
        for name in names:
            value = getattr(self, name)
            p[name] = asdict(value) if is_dataclass(value) else value
        return p


def settings_hash(settings: PseudoMaskSettings, checkpoints: dict[str, str],
                  prompts: Sequence[Prompt]) -> str:
    """sha256 (16 hex digits) over the output-shaping settings, checkpoint hashes and prompts."""
    payload = {"params": settings.output_params(), "checkpoints": checkpoints,
               "prompts": sorted([str(p.frame), p.object_id, list(p.box_xyxy)] for p in prompts)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
