"""Prompts file: the initial box of each object, per video.

CSV (header required) or JSON (a list of objects, or ``{"prompts": [...]}``) with the fields
``video, frame, object_id, x1, y1, x2, y2``:

* ``video``: the video id (file stem for video files, the dataset's id such as
  ``FINADivingWorldCup2021_Men3m_final_r1__0`` for dataset clips);
* ``frame``: a 0-based frame index, or a frame name (``00489.jpg``) for frame folders;
* ``object_id``: positive integer (1 and 2 for the two divers of a synchronized event);
* ``x1, y1, x2, y2``: the box in pixels, ``x2 > x1`` and ``y2 > y1``.

An object starts on the frame of its first prompt; a later prompt for the same object restarts its
tracker there (a cheap way to fix a drift). Errors name the file and the line (CSV) or entry (JSON).

Example (CSV)::

    video,frame,object_id,x1,y1,x2,y2
    vtest,0,1,395,166,452,290
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hmtools.errors import HMError

FIELDS = ("video", "frame", "object_id", "x1", "y1", "x2", "y2")


class PromptsError(HMError, ValueError):
    """The prompts file is missing or malformed, or a prompt does not fit its video."""


@dataclass(frozen=True)
class Prompt:
    """One object's box on one frame.

    Attributes:
        video: video id.
        frame: 0-based index (int) or frame name (str).
        object_id: positive int.
        box_xyxy: ``(x1, y1, x2, y2)`` in pixels.
        where: ``file:line`` for messages.
    """

    video: str
    frame: int | str
    object_id: int
    box_xyxy: tuple[float, float, float, float]
    where: str = ""

    def __post_init__(self):
        x1, y1, x2, y2 = self.box_xyxy
        if not all(math.isfinite(v) for v in self.box_xyxy):
            raise ValueError(f"box must be finite numbers, got {self.box_xyxy}")
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"box needs x2 > x1 and y2 > y1, got {self.box_xyxy}")
        if isinstance(self.object_id, bool) or not isinstance(self.object_id, int) or self.object_id < 1:
            raise ValueError(f"object_id must be a positive integer, got {self.object_id!r}")
        if isinstance(self.frame, int) and self.frame < 0:
            raise ValueError(f"frame index must be >= 0, got {self.frame}")

    def frame_index(self, frame_names: list[str]) -> int:
        """Resolve ``frame`` against the video's frame names (raises PromptsError if absent)."""
        if isinstance(self.frame, int):
            if self.frame >= len(frame_names):
                raise PromptsError(f"{self.where}: frame {self.frame} is past the end of video "
                                   f"{self.video} ({len(frame_names)} frames)")
            return self.frame
        try:
            return frame_names.index(self.frame)
        except ValueError:
            raise PromptsError(f"{self.where}: video {self.video} has no frame named {self.frame!r}") from None


def _parse_frame(value) -> int | str:
    if isinstance(value, bool):
        raise ValueError(f"frame must be an index or a name, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        raise ValueError("frame is empty")
    return int(text) if text.lstrip("-").isdigit() else text


def _parse_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _parse_float(value, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _make(row: dict, where: str) -> Prompt:
    missing = [f for f in FIELDS if row.get(f) in (None, "")]
    if missing:
        raise PromptsError(f"{where}: missing {', '.join(missing)}")
    try:
        video = str(row["video"]).strip()
        return Prompt(video=video, frame=_parse_frame(row["frame"]),
                      object_id=_parse_int(row["object_id"], "object_id"),
                      box_xyxy=tuple(_parse_float(row[k], k) for k in ("x1", "y1", "x2", "y2")),
                      where=where)
    except ValueError as err:
        raise PromptsError(f"{where}: {err}") from None


class Prompts:
    """Prompts grouped by video. Build with :func:`read_prompts` or from a list of :class:`Prompt`."""

    def __init__(self, prompts: list[Prompt]):
        self._by_video: dict[str, list[Prompt]] = defaultdict(list)
        seen: dict[tuple, str] = {}
        for p in prompts:
            key = (p.video, p.frame, p.object_id)
            if key in seen:
                raise PromptsError(f"{p.where}: duplicate prompt for video {p.video}, frame {p.frame}, "
                                   f"object {p.object_id} (first at {seen[key]})")
            seen[key] = p.where
            self._by_video[p.video].append(p)

    def videos(self) -> list[str]:
        return sorted(self._by_video)

    def for_video(self, video_id: str) -> list[Prompt]:
        """This video's prompts (empty list if none)."""
        return list(self._by_video.get(video_id, []))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_video.values())


def read_prompts(path: str | Path) -> Prompts:
    """Read a CSV or JSON prompts file (by suffix; ``.json`` is JSON, anything else CSV)."""
    p = Path(path)
    if not p.is_file():
        raise PromptsError(f"{p}: prompts file not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise PromptsError(f"{p}: cannot read prompts file ({err})") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise PromptsError(f"{p}: invalid JSON ({err})") from None
        if isinstance(data, dict):
            data = data.get("prompts")
        if not isinstance(data, list):
            raise PromptsError(f"{p}: expected a list of prompts (or {{\"prompts\": [...]}})")
        out = []
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise PromptsError(f"{p}: entry {i}: expected an object with {', '.join(FIELDS)}")
            out.append(_make(row, f"{p}: entry {i}"))
        return Prompts(out)
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise PromptsError(f"{p}:1: header lacks {', '.join(missing)} (expected {','.join(FIELDS)})")
    reader.fieldnames = header
    out = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        out.append(_make(row, f"{p}:{reader.line_num}"))
    return Prompts(out)
