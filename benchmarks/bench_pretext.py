"""Can the from-scratch demo I3D learn labels that are not the score? (a rung below the ladder)

The learning diagnosis (README, "Does it learn?") says the backbone trained from scratch does
not grow body-shape features. This checks it on a plain classification task of the same clips:
the demo I3D (random init) with two linear heads on its pooled stage-4 snippet features learns

- the **action type** of the clip (the FineDiving number: position pike / tuck, take-off
  direction, twist), from the mean over its snippets, and
- the **phase** of every snippet (before the first step transition, between, after the last),

with Adam on the training clips (the demo's validation share held out), random crop and flip as
in training. It prints per epoch the loss and the training accuracies, then the held-out
accuracies (central crop) beside chance. Optionally it saves the I3D weights in the layout that
``--set i3d_weights=...`` loads (same width only).

Run:  .venv/bin/python benchmarks/bench_pretext.py --data-root demo_out/data --store demo_out/store
      [--epochs 4] [--save i3d_pretext.pth]
(the data and store of ``make demo``). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from fineparser.dataset import ClipCache, load_clip
    from fineparser.inputs import build_table, open_samples, to_snippets
    from fineparser.model import build_model
    from fineparser.model.preprocess import snippet_frame_indices
    from fineparser.train_config import load_train_config
    from fineparser.transforms import CropParams, resize_target

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--config", default=str(REPO / "configs" / "demo.json"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--save", help="write the I3D state dict here")
    args = parser.parse_args()

    torch.manual_seed(0)
    cfg = load_train_config(args.config, [f"data_root={args.data_root}", f"store={args.store}", "masks=none"])
    mcfg = cfg.model_config()
    table = build_table(cfg, mcfg, open_samples(cfg), masks="none")  # holds out val_share as "val"
    train, held = table.indices("train"), table.indices("val")
    types = sorted(set(table.action_types))
    type_id = {t: i for i, t in enumerate(types)}
    i3d = build_model(mcfg).i3d
    idx = snippet_frame_indices(mcfg)
    centres = idx[:, idx.shape[1] // 2].numpy()  # window frame at the middle of every snippet
    cache, rng = ClipCache(), np.random.default_rng(0)
    resize, size = resize_target(mcfg, cfg.resize_scale), tuple(mcfg.frame_size_hw)

    def batch(rows, train_mode: bool):
        items = [load_clip(table, r, CropParams.draw(size, resize, train_mode, train_mode, rng), cache)
                 for r in rows]
        tr = table.transitions[rows]
        phase = (centres[None] >= tr[:, :1]).astype(int) + (centres[None] >= tr[:, 1:2]).astype(int)
        return (torch.stack([it.frames for it in items]), torch.as_tensor(phase),
                torch.as_tensor(table.transitions_valid[rows]),
                torch.as_tensor([type_id[table.action_types[r]] for r in rows]))

    def features(frames):
        x = to_snippets(frames, mcfg, torch.device("cpu"))
        b, n = x.shape[:2]
        x = x.flatten(0, 1)
        for stage in (1, 2, 3, 4):
            x = i3d.forward_stage(stage, x)
        return x.mean(dim=(2, 3, 4)).unflatten(0, (b, n))

    c4 = i3d.out_channels
    head_phase, head_type = nn.Linear(c4, 3), nn.Linear(c4, len(types))
    params = [*i3d.parameters(), *head_phase.parameters(), *head_type.parameters()]
    opt = torch.optim.Adam(params, lr=args.lr)
    ce = nn.functional.cross_entropy

    def run(rows, train_mode: bool) -> tuple[float, float, float]:
        i3d.train(train_mode)
        losses, acc_t, acc_p = [], [], []
        for k in range(0, len(rows) - (args.batch - 1 if train_mode else 0), args.batch):
            frames, phase, valid, act = batch(rows[k:k + args.batch], train_mode)
            with torch.set_grad_enabled(train_mode):
                f = features(frames)
                lp, lt = head_phase(f), head_type(f.mean(1))
                loss = ce(lt, act) + ce(lp[valid].flatten(0, 1), phase[valid].flatten())
            if train_mode:
                opt.zero_grad()
                loss.backward()
                opt.step()
            losses.append(float(loss.detach()))
            acc_t.append(float((lt.argmax(1) == act).float().mean()))
            acc_p.append(float((lp.argmax(-1) == phase).float().mean()))
        return float(np.mean(losses)), float(np.mean(acc_t)), float(np.mean(acc_p))

    print(f"{len(train)} training / {len(held)} held-out clips, {len(types)} action types "
          f"(chance {1 / len(types):.2f}), input {size[1]}x{size[0]}")
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        loss, acc_t, acc_p = run([int(r) for r in rng.permutation(train)], True)
        print(f"epoch {epoch + 1}: loss {loss:.3f}  train accuracy: action type {acc_t:.3f}, "
              f"phase {acc_p:.3f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if held:
        _, acc_t, acc_p = run(held, False)
        print(f"held out: action type {acc_t:.3f} (chance {1 / len(types):.2f}), phase {acc_p:.3f}")
    if args.save:
        torch.save(i3d.state_dict(), args.save)
        print(f"saved the I3D weights to {args.save} (load with --set i3d_weights={args.save})")


if __name__ == "__main__":
    main()
