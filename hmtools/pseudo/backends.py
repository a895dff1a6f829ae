"""Backend registries: the one list of tracker, segmenter and detector names, each with its factory.

``TRACKERS``, ``SEGMENTERS`` and ``DETECTORS`` map a name to how that backend is built; the
settings' checks and the command line's choices are their keys, so a new backend is one entry here.
Factories import their modules when called (torch, segment-anything and OpenCV stay unimported
until a run needs them). :class:`Backends` builds a run's backends from the registries: models are
loaded once per run, trackers are made fresh for every video.

Example:
    >>> from hmtools.pseudo.backends import SEGMENTERS, TRACKERS
    >>> list(TRACKERS), list(SEGMENTERS)
    (['ostrack', 'sam2', 'opencv', 'none'], ['sam', 'classical', 'seeded'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from hmtools.pseudo.base import Detector, Segmenter, Tracker
    from hmtools.pseudo.settings import PseudoMaskSettings


@dataclass(frozen=True)
class TrackerEntry:
    """How to build one kind of tracker.

    Attributes:
        new: ``(settings, model) -> Tracker``, a fresh tracker for one video; ``model`` is what
            ``load`` returned (``None`` without ``load``).
        load: ``settings -> model``, weights loaded once per run; ``None`` when there are none.
        checkpoint: the settings field naming its checkpoint file (hashed into the provenance under
            the tracker's name).
        params: the settings fields that shape its boxes (recorded and hashed for resuming).
        segmenter: ``(settings, model) -> Segmenter`` for a *video backend* that tracks and
            segments in one (SAM 2): the run's segmenter comes from here and ``--segmenter`` does
            not apply; ``None`` for a box tracker.
    """

    new: Callable[[PseudoMaskSettings, Any], Tracker]
    load: Callable[[PseudoMaskSettings], Any] | None = None
    checkpoint: str | None = None
    params: tuple[str, ...] = ()
    segmenter: Callable[[PseudoMaskSettings, Any], Segmenter] | None = None


@dataclass(frozen=True)
class SegmenterEntry:
    """How to build one kind of segmenter (once per run).

    Attributes:
        build: ``settings -> Segmenter``.
        checkpoint / params: as for :class:`TrackerEntry`.
    """

    build: Callable[[PseudoMaskSettings], Segmenter]
    checkpoint: str | None = None
    params: tuple[str, ...] = ()


def _load_ostrack(s: PseudoMaskSettings):
    from hmtools.pseudo.ostrack.weights import load_ostrack

    return load_ostrack(s.ostrack_config, s.ostrack_checkpoint, s.allow_pickled_objects)


def _ostrack_tracker(s: PseudoMaskSettings, model) -> Tracker:
    from hmtools.pseudo.ostrack.tracker import OSTrackTracker

    return OSTrackTracker(model, device=s.device, half=s.half)


def _load_sam2(s: PseudoMaskSettings):
    from hmtools.pseudo.sam2_video import load_sam2

    return load_sam2(s.sam2_config, s.sam2_checkpoint, s.allow_pickled_objects)


def _sam2_tracker(s: PseudoMaskSettings, model) -> Tracker:
    from hmtools.pseudo.sam2_video import Sam2BoxTracker

    return Sam2BoxTracker()


def _sam2_segmenter(s: PseudoMaskSettings, model) -> Segmenter:
    from hmtools.pseudo.sam2_video import Sam2Segmenter

    return Sam2Segmenter(model, device=s.device, chunk_frames=s.sam2_chunk_frames, half=s.half)


def _opencv_tracker(s: PseudoMaskSettings, model) -> Tracker:
    from hmtools.pseudo.trackers import OpenCVTracker

    return OpenCVTracker()


def _propagation_tracker(s: PseudoMaskSettings, model) -> Tracker:
    from hmtools.pseudo.trackers import MaskPropagationTracker

    return MaskPropagationTracker()


def _sam_segmenter(s: PseudoMaskSettings) -> Segmenter:
    from hmtools.pseudo.sam import SamSegmenter, load_sam

    return SamSegmenter(load_sam(s.sam_model, s.sam_checkpoint, s.allow_pickled_objects), device=s.device,
                        encoder_batch=s.sam_encoder_batch, half=s.half, multimask=s.sam_multimask)


def _classical_segmenter(s: PseudoMaskSettings) -> Segmenter:
    from hmtools.pseudo.classical import ClassicalSegmenter

    return ClassicalSegmenter(s.classical)


def _seeded_segmenter(s: PseudoMaskSettings) -> Segmenter:
    from hmtools.pseudo.seeded import SeededSegmenter

    return SeededSegmenter(s.seeded, s.classical)


def _hog_detector(s: PseudoMaskSettings) -> Detector:
    from hmtools.pseudo.detector import HogDetector

    return HogDetector()


# The first entry of each registry is not the default: defaults live in PseudoMaskSettings.
TRACKERS: dict[str, TrackerEntry] = {
    "ostrack": TrackerEntry(_ostrack_tracker, load=_load_ostrack, checkpoint="ostrack_checkpoint",
                            params=("ostrack_config",)),
    "sam2": TrackerEntry(_sam2_tracker, load=_load_sam2, checkpoint="sam2_checkpoint",  # SAM 2 video backend
                         params=("sam2_config", "sam2_chunk_frames"), segmenter=_sam2_segmenter),
    "opencv": TrackerEntry(_opencv_tracker),        # cv2 MIL, restarted from the mask's box
    "none": TrackerEntry(_propagation_tracker),     # the previous mask's box, moved
}
SEGMENTERS: dict[str, SegmenterEntry] = {
    "sam": SegmenterEntry(_sam_segmenter, checkpoint="sam_checkpoint", params=("sam_model", "sam_multimask")),
    "classical": SegmenterEntry(_classical_segmenter, params=("classical",)),  # GrabCut
    "seeded": SegmenterEntry(_seeded_segmenter, params=("seeded", "classical")),  # colours of a known mask
}
DETECTORS: dict[str, Callable[[PseudoMaskSettings], Detector]] = {
    "hog": _hog_detector,
}


class Backends:
    """A run's backends, built from the registries: models loaded once, a fresh tracker per video.

    Args:
        settings: the run's settings (device already resolved).

    Attributes:
        segmenter: the run's :class:`~hmtools.pseudo.base.Segmenter`.
        detector: the run's :class:`~hmtools.pseudo.base.Detector`, ``None`` without ``detect``.
        checkpoints: backend name -> sha256 of its checkpoint file (provenance).
    """

    def __init__(self, settings: PseudoMaskSettings):
        from hmtools.pseudo.checkpoints import file_sha256

        checkpoints: dict[str, str] = {}
        tracker = TRACKERS[settings.tracker]
        model = tracker.load(settings) if tracker.load is not None else None
        if tracker.checkpoint is not None:
            checkpoints[settings.tracker] = file_sha256(getattr(settings, tracker.checkpoint))
        if tracker.segmenter is not None:  # a video backend segments as it tracks
            segmenter = tracker.segmenter(settings, model)
        else:
            entry = SEGMENTERS[settings.segmenter]
            segmenter = entry.build(settings)
            if entry.checkpoint is not None:
                checkpoints[settings.segmenter] = file_sha256(getattr(settings, entry.checkpoint))
        self._set(settings, segmenter, model, checkpoints)

    @classmethod
    def from_parts(cls, settings: PseudoMaskSettings, segmenter: Segmenter, tracker_model=None,
                   checkpoints: dict[str, str] | None = None) -> "Backends":
        """Backends from ready objects (tests and benchmarks with tiny random-weight models).

        Raises:
            TypeError: ``segmenter`` is not a :class:`~hmtools.pseudo.base.Segmenter` (the pipeline
                relies on its hooks).
        """
        from hmtools.pseudo.base import Segmenter

        if not isinstance(segmenter, Segmenter):
            raise TypeError(f"segmenter must be a hmtools.pseudo.base.Segmenter, got {type(segmenter).__name__}")
        self = cls.__new__(cls)
        self._set(settings, segmenter, tracker_model, checkpoints or {})
        return self

    def _set(self, settings, segmenter, tracker_model, checkpoints) -> None:
        self.settings = settings
        self.segmenter = segmenter
        self.tracker_model = tracker_model
        self.checkpoints: dict[str, str] = dict(checkpoints)
        self.detector = DETECTORS[settings.detect](settings) if settings.detect is not None else None

    def new_tracker(self) -> Tracker:
        """A fresh tracker for one video."""
        return TRACKERS[self.settings.tracker].new(self.settings, self.tracker_model)
