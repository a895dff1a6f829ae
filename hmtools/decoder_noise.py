"""Capture FFmpeg's and OpenCV's decoder messages from stderr and summarise them per video.

FFmpeg (inside OpenCV) and OpenCV's own AVI parser write straight to file descriptor 2, so a
damaged video prints lines such as ``[msmpeg4 @ 0x55…] ac-tex damaged at 6 31`` or
``Unexpected element. Expected: idx1. Got: .`` between the progress bars. Silencing FFmpeg
(``OPENCV_FFMPEG_LOGLEVEL=-8``) misses OpenCV's parser, and pointing fd 2 elsewhere while a video
decodes would also swallow tqdm's bars drawn by the main thread. So :func:`capture_decoder_noise`
routes fd 2 through a pipe: a reader thread counts the decoder's lines into a :class:`DecoderNoise`
and passes every other byte through, unchanged and at once, to the real stderr.

- fd 2 is restored on exit, also on exceptions; captures may overlap (nested, or in several
  threads): one pipe serves them all, and each counts every decoder line written while it is open
  (fd 2 belongs to the process, so overlapping videos cannot be told apart).
- The reader thread always drains the pipe, so a writer never blocks on a full pipe longer than
  the real stderr makes it wait.
- Where fd 2 cannot be duplicated (no fd 2, an exotic platform) the capture is a no-op and the
  messages print as before; ``DecoderNoise.captured`` says which happened.

Example:
    >>> noise = DecoderNoise("dive.avi")
    >>> with capture_decoder_noise(noise):          # doctest: +SKIP
    ...     frames = decode_all("dive.avi")
    >>> noise.summary()                             # doctest: +SKIP
    'dive.avi: 12 damaged frames (ac-tex damaged at 6 31)'
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

# FFmpeg's log prefix: ``[h264 @ 0x55d1c0a3e2c0] message`` (``[mov,mp4,m4a,3gp,3g2,mj2 @ 0x…]``).
_FFMPEG_PREFIX = re.compile(r"^\[[^\]\[@]{1,80} @ 0x[0-9a-fA-F]+\] ?(.*)$")
# OpenCV's warnings about opening a video: ``[ WARN:0@0.009] global cap.cpp:212 open VIDEOIO(...``.
_OPENCV_LOG = re.compile(r"^\[ ?(WARN|ERROR|INFO)[^\]]*\] global \S*(cap|videoio|container_avi)\S* ")
# Unprefixed lines: OpenCV's AVI parser, and FFmpeg's message body after an empty prefix line.
_BARE = re.compile(r"^(Unexpected element\. |Failed to parse avi|error while decoding |concealing \d+ )")
# One per damaged frame: FFmpeg's error-concealment report (msmpeg4/mpeg4 vs. h264 and others).
_FRAME_DAMAGED = re.compile(r"^(Error at MB: \d+|concealing \d+ DC, \d+ AC, \d+ MV errors)")
# The container cannot be read (whole video, not one frame).
_CONTAINER = re.compile(r"(moov atom not found|Invalid data found when processing input|"
                        r"Unexpected element\.|Failed to parse avi|partial file|"
                        r"could not find codec parameters|Format .* detected only with low score)")
_HEX = re.compile(r"0x[0-9a-fA-F]+")


@dataclass(eq=False)  # sinks are told apart by identity
class DecoderNoise:
    """The decoder messages of one video, counted instead of printed.

    Attributes:
        video: how the summary names the video (its file name or id).
        captured: whether stderr was captured (``False`` where fd 2 could not be duplicated).
        lines: decoder lines seen.
        damaged_frames: frames the decoder reported damaged (one concealment report each).
        container: container problems, message -> count (``"moov atom not found"``).
        kinds: every decoder message with numbers and addresses removed -> count.
        first_damage: the first message about damaged data, for the summary line.
    """

    video: str
    captured: bool = False
    lines: int = 0
    damaged_frames: int = 0
    container: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    first_damage: str | None = None

    def add(self, message: str) -> None:
        """Count one decoder message (its prefix already removed)."""
        message = message.strip()
        self.lines += 1
        if not message:
            return
        self.kinds[_HEX.sub("0x", re.sub(r"\d+", "N", message))] += 1
        if _FRAME_DAMAGED.match(message):
            self.damaged_frames += 1
        m = _CONTAINER.search(message)
        if m:
            self.container[m.group(1)] += 1
        elif self.first_damage is None and not _OPENCV_LOG.match(message):
            self.first_damage = message

    def summary(self) -> str | None:
        """One line naming the video and its kind of problem, or ``None`` when it decoded quietly.

        Example:
            >>> n = DecoderNoise("a.avi"); n.add("ac-tex damaged at 6 31"); n.add("Error at MB: 1525")
            >>> n.summary()
            'a.avi: 1 damaged frame (ac-tex damaged at 6 31)'
        """
        if not self.lines:
            return None
        parts = []
        if self.damaged_frames:
            s = "" if self.damaged_frames == 1 else "s"
            parts.append(f"{self.damaged_frames} damaged frame{s}"
                         + (f" ({self.first_damage})" if self.first_damage else ""))
        if self.container:
            parts.append("unreadable container (" + "; ".join(self.container) + ")")
        if not parts:
            example = f" (first: {self.first_damage})" if self.first_damage else ""
            parts.append(f"{self.lines} decoder message{'' if self.lines == 1 else 's'}{example}")
        return f"{self.video}: " + ", ".join(parts)


class _LineSorter:
    """Splits the bytes written to fd 2 into decoder lines (counted) and the rest (passed on).

    Bytes up to a ``\\n`` or ``\\r`` are decided at once; an unfinished piece is passed on at once
    too (tqdm redraws its bar without a newline) unless it may be the start of a decoder line, in
    which case it waits for its end (or for :meth:`flush`).
    """

    def __init__(self, on_decoder_line, write_through):
        self._count = on_decoder_line
        self._write = write_through
        self._held = b""
        self._after_empty_prefix = False  # FFmpeg writes "[codec @ 0x…] \n" then the message body

    def feed(self, data: bytes) -> None:
        buf = self._held + data
        self._held = b""
        start = 0
        for m in re.finditer(rb"[\r\n]", buf):
            self._piece(buf[start:m.end()])
            start = m.end()
        rest = buf[start:]
        if rest:
            if self._may_be_decoder(rest):
                self._held = rest
            else:
                self._write(rest)

    def flush(self) -> None:
        """Decide a held unfinished piece now (the pipe went quiet or closed)."""
        if self._held:
            held, self._held = self._held, b""
            self._piece(held)

    def _may_be_decoder(self, piece: bytes) -> bool:
        text = piece.decode("utf-8", "replace")
        return (text.startswith("[") or self._after_empty_prefix
                or any(p.startswith(text) or text.startswith(p) for p in
                       ("Unexpected element", "Failed to parse avi", "error while decoding", "concealing")))

    def _piece(self, piece: bytes) -> None:
        text = piece.decode("utf-8", "replace").rstrip("\r\n")
        after_empty, self._after_empty_prefix = self._after_empty_prefix, False
        m = _FFMPEG_PREFIX.match(text)
        if m:
            self._count(m.group(1))
            self._after_empty_prefix = not m.group(1).strip()
        elif _OPENCV_LOG.match(text) or _BARE.match(text) or (after_empty and text.strip()):
            self._count(text)
        elif not text and after_empty:
            self._after_empty_prefix = True
        else:
            self._write(piece)


class _Router:
    """fd 2 -> pipe -> reader thread -> (decoder lines: active sinks; the rest: the real stderr)."""

    def __init__(self):
        self.sinks: list[DecoderNoise] = []
        self.sinks_lock = threading.Lock()  # the reader takes only this lock, never _STATE_LOCK
        self.barriers: dict[bytes, threading.Event] = {}
        _flush_python_stderr()
        self.saved_fd = os.dup(2)  # OSError here: the caller falls back to a no-op
        try:
            self.read_fd, write_fd = os.pipe()
        except OSError:
            os.close(self.saved_fd)
            raise
        try:
            os.dup2(write_fd, 2)
        finally:
            os.close(write_fd)  # fd 2 is now the pipe's only write end: restoring it sends EOF
        self.sorter = _LineSorter(self._count, self._write_through)
        self.thread = threading.Thread(target=self._read, name="hmtools-stderr", daemon=True)
        self.thread.start()

    def _count(self, message: str) -> None:
        token = message.strip().encode()
        if token in self.barriers:
            self.barriers[token].set()
            return
        with self.sinks_lock:
            for sink in self.sinks:
                sink.add(message)

    def _write_through(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.saved_fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # the real stderr is gone: nowhere to put it
            view = view[n:]

    def _read(self) -> None:
        import select

        poll = hasattr(select, "poll") and os.name == "posix"
        try:
            while True:
                if poll and self.sorter._held and not select.select([self.read_fd], [], [], 0.1)[0]:
                    self.sorter.flush()  # an unfinished line waited 0.1 s: decide it now
                    continue
                data = os.read(self.read_fd, 65536)
                if not data:
                    break
                self.sorter.feed(data)
            self.sorter.flush()
        except Exception as err:  # never print to fd 2 from here: it is the pipe we read
            self._write_through(f"hmtools: stderr capture stopped: {err!r}\n".encode())
            while os.read(self.read_fd, 65536):  # keep draining, so writers never block
                pass
        finally:
            os.close(self.read_fd)

    def barrier(self, timeout: float = 5.0) -> None:
        """Wait until the reader has seen everything written to fd 2 before this call."""
        token = f"[hmtools @ 0x0] barrier-{uuid.uuid4().hex}".encode()
        event = threading.Event()
        self.barriers[token.split(b"] ", 1)[1]] = event
        try:
            os.write(2, token + b"\n")
            event.wait(timeout)
        finally:
            self.barriers.pop(token.split(b"] ", 1)[1], None)

    def close(self) -> None:
        _flush_python_stderr()
        os.dup2(self.saved_fd, 2)  # closes the pipe's write end: the reader sees EOF
        self.thread.join(timeout=10.0)
        os.close(self.saved_fd)


_STATE_LOCK = threading.Lock()
_ROUTER: _Router | None = None


def _flush_python_stderr() -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()


def settle() -> None:
    """Wait until every decoder line written to fd 2 so far is counted (no-op without a capture).

    Call it before reading a :class:`DecoderNoise` while its capture is still open: the reader
    thread may not have reached the last lines yet.
    """
    router = _ROUTER
    if router is not None:
        router.barrier()


@contextlib.contextmanager
def capture_decoder_noise(noise: DecoderNoise) -> Iterator[DecoderNoise]:
    """Count decoder messages written to fd 2 into ``noise`` while the block runs; everything
    else written to stderr passes through unchanged.

    Sets ``noise.captured``; where fd 2 cannot be redirected the block runs uncaptured.
    See the module docstring for overlapping captures.

    Example:
        >>> noise = DecoderNoise("a.avi")
        >>> with capture_decoder_noise(noise):
        ...     _ = os.write(2, b"[h264 @ 0x1f] error while decoding MB 3 4\\n")
        >>> noise.lines
        1
    """
    global _ROUTER
    with _STATE_LOCK:
        try:
            if _ROUTER is None:
                _ROUTER = _Router()
            else:
                _ROUTER.barrier()  # lines written before this capture began are not its own
            router = _ROUTER
        except OSError:
            router = None
        if router is not None:
            with router.sinks_lock:
                router.sinks.append(noise)
    noise.captured = router is not None
    try:
        yield noise
    finally:
        if router is not None:
            with _STATE_LOCK:
                if len(router.sinks) == 1:
                    _ROUTER = None
                    router.close()  # the reader drains the pipe to EOF before the join returns
                else:
                    router.barrier()  # lines written so far still count for this video
                with router.sinks_lock:
                    if noise in router.sinks:
                        router.sinks.remove(noise)
