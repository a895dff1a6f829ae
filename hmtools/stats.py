"""Mask statistics from the store's Parquet index (never the JSON documents): counts and foreground.

A *mask* is a frame with an effective mask, the paper's counting (FineDiving-HM: one mask per frame,
312,256 in all): the union of the frame's athletes, each taken from the corrected layer if it has
one and from the pseudo layer otherwise. A frame annotated as empty ("nobody there") counts as a
mask with foreground 0; a frame without any annotation does not count. ``layer="pseudo"`` or
``"corrected"`` counts the frames that hold a mask in that layer instead.

Groupings (each one counted on its own, so every grouping sums to the total):

==============  ====================================================================
action_type     FineDiving / MTL-AQA dive number (``107B``), AQA-7 class name
class           the same column as action_type (the AQA-7 adapters store the class there)
event           MTL-AQA ``3m``/``10m``, FineDiving ``individual``/``synchronized``, AQA-7 class
synchronized    ``individual`` / ``synchronized`` (``unknown`` when the document does not say)
split           ``train`` / ``test`` ...
layer           where the effective mask came from: ``pseudo``, ``corrected`` or ``mixed``
                (some athletes corrected, others not); with ``layer=pseudo|corrected`` that name
flagged         ``flagged`` when any pseudo mask of the frame is flagged for review
dataset         the dataset kind of the document
==============  ====================================================================

Example:
    >>> s = compute_stats(MaskStore.open("data/store"), by=["action_type", "synchronized"])  # doctest: +SKIP
    >>> print(stats_to_table(s))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from hmtools.atomic import atomic_savefig

if TYPE_CHECKING:  # pragma: no cover
    from hmtools.store.store import MaskStore

GROUPINGS = ("action_type", "class", "event", "synchronized", "split", "layer", "flagged", "dataset")
LAYER_CHOICES = ("effective", "pseudo", "corrected")
DEFAULT_BY = ("action_type", "synchronized", "split", "layer")
FORMATS = ("table", "csv", "markdown", "json")
NONE_LABEL = "(none)"

_NUMPY_TYPES = {"int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "float": "f4", "double": "f8"}
_AREA_COLUMN = {"effective": "area", "pseudo": "pseudo_area", "corrected": "corrected_area"}
_GROUP_COLUMN = {"action_type": "action_type", "class": "action_type", "event": "event",
                 "synchronized": "synchronized", "split": "split", "layer": "source",
                 "flagged": "flagged", "dataset": "dataset"}


@dataclass(frozen=True)
class Group:
    """One bar of a grouping: its label, how many masks, their mean foreground ratio (area / H*W)."""

    name: str
    masks: int
    fg_ratio: float | None


@dataclass(frozen=True)
class Stats:
    """Mask counts of one store.

    Attributes:
        total: masks counted (see the module docstring).
        layer: ``effective``, ``pseudo`` or ``corrected``.
        fg_ratio: mean foreground ratio over all counted masks (``None`` when there are none).
        by: grouping name -> groups, largest first (ties by name).
        n_videos: documents with at least one counted mask.
        flagged_only: only flagged frames were counted.
    """

    total: int
    layer: str
    fg_ratio: float | None
    by: dict[str, tuple[Group, ...]]
    n_videos: int
    flagged_only: bool = False

    def to_json(self) -> dict:
        """``{"total": int, "by": {grouping: {group: int}}}``."""
        return {"total": self.total, "by": {k: {g.name: g.masks for g in groups} for k, groups in self.by.items()}}


def compute_stats(store: "MaskStore", by: Sequence[str] = DEFAULT_BY, *, layer: str = "effective",
                  flagged_only: bool = False, refresh: bool = True) -> Stats:
    """Count masks per group from ``<store>/index/frames.parquet``.

    Args:
        store: the mask store.
        by: groupings, see :data:`GROUPINGS`.
        layer: ``effective`` (the paper's counting), ``pseudo`` or ``corrected``.
        flagged_only: count only frames with a pseudo mask flagged for review.
        refresh: bring the index up to date first (re-reads only changed documents); with False a
            stale index is a StoreError.

    Raises:
        ValueError: unknown grouping or layer.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from hmtools.store.index import load_frames_index

    bad = [b for b in by if b not in GROUPINGS]
    if bad:
        raise ValueError(f"unknown grouping {bad[0]!r}; choose from {', '.join(GROUPINGS)}")
    if layer not in LAYER_CHOICES:
        raise ValueError(f"layer must be one of {LAYER_CHOICES}, got {layer!r}")
    area_col = _AREA_COLUMN[layer]
    group_cols = {_GROUP_COLUMN[b] for b in by} - {"source"}
    cols = {"video_id", area_col, "height", "width", "flagged", *group_cols}
    if layer == "effective":
        cols |= {"fg_ratio", "source"}
    t = load_frames_index(store, columns=sorted(cols), refresh=refresh)
    mask = pc.is_valid(t[area_col])
    if flagged_only:
        mask = pc.and_kleene(mask, t["flagged"])  # null flagged -> null -> dropped by filter
    t = t.filter(mask)
    if layer == "effective":
        ratio = _to_numpy(t["fg_ratio"], np.float64)
    else:
        pixels = _to_numpy(t["height"], np.float64) * _to_numpy(t["width"], np.float64)
        ratio = _to_numpy(t[area_col], np.float64) / np.maximum(pixels, 1.0)
    total = t.num_rows
    groups = {}
    for name in by:
        if name == "layer" and layer != "effective":
            groups[name] = (Group(layer, total, float(ratio.mean())),) if total else ()
        else:
            groups[name] = _group(t[_GROUP_COLUMN[name]], ratio, name)
    overall = float(ratio.mean()) if total else None
    n_videos = pc.count_distinct(t["video_id"]).as_py() if total else 0
    return Stats(total=total, layer=layer, fg_ratio=overall, by=groups, n_videos=n_videos,
                 flagged_only=flagged_only)


def _to_numpy(column, dtype) -> np.ndarray:
    """A numeric column (Array or ChunkedArray) without nulls as a NumPy array.

    Read straight from the Arrow data buffer: pyarrow's ``to_numpy`` imports pandas.
    """
    if not len(column):
        return np.zeros(0, dtype)
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if arr.null_count:
        raise ValueError("_to_numpy: column has nulls")
    np_type = np.dtype(_NUMPY_TYPES[str(arr.type)])
    data = np.frombuffer(arr.buffers()[1], dtype=np_type, count=len(arr) + arr.offset)[arr.offset:]
    return data.astype(dtype, copy=False)


def _group(column, ratio: np.ndarray, grouping: str) -> tuple[Group, ...]:
    """Counts and mean ratio per distinct value (nulls are a group), largest first.

    Done with dictionary encoding and ``np.bincount``: pyarrow's ``group_by`` (like pyarrow scalars
    made from Python values and copying ``to_numpy``) imports pandas, a third of a second of
    ``hmtools stats``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(column):
        return ()
    if pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.int8())
    enc = pc.dictionary_encode(column, null_encoding="encode").combine_chunks()
    keys = enc.dictionary.to_pylist()
    idx = _to_numpy(enc.indices, np.int64)
    counts = np.bincount(idx, minlength=len(keys))
    sums = np.bincount(idx, weights=ratio, minlength=len(keys))
    rows = [Group(_label(grouping, keys[k]), int(counts[k]), float(sums[k] / counts[k]))
            for k in np.flatnonzero(counts)]
    return tuple(sorted(rows, key=lambda g: (-g.masks, g.name)))


def _label(grouping: str, key) -> str:
    if grouping == "synchronized":
        return {1: "synchronized", 0: "individual"}.get(key, "unknown")
    if grouping == "flagged":
        return "flagged" if key else "not flagged"
    return NONE_LABEL if key is None else str(key)


# -- renderers ------------------------------------------------------------------------------------

def _rows(stats: Stats):
    """(grouping, group, masks, share, fg_ratio) rows, groupings in order, then a total row."""
    for grouping, groups in stats.by.items():
        for g in groups:
            yield grouping, g.name, g.masks, g.masks / stats.total if stats.total else 0.0, g.fg_ratio
    yield "total", "all", stats.total, 1.0 if stats.total else 0.0, stats.fg_ratio


def _fmt_ratio(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def stats_to_table(stats: Stats) -> str:
    """A plain-text table per grouping for the terminal."""
    what = f"{stats.layer} masks" + (" (flagged only)" if stats.flagged_only else "")
    lines = [f"{stats.total:,} {what} in {stats.n_videos:,} videos, mean foreground ratio "
             f"{_fmt_ratio(stats.fg_ratio) or '-'}"]
    for grouping, groups in stats.by.items():
        width = max([len(grouping)] + [len(g.name) for g in groups])
        lines += ["", f"{grouping:<{width}}  {'masks':>9}  {'share':>6}  {'fg ratio':>8}",
                  f"{'-' * width}  {'-' * 9}  {'-' * 6}  {'-' * 8}"]
        for g in groups:
            share = 100.0 * g.masks / stats.total if stats.total else 0.0
            lines.append(f"{g.name:<{width}}  {g.masks:>9,}  {share:>5.1f}%  {_fmt_ratio(g.fg_ratio):>8}")
    return "\n".join(lines)


def stats_to_csv(stats: Stats) -> str:
    """CSV with columns ``grouping,group,masks,share,fg_ratio`` and a final ``total,all`` row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["grouping", "group", "masks", "share", "fg_ratio"])
    for grouping, name, n, share, ratio in _rows(stats):
        w.writerow([grouping, name, n, f"{share:.6f}", "" if ratio is None else f"{ratio:.6f}"])
    return buf.getvalue()


def stats_to_markdown(stats: Stats) -> str:
    """One Markdown table per grouping, headed by the total."""
    what = f"{stats.layer} masks" + (" (flagged only)" if stats.flagged_only else "")
    out = [f"**{stats.total:,}** {what} in {stats.n_videos:,} videos "
           f"(mean foreground ratio {_fmt_ratio(stats.fg_ratio) or '-'})."]
    for grouping, groups in stats.by.items():
        out += ["", f"| {grouping} | masks | share | fg ratio |", "|---|---:|---:|---:|"]
        for g in groups:
            share = 100.0 * g.masks / stats.total if stats.total else 0.0
            name = g.name.replace("|", "\\|")
            out.append(f"| {name} | {g.masks:,} | {share:.1f}% | {_fmt_ratio(g.fg_ratio)} |")
    return "\n".join(out)


def stats_to_json(stats: Stats) -> str:
    """``{"total": int, "by": {grouping: {group: int}}}`` as a JSON string."""
    return json.dumps(stats.to_json(), indent=2)


RENDERERS = {"table": stats_to_table, "csv": stats_to_csv, "markdown": stats_to_markdown, "json": stats_to_json}


def stats_to_png(stats: Stats, path: str | Path, grouping: str | None = None, *, title: str | None = None) -> Path:
    """A bar chart of one grouping like the paper's Fig. 4: bars sorted largest first, counts on top.

    Args:
        grouping: which of ``stats.by`` to plot; default the first one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouping = grouping or next(iter(stats.by), None)
    if grouping not in stats.by:
        raise ValueError(f"grouping {grouping!r} was not computed; have {list(stats.by)}")
    groups = stats.by[grouping]
    names = [g.name for g in groups]
    counts = [g.masks for g in groups]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.32 * len(groups) + 1.5), 4.2), dpi=150)
    bars = ax.bar(range(len(groups)), counts, color="#4C72B0", width=0.75)
    many = len(groups) > 12
    for rect, n in zip(bars, counts):
        ax.annotate(f"{n:,}", (rect.get_x() + rect.get_width() / 2, rect.get_height()), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom",
                    fontsize=6 if many else 8, rotation=90 if many else 0)
    ax.set_xticks(range(len(groups)), names, rotation=90 if many else 0, fontsize=7 if many else 9)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, max(counts, default=1) * (1.22 if many else 1.12))
    ax.set_xlabel(grouping.replace("_", " "))
    ax.set_ylabel("number of masks")
    ax.set_title(title or f"{stats.total:,} {stats.layer} masks by {grouping.replace('_', ' ')}", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path = Path(path)
    atomic_savefig(fig, path)
    plt.close(fig)
    return path
