"""Video sources: a video file (through OpenCV) or an ordered list of frame images.

A :class:`VideoSource` names its frames and yields them one at a time as RGB ``uint8`` arrays, so a
long video never sits in memory. Frame names are the real file names for frame folders and
synthetic ``"000000.jpg"``-style names (0-based decode order) for video files. The number of frames
of a file is what actually decodes: a container's ``CAP_PROP_FRAME_COUNT`` is never trusted.

Errors are per video: an unreadable, empty or corrupt source raises :class:`VideoError` naming it,
and callers processing many videos record that error and go on with the next one.

A frame image is trusted only when it decodes whole: :func:`read_frame_image` is the one rule
(end-of-image marker present, decodes, the clip's size), used by frame folders here, by fineparser's
training and prediction loaders and by ``import-hm``; :func:`frame_file_problem` is its cheap
half (the end marker only, from the file's last bytes) for checking many files up front.
libjpeg decodes a truncated JPEG "successfully" with a grey bottom and only a warning on stderr,
which is why the marker is checked before decoding.

FFmpeg's and OpenCV's messages while a video file decodes (``ac-tex damaged``, ``moov atom not
found``) are counted into a :class:`~hmtools.decoder_noise.DecoderNoise` instead of printed raw
between progress bars: pass one to :meth:`VideoSource.frames` and report its ``summary()``, or let
``frames()`` print that one line itself when the video is done.

Example:
    >>> src = open_video("clips/dive.mp4")          # doctest: +SKIP
    >>> for frame in prefetch(src.frames()):        # doctest: +SKIP
    ...     print(frame.index, frame.name, frame.image_rgb.shape)
"""

from __future__ import annotations

import queue
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np

from hmtools.decoder_noise import DecoderNoise, capture_decoder_noise, settle
from hmtools.errors import VideoError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

T = TypeVar("T")


def file_frame_name(frame_idx: int) -> str:
    """The synthetic name of decoded frame ``frame_idx`` of a video file (``"000007.jpg"``)."""
    return f"{frame_idx:06d}.jpg"


def natural_key(name: str) -> list:
    """Sort key that orders ``img_2.jpg`` before ``img_10.jpg``."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based position in the video.
        name: frame name (file name for frame folders, ``file_frame_name(index)`` for files).
        image_rgb: ``(H, W, 3)`` uint8 RGB pixels.
    """

    index: int
    name: str
    image_rgb: np.ndarray


@dataclass(frozen=True)
class VideoSource:
    """A readable video: a file, or an ordered list of frame images.

    Build it with :func:`open_video` or :meth:`from_frame_paths`; both check that the source exists
    and is not empty, but decoding errors surface while iterating :meth:`frames`.

    Attributes:
        video_id: the key this video is stored under.
        path: the video file, or the folder holding the frames.
        frame_paths: the frame images in order (empty for a video file).
    """

    video_id: str
    path: Path
    frame_paths: tuple[Path, ...] = ()

    @property
    def is_file(self) -> bool:
        return not self.frame_paths

    @classmethod
    def from_frame_paths(cls, video_id: str, frame_paths: Sequence[str | Path]) -> "VideoSource":
        """A video made of frame images, in the given order (names are kept)."""
        paths = tuple(Path(p) for p in frame_paths)
        if not paths:
            raise VideoError(f"{video_id}: no frames listed")
        return cls(video_id=video_id, path=paths[0].parent, frame_paths=paths)

    def frame_names(self) -> list[str] | None:
        """Frame names known without decoding (frame lists), ``None`` for video files."""
        return [p.name for p in self.frame_paths] if self.frame_paths else None

    def frames(self, noise: DecoderNoise | None = None) -> Iterator[Frame]:
        """Yield every frame in order; raises :class:`VideoError` on an unreadable source.

        All frames must share one size; a video file that decodes no frame at all is an error.

        Args:
            noise: counts the decoder's stderr messages of a video file (it may be passed to
                several passes over one video); without it, their summary is printed to stderr as
                one line once the video is done.
        """
        if self.is_file:
            own = noise is None
            noise = DecoderNoise(self.path.name) if own else noise
            try:
                yield from _decode_file(self.path, noise)
            except VideoError:
                own = False  # the error's message already ends in the summary
                raise
            finally:
                line = noise.summary() if own else None
                if line is not None:
                    print(f"warning: {line}", file=sys.stderr)
        else:
            yield from _read_images(self.video_id, self.frame_paths)


def _decode_file(path: Path, noise: DecoderNoise) -> Iterator[Frame]:
    with capture_decoder_noise(noise):  # FFmpeg prints while opening too ("moov atom not found")
        yield from _decode_captured(path, noise)


def _decode_captured(path: Path, noise: DecoderNoise) -> Iterator[Frame]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot open video (corrupt file or unsupported codec)"
                             + _noise_detail(path, noise))
        size_hw = None
        idx = 0
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            if size_hw is None:
                size_hw = bgr.shape[:2]
            elif bgr.shape[:2] != size_hw:
                raise VideoError(f"{path}: frame {idx} is {bgr.shape[1]}x{bgr.shape[0]}, "
                                 f"earlier frames {size_hw[1]}x{size_hw[0]}")
            yield Frame(idx, file_frame_name(idx), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            idx += 1
        if idx == 0:
            raise VideoError(f"{path}: no frame decodes (empty or corrupt video)" + _noise_detail(path, noise))
    finally:
        cap.release()


def _noise_detail(path: Path, noise: DecoderNoise) -> str:
    """The decoder's summary as the tail of an error about ``path`` (``": moov atom not found"``).
    Called while the capture is open, so it first lets the reader thread catch up."""
    settle()
    line = noise.summary()
    return "" if line is None else ": " + line.removeprefix(f"{noise.video}: ")


def _read_images(video_id: str, paths: Sequence[Path]) -> Iterator[Frame]:
    import cv2

    size_hw = None
    for idx, p in enumerate(paths):
        try:
            bgr = read_frame_image(p, size_hw)
        except VideoError as err:
            raise VideoError(f"{err} (video {video_id})") from None
        size_hw = bgr.shape[:2]
        yield Frame(idx, p.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


# How far from the end of a JPEG its end-of-image marker may sit: some writers pad a few bytes.
_JPEG_TAIL = 32
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of every PNG


def truncation_problem(data: bytes | memoryview, name: str | Path) -> str | None:
    """Why the bytes of image file ``name`` are not a whole JPEG or PNG, or ``None``.

    Only the end is looked at (``data`` may be just the file's last bytes): a JPEG must end in an
    end-of-image marker ``FF D9`` (a few padding bytes after it allowed), a PNG in its IEND
    chunk; other formats pass. Entropy-coded JPEG data never holds ``FF D9`` (``FF`` is stuffed),
    so a cut file cannot end in one by chance.

    Example:
        >>> truncation_problem(b"\\xff\\xd8...\\xff\\xd9", "a.jpg") is None
        True
    """
    suffix = Path(name).suffix.lower()
    if len(data) == 0:
        return "empty file"
    if suffix in (".jpg", ".jpeg"):
        if b"\xff\xd9" not in bytes(data[-_JPEG_TAIL:]):
            return "truncated JPEG (no end-of-image marker)"
    elif suffix == ".png" and bytes(data[-len(_PNG_END):]) != _PNG_END:
        return "truncated PNG (no IEND chunk)"
    return None


def frame_file_problem(path: str | Path) -> str | None:
    """The cheap half of :func:`read_frame_image`: whether ``path`` exists and ends whole (its
    last bytes only, no decoding); the problem in words, or ``None``.

    Example:
        >>> frame_file_problem("clip/img_00001.jpg")      # doctest: +SKIP
        'truncated JPEG (no end-of-image marker)'
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - _JPEG_TAIL))
            tail = fh.read()
    except OSError as err:
        return f"cannot read ({err.strerror})"
    return truncation_problem(tail, path)


def read_frame_image(path: str | Path, size_hw: Sequence[int] | None = None, *,
                     flags: int | None = None) -> np.ndarray:
    """Read one frame image that must decode whole: BGR ``(H, W, 3)`` uint8 (or what ``flags``
    asks of ``cv2.imdecode``, e.g. ``cv2.IMREAD_GRAYSCALE``).

    Args:
        path: the image file.
        size_hw: the clip's ``(H, W)``; a frame of another size is refused.
        flags: ``cv2.imdecode`` flags (default ``IMREAD_COLOR``).

    Raises:
        VideoError: one line naming the file: unreadable, empty, truncated (no end marker), not
            decodable, or of another size than the clip's.
    """
    import cv2

    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise VideoError(f"{path}: cannot read frame image ({err.strerror})") from None
    problem = truncation_problem(memoryview(data), path)
    if problem is not None:
        raise VideoError(f"{path}: {problem}")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR if flags is None else flags)
    if image is None:
        raise VideoError(f"{path}: cannot decode frame image (corrupt or not an image)")
    if size_hw is not None and tuple(image.shape[:2]) != tuple(size_hw):
        raise VideoError(f"{path}: frame is {image.shape[1]}x{image.shape[0]}, the clip's frames "
                         f"are {size_hw[1]}x{size_hw[0]}")
    return image


def open_video(path: str | Path, video_id: str | None = None) -> VideoSource:
    """Open a video file or a folder of frame images.

    Args:
        path: a video file (any container OpenCV reads) or a folder of images.
        video_id: storage key; defaults to the file stem or the folder name.

    Raises:
        VideoError: the path does not exist, is a folder without images, or an unknown file type.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such video file or frame folder")
    if p.is_dir():
        images = sorted((q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES),
                        key=lambda q: natural_key(q.name))
        if not images:
            raise VideoError(f"{p}: frame folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return VideoSource.from_frame_paths(video_id or p.name, images)
    if p.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(f"{p}: not a video file (expected one of {', '.join(VIDEO_SUFFIXES)})")
    return VideoSource(video_id=video_id or p.stem, path=p)


def list_videos(folder: str | Path) -> list[VideoSource]:
    """Every video file directly inside ``folder`` (sorted by name), as sources."""
    d = Path(folder)
    if not d.is_dir():
        raise VideoError(f"{d}: not a folder")
    files = sorted((q for q in d.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES),
                   key=lambda q: natural_key(q.name))
    return [VideoSource(video_id=q.stem, path=q) for q in files]


_END = object()


class _Raised:
    def __init__(self, err: BaseException):
        self.err = err


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Decoding (OpenCV releases the GIL) then overlaps with model work in the caller. An exception in
    the producer is re-raised in the consumer at the position it happened; when the consumer stops
    early, the producer is told to stop and is joined.

    Example:
        >>> list(prefetch(range(3)))
        [0, 1, 2]
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    return
        except BaseException as err:  # handed to the consumer, which re-raises it
            put(_Raised(err))
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # release the decoder in the thread that used it
                close()
        put(_END)

    thread = threading.Thread(target=produce, name="hmtools-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.err
            yield item
    finally:
        stop.set()
        thread.join(timeout=5.0)
