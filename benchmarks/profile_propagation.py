"""Where re-propagation loses IoU: per frame distance from the nearest anchor, per phase, per athlete.

The state of a correction loop after perfect corrections on evenly spaced keyframes (``--share`` %
of each clip's frames, as ``bench_correction.py``'s ``keyframes`` order) and re-propagation with
``--tracker``/``--segmenter``. Every frame is one row: its effective-mask IoU against the exact
union mask (both empty = 1.0), each athlete's IoU against its exact instance mask, the distance to
the nearest corrected frame, and its phase from the clip's step transitions (``take-off`` before
the first, ``flight`` up to the last, ``entry`` after it, split by whether anybody is still
visible: ``entry/under water`` when the exact mask is empty).

Run:  .venv/bin/python benchmarks/profile_propagation.py [--clips 8] [--seed 1] [--share 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_correction import correct, keyframe_picks, make_start  # noqa: E402

from hmtools.rle import rle_to_mask  # noqa: E402
from hmtools.store import MaskStore  # noqa: E402
from hmtools.workflows.propagate import propagate_store  # noqa: E402

DIST_BINS = ((0, 0), (1, 1), (2, 2), (3, 4), (5, 7), (8, 11), (12, 10 ** 6))


def _iou(pred: np.ndarray, true: np.ndarray) -> float:
    union = np.count_nonzero(pred | true)
    return 1.0 if union == 0 else np.count_nonzero(pred & true) / union


def frame_rows(store: MaskStore, truth, clips: dict) -> list[dict]:
    """One row per frame (see the module docstring)."""
    out = []
    for vid in sorted(truth.union):
        doc = store.read(vid)
        anchors = [i for i in range(doc.n_frames) if doc.corrected.objects(i)]
        trans = clips[vid]["transitions"]
        for i, t in enumerate(truth.union[vid]):
            objs = doc.effective_objects(i)
            masks = {o: rle_to_mask(r).astype(bool) for o, (_, r) in objs.items()}
            pred = np.zeros_like(t)
            for m in masks.values():
                pred |= m
            phase = "take-off" if i < trans[0] else "flight" if i < trans[-1] else \
                ("entry/visible" if t.any() else "entry/under water")
            inst = truth.instances[vid][i]
            per_obj = {o: _iou(masks.get(o, np.zeros_like(t)), inst == o) for o in doc.object_ids}
            out.append({"video": vid, "frame": i, "iou": _iou(pred, t), "phase": phase,
                        "dist": min((abs(i - a) for a in anchors), default=10 ** 6),
                        "athletes": per_obj, "n_athletes": len(doc.object_ids)})
    return out


def table(rows: list[dict], key, labels) -> list[str]:
    lines = []
    for label in labels:
        sel = [r for r in rows if key(r) == label]
        if not sel:
            continue
        ious = np.array([r["iou"] for r in sel])
        lines.append(f"  {str(label):<18} frames {len(sel):4d}  mean IoU {ious.mean():.3f}  "
                     f"below 0.5 {100 * (ious < 0.5).mean():5.1f}%  lost IoU {np.sum(1 - ious):6.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", type=Path, help="an existing `hmtools synth` output")
    ap.add_argument("--share", type=float, default=5.0, help="%% of frames corrected (keyframes)")
    ap.add_argument("--tracker", default="none")
    ap.add_argument("--segmenter", default="seeded")
    ap.add_argument("--json", type=Path, help="write the per-frame rows here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples, truth, settings, backends, start = make_start(work, args)
        root = args.root or work / "synth"
        clips = {c["video_id"]: c for c in json.loads((root / "synth_truth.json").read_text())["clips"]}
        store = MaskStore.open(start)
        if args.share > 0:
            correct(store, truth, keyframe_picks(truth, args.share / 100))
            propagate_store(store, backends=backends)
        rows = frame_rows(store, truth, clips)
    ious = np.array([r["iou"] for r in rows])
    print(f"{len(samples)} clips, {len(rows)} frames, {settings.backend}, keyframes {args.share:g}%: "
          f"mean IoU {ious.mean():.3f}, below 0.5 {100 * (ious < 0.5).mean():.1f}%")
    print("by distance from the nearest anchor:")

    def dist_bin(r):
        return next(f"{a}" if a == b else f"{a}-{b}" if b < 10 ** 6 else f">={a}"
                    for a, b in DIST_BINS if a <= r["dist"] <= b)

    print("\n".join(table(rows, dist_bin, [f"{a}" if a == b else f"{a}-{b}" if b < 10 ** 6 else f">={a}"
                                           for a, b in DIST_BINS])))
    print("by phase:")
    print("\n".join(table(rows, lambda r: r["phase"], ["take-off", "flight", "entry/visible",
                                                        "entry/under water"])))
    print("by clip kind:")
    print("\n".join(table(rows, lambda r: "synchronized" if r["n_athletes"] > 1 else "individual",
                          ["individual", "synchronized"])))
    print("per athlete (instance IoU, frames where the athlete or its prediction is visible or not):")
    for o in (1, 2):
        a = np.array([r["athletes"][o] for r in rows if o in r["athletes"]])
        if a.size:
            print(f"  athlete {o}: frames {a.size:4d}  mean IoU {a.mean():.3f}  "
                  f"below 0.5 {100 * (a < 0.5).mean():5.1f}%")
    if args.json:
        args.json.write_text(json.dumps(rows))
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
