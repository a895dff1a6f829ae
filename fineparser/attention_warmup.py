"""Attention warm-up: a few hundred steps of L_A alone before the first epoch.

Why: with a randomly initialised backbone (no Kinetics weights exist here), the score loss
dominates the early, shared I3D stages, and the SAP attention never finds the athlete when L_A
and L_E start together (measured on the synthetic set: test attention IoU 0.06 for ``gtm``,
no better than ``none``). Training the stages up to ``sap_stage`` and f_A on L_A alone first
gives an attention that localises (IoU about 0.6 after 200 steps) and keeps localising once L_E
joins (0.2-0.4 at the end of the demo training). The model is unchanged: masks still only
supervise the attention, and nothing of this runs at test time.

The steps draw training pairs like an epoch does, from their own random stream (the epochs'
data order and augmentation are unchanged), and update only the I3D stages that feed SAP and
f_A, with their own Adam optimiser; the main optimiser's state is untouched. Under DDP the
gradients are averaged over the processes, so every process holds the same weights.

Example:
    >>> stats = warm_up_attention(model, pairs, mcfg, device, steps=200, lr=3e-3)  # doctest: +SKIP
    >>> stats["loss_a_last"] < stats["loss_a_first"]                             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time

import torch

from fineparser.inputs import autocast, masks_to_snippets, to_snippets

log = logging.getLogger(__name__)

WARMUP_STREAM = 1  # item_rng stream of the warm-up draws (epochs use stream 0)


def attention_of(model, clips: torch.Tensor, mcfg, device: torch.device) -> torch.Tensor:
    """SAP attention (B, N, T_s, H_s, W_s) of (B, F, 3, H, W) uint8 clips, running only the
    I3D stages up to ``mcfg.sap_stage``."""
    x = to_snippets(clips, mcfg, device)
    b = x.shape[0]
    x = model.flat_snippets(x)
    for stage in range(1, mcfg.sap_stage + 1):
        x = model.i3d.forward_stage(stage, x)
    _, attn = model.sap(x)
    return attn.unflatten(0, (b, -1))


def warmup_parameters(model, sap_stage: int) -> list[torch.nn.Parameter]:
    """The parameters L_A reaches: f_A and the I3D stages 1..``sap_stage``."""
    params = list(model.sap.parameters())
    for stage in range(1, sap_stage + 1):
        params += [p for name in model.i3d.stages[stage] for p in getattr(model.i3d, name).parameters()]
    return params


def _average_gradients(params: list[torch.nn.Parameter], info) -> None:
    if info is None or not info.enabled:
        return
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= info.world_size


def warm_up_attention(model, pairs, mcfg, device: torch.device, steps: int, lr: float,
                      batch_size: int = 4, seed: int = 0, amp: bool = False, info=None,
                      progress: bool = True) -> dict:
    """Run ``steps`` optimisation steps of L_A alone on query and exemplar clips of ``pairs``.

    Args:
        model: the UniFineParser (not its DDP wrapper), with SAP.
        pairs: the training :class:`~fineparser.dataset.PairDataset` (its clips and masks).
        mcfg: the model's configuration.
        steps: number of optimisation steps (several passes over ``pairs`` if needed).
        lr: Adam learning rate of the warm-up.
        info: :class:`~fineparser.distributed.DistInfo`; under DDP each process draws its share.

    Returns:
        ``{"steps", "loss_a_first", "loss_a_last", "seconds"}``: L_A averaged over the first and
        the last tenth of the steps (at least one step each).
    """
    from torch.utils.data import DataLoader, DistributedSampler
    from tqdm import tqdm

    from fineparser.losses import attention_loss, mask_targets

    if model.sap is None:
        raise ValueError("warm_up_attention: the model has no SAP attention")
    params = warmup_parameters(model, mcfg.sap_stage)
    optimizer = torch.optim.Adam(params, lr=lr)
    world, rank = (info.world_size, info.rank) if info is not None and info.enabled else (1, 0)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="attention warm-up", unit="step", leave=False,
               disable=not progress or rank != 0)
    epoch = 0
    while len(losses) < steps:
        pairs.set_epoch(epoch, stream=WARMUP_STREAM)
        sampler = DistributedSampler(pairs, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        for batch in DataLoader(pairs, batch_size=batch_size, sampler=sampler):
            if len(losses) >= steps:
                break
            q, z = batch.query, batch.exemplar
            masks, valid = masks_to_snippets(torch.cat([q.masks, z.masks]).to(device),
                                             torch.cat([q.mask_valid, z.mask_valid]).to(device), mcfg)
            with autocast(device, amp):
                attn = attention_of(model, torch.cat([q.frames, z.frames]), mcfg, device).float()
            m_gt, cell_valid = mask_targets(masks, valid, attn.shape[-3:])
            loss = attention_loss(attn, m_gt, cell_valid, kind=mcfg.sap_loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _average_gradients(params, info)
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss_a=f"{losses[-1]:.4g}")
        epoch += 1
    bar.close()
    pairs.set_epoch(0)
    tenth = max(1, math.ceil(steps / 10))
    return {"steps": steps, "loss_a_first": sum(losses[:tenth]) / tenth,
            "loss_a_last": sum(losses[-tenth:]) / tenth, "seconds": round(time.perf_counter() - t0, 3)}


def warm_up_trainer(trainer) -> dict | None:
    """Warm up a :class:`~fineparser.engine.Trainer`'s attention before its first epoch; its EMA
    restarts from the warmed-up weights. None (logged) when there are no masks or no SAP."""
    cfg, model = trainer.cfg, trainer.model
    if cfg.masks == "none" or model.sap is None:
        log.info("attention warm-up skipped: %s", "masks=none" if cfg.masks == "none" else "no SAP")
        return None
    stats = warm_up_attention(model, trainer.pairs, trainer.mcfg, trainer.info.device, cfg.sap_warmup_steps,
                              cfg.lr_sap_warmup, cfg.batch_size, cfg.seed, cfg.amp, trainer.info,
                              progress=trainer.info.is_main)
    if trainer.ema is not None:
        from torch_ema import ExponentialMovingAverage

        trainer.ema = ExponentialMovingAverage(model.parameters(), decay=cfg.ema_decay)
    log.info("attention warm-up: %d steps, L_A %.4f -> %.4f (%.0f s)", stats["steps"],
             stats["loss_a_first"], stats["loss_a_last"], stats["seconds"])
    return stats
