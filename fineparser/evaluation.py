"""Evaluation: multi-exemplar voting (Eq. 10), metrics, predictions CSV, and ``fineparser eval``.

Each query of the evaluated split is compared with M exemplars of the training split (same action
type for AN, same difficulty for DD; ``ModelConfig.num_exemplars``, 10 at the paper setting) and
its prediction is the mean of the M single-exemplar predictions.

The network's encoder does not depend on the partner video (the pair only meets in the regressor),
so every clip involved - queries and exemplars - is encoded once, in ``eval()`` mode, and the M
comparisons per query reuse the cached step features: |queries| + |distinct exemplars| encodings
instead of |queries| * (M + 1). Under ``torchrun`` each process encodes a share of the clips and
the features are gathered.

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
import torch

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


@torch.no_grad()
def encode_rows(model, table, rows: Sequence[int], mcfg, info, batch_size: int = 1, workers: int = 0,
                amp: bool = False, resize_scale: float = 8 / 7, desc: str = "encode",
                cache=None) -> dict[int, torch.Tensor]:
    """Step features X^T (L, Cq), float32 on the CPU, of every row (split across processes)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from fineparser.dataset import ClipDataset, worker_init
    from fineparser.distributed import gather_objects
    from fineparser.inputs import autocast, to_snippets

    mine = list(rows)[info.rank::info.world_size]
    loader = DataLoader(ClipDataset(table, mine, mcfg.frame_size_hw, resize_scale, cache),
                        batch_size=batch_size, num_workers=workers, worker_init_fn=worker_init,
                        pin_memory=info.device.type == "cuda")
    was_training = model.training
    model.eval()
    feats: dict[int, torch.Tensor] = {}
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not info.is_main, leave=False):
        with autocast(info.device, amp):
            out = model.encode(to_snippets(batch.frames, mcfg, info.device))
        for row, f in zip(batch.index.tolist(), out.step_features.float().cpu()):
            feats[row] = f
    model.train(was_training)
    merged: dict[int, torch.Tensor] = {}
    for part in gather_objects(feats, info):
        merged.update(part)
    return merged


@torch.no_grad()
def vote(model, table, plan: dict[int, list[int]], feats: dict[int, torch.Tensor], mcfg,
         device: torch.device, rows: Sequence[int], score_scale: float = 1.0) -> np.ndarray:
    """Eq. 10: mean over each query's exemplars of the single-exemplar predictions (score units)."""
    from fineparser.model import VideoFeatures

    pairs = [(q, z) for q in rows for z in plan[q]]
    if not pairs:
        return np.full(len(rows), np.nan)

    def video(idx: list[int]) -> VideoFeatures:
        x_t = torch.stack([feats[r] for r in idx]).to(device)
        empty = x_t.new_zeros((len(idx), 0, 0))
        return VideoFeatures(snippet_features=empty, step_features=x_t, attention=None, a1=empty, a2=empty)

    dd = mcfg.exemplar_setting == "DD"
    diff = torch.tensor(np.nan_to_num(table.difficulties, nan=1.0), dtype=torch.float32)
    scores = torch.tensor(table.scores / score_scale, dtype=torch.float32)
    y = []
    for start in range(0, len(pairs), 4096):
        chunk = pairs[start:start + 4096]
        q_idx, z_idx = [p[0] for p in chunk], [p[1] for p in chunk]
        out = model.compare(video(q_idx), video(z_idx), scores[z_idx].to(device),
                            diff[q_idx].to(device) if dd else None, diff[z_idx].to(device) if dd else None)
        y.append(out.y_hat.float().cpu() * score_scale)
    y_all = torch.cat(y).numpy()
    preds, k = np.zeros(len(rows)), 0
    for i, q in enumerate(rows):
        m = len(plan[q])
        preds[i] = y_all[k:k + m].mean() if m else np.nan
        k += m
    return preds


@torch.no_grad()
def attention_iou_rows(model, table, rows: Sequence[int], mcfg, device: torch.device,
                       resize_scale: float = 8 / 7, threshold: float | None = None) -> float:
    """Mean :func:`~fineparser.metrics.attention_iou` of the SAP attention on ``rows`` against
    the table's masks (pooled to the attention's size like ``M_gt``); ``nan`` without SAP or
    masks. The model runs in ``eval()`` mode; masks never enter it."""
    from fineparser.dataset import ClipDataset
    from fineparser.inputs import masks_to_snippets, to_snippets
    from fineparser.losses import mask_targets
    from fineparser.metrics import attention_iou

    if table.mask_ref is None or not mcfg.sap:
        return math.nan
    was_training = model.training
    model.eval()
    ds = ClipDataset(table, list(rows), mcfg.frame_size_hw, resize_scale)
    ious = []
    for i in range(len(ds)):
        item = ds[i]
        if not bool(item.mask_valid.any()):
            continue
        attn = model.encode(to_snippets(item.frames[None], mcfg, device)).attention
        m, v = masks_to_snippets(item.masks[None].to(device), item.mask_valid[None].to(device), mcfg)
        m_gt, cell_valid = mask_targets(m, v, attn.shape[-3:])
        iou = attention_iou(attn, m_gt, cell_valid, threshold)
        if not math.isnan(iou):
            ious.append(iou)
    model.train(was_training)
    return float(np.mean(ious)) if ious else math.nan


def evaluate_rows(model, table, rows: Sequence[int], plan: dict[int, list[int]], mcfg, info,
                  batch_size: int = 1, workers: int = 0, amp: bool = False,
                  resize_scale: float = 8 / 7, score_scale: float = 1.0, cache=None) -> EvalResult:
    """Encode the queries and their exemplars once, vote, and score against the ground truth."""
    rows = list(rows)
    needed = sorted(set(rows) | {z for q in rows for z in plan[q]})
    feats = encode_rows(model, table, needed, mcfg, info, batch_size, workers, amp, resize_scale,
                        cache=cache)
    was_training = model.training
    model.eval()
    preds = vote(model, table, plan, feats, mcfg, info.device, rows, score_scale)
    model.train(was_training)
    true = table.scores[rows]
    metrics = compute_metrics(preds, true, [table.action_types[r] for r in rows])
    return EvalResult(rows, preds, [plan[q] for q in rows], metrics)


def write_predictions_csv(path: str | Path, table, result: EvalResult) -> Path:
    """One row per query: video, action type, difficulty, true and predicted score, exemplars."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
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


def load_trained_model(checkpoint: str | Path | dict, use_ema: bool = True,
                       device: torch.device | None = None, path: str | Path | None = None):
    """The trained model of a run, in eval mode, with the EMA weights when kept and wanted.

    Args:
        checkpoint: a checkpoint path, or a dict already read by
            :func:`~fineparser.checkpoint.load_checkpoint` (then ``path`` names it in errors).

    Returns:
        ``(model, weights)`` where ``weights`` is ``"ema"`` or ``"raw"``; ``model.config`` is
        the stored ModelConfig.

    Raises:
        CheckpointError: unreadable checkpoint, or weights that do not fit the stored configuration.
    """
    from torch_ema import ExponentialMovingAverage

    from fineparser.checkpoint import load_checkpoint, load_model_state
    from fineparser.config import ModelConfig
    from fineparser.model import build_model
    from hmtools.errors import CheckpointError

    if isinstance(checkpoint, dict):
        ckpt, path = checkpoint, path or "checkpoint"
    else:
        ckpt, path = load_checkpoint(checkpoint), checkpoint
    try:
        mcfg = ModelConfig.from_dict(ckpt["model_config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: stored model configuration is invalid ({err})") from None
    model = build_model(mcfg)
    load_model_state(model, ckpt["model"], path)
    weights = "raw"
    if use_ema and ckpt.get("ema") is not None:
        try:
            ema = ExponentialMovingAverage(model.parameters(), decay=float(ckpt["ema"]["decay"]))
            ema.load_state_dict(ckpt["ema"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{path}: EMA weights do not fit the model ({err})") from None
        ema.copy_to(model.parameters())
        weights = "ema"
    if device is not None:
        model.to(device)
    model.eval()
    return model, weights


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
    from fineparser.checkpoint import load_checkpoint
    from fineparser.distributed import init_distributed
    from fineparser.inputs import build_table, open_samples
    from fineparser.train_config import load_train_config

    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    cfg = load_train_config(None, overrides, base=ckpt["train_config"])
    info = init_distributed(cfg.device)
    model, weights = load_trained_model(ckpt, use_ema, info.device, path=checkpoint)
    mcfg = model.config.replace(num_exemplars=cfg.model_config().num_exemplars)
    if cfg.model_config() != mcfg:
        log.warning("model.* overrides other than num_exemplars are ignored: the checkpoint fixes "
                    "the architecture")
    split = split or cfg.eval_split
    samples = open_samples(cfg)
    table = build_table(cfg, mcfg, samples, masks="none")
    from fineparser.exemplars import ExemplarChooser

    rows = table.indices(split)
    if not rows:
        from hmtools.errors import DatasetError

        raise DatasetError(f"{cfg.data_root}: the {split!r} split is empty")
    chooser = ExemplarChooser(table, table.indices("train"), mcfg.exemplar_setting)
    plan, fallback = chooser.plan(rows, mcfg.num_exemplars, cfg.seed)
    if fallback:
        log.warning("%d %s clip(s) have no exemplar of their %s in the training split; they use the "
                    "closest difficulties instead (first: %s)", len(fallback), split,
                    "action type" if mcfg.exemplar_setting == "AN" else "difficulty",
                    table.video_ids[fallback[0]])
    result = evaluate_rows(model, table, rows, plan, mcfg, info, cfg.eval_batch_size, cfg.workers,
                           cfg.amp, cfg.resize_scale, cfg.score_scale)
    from fineparser.metrics import spearman_rho
    from fineparser.probes import exemplar_baseline
    from fineparser.viz import predictions_png

    baseline = exemplar_baseline(table.scores, plan, rows)
    baseline_rho = spearman_rho(baseline, table.scores[rows])
    iou = _split_attention_iou(model, cfg, mcfg, samples, split, info.device)
    out = Path(out_dir) if out_dir is not None else (checkpoint if checkpoint.is_dir() else checkpoint.parent)
    csv_path = write_predictions_csv(out / f"predictions_{split}.csv", table, result)
    png = predictions_png(table.scores[rows], result.predictions, out / f"predictions_{split}.png",
                          f"{split} split, n={result.metrics.n}: rho {result.metrics.rho:.3f} "
                          f"(Delta = 0 vote: {baseline_rho:.3f})", baseline)
    json_path = out / f"eval_{split}.json"
    json_path.write_text(json.dumps({"checkpoint": str(checkpoint), "epoch": int(ckpt["epoch"]),
                                     "split": split, "weights": weights,
                                     "num_exemplars": mcfg.num_exemplars,
                                     "exemplar_setting": mcfg.exemplar_setting,
                                     "rl2_definition": "100 * mean(((pred - true) / (max(true) - min(true)))^2)",
                                     "baseline_rho": _finite(baseline_rho),
                                     "attention_iou": _finite(iou),
                                     **result.metrics.to_json()}, indent=2) + "\n")
    return EvalReport(checkpoint, split, weights, result.metrics, csv_path, json_path, len(fallback),
                      baseline_rho, iou, png)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _split_attention_iou(model, cfg, mcfg, samples, split: str, device) -> float:
    """Attention IoU on ``split`` against the store's corrected masks, when it has them."""
    from fineparser.inputs import build_table
    from hmtools.errors import HMError

    if not (mcfg.sap and cfg.store):
        return math.nan
    try:
        table = build_table(cfg.replace(masks="gtm"), mcfg, samples, masks="gtm",
                            mask_splits=(split, "train") if split == "val" else (split,))
    except HMError as err:
        log.info("attention IoU skipped: %s", err)
        return math.nan
    return attention_iou_rows(model, table, table.indices(split), mcfg, device, cfg.resize_scale)

