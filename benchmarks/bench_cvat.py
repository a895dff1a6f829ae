"""CVAT round-trip benchmarks: mask conversion against bare pycocotools, import planning per frame.

Figures: COCO RLE -> CVAT box runs and back per person-sized mask at 256x455, against the
pycocotools decode + encode pair the conversion is built on (the ratio is our overhead); and
``hmtools import-cvat --dry-run`` over an exported task (XML parse, validation, planning) per frame.

Run:  .venv/bin/python benchmarks/bench_cvat.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as cocomask

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmtools.workflows.cvat_export import export_cvat_task  # noqa: E402
from hmtools.workflows.cvat_import import import_cvat  # noqa: E402
from hmtools.formats.cvat_rle import coco_rle_to_cvat, cvat_to_coco_rle  # noqa: E402
from hmtools.rle import mask_to_rle  # noqa: E402
from hmtools.store import Flag, MaskStore, PseudoMask, Quality, VideoDoc  # noqa: E402

H, W = 256, 455


def person(t: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cx, cy = 120 + (t * 3) % 200, 128 + int(30 * np.sin(t / 9))
    cv2.ellipse(m, (cx, cy), (14, 42), (t * 7) % 360, 0, 360, 1, -1)
    cv2.circle(m, (cx, cy - 55), 10, 1, -1)
    cv2.line(m, (cx - 30, cy - 10), (cx + 30, cy + 20), 1, 6)
    return m.astype(bool)


def bench_conversion(n: int) -> None:
    rles = [mask_to_rle(person(t)) for t in range(n)]
    t0 = time.perf_counter()
    for r in rles:  # baseline: what the conversion must do at least (decode + encode)
        cocomask.encode(np.asfortranarray(cocomask.decode(r.to_coco())))
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in rles:
        runs, left, top, width, height = coco_rle_to_cvat(r)
        back = cvat_to_coco_rle(runs, left, top, width, height, (H, W))
    ours = time.perf_counter() - t0
    assert back.counts == rles[-1].counts
    print(f"COCO -> CVAT -> COCO: {n / ours:,.0f} masks/s ({ours / n * 1e6:.0f} us a mask); "
          f"pycocotools decode+encode {n / base:,.0f} masks/s; ratio {ours / base:.2f}x")


def bench_import(n_videos: int, n_frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = MaskStore.create(tmp / "store")
        names = [f"{k:05d}.jpg" for k in range(n_frames)]
        frame_dir = tmp / "frames"
        frame_dir.mkdir()
        img = np.full((H, W, 3), 90, np.uint8)
        for name in names:
            cv2.imwrite(str(frame_dir / name), img)
        for v in range(n_videos):
            doc = VideoDoc.new(f"v{v:03d}", (H, W), names, source=str(frame_dir))
            for i in range(n_frames):
                doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(person(i + v)), Quality(score=0.9), Flag()))
            store.write(doc)
        t0 = time.perf_counter()
        export_cvat_task(store, tmp / "task")
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = import_cvat(store, tmp / "task" / "annotations.xml", dry_run=True)
        t_import = time.perf_counter() - t0
        frames = n_videos * n_frames
        assert len(rep.changes) == frames
        print(f"export-cvat: {frames / t_export:,.0f} frames/s; import-cvat --dry-run: {frames / t_import:,.0f} "
              f"frames/s ({frames} frames, {n_videos} videos)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer masks and frames (smoke run)")
    args = ap.parse_args()
    bench_conversion(200 if args.quick else 2000)
    bench_import(2 if args.quick else 10, 50 if args.quick else 100)


if __name__ == "__main__":
    main()
