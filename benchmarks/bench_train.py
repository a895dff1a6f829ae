"""Trainer benchmarks: data loader vs training step on the demo preset, and the paper preset's step.

1. Demo preset on a small synthetic set (``hmtools.synth``, masks imported as the corrected layer):
   pairs per second delivered by the DataLoader (``--workers`` processes, decoding frames and the
   sampled masks, transforms) against pairs per second of the training step (forward, the three
   losses, backward, Adam) in this process. The loader must not be the bottleneck: ratio > 1.
2. Paper preset (103 frames, 20 snippets of 8 at 224 x 224, I3D + ResNet-34, ~36 M parameters):
   seconds per training step of one pair on this machine (random input; ``--paper-steps`` steps
   after one warm-up step), and on CUDA the largest batch that fits (doubling until out of memory).

Run:  .venv/bin/python benchmarks/bench_train.py [--quick] [--skip-paper] [--threads N]
(--quick: fewer clips and batches, for a smoke run.) Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def make_data(root: Path, n_videos: int) -> tuple[Path, Path]:
    """Synthetic clips plus a store whose corrected layer holds their exact masks."""
    from hmtools.workflows.finediving_hm import import_hm, import_targets
    from hmtools.store import MaskStore
    from hmtools.synth import generate

    data = root / "synth"
    generate(data, n_videos=n_videos, seed=0, progress=False, preview=False)
    store = MaskStore.create(root / "store")
    targets, _, _ = import_targets(store, "synthetic", data)
    import_hm(store, data / "FineDiving_HM", targets, layer="corrected", progress=False)
    return data, store.root


# The demo preset before the learning work (64 x 64 input, full-width ResNet-18 SVE), measured in
# the same run as today's as the baseline of the training step.
PREVIOUS_DEMO = ["model.frame_size_hw=[64, 64]", "model.sve_width=1.0"]


def bench_demo(data: Path, store: Path, batches: int, batch_size: int, workers: int,
               model_overrides: tuple[str, ...] = ()) -> dict:
    from torch.utils.data import DataLoader

    from fineparser.dataset import worker_init
    from fineparser.engine import Trainer, compute_losses
    from fineparser.train_config import load_train_config

    cfg = load_train_config(None, ["dataset=synthetic", f"data_root={data}", f"store={store}",
                                   "masks=gtm", "model_preset=demo", f"batch_size={batch_size}",
                                   f"workers={workers}", "run_dir=/tmp/bench_train_run",
                                   *model_overrides])
    trainer = Trainer(cfg)
    loader = DataLoader(trainer.pairs, batch_size=batch_size, shuffle=True, num_workers=workers,
                        worker_init_fn=worker_init, persistent_workers=workers > 0)
    it = iter(loader)
    next(it)  # start the workers
    t0 = time.perf_counter()
    kept = []
    for _ in range(batches):
        try:
            kept.append(next(it))
        except StopIteration:
            it = iter(loader)
            kept.append(next(it))
    load_s = time.perf_counter() - t0
    model, opt = trainer.model, trainer.optimizer
    model.train()
    def step(b):
        opt.zero_grad()
        compute_losses(model, b, trainer.mcfg, torch.device("cpu"))[0].backward()
        opt.step()

    step(kept[0])  # warm-up
    t0 = time.perf_counter()
    for b in kept:
        step(b)
    train_s = time.perf_counter() - t0
    pairs = batches * batch_size
    return {"loader_pairs_per_s": pairs / load_s, "train_pairs_per_s": pairs / train_s,
            "ratio": (pairs / load_s) / (pairs / train_s), "workers": workers,
            "batch_size": batch_size, "batches": batches}


def bench_paper(steps: int, device: torch.device) -> dict:
    from fineparser.dataset import ClipItem, PairItem
    from fineparser.engine import compute_losses
    from fineparser.model import build_model, get_config

    mcfg = get_config("paper")
    model = build_model(mcfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def batch(b: int) -> PairItem:
        f, (h, w) = mcfg.num_frames, mcfg.frame_size_hw

        def clip():
            return ClipItem(torch.randint(0, 255, (b, f, 3, h, w), dtype=torch.uint8),
                            torch.randint(0, 2, (b, f, h, w), dtype=torch.uint8),
                            torch.ones(b, f, dtype=torch.bool), torch.tensor([[30, 80]] * b),
                            torch.ones(b, dtype=torch.bool), torch.full((b,), 70.0),
                            torch.full((b,), 3.0), torch.arange(b))
        return PairItem(clip(), clip())

    def step(b: PairItem):
        opt.zero_grad(set_to_none=True)
        loss, _ = compute_losses(model, b, mcfg, device, amp=device.type == "cuda")
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    one = batch(1)
    t0 = time.perf_counter()
    step(one)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step(one)
    out = {"device": str(device), "warmup_step_s": warm_s,
           "step_s_per_pair": (time.perf_counter() - t0) / steps if steps else None,
           "params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    if device.type == "cuda":
        largest, b = 1, 2
        while b <= 256:
            try:
                step(batch(b))
                largest, b = b, b * 2
            except torch.cuda.OutOfMemoryError:
                break
            finally:
                torch.cuda.empty_cache()
        out["largest_batch"] = largest
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--paper-steps", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_videos, batches = (12, 3) if args.quick else (24, 8)
    if not args.skip_demo:
        with tempfile.TemporaryDirectory() as tmp:
            data, store = make_data(Path(tmp), n_videos)
            r = bench_demo(data, store, batches, 4, args.workers)
            old = bench_demo(data, store, batches, 4, args.workers, tuple(PREVIOUS_DEMO))
            cl = bench_demo(data, store, batches, 4, args.workers, ("channels_last=true",))
        print(f"demo preset, batch {r['batch_size']}, {r['batches']} batches, {r['workers']} loader "
              f"workers, {torch.get_num_threads()} torch threads:")
        print(f"  data loader   {r['loader_pairs_per_s']:8.2f} pairs/s")
        print(f"  training step {r['train_pairs_per_s']:8.2f} pairs/s")
        verdict = "OK: the loader is not the bottleneck" if r["ratio"] > 1 else "LOADER-BOUND"
        print(f"  ratio loader / step = {r['ratio']:.1f}x  ({verdict})")
        print(f"  previous demo preset ({', '.join(PREVIOUS_DEMO)}): training step "
              f"{old['train_pairs_per_s']:.2f} pairs/s (baseline); today's is "
              f"{r['train_pairs_per_s'] / old['train_pairs_per_s']:.1f}x")
        print(f"  channels_last=true (configs/demo.json): training step {cl['train_pairs_per_s']:.2f} "
              f"pairs/s, {cl['train_pairs_per_s'] / r['train_pairs_per_s']:.2f}x the default layout")
    if args.skip_paper:
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    p = bench_paper(0 if args.quick else args.paper_steps, device)
    print(f"paper preset ({p['params_M']:.2f} M parameters), one pair per step on {p['device']}:")
    print(f"  first step {p['warmup_step_s']:.1f} s" + (
        f"; then {p['step_s_per_pair']:.1f} s per pair" if p["step_s_per_pair"] else ""))
    if "largest_batch" in p:
        print(f"  largest batch that fits: {p['largest_batch']} pairs (peak {p['peak_mem_gib']:.1f} GiB)")


if __name__ == "__main__":
    main()
