"""Dataset adapters: FineDiving (and the synthetic set in its layout), MTL-AQA, AQA-7.

Each adapter turns a dataset's layout into :class:`Sample` records; everything downstream speaks
only that interface.

Example:
    >>> from hmtools.datasets import open_dataset
    >>> ds = open_dataset("finediving", "data/FineDiving", on_defect="warn")  # doctest: +SKIP
    >>> len(ds.samples("train")), len(ds.defects)  # doctest: +SKIP
    (2251, 0)
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import NamedTuple

from hmtools.datasets.sample import Dataset, Defect, Sample


class DatasetReader(NamedTuple):
    """One dataset kind: where its reader lives (imported when used) and how a training clip's
    frames are taken from its frame folders (``frame_sampling``: ``spread`` evenly over the clip,
    the ``first`` or the ``last`` ones; read by :mod:`fineparser.sampling`)."""

    module: str
    function: str
    frame_sampling: str


# The one list of dataset kinds: CLI choices, configuration checks (``fineparser.train_config``)
# and the trainer's frame sampling come from it.
DATASET_READERS: dict[str, DatasetReader] = {
    "finediving": DatasetReader("hmtools.datasets.finediving", "read_finediving", "spread"),
    "synthetic": DatasetReader("hmtools.datasets.finediving", "read_finediving", "spread"),  # synth's layout
    "mtlaqa": DatasetReader("hmtools.datasets.mtlaqa", "read_mtlaqa", "last"),
    "aqa7": DatasetReader("hmtools.datasets.aqa7", "read_aqa7", "first"),
}
DATASET_KINDS = tuple(DATASET_READERS)

__all__ = ["DATASET_KINDS", "DATASET_READERS", "Dataset", "DatasetReader", "Defect", "Sample", "open_dataset"]


def open_dataset(kind: str, root: str | Path, *, on_defect: str = "warn", **paths) -> Dataset:
    """Read a dataset into samples.

    Args:
        kind: ``"finediving"``, ``"synthetic"`` (``hmtools synth`` output, FineDiving layout),
            ``"mtlaqa"`` or ``"aqa7"``.
        root: the dataset root; every path read must stay inside it.
        on_defect: ``"warn"`` skips defective clips (logged, listed in ``.defects``);
            ``"fail"`` raises :class:`~hmtools.errors.DatasetError` naming the first one.
        **paths: adapter options, e.g. ``frames_dir=``/``annotations_dir=`` (FineDiving),
            ``layout=``/``frames_dir=`` (MTL-AQA), ``frames_dir=``/``split_dir=``/``classes=``
            (AQA-7).

    Raises:
        ValueError: unknown kind or adapter option.
        DatasetError: see the adapters' ``read_*`` functions.
    """
    if kind not in DATASET_READERS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {DATASET_KINDS}")
    module, name, _ = DATASET_READERS[kind]
    reader = getattr(importlib.import_module(module), name)
    try:
        inspect.signature(reader).bind(root, on_defect=on_defect, **paths)
    except TypeError as err:
        raise ValueError(f"{kind}: {err}") from None
    return reader(root, on_defect=on_defect, **paths)
