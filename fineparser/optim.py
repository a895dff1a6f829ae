"""Optimiser and learning-rate schedule of the trainer.

* :func:`build_optimizer`: Adam with one parameter group per model component, at the paper's
  rates (Sec. 4.3: I3D and tau 1e-4, ResNet-34 and the heads 1e-3; SAP has its own rate when
  ``lr_sap`` is set, else the heads').
* :func:`lr_factor` / :func:`build_scheduler`: per-epoch multiplier: linear warm-up over
  ``warmup_epochs``, then ``constant``, ``step`` (``step_gamma`` every ``step_epochs``) or
  ``cosine`` down to ``min_lr_ratio``.

Example:
    >>> optimizer = build_optimizer(model, cfg)                       # doctest: +SKIP
    >>> scheduler = build_scheduler(optimizer, cfg)   # step() once per epoch  # doctest: +SKIP
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


def build_scheduler(optimizer, cfg):
    """Per-epoch LambdaLR of :func:`lr_factor` (its state holds no function: weights_only-safe)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
