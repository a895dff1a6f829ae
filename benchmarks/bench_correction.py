"""Annotation-effort benchmark: how many frames a person must correct before the masks are right.

A simulated annotator on the synthetic set (``hmtools synth``, exact masks known):

1. start: pseudo masks from one first-frame box per athlete (the tight box of its true mask on its
   first visible frame), ``--tracker``/``--segmenter`` (default ``none+seeded``);
2. repeatedly: take the next ``k`` frames of an order, replace every athlete's mask there with the
   exact one (a perfect correction: the true instance mask, ``empty`` where the athlete is absent),
   re-propagate (``hmtools.workflows.propagate``), and measure the mean per-frame IoU of the
   effective mask against the exact mask and the share of frames below IoU 0.5 (frame counting as
   in :mod:`hmtools.pseudo.synth_eval`: both empty = 1.0).

Orders: ``queue`` (the review queue in its order of expected gain, :mod:`hmtools.review_gain`, from
the calibrated predicted badness of :mod:`hmtools.review_model`; re-ranked after every
propagation, corrected frames left out),
``random`` (one fixed random permutation of all frames), ``keyframes`` (per video, evenly spaced
frames; each budget is its own evenly spaced set, so it starts from a fresh copy of the start).

Outputs: a table per order, a PNG curve (``--png``), the goals, and as the last line
``effort: P% of frames corrected -> mean IoU X, Y% below 0.5 (queue); random order needs R%``
where P is the first budget at which the queue meets both goals (mean IoU >= 0.9 and <= 1% of
frames below 0.5), else the goal budget (5%), and R is the budget random order needs to reach the
queue's mean IoU at P (linear interpolation on its curve; ``>M%`` when it never does, and then M,
its last budget, is the lower bound that goal 2 is judged on).

Run:  .venv/bin/python benchmarks/bench_correction.py [--quick] [--clips 24] [--png effort.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmtools.datasets import open_dataset  # noqa: E402
from hmtools.pseudo.pipeline import Backends, PseudoMaskSettings, generate_pseudo_masks, jobs_from_path  # noqa: E402
from hmtools.pseudo.synth_eval import INSTANCES_DIR, MASKS_DIR, _read_png, _truth_path, synth_prompts  # noqa: E402
from hmtools.rle import mask_to_rle, rle_to_mask  # noqa: E402
from hmtools.store import MaskStore  # noqa: E402
from hmtools.synth import generate  # noqa: E402
from hmtools.workflows.propagate import propagate_store  # noqa: E402

GOAL_BUDGET, GOAL_IOU, GOAL_BELOW = 5.0, 0.9, 1.0


class Truth:
    """Exact union and instance masks of every frame, by video (dense: the synthetic clips are tiny)."""

    def __init__(self, root: Path, samples):
        self.union: dict[str, list[np.ndarray]] = {}
        self.instances: dict[str, list[np.ndarray]] = {}
        for s in samples:
            self.union[s.video_id] = [_read_png(_truth_path(root, s, n, MASKS_DIR)) > 127 for n in s.frame_names]
            self.instances[s.video_id] = [_read_png(_truth_path(root, s, n, INSTANCES_DIR)) for n in s.frame_names]

    def frames(self) -> list[tuple[str, int]]:
        return [(v, i) for v, ms in sorted(self.union.items()) for i in range(len(ms))]


def frame_ious(store: MaskStore, truth: Truth) -> np.ndarray:
    out = []
    for vid, masks in sorted(truth.union.items()):
        doc = store.read(vid)
        for i, t in enumerate(masks):
            rle = doc.layer_mask("effective", i)
            pred = np.zeros_like(t) if rle is None else rle_to_mask(rle).astype(bool)
            union = np.count_nonzero(pred | t)
            out.append(1.0 if union == 0 else np.count_nonzero(pred & t) / union)
    return np.asarray(out)


def correct(store: MaskStore, truth: Truth, picks) -> None:
    """Perfect corrections of every athlete on the picked frames."""
    by_video: dict[str, list[int]] = {}
    for vid, i in picks:
        by_video.setdefault(vid, []).append(i)
    for vid, idxs in by_video.items():
        with store.edit(vid) as doc:
            for i in idxs:
                inst = truth.instances[vid][i]
                for obj_id in doc.object_ids:
                    rle = mask_to_rle(inst == obj_id)
                    doc.set_correction(i, obj_id, doc.make_correction(
                        i, obj_id, rle, by="simulated", at="2026-01-01T00:00:00Z", tool="bench",
                        pseudo_hash=doc.pseudo_hash(i, obj_id)))


def queue_picks(store: MaskStore, k: int, model=None) -> list[tuple[str, int]]:
    """The review queue's first ``k`` frames (``model``: default the shipped record)."""
    from hmtools.review import review_queue

    items = review_queue(store, include_unflagged=True, limit=k, model=model)
    return [(it.video_id, it.frame_idx) for it in items]


def keyframe_picks(truth: Truth, share: float) -> list[tuple[str, int]]:
    out = []
    for vid, masks in sorted(truth.union.items()):
        n = len(masks)
        m = int(round(share * n))
        if m:
            out += [(vid, int(i)) for i in np.unique(np.round((np.arange(m) + 0.5) * n / m - 0.5).astype(int))]
    return out


def run_order(order: str, start: Path, work: Path, truth: Truth, budgets, backends, seed: int, model=None):
    """Curve ``[(budget %, frames corrected %, mean IoU, % below 0.5, seconds)]`` for one order
    (``model``: the queue's record, default the shipped one)."""
    frames = truth.frames()
    total = len(frames)
    curve = []
    store_dir = work / f"store_{order}"
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.copytree(start, store_dir)
    store = MaskStore.open(store_dir)
    perm = [frames[j] for j in np.random.default_rng(seed).permutation(total)]
    done: set[tuple[str, int]] = set()
    for b in budgets:
        t0 = time.perf_counter()
        want = int(round(b / 100 * total))
        if order == "keyframes":
            shutil.rmtree(store_dir)
            shutil.copytree(start, store_dir)
            store = MaskStore.open(store_dir)
            picks = keyframe_picks(truth, b / 100)
            done = set(picks)
        elif order == "random":
            picks = perm[len(done):want]
        else:
            picks = queue_picks(store, want - len(done), model) if want > len(done) else []
        if picks:
            correct(store, truth, picks)
            done |= set(picks)
            propagate_store(store, backends=backends)
        ious = frame_ious(store, truth)
        curve.append((b, 100 * len(done) / total, float(ious.mean()), 100 * float((ious < 0.5).mean()),
                      time.perf_counter() - t0))
    return curve


def needed(curve, target: float) -> float | None:
    """Budget (% of frames corrected) at which a curve first reaches ``target`` mean IoU, interpolated."""
    prev = None
    for _, share, iou, _, _ in curve:
        if iou >= target:
            if prev is None or prev[1] >= iou:
                return share
            return prev[0] + (target - prev[1]) * (share - prev[0]) / (iou - prev[1])
        prev = (share, iou)
    return None


def plot(curves: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for order, curve in curves.items():
        x = [c[1] for c in curve]
        a1.plot(x, [c[2] for c in curve], marker="o", label=order)
        a2.plot(x, [c[3] for c in curve], marker="o", label=order)
    a1.axhline(GOAL_IOU, ls="--", c="grey")
    a2.axhline(GOAL_BELOW, ls="--", c="grey")
    for a in (a1, a2):
        a.axvline(GOAL_BUDGET, ls=":", c="grey")
        a.set_xlabel("frames corrected (%)")
        a.legend()
    a1.set_ylabel("mean IoU vs exact masks")
    a2.set_ylabel("frames below IoU 0.5 (%)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def make_start(work: Path, args):
    """The synthetic set (``args.root``, else ``args.clips`` clips of ``args.seed``) and its start store.

    Returns ``(samples, truth, settings, backends, start_store_dir)``; the start is pseudo masks from
    one first-frame box per athlete with ``args.tracker``/``args.segmenter``.
    """
    root = args.root
    if root is None:
        root = work / "synth"
        generate(root, n_videos=args.clips, seed=args.seed, progress=False, preview=False)
    samples = open_dataset("synthetic", root).samples()
    truth = Truth(root, samples)
    settings = PseudoMaskSettings(tracker=args.tracker, segmenter=args.segmenter)
    backends = Backends(settings)
    start = work / "store_start"
    generate_pseudo_masks(jobs_from_path(root, dataset="synthetic"), MaskStore.open_or_create(start), settings,
                          prompts=synth_prompts(root, samples), backends=backends, progress=False)
    return samples, truth, settings, backends, start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", type=Path, help="an existing `hmtools synth` output")
    ap.add_argument("--quick", action="store_true", help="8 clips, fewer budgets (under 2 minutes)")
    ap.add_argument("--budgets", default="0,1,2,3,5,7.5,10", help="%% of frames, comma-separated")
    ap.add_argument("--tracker", default="none")
    ap.add_argument("--segmenter", default="seeded")
    ap.add_argument("--png", type=Path, default=Path("bench_correction.png"))
    args = ap.parse_args()
    if args.quick:
        args.clips, args.budgets = 8, "0,2,5,10"
    budgets = [float(b) for b in args.budgets.split(",")]
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples, truth, settings, backends, start = make_start(work, args)
        total = len(truth.frames())
        print(f"synthetic set: {len(samples)} clips, {total} frames; start: {settings.backend} from one "
              f"first-frame box per athlete; perfect corrections, then propagate ({settings.backend})")
        curves = {}
        for order in ("queue", "random", "keyframes"):
            curves[order] = run_order(order, start, work, truth, budgets, backends, args.seed)
            print(f"{order}:")
            for b, share, iou, below, secs in curves[order]:
                print(f"  budget {b:5.1f}%  corrected {share:5.1f}%  mean IoU {iou:.3f}  "
                      f"below 0.5 {below:5.1f}%  ({secs:.1f} s)")
        plot(curves, args.png)
        q = curves["queue"]
        met = [c for c in q if c[3] <= GOAL_BELOW and c[2] >= GOAL_IOU]
        at = met[0] if met else min(q, key=lambda c: (abs(c[0] - GOAL_BUDGET), -c[0]))
        at_goal = min(q, key=lambda c: (abs(c[0] - GOAL_BUDGET), -c[0]))
        r = needed(curves["random"], at[2])
        # Random order never reaching the queue's IoU needs more than its last budget: a lower bound.
        r_low = curves["random"][-1][1] if r is None else r
        ratio = None if at[1] <= 0 else r_low / at[1]
        ratio_text = "n/a" if ratio is None else f"{'>' if r is None else ''}{ratio:.2f}"
        print(f"goal 1 (<= {GOAL_BUDGET:g}% corrected: mean IoU >= {GOAL_IOU}, <= {GOAL_BELOW:g}% below 0.5): "
              f"queue at {at_goal[1]:.1f}% -> {at_goal[2]:.3f}, {at_goal[3]:.1f}% below: "
              f"{'met' if at_goal[2] >= GOAL_IOU and at_goal[3] <= GOAL_BELOW else 'NOT met'}")
        print(f"goal 2 (queue needs <= half of random's corrections): "
              f"{'met' if ratio is not None and ratio >= 2 else 'NOT met'}"
              f" (random/queue = {ratio_text})")
        print(f"curve: {args.png}; {time.perf_counter() - t_start:.0f} s")
        r_text = f">{curves['random'][-1][1]:.1f}%" if r is None else f"{r:.1f}%"
        print(f"effort: {at[1]:.1f}% of frames corrected -> mean IoU {at[2]:.3f}, {at[3]:.1f}% below 0.5 (queue); "
              f"random order needs {r_text}")


if __name__ == "__main__":
    main()
