"""The training engine: data, model, optimiser, schedule, EMA, guards, checkpoints, epochs.

:func:`train` runs a whole training from a :class:`~fineparser.train_config.TrainConfig`:

* Adam, schedule and gradient accumulation of :mod:`fineparser.optim`; data from
  :mod:`fineparser.inputs`; EMA of the weights (torch-ema) for every evaluation; bfloat16
  autocast on CUDA when ``amp``; gradient-norm clipping.
* Optionally ``sap_warmup_steps`` of L_A alone before the first epoch
  (:mod:`fineparser.attention_warmup`).
* Loss ``L = L_A + L_T + L_E`` (Eq. 8): L_A over the SAP attention of query and exemplar where a
  frame has a mask (off with ``masks=none`` or without SAP), L_T where the clip has transitions
  (TAP only), L_E on the query's score (DD: score / difficulty), and with ``both_orders`` the mean
  of L_E over both directions of the pair; ``loss_a`` / ``loss_t`` switch L_A / L_T off (Table 7).
  A run whose L_T is zero (MTL-AQA, AQA-7) says so once (log, first metrics line's ``notices``).
* A batch whose loss or gradient norm is not finite is skipped (on every process) and logged to
  ``skipped.jsonl``; ``nan_patience`` consecutive skips stop the run with :class:`TrainingDiverged`.
* Every epoch: ``last.pt`` (exact resume: model, optimiser, scheduler, EMA, epoch, RNG states,
  best metric), ``best.pt`` when Spearman's rho improves, ``epoch_XXXX.pt`` every ``save_every``
  epochs if asked, and one JSON line in ``metrics.jsonl`` (also printed, and written to TensorBoard
  when it is installed: :mod:`fineparser.runlog`).
* Under ``torchrun`` the model is wrapped in DistributedDataParallel (see
  :mod:`fineparser.distributed`); only rank 0 writes files.
* Evaluation (every ``eval_every`` epochs) goes through the same
  :class:`~fineparser.predictor.Predictor` as ``fineparser eval`` and ``fineparser predict``.

Resuming is exact: data order and augmentation depend only on (seed, epoch, index), so a run
interrupted after epoch k and resumed gives the same epoch k + 1 as an uninterrupted run.

Example:
    >>> result = train(load_train_config("run.json", ["epochs=2"]))   # doctest: +SKIP
    >>> result.best_rho, result.run_dir                                # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fineparser.inputs import autocast, masks_to_snippets, open_data, to_snippets
from fineparser.optim import accumulation_steps, batches_per_epoch, build_optimizer, build_scheduler
from fineparser.runlog import METRICS_FILE, SKIPPED_FILE, RunLog, log_skipped, run_notices
from fineparser.train_config import TrainConfig, save_train_config
from hmtools.atomic import new_folder_removed_on_error
from hmtools.errors import DatasetError, HMError

log = logging.getLogger(__name__)

CURVES_FILE = "curves.png"


class TrainingDiverged(HMError):
    """Too many consecutive batches had a non-finite loss or gradient."""


@dataclass
class TrainResult:
    """What :func:`train` leaves behind."""

    run_dir: Path
    epochs: int
    best_rho: float
    best_epoch: int
    last_metrics: dict


# -- one step ----------------------------------------------------------------------------------------

def compute_losses(model, batch, mcfg, device: torch.device, amp: bool = False,
                   both_orders: bool = False, use_masks: bool = True,
                   score_scale: float = 1.0, use_transitions: bool = True) -> tuple[torch.Tensor, dict]:
    """Forward one batch of pairs and return ``(L, {"loss_e", "loss_a", "loss_t"})``.

    Args:
        model: the UniFineParser (or its DDP wrapper).
        batch: a collated :class:`~fineparser.dataset.PairItem`.
        use_masks: add L_A where frames carry masks (SAP models only).
        use_transitions: add L_T where clips carry step transitions (TAP models only).
        score_scale: scores are divided by it (``TrainConfig.score_scale``).
    """
    from fineparser.losses import (attention_loss, mask_targets, score_loss, snippet_transitions,
                                   soft_labels, temporal_loss)

    q, z = batch.query, batch.exemplar
    dd = mcfg.exemplar_setting == "DD"
    y_q, y_z = q.score.to(device) / score_scale, z.score.to(device) / score_scale
    d_q, d_z = q.difficulty.to(device), z.difficulty.to(device)
    with autocast(device, amp):
        out = model(to_snippets(q.frames, mcfg, device), to_snippets(z.frames, mcfg, device), y_z,
                    d_q if dd else None, d_z if dd else None)
    loss_e = score_loss(out.y_hat_raw.float(), y_q / d_q if dd else y_q)
    if both_orders:
        core = model.module if hasattr(model, "module") else model
        with autocast(device, amp):
            back = core.compare(out.exemplar, out.query, y_q, d_z if dd else None, d_q if dd else None)
        loss_e = 0.5 * (loss_e + score_loss(back.y_hat_raw.float(), y_z / d_z if dd else y_z))
    zero = loss_e.new_zeros(())
    loss_a = zero
    has_masks = bool(q.mask_valid.any() or z.mask_valid.any())
    if use_masks and mcfg.sap and has_masks and out.query.attention is not None:
        attn = torch.cat([out.query.attention, out.exemplar.attention]).float()
        masks = torch.cat([q.masks, z.masks]).to(device, non_blocking=True)
        valid = torch.cat([q.mask_valid, z.mask_valid]).to(device)
        m, v = masks_to_snippets(masks, valid, mcfg)
        m_gt, cell_valid = mask_targets(m, v, attn.shape[-3:])
        loss_a = attention_loss(attn, m_gt, cell_valid, kind=mcfg.sap_loss)
    loss_t = zero
    trans_valid = torch.cat([q.transitions_valid, z.transitions_valid]).to(device)
    if use_transitions and mcfg.tap and bool(trans_valid.any()):
        trans = torch.cat([q.transitions, z.transitions])
        targets = soft_labels(snippet_transitions(trans, mcfg.snippet_stride, mcfg.num_snippets),
                              mcfg.num_snippets, mcfg.num_queries, mcfg.soft_label_centre,
                              mcfg.soft_label_sigma, mcfg.snippet_stride, mcfg.snippet_frames).to(device)
        a1 = torch.cat([out.query.a1, out.exemplar.a1]).float()
        a2 = torch.cat([out.query.a2, out.exemplar.a2]).float()
        loss_t = temporal_loss(a1, a2, targets, trans_valid)
    loss = loss_e + loss_a + loss_t
    return loss, {"loss_e": float(loss_e.detach()), "loss_a": float(loss_a.detach()),
                  "loss_t": float(loss_t.detach())}


# -- the run -------------------------------------------------------------------------------------------

class Trainer:
    """Holds the state of one training run; :meth:`fit` runs the remaining epochs."""

    def __init__(self, cfg: TrainConfig, resume: str | Path | None = None,
                 resume_state: dict | None = None):
        from torch_ema import ExponentialMovingAverage

        from fineparser.checkpoint import seed_everything
        from fineparser.dataset import ClipCache, PairDataset
        from fineparser.distributed import init_distributed
        from fineparser.model import build_model, load_backbones
        from fineparser.transforms import resize_target

        self.cfg = cfg
        self.mcfg = cfg.model_config()
        self.info = init_distributed(cfg.device)
        self.run_dir = Path(cfg.run_dir)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        data = open_data(cfg, self.mcfg)
        self.table, self.chooser = data.table, data.chooser
        train_rows = self.table.indices("train")
        self.eval_rows = self.table.indices(cfg.eval_split)
        lonely = [r for r in train_rows if not self.chooser.has_exemplar(r)]
        if lonely:
            log.warning("%d training clip(s) have no exemplar candidate (%s) and are not used as "
                        "queries (first: %s)", len(lonely), self.mcfg.exemplar_setting,
                        self.table.video_ids[lonely[0]])
        self.train_rows = sorted(set(train_rows) - set(lonely))
        if not self.train_rows:
            raise DatasetError(f"{cfg.data_root}: no training pair can be formed "
                               f"({len(train_rows)} training clips, setting {self.mcfg.exemplar_setting})")
        self.eval_plan, _ = data.plan(self.eval_rows, self.mcfg.num_exemplars, cfg.seed, cfg.eval_split)
        self.cache = ClipCache() if cfg.cache_clips else None
        self.pairs = PairDataset(self.table, self.train_rows, self.chooser, self.mcfg.frame_size_hw,
                                 train=True, seed=cfg.seed, flip=cfg.flip, cache=self.cache,
                                 resize_scale=resize_target(self.mcfg, cfg.resize_scale))

        self.model = build_model(self.mcfg)
        if resume is None:
            self.backbone_lines = load_backbones(self.model, cfg.i3d_weights, cfg.resnet_weights)
        else:
            self.backbone_lines = ["weights from the resumed checkpoint"]
        if cfg.channels_last:
            self.model.to_channels_last()
        self.model.to(self.info.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self.accum = accumulation_steps(cfg, self.info.world_size)
        self.batches = batches_per_epoch(len(self.pairs), self.info.world_size, cfg.batch_size,
                                         cfg.max_steps_per_epoch)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.batches)
        self.runlog = RunLog(self.run_dir) if self.info.is_main else None
        self.notices = run_notices(cfg, self.mcfg, self.table.transitions_valid[self.train_rows])
        self.ema = (ExponentialMovingAverage(self.model.parameters(), decay=cfg.ema_decay)
                    if cfg.ema_decay > 0 else None)
        self.epoch, self.best_rho, self.best_epoch = 0, -math.inf, 0
        self.warmup: dict | None = None  # what the attention warm-up did (first metrics line)
        self.head_warmup: dict | None = None  # what the head warm-up did (first metrics line)
        if resume is not None:
            self._resume(resume, resume_state)
        self.net = self.model
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.info.device.index] if self.info.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)

    # -- checkpoints -------------------------------------------------------------------------------
    def _payload(self, metrics: dict) -> dict[str, Any]:
        from fineparser.checkpoint import rng_state

        return {"epoch": self.epoch, "model": self.model.state_dict(),
                "model_config": self.mcfg.to_dict(), "train_config": self.cfg.resolved_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "best_rho": self.best_rho, "best_epoch": self.best_epoch, "rng": rng_state(),
                "metrics": metrics}

    def _resume(self, path: str | Path, ckpt: dict | None = None) -> None:
        from fineparser.checkpoint import load_checkpoint, restore_training_state

        ckpt = load_checkpoint(path) if ckpt is None else ckpt
        self.epoch, self.best_rho, self.best_epoch = restore_training_state(
            ckpt, path, self.model, self.optimizer, self.scheduler, self.ema, self.info.device)

    def _save(self, metrics: dict, improved: bool) -> None:
        from fineparser.checkpoint import copy_checkpoint, save_checkpoint

        last = save_checkpoint(self.run_dir / "last.pt", self._payload(metrics))
        if improved:
            copy_checkpoint(last, self.run_dir / "best.pt")

    # -- epochs ------------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train from ``self.epoch`` to ``cfg.epochs``; returns the best rho and where it was."""
        from fineparser.distributed import shutdown_distributed

        if self.info.is_main:
            save_train_config(self.cfg, self.run_dir)
            for line in self.backbone_lines:
                log.info(line)
            log.info("%d pairs per optimiser step (%d per batch x %d processes x %d accumulated)",
                     self.cfg.batch_size * self.info.world_size * self.accum, self.cfg.batch_size,
                     self.info.world_size, self.accum)
            for notice in self.notices:
                log.warning(notice)
        metrics: dict = {}
        try:
            if self.epoch == 0 and self.cfg.sap_warmup_steps:
                self.warmup = self._warm_up_attention()
            if self.epoch == 0 and self.cfg.head_warmup_steps:
                from fineparser.head_refit import refit_heads

                self.head_warmup = refit_heads(self, self.cfg.head_warmup_steps)
            while self.epoch < self.cfg.epochs:
                metrics = self.run_epoch()
        finally:
            shutdown_distributed()
            if self.runlog is not None:
                self.runlog.close()
        if self.info.is_main and (self.run_dir / METRICS_FILE).is_file():
            from fineparser.viz import training_curve_png

            lines = [json.loads(x) for x in (self.run_dir / METRICS_FILE).read_text().splitlines() if x]
            training_curve_png(lines, self.run_dir / CURVES_FILE)
        return TrainResult(self.run_dir, self.epoch, self.best_rho, self.best_epoch, metrics)

    def _warm_up_attention(self) -> dict | None:
        """``sap_warmup_steps`` of L_A alone (:func:`fineparser.attention_warmup.warm_up_trainer`)."""
        from fineparser.attention_warmup import warm_up_trainer

        return warm_up_trainer(self)

    def run_epoch(self) -> dict:
        """Train one epoch, evaluate if due, checkpoint, log; returns the metrics line."""
        from fineparser.distributed import mean_over_processes

        epoch = self.epoch
        lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}  # the rates this epoch used
        t0 = time.perf_counter()
        stats = self._train_epoch(epoch)
        train_s = time.perf_counter() - t0
        self.scheduler.after_epoch()
        self.epoch = epoch + 1
        line: dict[str, Any] = {"epoch": self.epoch}
        line.update(mean_over_processes({k: v for k, v in stats.items() if k.startswith("loss")},
                                        self.info))
        line.update({"pairs": stats["pairs"], "skipped": stats["skipped"],
                     "lr": lrs,
                     "train_s": round(train_s, 3),
                     "pairs_per_s": round(stats["pairs"] / train_s, 3) if train_s > 0 else None})
        if self.epoch == 1 and self.warmup is not None:
            line["sap_warmup"] = self.warmup
        if self.epoch == 1 and self.head_warmup is not None:
            line["head_warmup"] = self.head_warmup
        if self.notices:
            line["notices"], self.notices = self.notices, []  # once per run
        if self.epoch == self.cfg.epochs and self.cfg.head_refit_steps:
            from fineparser.head_refit import refit_heads

            line["head_refit"] = refit_heads(self, self.cfg.head_refit_steps)
        improved = False
        if self.epoch % self.cfg.eval_every == 0 or self.epoch == self.cfg.epochs:
            result = self.evaluate()
            line["eval"] = {k: v for k, v in result.metrics.to_json().items() if k != "per_action"}
            line["eval_split"] = self.cfg.eval_split
            rho = result.metrics.rho
            if math.isfinite(rho) and rho > self.best_rho:
                self.best_rho, self.best_epoch, improved = rho, self.epoch, True
        line["best_rho"] = self.best_rho if math.isfinite(self.best_rho) else None
        line["best_epoch"] = self.best_epoch
        if self.info.is_main:
            self._save(line, improved)
            if self.cfg.save_every and self.epoch % self.cfg.save_every == 0:
                from fineparser.checkpoint import save_checkpoint

                save_checkpoint(self.run_dir / f"epoch_{self.epoch:04d}.pt", self._payload(line))
            self.runlog.epoch(line)
        return line

    def _loader(self, epoch: int):
        from torch.utils.data import DataLoader, DistributedSampler

        from fineparser.dataset import worker_init

        self.pairs.set_epoch(epoch)
        sampler = DistributedSampler(self.pairs, num_replicas=self.info.world_size, rank=self.info.rank,
                                     shuffle=True, seed=self.cfg.seed)
        sampler.set_epoch(epoch)
        return DataLoader(self.pairs, batch_size=self.cfg.batch_size, sampler=sampler,
                          num_workers=self.cfg.workers, worker_init_fn=worker_init,
                          pin_memory=self.info.device.type == "cuda",
                          persistent_workers=False)  # a cache in workers lives for one epoch

    def _train_epoch(self, epoch: int) -> dict:
        from tqdm import tqdm

        from fineparser.distributed import any_true, no_sync, sum_over_processes
        from fineparser.optim import accumulation_group

        cfg, info = self.cfg, self.info
        self.net.train()
        loader = self._loader(epoch)
        total = len(loader) if not cfg.max_steps_per_epoch else min(len(loader), cfg.max_steps_per_epoch)
        sums = {"loss": 0.0, "loss_e": 0.0, "loss_a": 0.0, "loss_t": 0.0}
        steps = pairs = skipped = consecutive = 0
        params = [p for p in self.model.parameters() if p.requires_grad]
        bar = tqdm(loader, total=total, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step",
                   disable=not info.is_main, leave=False)
        group: list[tuple[float, dict, int]] = []  # (loss, parts, pairs) of the accumulated batches
        for step, batch in enumerate(bar):
            if step >= total:
                break
            first, size = accumulation_group(step, self.accum, total)
            if first:
                self.optimizer.zero_grad(set_to_none=True)
                group = []
            last = len(group) + 1 == size
            with no_sync(self.net, not last):
                loss, parts = compute_losses(self.net, batch, self.mcfg, info.device, cfg.amp,
                                             cfg.both_orders, cfg.masks != "none" and cfg.loss_a,
                                             cfg.score_scale, cfg.loss_t)
                (loss / size).backward()  # also on a bad batch: every DDP process must join the reduction
            self.scheduler.after_batch()
            group.append((float(loss.detach()), parts, int(batch.query.score.shape[0])))
            if not last:
                continue
            gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            finite = all(math.isfinite(g[0]) for g in group) and math.isfinite(float(gnorm))
            bad = any_true(not finite, info)
            if bad:
                self.optimizer.zero_grad(set_to_none=True)
                skipped += 1
                consecutive += 1
                self._log_skipped(epoch, step, batch, max(g[0] for g in group), float(gnorm))
                if consecutive >= cfg.nan_patience:
                    raise TrainingDiverged(
                        f"{self.run_dir}: training stopped at epoch {epoch + 1}, step {step + 1}: "
                        f"{consecutive} consecutive batches with a non-finite loss or gradient "
                        f"(see {SKIPPED_FILE}; lower the learning rates or check the data)")
                continue
            consecutive = 0
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update()
            steps += 1
            for value, parts, n in group:
                pairs += n
                sums["loss"] += value * n
                for k, v in parts.items():
                    sums[k] += v * n
            bar.set_postfix(loss=f"{sums['loss'] / max(pairs, 1):.4g}")
        bar.close()
        counts = sum_over_processes({"pairs": pairs, "skipped": skipped, **sums}, info)
        n = max(counts["pairs"], 1.0)
        return {"pairs": int(counts["pairs"]), "skipped": int(counts["skipped"]),
                **{k: counts[k] / n for k in sums}}

    def _log_skipped(self, epoch: int, step: int, batch, loss: float, gnorm: float) -> None:
        ids = [self.table.video_ids[int(i)] for i in (*batch.query.index, *batch.exemplar.index)]
        log_skipped(self.run_dir, self.info.rank, epoch, step, ids, loss, gnorm)

    def evaluate(self):
        """Multi-exemplar evaluation of ``eval_split`` with the EMA weights (when kept)."""
        from contextlib import nullcontext

        from fineparser.evaluation import evaluate_rows
        from fineparser.predictor import Predictor

        ctx = self.ema.average_parameters() if self.ema is not None else nullcontext()
        with ctx:
            predictor = Predictor.from_config(self.model, self.table, self.cfg, self.info, self.cache)
            return evaluate_rows(predictor, self.eval_rows, self.eval_plan)


def train(cfg: TrainConfig, resume: str | Path | None = None) -> TrainResult:
    """Run (or resume) a training; see the module docstring."""
    return Trainer(cfg, resume=resume).fit()


def run_training(config: str | Path | None = None, overrides: tuple[str, ...] | list[str] = (),
                 resume: str | Path | None = None, **fields) -> TrainResult:
    """``fineparser train``: resolve the configuration, then train or resume.

    Args:
        config: JSON configuration file (optional).
        overrides: ``key=value`` strings (``model.<field>=...`` for the model).
        resume: a checkpoint (or run folder: its ``last.pt``); its stored configuration is the
            base that ``config``, ``fields`` and ``overrides`` change (e.g. ``epochs=300``), and the
            run folder defaults to the checkpoint's.
        fields: values of dedicated options (``data_root=...``); ``None`` is ignored.
    """
    from fineparser.run import load_run_config
    from fineparser.train_config import load_train_config

    ckpt = None
    if resume is None:
        cfg = load_train_config(config, overrides, **fields)
    else:
        resume = Path(resume)
        run_dir = resume if resume.is_dir() else resume.parent
        ckpt, cfg = load_run_config(resume, overrides, config, {"run_dir": str(run_dir)}, **fields)
    # A run that fails before its first checkpoint (a full disk, Ctrl-C, a bad dataset) leaves no
    # run folder it made; one with a checkpoint is kept for --resume.
    with new_folder_removed_on_error(cfg.run_dir, keep=lambda: _worth_keeping(Path(cfg.run_dir))):
        return Trainer(cfg, resume=resume, resume_state=ckpt).fit()


def _worth_keeping(run_dir: Path) -> bool:
    from fineparser.distributed import several_processes

    return several_processes() or (run_dir / "last.pt").is_file()
