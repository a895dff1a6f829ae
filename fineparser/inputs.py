"""Model inputs, shared by training, evaluation and prediction (owned by none of them).

* **Samples and the clip table**: :func:`open_samples` reads the configured dataset,
  :func:`build_table` samples every clip's window and gathers the configured masks
  (:mod:`fineparser.sampling`), holding out ``val_share`` of the training split as ``"val"``;
  :func:`open_data` does both and adds the exemplar pool (the training split), the set-up that
  training, evaluation and prediction share (:class:`RunData`).
* **Batches to the network**: :func:`to_snippets` turns uint8 clip windows into normalised
  snippets on the device, :func:`masks_to_snippets` cuts the window masks the same way, and
  :func:`autocast` is the mixed-precision context every forward pass runs in.

Example:
    >>> data = open_data(cfg, cfg.model_config(), masks="none")         # doctest: +SKIP
    >>> plan, fallback = data.plan(data.table.indices("test"), m=10, seed=0, split="test")  # doctest: +SKIP
    >>> x = to_snippets(batch.frames, mcfg, device)     # (B, N, 3, T, H, W)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from hmtools.errors import DatasetError

log = logging.getLogger(__name__)


def open_samples(cfg) -> list:
    """The dataset's samples (AQA-7: one class or all), defects skipped with a warning.

    Args:
        cfg: a :class:`~fineparser.train_config.TrainConfig` (``dataset``, ``data_root``,
            ``dataset_class``).

    Raises:
        DatasetError: the dataset has no usable clip.
    """
    from hmtools.datasets import open_dataset

    options = {}
    if cfg.dataset == "aqa7" and cfg.dataset_class != "all":
        options["classes"] = (cfg.dataset_class,)
    ds = open_dataset(cfg.dataset, cfg.data_root, on_defect="warn", **options)
    if ds.defects:
        log.warning("%s: %d clip(s) skipped as defective (first: %s)", cfg.data_root,
                    len(ds.defects), ds.defects[0])
    samples = ds.samples()
    if not samples:
        raise DatasetError(f"{cfg.data_root}: no usable clips for dataset {cfg.dataset!r}")
    return samples


def build_table(cfg, mcfg, samples: list, masks: str | None = None,
                mask_splits: tuple[str, ...] | None = ("train",)):
    """The :class:`~fineparser.sampling.ClipTable` of all samples, masks of the training split
    (which includes the clips that ``val_share`` then holds out as split ``"val"``).

    Args:
        cfg: the :class:`~fineparser.train_config.TrainConfig` (store, seed, ``val_share``).
        mcfg: the :class:`~fineparser.config.ModelConfig` (window length; without SAP no masks).
        samples: from :func:`open_samples`.
        masks: ``gtm``, ``pm`` or ``none`` (default: ``cfg.masks``).
        mask_splits: splits whose masks are read; ``None`` reads every clip's.
    """
    from fineparser.sampling import DATASET_SAMPLING, build_clip_table, hold_out_validation

    masks = cfg.masks if masks is None else masks
    if masks != "none" and not mcfg.sap:
        log.warning("masks=%s but the model has no SAP (model.sap=false): masks are not used", masks)
        masks = "none"
    store = None
    if masks != "none":
        from hmtools.store import MaskStore

        store = MaskStore.open(cfg.store)
    samples = whole_frame_samples(samples, mcfg.num_frames, DATASET_SAMPLING[cfg.dataset])
    table = build_clip_table(samples, mcfg.num_frames, DATASET_SAMPLING[cfg.dataset], masks, store,
                             mask_splits)
    if cfg.val_share > 0:
        hold_out_validation(table, cfg.val_share, cfg.seed)
    return table


def whole_frame_samples(samples: list, num_frames: int, sampling: str) -> list:
    """The samples whose window frames all end whole (:func:`hmtools.video.frame_file_problem`:
    the file's last bytes, about 1 % of a decode); the others are skipped with a warning naming
    the file, like the dataset's other defects. Frames that still fail to decode, or differ in
    size, fail the item that reads them (:func:`fineparser.transforms.read_frame_rgb`).

    Raises:
        DatasetError: no sample is left.
    """
    from fineparser.sampling import sample_frame_indices
    from hmtools.datasets.base import DefectLog
    from hmtools.video import frame_file_problem

    defects = DefectLog("warn")
    kept = []
    for s in samples:
        for j in sample_frame_indices(len(s.frame_paths), num_frames, sampling):
            problem = frame_file_problem(s.frame_paths[j])
            if problem is not None:
                defects.report(s.video_id, f"frame {s.frame_paths[j]}: {problem}")
                break
        else:
            kept.append(s)
    if not kept:
        raise DatasetError(f"no clip left once clips with corrupt frames are skipped "
                           f"(first: {defects.defects[0]})")
    return kept


@dataclass
class RunData:
    """A run's clips: the samples, their :class:`~fineparser.sampling.ClipTable` and the exemplar
    pool (an :class:`~fineparser.exemplars.ExemplarChooser` over the training split)."""

    samples: list
    table: object
    chooser: object

    def plan(self, rows: list[int], m: int, seed: int, split: str) -> tuple[dict[int, list[int]], list[int]]:
        """Up to ``m`` exemplars per query row (:meth:`ExemplarChooser.plan`), with a warning
        naming the rows of ``split`` that had to fall back to the closest difficulties."""
        plan, fallback = self.chooser.plan(rows, m, seed)
        if fallback:
            log.warning("%d %s clip(s) have no exemplar of their %s in the training split; they use the "
                        "closest difficulties instead (first: %s)", len(fallback), split,
                        "action type" if self.chooser.setting == "AN" else "difficulty",
                        self.table.video_ids[fallback[0]])
        return plan, fallback


def open_data(cfg, mcfg, masks: str | None = None) -> RunData:
    """:func:`open_samples`, :func:`build_table` (masks as :func:`build_table` reads them) and the
    exemplar pool of the training split in the model's exemplar setting."""
    from fineparser.exemplars import ExemplarChooser

    samples = open_samples(cfg)
    table = build_table(cfg, mcfg, samples, masks)
    return RunData(samples, table, ExemplarChooser(table, table.indices("train"), mcfg.exemplar_setting))


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when enabled; a no-op context on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def to_snippets(clips: torch.Tensor, mcfg, device: torch.device) -> torch.Tensor:
    """(B, F, 3, H, W) uint8 windows -> (B, N, 3, T, H, W) normalised snippets on ``device``."""
    from fineparser.model.preprocess import frames_to_snippets, normalize_frames

    x = normalize_frames(clips.to(device, non_blocking=True), mcfg, channel_dim=-3)
    return frames_to_snippets(x, mcfg)


def masks_to_snippets(masks: torch.Tensor, valid: torch.Tensor, mcfg) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut (B, F, H, W) window masks and (B, F) validity into snippets like the frames
    (:func:`fineparser.model.preprocess.frames_to_snippets`): (B, N, T, H, W) float, (B, N, T) bool."""
    from fineparser.model.preprocess import snippet_frame_indices

    if masks.shape[1] != mcfg.num_frames:
        raise ValueError(f"masks_to_snippets: expected {mcfg.num_frames} frames, got {tuple(masks.shape)}")
    idx = snippet_frame_indices(mcfg).to(masks.device)
    return masks[:, idx].float(), valid[:, idx]
