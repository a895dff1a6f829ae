"""Optimiser, learning-rate schedule and gradient accumulation of the trainer.

* :func:`build_optimizer`: Adam with one parameter group per model component, at the paper's
  rates (Sec. 4.3: I3D and tau 1e-4, ResNet-34 and the heads 1e-3; SAP has its own rate when
  ``lr_sap`` is set, else the heads').
* :func:`lr_factor` / :class:`LRSchedule`: per-epoch multiplier: linear warm-up over
  ``warmup_epochs``, then ``constant``, ``step`` (``step_gamma`` every ``step_epochs``) or
  ``cosine`` down to ``min_lr_ratio``; or ``timm_cosine``, stepped after every batch, which is
  what the published FineParser code does with timm's ``CosineLRScheduler(t_initial=epochs x
  batches, lr_min, warmup_lr_init, warmup_t=warmup_epochs x batches, t_in_epochs=False)`` and
  ``step_update`` after each batch (:func:`timm_cosine_lr`). Its position is counted in epochs
  (batches / batches per epoch), so the curve does not depend on the number of processes.
* :func:`accumulation_steps`: batches whose gradients are summed before one optimiser step, so
  that ``effective_batch_size`` pairs make one step whatever the number of processes.

Example:
    >>> optimizer = build_optimizer(model, cfg)                                # doctest: +SKIP
    >>> schedule = LRSchedule(optimizer, cfg, batches_per_epoch=120)           # doctest: +SKIP
"""

from __future__ import annotations

import math

import torch

LR_GROUPS = {"i3d": "lr_i3d", "temperature": "lr_tau", "sve": "lr_sve", "sap": "lr_sap"}  # else lr_heads


def build_optimizer(model, cfg) -> torch.optim.Optimizer:
    """Adam with one parameter group per model component (``name`` kept in each group)."""
    groups = []
    for name, params in model.parameter_groups().items():
        lr = getattr(cfg, LR_GROUPS.get(name, "lr_heads"))
        lr = cfg.lr_heads if lr is None else lr
        groups.append({"params": params, "lr": lr, "name": name})
    return torch.optim.Adam(groups, weight_decay=cfg.weight_decay)


def lr_factor(epoch: int, cfg) -> float:
    """Learning-rate multiplier of epoch ``epoch`` (0-based): warm-up, then the schedule."""
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    e = epoch - cfg.warmup_epochs
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.step_gamma ** (e // cfg.step_epochs)
    span = max(1, cfg.epochs - cfg.warmup_epochs - 1)
    cos = 0.5 * (1 + math.cos(math.pi * min(e, span) / span))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos


def timm_cosine_lr(position: float, base_lr: float, cfg) -> float:
    """timm's ``CosineLRScheduler`` (one cycle, ``warmup_prefix=False``) at ``position`` epochs.

    Warm-up from ``warmup_lr_init`` to ``base_lr`` over ``warmup_epochs``, then
    ``lr_min + (base_lr - lr_min) (1 + cos(pi position / epochs)) / 2``; ``min_lr`` and
    ``warmup_lr_init`` are absolute rates shared by every group, as in timm (None: each group's
    ``base_lr * min_lr_ratio``).
    """
    lr_min = base_lr * cfg.min_lr_ratio if cfg.min_lr is None else cfg.min_lr
    lr_init = lr_min if cfg.warmup_lr_init is None else cfg.warmup_lr_init
    if position < cfg.warmup_epochs:
        return lr_init + position * (base_lr - lr_init) / cfg.warmup_epochs
    if position >= cfg.epochs:
        return lr_min
    return lr_min + 0.5 * (base_lr - lr_min) * (1 + math.cos(math.pi * position / cfg.epochs))


class LRSchedule:
    """A ``LambdaLR`` stepped after every epoch, or after every batch for ``timm_cosine``.

    Its state is the LambdaLR's (no function inside: safe for ``weights_only`` checkpoints).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg, batches_per_epoch: int = 1):
        self.per_batch = cfg.schedule == "timm_cosine"
        if self.per_batch:
            n = max(1, batches_per_epoch)

            def factor(base: float):
                # timm's step_update(k) after batch k sets the rate of batch k + 1: batch g uses f(g - 1).
                return lambda g: timm_cosine_lr(max(g - 1, 0) / n, base, cfg) / base

            self.lr = torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(g["lr"]) for g in optimizer.param_groups])
        else:
            self.lr = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))

    def after_batch(self) -> None:
        if self.per_batch:
            self.lr.step()

    def after_epoch(self) -> None:
        if not self.per_batch:
            self.lr.step()

    def state_dict(self) -> dict:
        return self.lr.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.lr.load_state_dict(state)


def build_scheduler(optimizer, cfg, batches_per_epoch: int = 1) -> LRSchedule:
    """The :class:`LRSchedule` of ``cfg.schedule``."""
    return LRSchedule(optimizer, cfg, batches_per_epoch)


def batches_per_epoch(num_pairs: int, world_size: int, batch_size: int, max_steps: int = 0) -> int:
    """Batches each process runs per epoch (DistributedSampler pads to ``world_size``)."""
    n = math.ceil(math.ceil(num_pairs / world_size) / batch_size)
    return min(n, max_steps) if max_steps else n


def accumulation_steps(cfg, world_size: int) -> int:
    """Batches per optimiser step: ``grad_accum``, or what makes ``effective_batch_size`` pairs.

    Raises:
        ValueError: ``effective_batch_size`` is not a multiple of ``batch_size x world_size``.
    """
    if not cfg.effective_batch_size:
        return cfg.grad_accum
    per_step = cfg.batch_size * world_size
    if cfg.effective_batch_size % per_step:
        raise ValueError(f"effective_batch_size={cfg.effective_batch_size} is not a multiple of "
                         f"batch_size x processes = {cfg.batch_size} x {world_size}")
    return cfg.effective_batch_size // per_step


def accumulation_group(batch: int, accum: int, total: int) -> tuple[bool, int]:
    """``(starts a group, size of its group)`` for batch ``batch`` of ``total``: groups of
    ``accum`` batches, the last one shorter when ``total`` is not a multiple (it still steps,
    as FineParser's ``(batch_idx + 1) == train_len`` does)."""
    start = batch - batch % accum
    return batch == start, min(accum, total - start)
