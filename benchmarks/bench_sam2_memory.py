"""SAM 2 backend memory: peak RSS of ``hmtools pseudo-mask --tracker sam2`` on 800 vs 3,200 frames.

Goal (issue 14): the peak on 3,200 frames within 10 % of the peak on 800 frames, i.e. memory that
does not grow with video length (SAM 2's own ``init_state`` holds every frame at the model's input
size, and its inference state every frame's memory).

What runs: a tiny random-weight SAM 2 (``tiny_test``, the package's SAM 2.1 tiny config shrunk,
128 px input) saved in the official checkpoint layout, a synthetic MJPG video (two moving
athletes, ``--size`` pixels) of each length, and the real command as a subprocess per video with
two box prompts; the peak resident set size of each subprocess comes from ``os.wait4``, and the
peak of its anonymous part (``RssAnon`` in ``/proc/PID/status``, sampled every 50 ms: the process's
own memory, without the shared libraries' file pages, whose residency depends on the page cache).
Frames per second are the command's own figure. Nothing is expected of the masks (random weights).

The same videos also go through ``--tracker ostrack --segmenter sam`` with the tiny SAM and OSTrack
behind the ``vit_h`` / ``vitb_256`` names (``gpu_check.py --cli-shim``), so both backends' figures
come from one machine and one method (``--no-compare`` skips it). Most of either peak is the
process itself (``import torch`` alone is ~500 MB with a CUDA build of torch).

Run:  .venv/bin/python benchmarks/bench_sam2_memory.py [--frames 800 3200] [--chunk 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_video(path: Path, n: int, size_wh: tuple[int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two coloured blocks swaying over a noisy background; returns their boxes on frame 0."""
    import cv2

    w, h = size_wh
    bg = np.random.default_rng(0).integers(0, 60, (h, w, 3), dtype=np.uint8)
    bw, bh = w // 8, h // 2
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for t in range(n):
        img = bg.copy()
        x = int(w * 0.2 + w * 0.1 * np.sin(t / 20))
        cv2.rectangle(img, (x, h // 4), (x + bw, h // 4 + bh), (60, 60, 220), -1)
        cv2.rectangle(img, (x + w // 3, h // 4), (x + w // 3 + bw, h // 4 + bh), (60, 220, 60), -1)
        out.write(img)
    out.release()
    x0 = int(w * 0.2)
    return (x0, h // 4, x0 + bw, h // 4 + bh), (x0 + w // 3, h // 4, x0 + w // 3 + bw, h // 4 + bh)


def _sample_anon_mb(pid: int, peak: list, done: threading.Event, every_s: float = 0.05) -> None:
    """Keep ``peak[0]`` at the largest ``RssAnon`` of ``pid`` seen (MB): the process's own memory,
    without the shared libraries' file pages that the page cache may drop or keep."""
    path = Path(f"/proc/{pid}/status")
    while not done.wait(every_s):
        try:
            text = path.read_text()
        except OSError:
            return
        m = re.search(r"^RssAnon:\s+(\d+) kB", text, re.M)
        if m:
            peak[0] = max(peak[0], int(m.group(1)) / 1024)


def run_command(args: list[str], threads: int, shim: bool = False) -> tuple[float, float, str, int]:
    """Run ``hmtools`` in a subprocess (through ``gpu_check.py --cli-shim`` with ``shim``);
    (peak RSS in MB, peak anonymous RSS in MB (sampled), output, exit status)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS=str(threads))
    entry = ([str(REPO / "benchmarks" / "gpu_check.py"), "--cli-shim"] if shim
             else ["-c", "from cli import hmtools; hmtools()"])
    proc = subprocess.Popen([sys.executable, *entry, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, done = [0.0], threading.Event()
    sampler = threading.Thread(target=_sample_anon_mb, args=(proc.pid, peak, done), daemon=True)
    sampler.start()
    output = proc.stdout.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, peak[0], output, proc.returncode  # ru_maxrss is in KiB on Linux


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[800, 3200])
    ap.add_argument("--chunk", type=int, default=None, help="--sam2-chunk (default: the library's)")
    ap.add_argument("--size", type=int, nargs=2, default=[320, 180], metavar=("W", "H"))
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the command (tiny ops: 1)")
    ap.add_argument("--no-compare", action="store_true", help="skip the tiny SAM + OSTrack runs")
    args = ap.parse_args()

    import torch

    from hmtools.pseudo.ostrack.build import build_ostrack
    from hmtools.pseudo.sam import build_tiny_sam
    from hmtools.pseudo.sam2_video import build_tiny_sam2

    backends = {"sam2": ["--tracker", "sam2", "--sam2-config", "tiny_test"]}
    if args.chunk:
        backends["sam2"] += ["--sam2-chunk", str(args.chunk)]
    if not args.no_compare:
        backends["ostrack+sam"] = ["--tracker", "ostrack", "--segmenter", "sam", "--sam-model", "vit_h"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "tiny.pt"
        torch.save({"model": build_tiny_sam2().state_dict()}, ckpt)
        backends["sam2"] += ["--sam2-checkpoint", str(ckpt)]
        if not args.no_compare:  # the layouts the loaders read: SAM a bare state dict, OSTrack under "net"
            torch.save(build_tiny_sam(img_size=64).state_dict(), tmp / "sam.pth")
            torch.save({"net": build_ostrack("tiny").state_dict()}, tmp / "ostrack.pth.tar")
            backends["ostrack+sam"] += ["--sam-checkpoint", str(tmp / "sam.pth"),
                                        "--ostrack-checkpoint", str(tmp / "ostrack.pth.tar")]
        for n in args.frames:
            video = tmp / f"athletes_{n}.avi"
            b1, b2 = write_video(video, n, tuple(args.size))
            prompts = tmp / f"prompts_{n}.csv"
            prompts.write_text("video,frame,object_id,x1,y1,x2,y2\n"
                               f"{video.stem},0,1,{','.join(map(str, b1))}\n{video.stem},0,2,{','.join(map(str, b2))}\n")
            for name, backend_args in backends.items():
                cmd = ["pseudo-mask", str(video), "--store", str(tmp / f"store_{name}_{n}"), "--prompts",
                       str(prompts), *backend_args, "--no-progress"]
                t0 = time.perf_counter()
                rss_mb, anon_mb, output, rc = run_command(cmd, args.threads, shim=name != "sam2")
                wall = time.perf_counter() - t0
                if rc != 0:
                    print(output)
                    return rc
                fps = re.search(r"\(([\d.]+) fps\)", output)
                rows.append((name, n, rss_mb, anon_mb, float(fps.group(1)) if fps else float("nan"), wall))
    from hmtools.pseudo.settings import PseudoMaskSettings

    chunk = args.chunk or PseudoMaskSettings().sam2_chunk_frames
    print(f"hmtools pseudo-mask, tiny random-weight models ({args.size[0]}x{args.size[1]} video, 2 athletes, "
          f"--sam2-chunk {chunk}, OMP_NUM_THREADS={args.threads})")
    print(f"{'backend':>12} {'frames':>7} {'peak RSS MB':>12} {'peak anon MB':>13} {'frames/s':>9} {'wall s':>7}")
    for name, n, rss, anon, fps, wall in rows:
        print(f"{name:>12} {n:>7} {rss:>12.0f} {anon:>13.0f} {fps:>9.1f} {wall:>7.1f}")
    ok = True
    for name in backends:
        mine = [r for r in rows if r[0] == name]
        if len(mine) >= 2:
            ratio, anon_ratio = mine[-1][2] / mine[0][2], mine[-1][3] / mine[0][3]
            verdict = "within" if abs(ratio - 1) <= 0.10 else "NOT within"
            print(f"{name}: peak RSS {mine[-1][1]} / {mine[0][1]} frames = {ratio:.3f} ({verdict} 10 %); "
                  f"peak anonymous RSS {anon_ratio:.3f}")
            ok = ok and (name != "sam2" or abs(ratio - 1) <= 0.10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
