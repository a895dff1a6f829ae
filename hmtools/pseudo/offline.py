"""The backends that need no model weights, in one import (the modules that hold them since the split
of issue 10): :mod:`~hmtools.pseudo.trackers` (OpenCV MIL and mask-propagation trackers),
:mod:`~hmtools.pseudo.classical` (the GrabCut segmenter), :mod:`~hmtools.pseudo.seeded` (the
mask-seeded colour segmenter), :mod:`~hmtools.pseudo.detector` (the HOG people detector) and the
box helpers of :mod:`~hmtools.pseudo.base`.
"""

from hmtools.pseudo.base import box_iou_xyxy, pad_box
from hmtools.pseudo.classical import ClassicalParams, ClassicalSegmenter
from hmtools.pseudo.classical_ops import colour_codes, colour_separation
from hmtools.pseudo.detector import DetectorUnavailable, HogDetector, detect_people
from hmtools.pseudo.seeded import SeededParams, SeededSegmenter
from hmtools.pseudo.trackers import MaskPropagationTracker, OpenCVTracker

__all__ = ["ClassicalParams", "ClassicalSegmenter", "DetectorUnavailable", "HogDetector",
           "MaskPropagationTracker", "OpenCVTracker", "SeededParams", "SeededSegmenter", "box_iou_xyxy",
           "colour_codes", "colour_separation", "detect_people", "pad_box"]
