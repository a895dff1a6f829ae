"""The report of a pseudo-mask run: time spent per video (:class:`Timer`), what happened to each
video (:class:`VideoOutcome`), and the run's summary lines (:class:`RunSummary`).

Errors are per video: a failed video's outcome carries its error as one line
(:func:`one_line_error`), and the summary lists them after the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hmtools.errors import HMError


@dataclass
class Timer:
    """Seconds spent in the models vs. everything else (decoding, crops, RLE, quality, writes)."""

    tracker_s: float = 0.0
    segmenter_s: float = 0.0
    detector_s: float = 0.0
    total_s: float = 0.0
    frames: int = 0

    @property
    def model_s(self) -> float:
        return self.tracker_s + self.segmenter_s + self.detector_s

    @property
    def other_share(self) -> float:
        """Fraction of the wall time spent outside the models."""
        return 0.0 if self.total_s <= 0 else max(0.0, self.total_s - self.model_s) / self.total_s

    def add(self, other: "Timer") -> None:
        for f in ("tracker_s", "segmenter_s", "detector_s", "total_s", "frames"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


@dataclass
class VideoOutcome:
    """What happened to one video: ``done``, ``skipped`` (same settings already stored) or ``failed``;
    ``note`` is a warning about a video that was done anyway (the decoder's damaged frames)."""

    video_id: str
    status: str
    error: str | None = None
    frames: int = 0
    masks: int = 0
    flagged: int = 0
    timer: Timer = field(default_factory=Timer)
    note: str | None = None


@dataclass
class RunSummary:
    """Outcomes of a run, in processing order."""

    outcomes: list[VideoOutcome]
    shard: tuple[int, int] = (0, 1)

    def by_status(self, status: str) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[VideoOutcome]:
        return self.by_status("failed")

    @property
    def timer(self) -> Timer:
        t = Timer()
        for o in self.outcomes:
            t.add(o.timer)
        return t

    def lines(self) -> list[str]:
        """Human-readable summary: counts, speed, one line per video with a warning, then one line
        per failed video."""
        t = self.timer
        done, skipped, failed = (len(self.by_status(s)) for s in ("done", "skipped", "failed"))
        masks = sum(o.masks for o in self.outcomes)
        flagged = sum(o.flagged for o in self.outcomes)
        k, n = self.shard
        out = [f"shard {k}/{n}: {done} done, {skipped} skipped (already done with these settings), "
               f"{failed} failed; {masks} masks, {flagged} flagged for review"]
        if t.frames:
            out.append(f"{t.frames} frames in {t.total_s:.1f} s ({t.frames / max(t.total_s, 1e-9):.1f} fps); "
                       f"{100 * (1 - t.other_share):.0f}% of the time inside the models")
        out += [f"WARNING {o.video_id}: {o.note}" for o in self.outcomes if o.note]
        out += [f"FAILED {o.video_id}: {o.error}" for o in self.failed]
        return out


def one_line_error(err: BaseException) -> str:
    """An error as one line for the summary: our own errors by message, others with their type."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if isinstance(err, HMError):
        return msg
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__

