"""Pseudo-mask benchmarks: speed per backend, share of time inside the models, IoU on synthetic data.

Figures (all in one run, on whatever machine runs it):

* decoding alone (the baseline every backend is compared with): frames per second of reading the
  synthetic clips through :class:`hmtools.video.VideoSource` with background prefetching;
* each backend on the synthetic dataset (``hmtools synth``, prompts = the tight box of each
  athlete's true mask on its first visible frame): frames per second, ratio to decoding, the share
  of the wall time spent inside the models (goal: everything else <= 15 %), and the mean per-frame
  IoU against the exact masks (goal >= 0.7), next to the IoU of a naive baseline that keeps the
  first box as the mask;
* OSTrack at full size (``vitb_256``, random weights unless ``--ostrack-checkpoint``) with the
  classical segmenter (speed only: random weights do not track);
* SAM's batched path: frames per second with one frame per encoder call and with
  ``--sam-batch`` frames per call (tiny random-weight SAM on the CPU; pass ``--sam-checkpoint``
  and ``--device cuda`` on a GPU machine for the real numbers).

Run:  .venv/bin/python benchmarks/bench_pseudo_mask.py [--clips 24] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmtools.datasets import open_dataset  # noqa: E402
from hmtools.pseudo.pipeline import (Backends, PseudoMaskSettings, generate_pseudo_masks,  # noqa: E402
                                     jobs_from_path)
from hmtools.pseudo.synth_eval import MASKS_DIR, synth_iou, synth_prompts  # noqa: E402
from hmtools.store import MaskStore  # noqa: E402
from hmtools.synth import generate  # noqa: E402
from hmtools.video import VideoSource, prefetch  # noqa: E402


def decode_fps(samples) -> float:
    t0, n = time.perf_counter(), 0
    for s in samples:
        for _ in prefetch(VideoSource.from_frame_paths(s.video_id, s.frame_paths).frames()):
            n += 1
    return n / (time.perf_counter() - t0)


def static_box_iou(root: Path, samples, prompts) -> float:
    """Mean IoU of the naive baseline: the first prompt box, filled, on every frame."""
    import cv2

    out = []
    for s in samples:
        boxes = [p.box_xyxy for p in prompts.for_video(s.video_id)]
        ious = []
        for name in s.frame_names:
            truth = cv2.imread(str(root / MASKS_DIR / s.key[0] / str(s.key[1]) / (Path(name).stem + ".png")), 0) > 127
            pred = np.zeros_like(truth)
            for x1, y1, x2, y2 in boxes:
                pred[int(y1):int(y2), int(x1):int(x2)] = True
            union = np.count_nonzero(pred | truth)
            ious.append(1.0 if union == 0 else np.count_nonzero(pred & truth) / union)
        out.append(np.mean(ious))
    return float(np.mean(out))


def run_backend(label, settings, root, samples, prompts, work, baseline_fps, backends=None, iou=True):
    store = work / f"store_{label.replace('+', '_')}"
    jobs = [j for j in jobs_from_path(root, dataset="synthetic") if j.video_id in {s.video_id for s in samples}]
    summary = generate_pseudo_masks(jobs, MaskStore.open_or_create(store), settings, prompts=prompts, backends=backends, progress=False)
    t = summary.timer
    fps = t.frames / max(t.total_s, 1e-9)
    line = (f"{label:28s} {fps:8.1f} fps  x{fps / baseline_fps:6.3f} of decoding   "
            f"in models {100 * (1 - t.other_share):5.1f}%  outside {100 * t.other_share:5.1f}%")
    if iou:
        per_video = synth_iou(MaskStore.open(store), root, samples)
        line += f"   mean IoU {np.mean(list(per_video.values())):.3f} over {len(per_video)} clips"
    if summary.failed:
        line += f"   ({len(summary.failed)} failed: {summary.failed[0].error})"
    print(line, flush=True)


def sam_batching(args) -> None:
    import torch

    from hmtools.pseudo.sam import SamSegmenter, build_tiny_sam, load_sam

    sam = load_sam(args.sam_model, args.sam_checkpoint) if args.sam_checkpoint else build_tiny_sam(img_size=256)
    what = f"SAM {args.sam_model}" if args.sam_checkpoint else "tiny random SAM (256 px input)"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (256, 455, 3), dtype=np.uint8) for _ in range(args.sam_frames)]
    boxes = [{1: (150, 40, 200, 200), 2: (250, 60, 300, 210)}] * len(frames)
    results = {}
    for batch in (1, args.sam_batch):
        seg = SamSegmenter(sam, device=args.device, encoder_batch=batch)
        seg.segment(frames[:batch], boxes[:batch])  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, len(frames), batch):
            seg.segment(frames[i:i + batch], boxes[i:i + batch])
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        results[batch] = len(frames) / (time.perf_counter() - t0)
    b = args.sam_batch
    print(f"{what} on {args.device}: {results[1]:.1f} fps with 1 frame per encoder call, "
          f"{results[b]:.1f} fps with {b} (x{results[b] / results[1]:.2f}); 2 boxes per frame")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24, help="synthetic clips for the IoU runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", type=Path, help="an existing `hmtools synth` output to use instead")
    ap.add_argument("--quick", action="store_true", help="12 clips, fewer OSTrack/SAM frames")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ostrack-checkpoint")
    ap.add_argument("--sam-checkpoint")
    ap.add_argument("--sam-model", default="vit_b")
    ap.add_argument("--sam-batch", type=int, default=4)
    ap.add_argument("--sam-frames", type=int, default=16)
    args = ap.parse_args()
    if args.quick:
        args.clips, args.sam_frames = 12, 8

    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.root
        if root is None:
            root = work / "synth"
            generate(root, n_videos=args.clips, seed=args.seed, progress=False, preview=False)
        samples = open_dataset("synthetic", root).samples()
        prompts = synth_prompts(root, samples)
        frames = sum(s.num_frames for s in samples)
        print(f"synthetic set: {len(samples)} clips, {frames} frames ({root})")
        base = decode_fps(samples)
        print(f"{'decoding only (baseline)':28s} {base:8.1f} fps")
        print(f"{'naive: first box as mask':28s} mean IoU {static_box_iou(root, samples, prompts):.3f} "
              "(the baseline for the IoU column)")
        for tracker in ("none", "opencv"):
            settings = PseudoMaskSettings(tracker=tracker, segmenter="classical")
            run_backend(f"{tracker}+classical", settings, root, samples, prompts, work, base)

        few = samples[: 2 if args.quick else 4]
        settings = PseudoMaskSettings(tracker="ostrack", segmenter="classical", ostrack_config="vitb_256",
                                      ostrack_checkpoint=args.ostrack_checkpoint, device=args.device)
        if args.ostrack_checkpoint:
            backends = None
        else:
            from hmtools.pseudo.ostrack.build import build_ostrack
            from hmtools.pseudo.offline import ClassicalSegmenter

            backends = Backends.from_parts(settings, ClassicalSegmenter(settings.classical), build_ostrack("vitb_256"))
        run_backend("ostrack(vitb_256)+classical", settings, root, few, prompts, work, base,
                    backends=backends, iou=args.ostrack_checkpoint is not None)
        sam_batching(args)
        if not torch.cuda.is_available():
            print("no GPU here: SAM/OSTrack GPU figures need --device cuda on a GPU machine")


if __name__ == "__main__":
    main()
