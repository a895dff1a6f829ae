"""The mask store: a folder of per-video JSON documents, written atomically under a per-video lock.

Layout::

    <root>/hmstore.json            marker: {"format": "hmtools-store", "version": 1}
    <root>/videos/<video_id>.json  one document per video (the source of truth)
    <root>/locks/<video_id>.lock   advisory lock files (flock), safe to delete when idle
    <root>/index/                  derived Parquet index (hmtools.store.index), rebuildable

Every write validates the document, then writes it with :func:`hmtools.atomic.atomic_write_text`
(a temporary file in the same folder, fsynced, renamed over the old one, the folder fsynced), so a
crash (even ``kill -9``) leaves either the old or the new document, never half of one. The
temporary file an interrupted write leaves (``videos/.<id>.json.<random>.tmp``) is removed by the
next write to that video, and by ``hmtools validate --fix`` (:meth:`MaskStore.remove_leftovers`):
both hold the video's lock, which every writer holds while its temporary file exists, so a live
writer's file is never touched.

Example:
    >>> store = MaskStore.create("data/store")
    >>> with store.edit("01__10", create=lambda: VideoDoc.new("01__10", (256, 455), names)) as doc:
    ...     doc.set_pseudo(0, 1, PseudoMask(rle))
"""

from __future__ import annotations

import contextlib
import glob
import json
from pathlib import Path
from typing import Callable, Iterator

from hmtools.atomic import TMP_SUFFIX, atomic_write_text, make_dirs, removed_on_error
from hmtools.errors import StoreError
from hmtools.store.doc_json import doc_from_json, doc_to_json
from hmtools.store.document import VideoDoc
from hmtools.store.records import check_video_id

MARKER = "hmstore.json"
FORMAT = {"format": "hmtools-store", "version": 1}


class MaskStore:
    """A mask store rooted at a folder. Open with :meth:`open`, make with :meth:`create`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, *, exist_ok: bool = True) -> "MaskStore":
        """Create (or, with ``exist_ok``, open) a store at ``root``."""
        root = Path(root)
        if (root / MARKER).exists():
            if not exist_ok:
                raise StoreError(f"{root}: a mask store already exists here")
            return cls.open(root)
        if root.exists() and any(p.name != MARKER for p in root.iterdir()):
            raise StoreError(f"{root}: folder is not empty and is not a mask store")
        with removed_on_error() as created:  # a failed create (a full disk, Ctrl-C) leaves no folder it made
            for sub in ("videos", "locks", "index"):
                make_dirs(root / sub, created)
            atomic_write_text(root / MARKER, json.dumps(FORMAT) + "\n")
        return cls(root)

    @classmethod
    def open(cls, root: str | Path) -> "MaskStore":
        """Open an existing store; StoreError if ``root`` is not one."""
        root = Path(root)
        marker = root / MARKER
        if not marker.is_file():
            raise StoreError(f"{root}: not a mask store (no {MARKER}); create one with `hmtools init {root}`"
                             if root.exists() else f"{root}: no such mask store")
        try:
            fmt = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            raise StoreError(f"{marker}: unreadable store marker ({err})") from None
        if not isinstance(fmt, dict) or fmt.get("format") != FORMAT["format"]:
            raise StoreError(f"{marker}: not an hmtools store marker")
        if fmt.get("version") != FORMAT["version"]:
            raise StoreError(f"{marker}: store version {fmt.get('version')} is not supported "
                             f"(this hmtools reads {FORMAT['version']})")
        for sub in ("videos", "locks", "index"):
            (root / sub).mkdir(exist_ok=True)
        return cls(root)

    @classmethod
    def open_or_create(cls, root: str | Path) -> "MaskStore":
        return cls.open(root) if (Path(root) / MARKER).exists() else cls.create(root)

    # -- paths ------------------------------------------------------------------------------
    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    def path(self, video_id: str) -> Path:
        return self.videos_dir / f"{check_video_id(video_id)}.json"

    def video_ids(self) -> list[str]:
        """Ids of every document, sorted."""
        return sorted(p.stem for p in self.videos_dir.glob("*.json"))

    def __contains__(self, video_id: str) -> bool:
        return self.path(video_id).is_file()

    def __len__(self) -> int:
        return len(self.video_ids())

    # -- reading ----------------------------------------------------------------------------
    def read(self, video_id: str) -> VideoDoc:
        """Load and validate one document."""
        path = self.path(video_id)
        if not path.is_file():
            raise StoreError(f"{path}: no document for video {video_id!r} in store {self.root}")
        doc = read_doc_file(path)
        if doc.video_id != video_id:
            raise StoreError(f"{path}: holds video_id {doc.video_id!r}, expected {video_id!r}")
        return doc

    def get(self, video_id: str) -> VideoDoc | None:
        return self.read(video_id) if video_id in self else None

    def iter_docs(self, video_ids: list[str] | None = None) -> Iterator[VideoDoc]:
        """Documents one at a time (a store of 3,000 videos never sits in memory at once)."""
        for vid in video_ids if video_ids is not None else self.video_ids():
            yield self.read(vid)

    # -- writing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, video_id: str, *, wait: bool = True) -> Iterator[None]:
        """Exclusive advisory lock on one video (blocks until free, or with ``wait=False`` raises
        ``BlockingIOError`` when it is held). Not re-entrant."""
        import fcntl

        lock_path = self.root / "locks" / f"{check_video_id(video_id)}.lock"
        lock_path.parent.mkdir(exist_ok=True)
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def write(self, doc: VideoDoc, *, _locked: bool = False) -> Path:
        """Validate ``doc`` and replace its file atomically (takes the video's lock); leftover
        temporary files of earlier, interrupted writes of this video are removed."""
        doc.check()
        text = json.dumps(doc_to_json(doc), separators=(",", ":"), allow_nan=False)
        path = self.path(doc.video_id)
        with contextlib.nullcontext() if _locked else self.lock(doc.video_id):
            self._remove_temporaries_locked(doc.video_id)
            atomic_write_text(path, text)
        return path

    def _remove_temporaries_locked(self, video_id: str) -> list[Path]:
        """Remove ``video_id``'s temporary files; the caller holds its lock, so they are stale."""
        prefix = f".{video_id}.json."
        removed = []
        for p in self.videos_dir.glob(f"{glob.escape(prefix)}*{TMP_SUFFIX}"):
            middle = p.name[len(prefix):-len(TMP_SUFFIX)]
            if "." not in middle:  # .<id>.json.<random>.tmp of this id, not of "<id>.json.x"
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
        return removed

    def leftovers(self) -> list[Path]:
        """Temporary files of interrupted document writes (``videos/.<id>.json.<random>.tmp``)."""
        return sorted(p for p in self.videos_dir.glob(f".*.json.*{TMP_SUFFIX}") if p.is_file())

    def remove_leftovers(self) -> tuple[list[Path], list[Path]]:
        """Remove every leftover temporary file whose video is not being written now.

        Returns:
            ``(removed, in_use)``: the files removed, and those whose video's lock is held by a
            live writer (left alone; run again later).
        """
        removed, in_use = [], []
        for p in self.leftovers():
            video_id = p.name[1:].rsplit(".json.", 1)[0]
            try:
                with self.lock(video_id, wait=False):
                    removed += self._remove_temporaries_locked(video_id)
            except BlockingIOError:
                in_use.append(p)
            except StoreError:  # not a valid video id: no writer of ours made it
                p.unlink(missing_ok=True)
                removed.append(p)
        return sorted(set(removed)), in_use

    @contextlib.contextmanager
    def edit(self, video_id: str, create: Callable[[], VideoDoc] | None = None) -> Iterator[VideoDoc]:
        """Read-modify-write one document under its lock; nothing is written if the body raises.

        Args:
            video_id: the document to edit.
            create: called to make the document when it does not exist yet; without it a missing
                document is a StoreError.
        """
        with self.lock(video_id):
            if video_id in self:
                doc = self.read(video_id)
            elif create is not None:
                doc = create()
                if doc.video_id != video_id:
                    raise StoreError(f"create() made video {doc.video_id!r}, expected {video_id!r}")
            else:
                raise StoreError(f"{self.path(video_id)}: no document for video {video_id!r}")
            yield doc
            self.write(doc, _locked=True)

    def delete(self, video_id: str) -> None:
        with self.lock(video_id):
            self.path(video_id).unlink(missing_ok=True)


def read_doc_file(path: Path) -> VideoDoc:
    """Load and validate one document file (corrupt or truncated JSON -> StoreError naming it)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise StoreError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise StoreError(f"{path}: corrupt or truncated JSON ({err})") from None
    return doc_from_json(data, str(path))


