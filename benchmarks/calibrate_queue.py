"""Calibrate the review queue's predicted quality on the synthetic set and rewrite its record.

The states the queue sees in a correction loop: the start (pseudo masks from one first-frame box per
athlete, ``--tracker``/``--segmenter``; several segmenters, comma-separated, pool their states on
the same clips), then the same after perfect corrections on evenly spaced keyframes (``--shares``
of the frames) and re-propagation. Every uncorrected frame of every state is
a row: the features of :func:`hmtools.review_model.frame_features` and the label bad = IoU < 0.5
against the exact mask. The model is fitted on half the clips and its precision/recall at review
budgets of 1%, 5% and 10% measured on the other half (per state, the queue's actual use), next to
the old points ranking (``hmtools.review.object_priority``); then refitted on all clips.

The record's ``carry`` (how much of the predicted improvement of the frames a correction
regenerates its gain counts, :mod:`hmtools.review_gain`) is then chosen on the loop itself: from the
first segmenter's start, rounds of the queue with the refitted model (``--loop-budgets`` % of the
frames corrected in all, perfect corrections, re-propagation after each round) for every value of
``--carry-grid``; the value with the highest mean IoU averaged over the rounds wins (ties: the
larger). The record is written to ``hmtools/review_model.json`` (``--out``), with those figures in
``fitted_on``. Calibrate on a synthetic seed the bench does not use (not 1-4).

Run:  .venv/bin/python benchmarks/calibrate_queue.py [--clips 24] [--seed 11] [--segmenter seeded,classical]
      [--carry-grid 0.25,0.35,0.5,0.75,1] [--loop-budgets 2,5] [--out PATH] [--dry-run]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_correction import Truth, correct, frame_ious, keyframe_picks, make_start, run_order  # noqa: E402

from hmtools.review import object_priority  # noqa: E402
from hmtools.review_model import MODEL_PATH, fit_logistic, frame_features, precision_recall_at, save_model  # noqa: E402
from hmtools.store import MaskStore  # noqa: E402
from hmtools.workflows.propagate import propagate_store  # noqa: E402

BUDGETS = (1.0, 5.0, 10.0)


def rows(store: MaskStore, truth: Truth, bad_iou: float):
    """Per uncorrected frame: video, features, old points, bad (1/0)."""
    ious = frame_ious(store, truth)
    vids, feats, points, bad = [], [], [], []
    k = 0
    for vid in sorted(truth.union):
        doc = store.read(vid)
        x = frame_features(doc)
        for i in range(doc.n_frames):
            if not doc.corrected.objects(i):
                vids.append(vid)
                feats.append(x[i])
                pts = [object_priority(pm)[0] for pm in doc.pseudo.objects(i).values()]
                points.append(max(pts, default=0.0))
                bad.append(ious[k] < bad_iou)
            k += 1
    return np.array(vids), np.array(feats), np.array(points), np.array(bad, float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11, help="synthetic seed (the bench uses 1-4)")
    ap.add_argument("--root", type=Path, help="an existing `hmtools synth` output")
    ap.add_argument("--shares", default="0,2,5,10", help="keyframe shares (%%) of the calibration states")
    ap.add_argument("--tracker", default="none")
    ap.add_argument("--segmenter", default="seeded,classical",
                    help="comma-separated: the states of every one are pooled")
    ap.add_argument("--bad-iou", type=float, default=0.5)
    ap.add_argument("--carry-grid", default="0.25,0.35,0.5,0.75,1", help="values of the record's carry to try")
    ap.add_argument("--loop-budgets", default="2,5", help="%% of frames corrected after each round of the loop")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--dry-run", action="store_true", help="report only; do not write the record")
    args = ap.parse_args()
    shares = [float(s) for s in args.shares.split(",")]
    t0 = time.perf_counter()
    segmenters = args.segmenter.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        states = {}
        for seg in segmenters:  # several backends: their states are pooled (one record for all)
            work = Path(tmp) / seg
            work.mkdir()
            if args.root is None and seg != segmenters[0]:
                args.root = Path(tmp) / segmenters[0] / "synth"  # the same clips
            one = argparse.Namespace(**{**vars(args), "segmenter": seg})
            _, truth, settings, backends, start = make_start(work, one)
            if seg == segmenters[0]:
                loop_start = (start, truth, backends)
            for share in shares:
                d = work / f"state_{share:g}"
                shutil.copytree(start, d)
                store = MaskStore.open(d)
                if share > 0:
                    correct(store, truth, keyframe_picks(truth, share / 100))
                    propagate_store(store, backends=backends)
                states[(seg, share)] = rows(store, truth, args.bad_iou)
        report, model = fit_and_report(args, segmenters, shares, states, truth)
        loops = {}
        for c in [float(v) for v in args.carry_grid.split(",")]:
            curve = run_order("queue", loop_start[0], Path(tmp) / "loop", loop_start[1],
                              [float(b) for b in args.loop_budgets.split(",")], loop_start[2], args.seed,
                              dataclasses.replace(model, carry=c))
            loops[c] = [(b, round(iou, 4), round(below, 2)) for b, _, iou, below, _ in curve]
            print(f"loop ({args.tracker}+{segmenters[0]}), carry {c:g}: " + ", ".join(
                f"{b:g}% -> {iou:.3f} ({below:.1f}% below)" for b, iou, below in loops[c]))
    carry = max(loops, key=lambda c: (np.mean([iou for _, iou, _ in loops[c]]), c))
    model = dataclasses.replace(model, carry=carry, fitted_on={**model.fitted_on, "carry": {
        "chosen": carry, "backend": f"{args.tracker}+{segmenters[0]}",
        "rule": "highest mean IoU averaged over the rounds",
        "loop": {f"{c:g}": [{"budget": b, "mean_iou": iou, "below": below} for b, iou, below in curve]
                 for c, curve in loops.items()}}})
    print(f"carry {carry:g}")
    if not args.dry_run:
        print(f"wrote {save_model(model, args.out)}")
    print(f"{time.perf_counter() - t0:.0f} s")


def fit_and_report(args, segmenters, shares, states, truth):
    """The half-clips fit's held-out figures per state, and the model refitted on all clips."""
    videos = sorted(truth.union)
    fit_v = set(videos[0::2])
    pooled = [np.concatenate([s[j] for s in states.values()]) for j in range(4)]
    in_fit = np.array([v in fit_v for v in pooled[0]])
    half = fit_logistic(pooled[1][in_fit], pooled[3][in_fit])
    print(f"synthetic set: {len(videos)} clips, {len(truth.frames())} frames; "
          f"{', '.join(f'{args.tracker}+{seg}' for seg in segmenters)}; "
          f"fit on {len(fit_v)} clips, measured on the other {len(videos) - len(fit_v)}")
    print("state                    frames  bad %   budget  reviewed  precision  recall  | old points: precision  recall")
    report = {}
    for (seg, share), (v, x, pts, bad) in states.items():
        held = np.array([vv not in fit_v for vv in v])
        new = precision_recall_at(half.predict(x[held]), bad[held], BUDGETS)
        old = precision_recall_at(pts[held], bad[held], BUDGETS)
        name = ("start" if share == 0 else f"{share:g}% keyframes") + (f" {seg}" if len(segmenters) > 1 else "")
        report[name] = {"frames": int(held.sum()), "bad_share": round(float(bad[held].mean()), 4),
                        "at": {f"{b:g}%": {"precision": round(pn, 3), "recall": round(rn, 3),
                                           "old_precision": round(po, 3), "old_recall": round(ro, 3)}
                               for (b, _, pn, rn), (_, _, po, ro) in zip(new, old)}}
        for (b, k, pn, rn), (_, _, po, ro) in zip(new, old):
            print(f"{name:23s}  {int(held.sum()):6d}  {100 * bad[held].mean():5.1f}  {b:5.0f}%  {k:8d}  "
                  f"{pn:9.3f}  {rn:6.3f}  |            {po:9.3f}  {ro:6.3f}")
    model = fit_logistic(pooled[1], pooled[3])
    p_all = model.predict(pooled[1])
    # The default queue's cut: the probability above which half the frames the model calls bad are bad.
    model = type(model)(model.features, model.weights, model.mean, model.scale, model.bias, args.bad_iou,
                        0.5, fitted_on={"data": f"hmtools synth, {len(videos)} clips, seed {args.seed}",
                              "backend": ", ".join(f"{args.tracker}+{seg}" for seg in segmenters),
                              "states": [f"{s:g}% keyframes" for s in shares],
                              "rows": int(len(p_all)),
                              "held_out": report,
                              "command": "benchmarks/calibrate_queue.py " + " ".join(sys.argv[1:])})
    print("weights (standardised features): " + ", ".join(
        f"{f} {w:+.2f}" for f, w in zip(model.features, model.weights)) + f"; bias {model.bias:+.2f}")
    return report, model


if __name__ == "__main__":
    main()
