"""Evaluation: metrics of multi-exemplar predictions, the predictions CSV, and ``fineparser eval``.

Each query of the evaluated split is compared with M exemplars of the training split (same action
type for AN, same difficulty for DD; ``ModelConfig.num_exemplars``, 10 at the paper setting) and
its prediction is the mean of the M single-exemplar predictions (Eq. 10), computed by
:class:`fineparser.predictor.Predictor`, which encodes every clip once. :func:`evaluate_rows` is
what the trainer calls every ``eval_every`` epochs; :func:`run_eval` is ``fineparser eval``
(a run loaded by :func:`fineparser.run.load_run`). Beside the model's rho it reports the
Delta = 0 vote of the same exemplars and, when the store has corrections, the SAP attention IoU.

Metrics (:mod:`fineparser.metrics`): Spearman's rho and R-L2 x100 with the squared reading,
``100 * mean(((pred - true) / (max(true) - min(true)))^2)``, overall and per action type.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.atomic import atomic_open, atomic_write_text, new_folder_removed_on_error
from fineparser.metrics import Metrics, compute_metrics

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Predictions for the evaluated queries and their metrics.

    Attributes:
        rows: query rows of the clip table.
        predictions: (Q,) predicted scores.
        exemplars: per query, the exemplar rows voted over.
        metrics: rho, R-L2 x100, MAE, per action type.
    """

    rows: list[int]
    predictions: np.ndarray
    exemplars: list[list[int]]
    metrics: Metrics


def attention_iou_rows(predictor, rows: Sequence[int], threshold: float | None = None) -> float:
    """Mean :func:`~fineparser.metrics.attention_iou` of the SAP attention on ``rows`` against
    the predictor's table masks (pooled to the attention's size like ``M_gt``); ``nan`` without
    SAP or masks. Masks never enter the model."""
    from fineparser.dataset import ClipDataset
    from fineparser.inputs import masks_to_snippets
    from fineparser.losses import mask_targets
    from fineparser.metrics import attention_iou

    table, mcfg, device = predictor.table, predictor.mcfg, predictor.device
    if table.mask_ref is None or not mcfg.sap:
        return math.nan
    from fineparser.transforms import resize_target

    ds = ClipDataset(table, list(rows), mcfg.frame_size_hw, resize_target(mcfg, predictor.resize_scale))
    ious = []
    for i in range(len(ds)):
        item = ds[i]
        if not bool(item.mask_valid.any()):
            continue
        attn = predictor.encode_frames(item.frames[None]).attention
        m, v = masks_to_snippets(item.masks[None].to(device), item.mask_valid[None].to(device), mcfg)
        m_gt, cell_valid = mask_targets(m, v, attn.shape[-3:])
        iou = attention_iou(attn, m_gt, cell_valid, threshold)
        if not math.isnan(iou):
            ious.append(iou)
    return float(np.mean(ious)) if ious else math.nan


def evaluate_rows(predictor, rows: Sequence[int], plan: dict[int, list[int]]) -> EvalResult:
    """Predict ``rows`` from their ``plan`` exemplars (Eq. 10) and score them against the truth.

    Args:
        predictor: a :class:`~fineparser.predictor.Predictor` over the table of ``rows``.
        rows: query rows.
        plan: row -> exemplar rows (:meth:`~fineparser.exemplars.ExemplarChooser.plan`).
    """
    table = predictor.table
    rows = list(rows)
    preds = predictor.predict_rows(rows, plan)
    true = table.scores[rows]
    metrics = compute_metrics(preds, true, [table.action_types[r] for r in rows])
    return EvalResult(rows, preds, [plan[q] for q in rows], metrics)


def write_predictions_csv(path: str | Path, table, result: EvalResult) -> Path:
    """One row per query: video, action type, difficulty, true and predicted score, exemplars."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "action_type", "difficulty", "score", "prediction", "abs_error",
                    "n_exemplars", "exemplars"])
        for row, pred, ex in zip(result.rows, result.predictions, result.exemplars):
            d = table.difficulties[row]
            w.writerow([table.video_ids[row], table.action_types[row], "" if math.isnan(d) else d,
                        f"{table.scores[row]:.4f}", f"{pred:.4f}", f"{abs(pred - table.scores[row]):.4f}",
                        len(ex), ";".join(table.video_ids[z] for z in ex)])
    return path


# -- fineparser eval ------------------------------------------------------------------------------

@dataclass
class EvalReport:
    """What ``fineparser eval`` prints and writes."""

    checkpoint: Path
    split: str
    weights: str
    metrics: Metrics
    predictions_csv: Path
    metrics_json: Path
    fallback_queries: int
    baseline_rho: float = math.nan
    attention_iou: float = math.nan
    predictions_png: Path | None = None


def run_eval(checkpoint: str | Path, overrides: Sequence[str] = (), split: str | None = None,
             use_ema: bool = True, out_dir: str | Path | None = None) -> EvalReport:
    """``fineparser eval``: evaluate a checkpoint on a split with multi-exemplar voting.

    Args:
        checkpoint: a run's ``best.pt``/``last.pt`` (or the run folder: ``last.pt``).
        overrides: ``key=value`` changes of the stored training configuration (e.g. a new
            ``data_root``, ``model.num_exemplars=5``).
        split: split to evaluate (default: the configuration's ``eval_split``).
        use_ema: evaluate the EMA weights (default) rather than the raw ones.
        out_dir: where ``predictions_<split>.csv`` and ``eval_<split>.json`` go (default: the
            checkpoint's folder).
    """
    from fineparser.distributed import several_processes
    from fineparser.metrics import spearman_rho
    from fineparser.probes import exemplar_baseline
    from fineparser.run import load_run
    from fineparser.viz import predictions_png
    from hmtools.errors import DatasetError

    run = load_run(checkpoint, overrides, use_ema, distributed=True)
    cfg, mcfg, table = run.cfg, run.mcfg, run.data.table
    split = split or cfg.eval_split
    rows = table.indices(split)
    if not rows:
        raise DatasetError(f"{cfg.data_root}: the {split!r} split is empty")
    plan, fallback = run.data.plan(rows, mcfg.num_exemplars, cfg.seed, split)
    result = evaluate_rows(run.predictor(), rows, plan)
    baseline = exemplar_baseline(table.scores, plan, rows)
    baseline_rho = spearman_rho(baseline, table.scores[rows])
    iou = _split_attention_iou(run, split)
    checkpoint = run.checkpoint
    out = Path(out_dir) if out_dir is not None else (checkpoint if checkpoint.is_dir() else checkpoint.parent)
    # A failed write (a full disk, Ctrl-C) leaves no --out folder it made.
    with new_folder_removed_on_error(out, keep=several_processes):
        csv_path = write_predictions_csv(out / f"predictions_{split}.csv", table, result)
        png = predictions_png(table.scores[rows], result.predictions, out / f"predictions_{split}.png",
                              f"{split} split, n={result.metrics.n}: rho {result.metrics.rho:.3f} "
                              f"(Delta = 0 vote: {baseline_rho:.3f})", baseline)
        json_path = out / f"eval_{split}.json"
        atomic_write_text(json_path, json.dumps({"checkpoint": str(checkpoint), "epoch": run.epoch,
                                         "split": split, "weights": run.weights,
                                         "num_exemplars": mcfg.num_exemplars,
                                         "exemplar_setting": mcfg.exemplar_setting,
                                         "rl2_definition": "100 * mean(((pred - true) / (max(true) - min(true)))^2)",
                                         "baseline_rho": _finite(baseline_rho),
                                         "attention_iou": _finite(iou),
                                         **result.metrics.to_json()}, indent=2) + "\n")
    return EvalReport(checkpoint, split, run.weights, result.metrics, csv_path, json_path, len(fallback),
                      baseline_rho, iou, png)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _split_attention_iou(run, split: str) -> float:
    """Attention IoU on ``split`` against the store's corrected masks, when it has them."""
    from fineparser.inputs import build_table
    from fineparser.predictor import Predictor
    from hmtools.errors import HMError

    cfg, mcfg = run.cfg, run.mcfg
    if not (mcfg.sap and cfg.store):
        return math.nan
    try:
        table = build_table(cfg.replace(masks="gtm"), mcfg, run.data.samples, masks="gtm",
                            mask_splits=(split, "train") if split == "val" else (split,))
    except HMError as err:
        log.info("attention IoU skipped: %s", err)
        return math.nan
    return attention_iou_rows(Predictor(run.model, table, run.info, resize_scale=cfg.resize_scale),
                              table.indices(split))
