"""Head refit: after the last epoch, the step decoder (TAP) and the regressor train on frozen
snippet features of the training clips.

Why: an end-to-end step costs an I3D forward and backward pass of two videos, so the demo's CPU
budget buys about a thousand of them, and the small heads at the end of the network are the part
left furthest from what the features allow. Measured on the demo's data (synthetic seed 0, 480
training clips, 6 epochs): a ridge probe fitted on the trained model's snippet features X^F reads
test rho 0.63 out of them, the model's own heads 0.36-0.41. A head step on cached X^F costs about a
millisecond, so a few thousand steps of the paper's own heads on exactly the features the
evaluation sees take seconds (the same heads, refitted this way, reached validation rho 0.55 from
0.31).

What runs: the backbone (I3D, SAP, SVE) keeps the weights the evaluation uses (the EMA weights when
kept) and is frozen in ``eval()`` mode. Every training clip is encoded once without augmentation
(and mirrored as well when the training flips), then ``head_refit_steps`` Adam steps train the
decoder (with tau) and the regressor on L_E (both orders when the training uses them) plus L_T,
over pairs drawn like the epochs' (same exemplar rule). The EMA restarts from the refitted weights,
so the evaluation and the checkpoint use them. The model is unchanged, masks are not involved (the
attention sits in the frozen backbone), and nothing of this runs at test time. Under torchrun
every process encodes all clips and takes the same steps, so all hold the same weights.

``head_warmup_steps`` runs the same refit once before the first epoch (after the attention
warm-up), on the features of the starting backbone: a random backbone's features already carry
a ridge-readable score signal, and heads fitted to it send the first epochs' gradients to the
backbone through a regressor that already ranks (demo data, one seed: 1000 warm-up steps, 20 s,
gave test rho 0.679 against 0.652 without, attention IoU 0.294 against 0.224).

Example:
    >>> stats = refit_heads(trainer, 3000)     # doctest: +SKIP
    >>> stats["loss_e_last"] < stats["loss_e_first"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from fineparser.inputs import autocast, to_snippets

log = logging.getLogger(__name__)

REFIT_STREAM = 2  # rng stream of the refit's draws (epochs 0, attention warm-up 1)


def encode_clips(model, table, rows: list[int], cfg, device: torch.device, cache=None,
                 flip: bool = False, progress: bool = True) -> torch.Tensor:
    """X^F of ``rows`` as (V, R, N, C) float32 on ``device``: V = 2 views (as is, mirrored) with
    ``flip``, else 1; the central crop the evaluation uses, in ``eval()`` mode, no gradient."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from fineparser.dataset import ClipDataset
    from fineparser.transforms import resize_target

    mcfg = model.config
    data = ClipDataset(table, rows, mcfg.frame_size_hw, resize_target(mcfg, cfg.resize_scale), cache)
    loader = DataLoader(data, batch_size=cfg.eval_batch_size, num_workers=0)
    views: list[list[torch.Tensor]] = [[] for _ in range(2 if flip else 1)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(device, cfg.amp):
            for batch in tqdm(loader, desc="head refit: encode", unit="batch", leave=False,
                              disable=not progress):
                for v, out in enumerate(views):
                    frames = batch.frames.flip(-1) if v else batch.frames
                    out.append(model.encode(to_snippets(frames, mcfg, device)).snippet_features.float())
    finally:
        model.train(was_training)
    return torch.stack([torch.cat(v) for v in views])


def refit_heads(trainer, steps: int) -> dict:
    """Run ``steps`` refit steps on a :class:`~fineparser.engine.Trainer` (after its last epoch, or
    before its first for the head warm-up); returns what it did (steps, pairs, L_E over the first
    and last hundred steps (quarter when fewer), seconds)."""
    from torch_ema import ExponentialMovingAverage

    cfg, mcfg, table, device = trainer.cfg, trainer.mcfg, trainer.table, trainer.info.device
    model = trainer.model
    if trainer.ema is not None:
        trainer.ema.copy_to(model.parameters())  # refit the heads the evaluation would use
    rows = list(trainer.train_rows)
    pos = {r: i for i, r in enumerate(rows)}
    t0 = time.perf_counter()
    progress = trainer.info.is_main
    feats = encode_clips(model, table, rows, cfg, device, trainer.cache, cfg.flip, progress)
    encode_s = time.perf_counter() - t0

    heads = [*model.decoder.parameters(), *model.regressor.parameters()]
    optimizer = torch.optim.Adam(heads, lr=cfg.head_refit_lr)
    size = cfg.head_refit_batch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    rng = np.random.default_rng([cfg.seed, REFIT_STREAM])
    pool = {r: trainer.chooser.candidates(r) for r in rows}  # same rule as the epochs' draws
    scores = torch.as_tensor(np.asarray(table.scores, np.float32), device=device) / cfg.score_scale
    diffs = torch.as_tensor(np.asarray(table.difficulties, np.float32), device=device)
    dd = mcfg.exemplar_setting == "DD"
    targets = _transition_targets(table, rows, mcfg, device) if cfg.loss_t and mcfg.tap else None
    model.decoder.train()
    model.regressor.train()
    losses: list[float] = []
    t1 = time.perf_counter()
    from tqdm import tqdm

    for _ in tqdm(range(steps), desc="head refit", unit="step", leave=False, disable=not progress):
        q = rng.choice(rows, size)
        z = np.array([pool[int(r)][rng.integers(len(pool[int(r)]))] for r in q])
        view = torch.as_tensor(rng.integers(0, feats.shape[0], 2 * size), device=device)
        index = torch.as_tensor([pos[int(r)] for r in (*q, *z)], device=device)
        x_t, a1, a2 = model.decoder(feats[view, index])
        loss_e = _pair_loss(model, x_t[:size], x_t[size:], q, z, scores, diffs, dd)
        if cfg.both_orders:
            loss_e = 0.5 * (loss_e + _pair_loss(model, x_t[size:], x_t[:size], z, q, scores, diffs, dd))
        loss = loss_e
        if targets is not None:
            from fineparser.losses import temporal_loss

            t, valid = targets
            loss = loss + temporal_loss(a1, a2, t[index], valid[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(heads, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        optimizer.step()
        schedule.step()
        losses.append(float(loss_e.detach()))
    model.eval()
    if trainer.ema is not None:
        trainer.ema = ExponentialMovingAverage(model.parameters(), decay=cfg.ema_decay)
    k = min(100, max(len(losses) // 4, 1))  # the first and the last quarter, at most 100 steps
    stats = {"steps": steps, "pairs": steps * size, "views": int(feats.shape[0]),
             "loss_e_first": float(np.mean(losses[:k])) if k else None,
             "loss_e_last": float(np.mean(losses[-k:])) if k else None,
             "encode_s": round(encode_s, 3), "train_s": round(time.perf_counter() - t1, 3)}
    log.info("head refit: %d steps of %d pairs on the frozen features of %d training clips "
             "(L_E %.3g -> %.3g; %.0f s encoding, %.0f s steps)", steps, size, len(rows),
             stats["loss_e_first"] or math.nan, stats["loss_e_last"] or math.nan, encode_s,
             stats["train_s"])
    return stats


def _pair_loss(model, steps_q, steps_z, q, z, scores, diffs, dd: bool) -> torch.Tensor:
    from fineparser.losses import score_loss

    q, z = torch.as_tensor(q, device=scores.device), torch.as_tensor(z, device=scores.device)
    out = model.regress(steps_q, steps_z, scores[z], diffs[q] if dd else None, diffs[z] if dd else None)
    return score_loss(out.y_hat_raw.float(), scores[q] / diffs[q] if dd else scores[q])


def _transition_targets(table, rows: list[int], mcfg, device: torch.device):
    """L_T's soft labels (R, Lq, N) and validity (R,) of ``rows``, as the epochs compute them."""
    from fineparser.losses import snippet_transitions, soft_labels

    trans = torch.as_tensor(np.stack([table.transitions[r] for r in rows]))
    valid = torch.as_tensor(np.array([bool(table.transitions_valid[r]) for r in rows]), device=device)
    t = soft_labels(snippet_transitions(trans, mcfg.snippet_stride, mcfg.num_snippets),
                    mcfg.num_snippets, mcfg.num_queries, mcfg.soft_label_centre,
                    mcfg.soft_label_sigma, mcfg.snippet_stride, mcfg.snippet_frames).to(device)
    return t, valid
