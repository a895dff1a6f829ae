"""The backend registries: names, what each entry builds, the settings they check and record, and the
batching rule."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hmtools.errors import CheckpointError
from hmtools.pseudo.backends import DETECTORS, SEGMENTERS, TRACKERS, Backends
from hmtools.pseudo.base import Segmenter
from hmtools.pseudo.settings import PseudoMaskSettings
from hmtools.pseudo.video_loop import frames_per_call

COMMON = ["tracker", "segmenter", "detect", "detect_frames", "thresholds"]


def test_registry_names():
    assert list(TRACKERS) == ["ostrack", "sam2", "opencv", "none"]
    assert list(SEGMENTERS) == ["sam", "classical", "seeded"]
    assert list(DETECTORS) == ["hog"]


@pytest.mark.parametrize("tracker", ["opencv", "none"])
def test_weight_free_backends_are_built_by_name(tracker):
    b = Backends(PseudoMaskSettings(tracker=tracker, segmenter="classical", detect="hog"))
    assert b.new_tracker().name == tracker and b.new_tracker() is not b.new_tracker()
    assert b.segmenter.name == "classical" and isinstance(b.segmenter, Segmenter)
    assert b.detector.name == "hog" and b.checkpoints == {}
    assert Backends(PseudoMaskSettings(tracker=tracker)).detector is None


def test_ostrack_and_sam_entries_build_from_ready_models():
    from hmtools.pseudo.ostrack.build import build_ostrack
    from hmtools.pseudo.sam import SamSegmenter, build_tiny_sam

    s = PseudoMaskSettings(tracker="ostrack", segmenter="sam", ostrack_config="tiny")
    b = Backends.from_parts(s, SamSegmenter(build_tiny_sam()), build_ostrack("tiny"), {"sam": "ab"})
    tracker = b.new_tracker()
    assert (tracker.name, tracker.needs_mask_feedback, b.checkpoints) == ("ostrack", False, {"sam": "ab"})


@pytest.mark.parametrize("settings, missing", [
    (PseudoMaskSettings(tracker="ostrack"), "OSTrack vitb_256"),
    (PseudoMaskSettings(segmenter="sam", sam_model="vit_b"), "SAM vit_b"),
])
def test_a_missing_checkpoint_names_the_backend(settings, missing):
    with pytest.raises(CheckpointError, match=missing):
        Backends(settings)


def test_from_parts_wants_a_segmenter():
    with pytest.raises(TypeError, match="hmtools.pseudo.base.Segmenter, got SimpleNamespace"):
        Backends.from_parts(PseudoMaskSettings(), SimpleNamespace(segment=lambda *a: []))


@pytest.mark.parametrize("field, value, message", [
    ("tracker", "kcf", "tracker must be one of ('ostrack', 'sam2', 'opencv', 'none')"),
    ("segmenter", "sam2", "segmenter must be one of ('sam', 'classical', 'seeded')"),
    ("detect", "yolo", "detect must be one of ('hog',) or None"),
])
def test_settings_check_names_against_the_registries(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PseudoMaskSettings(**{field: value})


@pytest.mark.parametrize("tracker, segmenter, extra", [
    ("none", "classical", ["classical"]),
    ("opencv", "classical", ["classical"]),
    ("ostrack", "classical", ["ostrack_config", "classical"]),
    ("ostrack", "sam", ["ostrack_config", "sam_model", "sam_multimask"]),
    ("none", "sam", ["sam_model", "sam_multimask"]),
])
def test_output_params_are_the_common_ones_then_each_backends(tracker, segmenter, extra):
    p = PseudoMaskSettings(tracker=tracker, segmenter=segmenter).output_params()
    assert list(p) == COMMON + extra
    if "classical" in p:
        assert p["classical"]["max_side_px"] == 128  # a dataclass is recorded as a dict
    if "sam_model" in p:
        assert (p["sam_model"], p["sam_multimask"]) == ("vit_h", True)


@pytest.mark.parametrize("feedback, sequential, batch, expected", [
    (True, False, 4, 1),
    (False, True, 4, 1),
    (False, False, 4, 4),
    (False, False, 0, 1),
])
def test_frames_per_call(feedback, sequential, batch, expected):
    tracker = SimpleNamespace(needs_mask_feedback=feedback)
    segmenter = SimpleNamespace(needs_sequential=sequential, batch_size=batch)
    assert frames_per_call(tracker, segmenter) == expected


class OnlySegment(Segmenter):
    name = "only"

    def segment(self, frames_rgb, boxes, frame_indices=None):
        return [{o: None for o in b} for b in boxes]


def test_segmenter_hooks_have_defaults():
    seg = OnlySegment()
    assert (seg.needs_sequential, seg.batch_size, seg.wants_background) == (True, 1, False)
    assert seg.reset() is None and seg.forget(1) is None and seg.prepare([np.zeros((2, 2, 3), np.uint8)]) is None
    with pytest.raises(NotImplementedError, match="Segmenter must implement segment"):
        Segmenter().segment([], [])
