"""The derived Parquet index of a mask store: statistics and training loads without parsing JSON.

Layout (all under ``<store>/index/``, rebuildable at any time from the documents)::

    masks.parquet   a row per (video, frame, object, layer) holding a mask
    frames.parquet  a row per (video, frame) where at least one layer holds a mask
    manifest.json   per document the (mtime_ns, ctime_ns, size, inode) it was indexed at

:func:`build_index` re-reads only documents whose stat changed (a rewrite through
:class:`~hmtools.store.MaskStore` always makes a new inode, so even a same-size rewrite in the same
clock tick is seen) plus new ones, drops the rows of deleted ones and keeps every other row. The
three files are replaced atomically one after the other and carry one random *generation* id: a
crash between the replacements leaves files of different generations, which the next build detects
and answers with a full rebuild.

Readers (:func:`load_frames_index`, :func:`load_masks_index`) refresh a stale index first by
default (``refresh=True``, printing nothing); with ``refresh=False`` a stale or missing index is a
:class:`~hmtools.errors.StoreError` that says to run ``hmtools index``.

Example:
    >>> stats = build_index(MaskStore.open("data/store"))      # doctest: +SKIP
    >>> frames = load_frames_index(store, columns=["video_id", "frame_idx", "area"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from hmtools.atomic import atomic_path, atomic_write_text
from hmtools.errors import StoreError
from hmtools.store.index_rows import doc_rows

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from hmtools.store.store import MaskStore

INDEX_VERSION = 1
MASKS_FILE = "masks.parquet"
FRAMES_FILE = "frames.parquet"
MANIFEST_FILE = "manifest.json"
GENERATION_KEY = b"hmtools.index.generation"
# Below this many changed documents a process pool costs more than it saves.
MIN_DOCS_PER_WORKER = 64
CHUNK_DOCS = 40


def _schemas():
    import pyarrow as pa

    meta = [("dataset", pa.string()), ("action_type", pa.string()), ("split", pa.string()),
            ("synchronized", pa.bool_()), ("event", pa.string())]
    masks = pa.schema([
        ("video_id", pa.string()), ("frame_idx", pa.int32()), ("frame_name", pa.string()),
        ("object_id", pa.int16()), ("layer", pa.string()), ("counts", pa.binary()),
        ("area", pa.int32()), ("bbox_x", pa.int32()), ("bbox_y", pa.int32()), ("bbox_w", pa.int32()),
        ("bbox_h", pa.int32()), ("height", pa.int32()), ("width", pa.int32()),
        ("score", pa.float32()), ("review", pa.bool_()), ("reasons", pa.string()),
        ("status", pa.string()), ("stale", pa.bool_()), *meta])
    frames = pa.schema([
        ("video_id", pa.string()), ("frame_idx", pa.int32()), ("frame_name", pa.string()),
        ("height", pa.int32()), ("width", pa.int32()), ("n_objects", pa.int16()),
        ("area", pa.int32()), ("fg_ratio", pa.float32()), ("source", pa.string()),
        ("pseudo_area", pa.int32()), ("corrected_area", pa.int32()), ("flagged", pa.bool_()), *meta])
    return masks, frames


@dataclass
class IndexStats:
    """What one :func:`build_index` call did.

    Attributes:
        n_docs: documents in the store.
        added / changed / removed: video ids re-read (new, modified) or dropped (deleted).
        full: whether the whole index was rebuilt (no usable previous index).
        n_mask_rows / n_frame_rows: rows of masks.parquet / frames.parquet after the build.
        seconds: wall time.
        workers: processes used to parse documents.
    """

    n_docs: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full: bool = False
    n_mask_rows: int = 0
    n_frame_rows: int = 0
    seconds: float = 0.0
    workers: int = 1

    @property
    def up_to_date(self) -> bool:
        return not (self.added or self.changed or self.removed or self.full)

    def summary(self) -> str:
        """One line for the terminal."""
        if self.up_to_date:
            return (f"index up to date: {self.n_docs} documents, {self.n_frame_rows} frames with masks, "
                    f"{self.n_mask_rows} masks")
        how = "full rebuild" if self.full else "incremental"
        return (f"index {how}: {len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.removed)} removed of {self.n_docs} documents -> {self.n_frame_rows} frames "
                f"with masks, {self.n_mask_rows} masks ({self.seconds:.1f} s, {self.workers} worker(s))")


# -- scanning ------------------------------------------------------------------------------------

def _scan(videos_dir: Path) -> dict[str, list[int]]:
    """``video_id -> [mtime_ns, ctime_ns, size, inode]`` of every document (temp files skipped)."""
    out = {}
    try:
        entries = os.scandir(videos_dir)
    except FileNotFoundError:
        return out
    with entries:
        for e in entries:
            if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file():
                st = e.stat()
                out[e.name[:-5]] = [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]
    return out


def _read_manifest(index_dir: Path) -> dict | None:
    """The manifest if it is readable and matches both Parquet files' generation, else None."""
    import pyarrow.parquet as pq

    try:
        manifest = json.loads((index_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != INDEX_VERSION:
        return None
    gen = str(manifest.get("generation", "")).encode()
    for name in (MASKS_FILE, FRAMES_FILE):
        try:
            meta = pq.read_schema(index_dir / name).metadata or {}
        except (OSError, ValueError):
            return None
        if meta.get(GENERATION_KEY) != gen:
            return None
    if not isinstance(manifest.get("docs"), dict):
        return None
    return manifest


@dataclass(frozen=True)
class _Plan:
    scan: dict
    manifest: dict | None
    added: list[str]
    changed: list[str]
    removed: list[str]


def _plan(store: "MaskStore", full: bool = False) -> _Plan:
    scan = _scan(store.videos_dir)
    manifest = None if full else _read_manifest(store.index_dir)
    old = manifest["docs"] if manifest else {}
    added = sorted(v for v in scan if v not in old)
    changed = sorted(v for v in scan if v in old and old[v] != scan[v])
    removed = sorted(v for v in old if v not in scan)
    return _Plan(scan, manifest, added, changed, removed)


def index_is_current(store: "MaskStore") -> bool:
    """True when the index exists and no document was added, changed or removed since it was built."""
    p = _plan(store)
    return p.manifest is not None and not (p.added or p.changed or p.removed)


def _tables_of(paths: Sequence[str]) -> tuple["pa.Table", "pa.Table"]:
    """Parse documents and return their (masks, frames) tables. Runs in worker processes."""
    import pyarrow as pa

    from hmtools.store.store import read_doc_file

    masks_schema, frames_schema = _schemas()
    m_all = {n: [] for n in masks_schema.names}
    f_all = {n: [] for n in frames_schema.names}
    for path in paths:
        doc = read_doc_file(Path(path))
        if doc.video_id != Path(path).stem:
            raise StoreError(f"{path}: holds video_id {doc.video_id!r}, expected {Path(path).stem!r}")
        m, f = doc_rows(doc)
        for k in m_all:
            m_all[k].extend(m[k])
        for k in f_all:
            f_all[k].extend(f[k])
    return (pa.Table.from_pydict(m_all, schema=masks_schema),
            pa.Table.from_pydict(f_all, schema=frames_schema))


# -- building ------------------------------------------------------------------------------------

def build_index(store: "MaskStore", *, workers: int | None = None, progress: bool = True,
                full: bool = False) -> IndexStats:
    """Bring ``<store>/index/`` up to date, re-reading only new and changed documents.

    Args:
        store: the mask store.
        workers: processes that parse documents; ``None`` = up to 2 (the machines we target),
            and 1 when fewer than 64 documents changed.
        progress: show a tqdm bar on stderr.
        full: ignore the previous index and re-read every document.

    Returns:
        :class:`IndexStats`.

    Raises:
        StoreError: naming the first corrupt document; the previous index is then left as it was.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    plan = _plan(store, full=full)
    stats = IndexStats(n_docs=len(plan.scan), added=plan.added, changed=plan.changed,
                       removed=plan.removed, full=plan.manifest is None)
    index_dir = store.index_dir
    if not stats.full and stats.up_to_date:
        stats.n_mask_rows = pq.read_metadata(index_dir / MASKS_FILE).num_rows
        stats.n_frame_rows = pq.read_metadata(index_dir / FRAMES_FILE).num_rows
        return stats
    todo = plan.added + plan.changed
    if stats.full:
        todo = sorted(plan.scan)
    paths = [str(store.videos_dir / f"{v}.json") for v in todo]
    chunks = [paths[i:i + CHUNK_DOCS] for i in range(0, len(paths), CHUNK_DOCS)]
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(paths) // MIN_DOCS_PER_WORKER if workers is None else len(chunks)))
    stats.workers = n_workers
    parts = list(_parse_chunks(chunks, n_workers, progress, total=len(paths)))

    masks_schema, frames_schema = _schemas()
    new_m = [p[0] for p in parts]
    new_f = [p[1] for p in parts]
    if not stats.full:
        drop = pa.array(plan.changed + plan.removed, type=pa.string())
        for name, acc in ((MASKS_FILE, new_m), (FRAMES_FILE, new_f)):
            old = _read_parquet(index_dir / name)
            if len(drop):
                old = old.filter(pc.invert(pc.is_in(old["video_id"], value_set=drop)))
            acc.insert(0, old.replace_schema_metadata(None))
    # Rows stay grouped by document in frame order; re-read documents move to the end (a
    # global sort would cost more than the rest of an incremental update).
    masks = pa.concat_tables(new_m) if new_m else masks_schema.empty_table()
    frames = pa.concat_tables(new_f) if new_f else frames_schema.empty_table()
    generation = uuid.uuid4().hex
    meta = {GENERATION_KEY: generation.encode()}
    _write_parquet(masks.replace_schema_metadata(meta), index_dir / MASKS_FILE)
    _write_parquet(frames.replace_schema_metadata(meta), index_dir / FRAMES_FILE)
    manifest = {"version": INDEX_VERSION, "generation": generation, "docs": plan.scan}
    atomic_write_text(index_dir / MANIFEST_FILE, json.dumps(manifest, separators=(",", ":")))
    stats.n_mask_rows, stats.n_frame_rows = masks.num_rows, frames.num_rows
    stats.seconds = time.perf_counter() - t0
    return stats


def _parse_chunks(chunks: list[list[str]], workers: int, progress: bool, total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="doc", desc="index", disable=not progress or total == 0)
    try:
        if workers <= 1:
            for chunk in chunks:
                yield _tables_of(chunk)
                bar.update(len(chunk))
            return
        from hmtools.workers import process_pool

        with process_pool(workers) as pool:
            for chunk, result in zip(chunks, pool.map(_tables_of, chunks)):
                yield result
                bar.update(len(chunk))
    finally:
        bar.close()


def _write_parquet(table: "pa.Table", path: Path) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 17)


# -- reading -------------------------------------------------------------------------------------

def _load(store: "MaskStore", name: str, columns, refresh: bool, progress: bool) -> "pa.Table":
    if refresh:
        build_index(store, progress=progress)
    elif not index_is_current(store):
        raise StoreError(f"{store.index_dir}: the index is missing or older than the documents; "
                         f"run `hmtools index --store {store.root}`")
    return _read_parquet(store.index_dir / name, columns)


def _read_parquet(path: Path, columns: Sequence[str] | None = None) -> "pa.Table":
    # ParquetFile, not pq.read_table: the latter goes through pyarrow.dataset, which imports pandas.
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as fh:
        table = fh.read(columns=list(columns) if columns else None)
    return table.replace_schema_metadata(None)


def load_frames_index(store: "MaskStore", *, columns: Sequence[str] | None = None, refresh: bool = True,
                      progress: bool = False) -> "pa.Table":
    """frames.parquet as a ``pyarrow.Table`` (``.to_pandas()`` for a DataFrame).

    Args:
        columns: subset of columns to read (faster); ``None`` = all.
        refresh: rebuild a stale index first (only changed documents are read); with False a stale
            index raises StoreError.
    """
    return _load(store, FRAMES_FILE, columns, refresh, progress)


def load_masks_index(store: "MaskStore", *, columns: Sequence[str] | None = None, refresh: bool = True,
                     progress: bool = False) -> "pa.Table":
    """masks.parquet as a ``pyarrow.Table``: one row per (video, frame, object, layer) with RLE counts.

    Example (RLEs of one frame without parsing JSON):
        >>> t = load_masks_index(store, columns=["video_id", "frame_idx", "counts", "height", "width"])  # doctest: +SKIP

    Many masks are decoded fastest in one batch (checked and parsed at once, then one mask at a
    time; about 5x pycocotools' rate, ``benchmarks/bench_store.py``):
        >>> sizes = zip(t["height"].to_pylist(), t["width"].to_pylist())                     # doctest: +SKIP
        >>> for mask in hmtools.rle.decode_counts([c.decode() for c in t["counts"].to_pylist()], list(sizes)):
        ...     ...                                                                            # doctest: +SKIP
    """
    return _load(store, MASKS_FILE, columns, refresh, progress)
