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

import inspect
from pathlib import Path

from hmtools.datasets.sample import Dataset, Defect, Sample

DATASET_KINDS = ("finediving", "synthetic", "mtlaqa", "aqa7")

__all__ = ["DATASET_KINDS", "Dataset", "Defect", "Sample", "open_dataset"]


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
    if kind in ("finediving", "synthetic"):
        from hmtools.datasets.finediving import read_finediving as reader
    elif kind == "mtlaqa":
        from hmtools.datasets.mtlaqa import read_mtlaqa as reader
    elif kind == "aqa7":
        from hmtools.datasets.aqa7 import read_aqa7 as reader
    else:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {DATASET_KINDS}")
    try:
        inspect.signature(reader).bind(root, on_defect=on_defect, **paths)
    except TypeError as err:
        raise ValueError(f"{kind}: {err}") from None
    return reader(root, on_defect=on_defect, **paths)
