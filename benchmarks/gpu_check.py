"""GPU readiness check (issue 13): every figure we want from a lent GPU, in one run of <= 8 minutes.

Sections, each guarded (a failure prints one line and the next section runs) and each under its own
alarm inside one overall budget (``--budget-s``, default 480; sections that no longer fit are
skipped with a note):

* ``train``: Uni-FineParser training step (forward of a pair, L_A + L_T + L_E from
  :mod:`fineparser.losses`, backward, Adam) at the ``paper`` preset under bf16 autocast; the batch
  is searched by doubling until CUDA runs out of memory (then one or two bisection steps), capped
  in batch and time; step time, pairs per second and peak memory at the largest batch that fit.
* ``eval``: videos per second with M = 10 exemplars, the way ``fineparser eval`` runs (each query
  encoded once, exemplar features cached, M comparisons; :class:`fineparser.predictor.Predictor`
  does the same).
* ``sam``: SAM vit_h and vit_b image encoder (random weights) through ``SamSegmenter.encode``:
  frames per second with one frame per call vs batched, bf16, and fp32 one per call (the
  condition of the published figure).
* ``ostrack``: OSTrack vitb_256 and vitb_384 (random weights): network frames per second at batch 1
  (fp32 and bf16) and the tracker's full step (crop, network, Hann window, map-back).
* ``sam2``: the SAM 2 video backend (``--tracker sam2``, random weights, SAM 2.1 tiny and large
  configs, two objects, 64-frame memory chunks): frames per second and peak memory over the first
  chunk vs over the next two (bounded memory: the second must not exceed the first by more than
  10 %); skipped when the ``sam2`` package is not installed.
* ``e2e``: ``hmtools pseudo-mask --tracker ostrack --segmenter sam`` as a subprocess on
  ``vtest.avi`` (a synthetic clip from ``hmtools synth`` when it is absent), with random-weight
  checkpoints this script writes in the official layouts (SAM: a bare state dict; OSTrack: the
  state dict under ``net``), read back by the project's loaders; frames per second and the share
  of time outside the models, both from the command's own timing report.

``--dry-run`` runs the same code on the tiny variants (``tiny`` preset with M = 3, ``build_tiny_sam``,
the ``tiny`` OSTrack config, the first 8 frames of vtest.avi at 192x144 or a 24-frame synthetic
clip) on the CPU in well under a minute; the e2e subprocess swaps the tiny models in behind the
CLI's ``vit_h`` / ``vitb_256`` names (``--cli-shim``). A simulated out-of-memory at batch 2
exercises the batch search's OOM path.

Run:  python benchmarks/gpu_check.py [--json gpu_check.json] [--budget-s 480] [--dry-run]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VTEST_BOX_XYXY = (395, 166, 452, 290)  # a pedestrian on frame 0 (hmtools.pseudo.prompts docstring)

# Published figures printed beside ours: (figure, where it comes from).
SOURCES = {
    "sam": "segment-anything.com FAQ (Kirillov et al., Segment Anything, 2023): 'the image encoder "
           "takes ~0.15 seconds on an NVIDIA A100 GPU' (ViT-H, the released model)",
    "ostrack": "Ye et al., OSTrack, ECCV 2022 (arXiv 2203.11991): OSTrack-256 105.4 fps, OSTrack-384 "
               "58.1 fps; README of botaoye/OSTrack: 'tested on a single RTX2080Ti GPU with "
               "Pytorch 1.9.0'",
    "sam2": "README of facebookresearch/sam2 (SAM 2.1 table): sam2.1_hiera_tiny 91.2 FPS, "
            "sam2.1_hiera_large 39.5 FPS, 'measured on an A100 with torch 2.5.1, cuda 12.4' with all "
            "components compiled (we run uncompiled, two objects)",
}
PUBLISHED_SAM2_FPS = {"sam2.1_hiera_t": 91.2, "sam2.1_hiera_l": 39.5}
PUBLISHED_SAM_S = {"vit_h": 0.15}
PUBLISHED_OSTRACK_FPS = {"vitb_256": 105.4, "vitb_384": 58.1}


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the real one on a GPU, or the tiny dry run."""

    preset: str
    max_batch: int
    train_cap_s: float
    warmup_steps: int
    timed_steps: int
    fake_oom_batch: int | None
    eval_batch: int
    exemplars: int
    sam_models: tuple[str, ...]
    sam_batches: tuple[int, ...]
    sam_frames: int
    frame_hw: tuple[int, int]
    ostrack_configs: tuple[str, ...]
    ostrack_iters: int
    e2e_frames: int
    e2e_size_wh: tuple[int, int] | None
    allowance_s: dict[str, float] = field(default_factory=dict)
    sam2_configs: tuple[str, ...] = ("sam2.1_hiera_t", "sam2.1_hiera_l")
    sam2_chunk: int = 64


REAL = Plan(preset="paper", max_batch=256, train_cap_s=150, warmup_steps=1, timed_steps=3,
            fake_oom_batch=None, eval_batch=16, exemplars=10, sam_models=("vit_h", "vit_b"),
            sam_batches=(1, 4, 8), sam_frames=16, frame_hw=(576, 768),
            ostrack_configs=("vitb_256", "vitb_384"), ostrack_iters=100, e2e_frames=0,
            e2e_size_wh=None,
            allowance_s={"train": 180, "eval": 60, "sam": 100, "ostrack": 40, "sam2": 90, "e2e": 240})
DRY = Plan(preset="tiny", max_batch=8, train_cap_s=120, warmup_steps=0, timed_steps=1,
           fake_oom_batch=2, eval_batch=1, exemplars=3, sam_models=("tiny",),
           sam_batches=(1, 2), sam_frames=2, frame_hw=(96, 128), ostrack_configs=("tiny",),
           ostrack_iters=3, e2e_frames=8, e2e_size_wh=(192, 144),
           allowance_s={"train": 150, "eval": 60, "sam": 30, "ostrack": 30, "sam2": 30, "e2e": 120},
           sam2_configs=("tiny_test",), sam2_chunk=4)
MIN_START_S = {"train": 60, "eval": 15, "sam": 40, "ostrack": 10, "sam2": 30, "e2e": 60}  # GPU run only


class SectionTimeout(Exception):
    """The section's alarm went off."""


def _on_alarm(_signum, _frame):
    raise SectionTimeout()


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


# -- measuring ------------------------------------------------------------------------------------

def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], n: int, device, warmup: int = 1) -> float:
    """Mean seconds of ``fn()`` over ``n`` calls after ``warmup`` calls (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / max(n, 1)


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> tuple[float, str]:
    """Peak memory since the last reset: CUDA allocated (and reserved), else this process's peak RSS."""
    import torch

    if device.type == "cuda":
        reserved = torch.cuda.max_memory_reserved(device) / 2 ** 30
        return torch.cuda.max_memory_allocated(device) / 2 ** 30, f"CUDA allocated; {reserved:.2f} reserved"
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kib / 2 ** 20, "process peak RSS (CPU)"


def _free(device) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def _autocast(device):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


# -- sections -------------------------------------------------------------------------------------

def _synthetic_batch(cfg, batch: int, device):
    """Random normalised pairs, box masks and transitions shaped like the paper's inputs."""
    import torch
    from fineparser.losses import snippet_transitions, soft_labels

    n, t, (h, w) = cfg.num_snippets, cfg.snippet_frames, cfg.frame_size_hw
    q = torch.randn(batch, n, 3, t, h, w, device=device)
    z = torch.randn(batch, n, 3, t, h, w, device=device)
    y_q, y_z = torch.rand(batch, device=device) * 100, torch.rand(batch, device=device) * 100
    masks = torch.zeros(2 * batch, n, t, h, w, dtype=torch.bool, device=device)
    masks[..., h // 4:3 * h // 4, w // 3:2 * w // 3] = True
    trans = torch.tensor([[cfg.num_frames // 3, 2 * cfg.num_frames // 3]]).repeat(2 * batch, 1)
    targets = soft_labels(snippet_transitions(trans, cfg.snippet_stride, n), n, cfg.num_queries,
                          cfg.soft_label_centre, cfg.soft_label_sigma, cfg.snippet_stride,
                          cfg.snippet_frames).to(device)
    return q, z, y_q, y_z, masks, targets


def _train_step(model, optimizer, cfg, inputs, device) -> float:
    """One optimisation step on a batch of pairs: L = L_E + L_A + L_T (Eq. 8), Adam."""
    import torch
    from fineparser.losses import attention_loss, mask_targets, score_loss, temporal_loss

    q, z, y_q, y_z, masks, targets = inputs
    with _autocast(device):
        out = model(q, z, y_z)
    loss = score_loss(out.y_hat_raw.float(), y_q)
    if out.query.attention is not None:
        attn = torch.cat([out.query.attention, out.exemplar.attention]).float()
        m_gt, valid = mask_targets(masks, None, attn.shape[-3:])
        loss = loss + attention_loss(attn, m_gt, valid, kind=cfg.sap_loss)
    if cfg.tap:
        a1 = torch.cat([out.query.a1, out.exemplar.a1]).float()
        a2 = torch.cat([out.query.a2, out.exemplar.a2]).float()
        loss = loss + temporal_loss(a1, a2, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def section_train(ctx: "Context") -> dict:
    import torch
    from fineparser.model import build_model, get_config

    plan, device = ctx.plan, ctx.device
    cfg = get_config(plan.preset)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.Adam([{"params": p} for p in model.parameter_groups().values()], lr=1e-4)
    deadline = min(time.monotonic() + plan.train_cap_s, ctx.section_deadline)

    def measure(batch: int) -> dict:
        _reset_peak(device)
        inputs = _synthetic_batch(cfg, batch, device)
        if plan.fake_oom_batch is not None and batch >= plan.fake_oom_batch:
            raise torch.cuda.OutOfMemoryError(f"simulated out of memory at batch {batch} (dry run)")
        t0 = time.monotonic()
        losses = []
        step_s = timed(lambda: losses.append(_train_step(model, optimizer, cfg, inputs, device)),
                       plan.timed_steps, device, warmup=plan.warmup_steps)
        peak, peak_kind = _peak_gib(device)
        # random weights may give a non-finite loss; the step costs the same, so it is only noted
        return {"batch": batch, "step_s": step_s, "pairs_per_s": batch / step_s, "peak_gib": peak,
                "peak_kind": peak_kind, "trial_s": time.monotonic() - t0,
                "loss_finite": all(math.isfinite(v) for v in losses)}

    def attempt(batch: int) -> dict | None:
        try:
            return measure(batch)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
            if not _is_oom(err):
                raise
        # outside the except block: the traceback (and the tensors its frames hold) is gone
        optimizer.zero_grad(set_to_none=True)
        _free(device)
        return None

    tried, best, oom_at, stop = [], None, None, "batch cap"

    def record(batch: int, res: dict | None) -> None:
        tried.append(f"{batch} {'OOM' if res is None else format(res['step_s'], '.3g') + ' s'}")

    try:
        batch = 1
        while batch <= plan.max_batch:
            res = attempt(batch)
            record(batch, res)
            if res is None:
                oom_at, stop = batch, "out of memory"
                break
            best = res
            if time.monotonic() + 2.5 * res["trial_s"] > deadline:  # the next doubling would not fit
                stop = "time cap"
                break
            batch *= 2
        for _ in range(2):  # bisect between the largest fit and the first OOM while time allows
            if best is None or oom_at is None or oom_at - best["batch"] <= 1:
                break
            mid = (best["batch"] + oom_at) // 2
            if time.monotonic() + 1.5 * best["trial_s"] * mid / best["batch"] > deadline:
                break
            res = attempt(mid)
            record(mid, res)
            if res is None:
                oom_at = mid
            else:
                best = res
    except SectionTimeout:  # keep what was measured; the alarm does not fire twice
        stop = "section alarm"
        optimizer.zero_grad(set_to_none=True)
        _free(device)
    if best is None:
        raise RuntimeError(f"no batch measured (stopped: {stop}; tried: {', '.join(tried) or 'none'})")
    amp = "bf16 autocast" if device.type == "cuda" else "fp32 (no autocast on the CPU)"
    ctx.say(f"{plan.preset} preset, {amp}: largest batch {best['batch']} pairs "
            f"(stopped: {stop}{f', OOM at {oom_at}' if oom_at else ''}): {best['step_s']:.3f} s/step, "
            f"{best['pairs_per_s']:.2f} pairs/s, peak {best['peak_gib']:.2f} GiB ({best['peak_kind']})"
            f"{'' if best['loss_finite'] else ' (loss not finite with random weights)'}"
            f"   [expected: no published figure]")
    ctx.say(f"batches tried (s/step): {', '.join(tried)}")
    return {**best, "oom_at": oom_at, "stopped": stop, "tried": tried, "preset": plan.preset,
            "amp": device.type == "cuda"}


def _take(feats, idx):
    """Rows ``idx`` of every tensor of a ``VideoFeatures``."""
    return type(feats)(**{k: None if v is None else v[idx] for k, v in vars(feats).items()})


def section_eval(ctx: "Context") -> dict:
    import torch
    from fineparser.model import build_model, get_config

    plan, device = ctx.plan, ctx.device
    cfg = get_config(plan.preset)
    model = build_model(cfg).to(device).eval()
    n, t, (h, w) = cfg.num_snippets, cfg.snippet_frames, cfg.frame_size_hw
    b, m = plan.eval_batch, plan.exemplars  # M = 10 at test time (paper Sec. 4.3)
    with torch.inference_mode(), _autocast(device):
        queries = torch.randn(b, n, 3, t, h, w, device=device)
        exemplars = model.encode(torch.randn(m, n, 3, t, h, w, device=device))  # cached once
        y_z = torch.rand(m, device=device) * 100
        feats = {}

        def encode():
            feats["q"] = model.encode(queries)

        def compare_all():
            for j in range(m):
                model.compare(feats["q"], _take(exemplars, [j] * b), y_z[[j] * b])

        reps, warm = max(1, plan.timed_steps), min(1, plan.warmup_steps)
        encode_s = timed(encode, reps, device, warmup=warm)  # leaves feats["q"] for compare_all
        compare_s = timed(compare_all, reps, device, warmup=warm)
    cached = b / (encode_s + compare_s)
    prec = "bf16" if device.type == "cuda" else "fp32"
    ctx.say(f"{plan.preset} preset, {prec}, M = {m}: {cached:.2f} videos/s with cached exemplar "
            f"features (as `fineparser eval`: "
            f"{b} queries per encode at {b / encode_s:.2f} videos/s, then {m} comparisons each, "
            f"{1e3 * compare_s / b:.2f} ms/video; each distinct exemplar costs one more encode per "
            f"evaluation)   "
            f"[expected: no published figure]")
    return {"videos_per_s": cached, "exemplars": m,
            "encode_videos_per_s": b / encode_s,
            "encode_batch": b, "encode_s": encode_s, "compare_s": compare_s}


def _build_sam(name: str, device):
    import torch
    from hmtools.pseudo.sam import build_tiny_sam

    if name == "tiny":
        return build_tiny_sam(img_size=64)
    from segment_anything import sam_model_registry

    with torch.device(device):  # initialise on the GPU: 636 M parameters are slow to init on CPU
        return sam_model_registry[name](checkpoint=None)


def section_sam(ctx: "Context") -> dict:
    import torch
    from hmtools.pseudo.sam import SamSegmenter

    plan, device = ctx.plan, ctx.device
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (*plan.frame_hw, 3), dtype=np.uint8) for _ in range(plan.sam_frames)]
    out = {}
    for name in plan.sam_models:
        try:
            sam = _build_sam(name, device)
            if name == plan.sam_models[0]:  # the e2e run reads this file through load_sam
                torch.save(sam.state_dict(), ctx.sam_checkpoint)
            row = {}
            for key, batch, half in [(f"bf16_batch{b}_fps", b, True) for b in plan.sam_batches] + \
                    [("fp32_batch1_fps", 1, False)]:
                seg = SamSegmenter(sam, device=str(device), encoder_batch=batch, half=half)
                seg.encode(frames[:batch])  # warm-up: one call of this batch size
                row[key] = plan.sam_frames / timed(lambda: seg.encode(frames), 1, device, warmup=0)
            sam = seg = None  # free the model before the next one is built
            _free(device)
        except SectionTimeout:
            raise
        except Exception as err:  # one model failing (e.g. OOM) leaves the other's line
            ctx.say(f"{name}: FAILED {_one_line(err)}")
            out[name] = {"error": _one_line(err)}
            continue
        prec = "bf16" if device.type == "cuda" else "fp32 (CPU: no autocast)"
        first = row[f"bf16_batch{plan.sam_batches[0]}_fps"]
        batched = ", ".join(f"{b}/call {row[f'bf16_batch{b}_fps']:.2f} fps "
                            f"(x{row[f'bf16_batch{b}_fps'] / first:.2f})" for b in plan.sam_batches[1:])
        pub = PUBLISHED_SAM_S.get(name)
        expected = (f"~{1 / pub:.1f} fps ({pub} s/image) on an A100 [SAM FAQ]" if pub else
                    "no published figure")
        ctx.say(f"{name} encoder, {plan.frame_hw[1]}x{plan.frame_hw[0]} frames, {prec}: 1/call "
                f"{first:.2f} fps, {batched}; fp32 1/call {row['fp32_batch1_fps']:.2f} fps   "
                f"[expected: {expected}]")
        out[name] = {**row, "expected_fps": 1 / pub if pub else None}
    if all("error" in v for v in out.values()):
        raise RuntimeError("; ".join(f"{k}: {v['error']}" for k, v in out.items()))
    return out


def section_ostrack(ctx: "Context") -> dict:
    import torch
    from hmtools.pseudo.ostrack.build import build_ostrack
    from hmtools.pseudo.ostrack.tracker import OSTrackTracker

    plan, device = ctx.plan, ctx.device
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (*plan.frame_hw, 3), dtype=np.uint8) for _ in range(8)]
    h, w = plan.frame_hw
    box = (w * 0.45, h * 0.3, w * 0.55, h * 0.6)
    out = {}
    for name in plan.ostrack_configs:
        net = build_ostrack(name).to(device)
        if name == plan.ostrack_configs[0]:  # the e2e run reads this through load_ostrack
            torch.save({"net": net.state_dict()}, ctx.ostrack_checkpoint)
        cfg = net.cfg
        z = torch.randn(1, 3, cfg.template_size, cfg.template_size, device=device)
        x = torch.randn(1, 3, cfg.search_size, cfg.search_size, device=device)
        with torch.inference_mode():
            fp32 = 1 / timed(lambda: net(z, x), plan.ostrack_iters, device, warmup=3)
            with _autocast(device):
                bf16 = 1 / timed(lambda: net(z, x), plan.ostrack_iters, device, warmup=3)
        tracker = OSTrackTracker(net, device=str(device), half=True)
        tracker.start(frames[0], 1, box)
        step = iter(range(10 ** 9))
        track = 1 / timed(lambda: tracker.step(frames[next(step) % len(frames)]), plan.ostrack_iters,
                          device, warmup=3)
        pub = PUBLISHED_OSTRACK_FPS.get(name)
        expected = f"{pub} fps on an RTX 2080Ti, fp32 [OSTrack paper]" if pub else "no published figure"
        bf16_label = "bf16" if device.type == "cuda" else "autocast off on the CPU"
        ctx.say(f"{name} (search {cfg.search_size} px): network batch 1 fp32 {fp32:.1f} fps, "
                f"{bf16_label} {bf16:.1f} fps; tracker step ({w}x{h} frame, 1 object) {track:.1f} fps"
                f"   [expected: {expected}]")
        out[name] = {"net_fp32_fps": fp32, "net_bf16_fps": bf16, "tracker_fps": track,
                     "expected_fps": pub}
        net = tracker = None  # free the model before the next one is built
        _free(device)
    return out


def section_sam2(ctx: "Context") -> dict:
    try:
        import sam2  # noqa: F401
    except ImportError:
        ctx.say("skipped: the 'sam2' package is not installed (pip install '.[sam2]')")
        return {"status": "not installed", "reason": "the optional sam2 package is not installed"}
    from hmtools.pseudo.sam2_video import Sam2Segmenter, build_sam2

    plan, device = ctx.plan, ctx.device
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (*plan.frame_hw, 3), dtype=np.uint8) for _ in range(8)]
    h, w = plan.frame_hw
    boxes = {1: (w * 0.2, h * 0.3, w * 0.35, h * 0.8), 2: (w * 0.6, h * 0.3, w * 0.75, h * 0.8)}
    chunk, out = plan.sam2_chunk, {}
    for name in plan.sam2_configs:
        seg = Sam2Segmenter(build_sam2(name, seed=0), device=str(device), chunk_frames=chunk, half=True)
        seg.segment([frames[0]], [boxes], [0])  # warm-up and box prompts
        peaks, times = [], []
        for part, (lo, hi) in enumerate(((1, chunk + 1), (chunk + 1, 3 * chunk + 1))):
            _free(device)
            _reset_peak(device)
            _sync(device)
            t0 = time.perf_counter()
            for t in range(lo, hi):
                seg.segment([frames[t % len(frames)]], [boxes], [t])
            _sync(device)
            times.append((time.perf_counter() - t0, hi - lo))
            peaks.append(_peak_gib(device))
        fps = sum(n for _, n in times) / sum(t for t, _ in times)
        (p1, what), (p2, _) = peaks
        pub = PUBLISHED_SAM2_FPS.get(name)
        expected = f"{pub} FPS on an A100, compiled [SAM 2 README]" if pub else "no published figure"
        ctx.say(f"{name}: {fps:.1f} frames/s ({w}x{h}, 2 objects, chunk {chunk}); peak {what}: first chunk "
                f"{p1:.2f} GiB, next two chunks {p2:.2f} GiB (ratio {p2 / p1:.3f})   [expected: {expected}]")
        out[name] = {"fps": fps, "peak_first_chunk_gib": p1, "peak_next_chunks_gib": p2,
                     "memory": what, "expected_fps": pub}
        seg = None
        _free(device)
    return out


_REPORT = re.compile(r"(\d+) frames in ([\d.]+) s \(([\d.]+) fps\); (\d+)% of the time inside the models")


def _cli(ctx: "Context", args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``hmtools ARGS`` from this checkout in a subprocess (tiny models swapped in on a dry run)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = ([sys.executable, str(Path(__file__).resolve()), "--cli-shim"] if ctx.dry
           else [sys.executable, "-m", "cli"])
    proc = subprocess.run(cmd + args, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=max(1.0, timeout))
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise RuntimeError(f"hmtools {args[0]} exited {proc.returncode}: {tail[-1] if tail else ''}")
    return proc


def _e2e_input(ctx: "Context", work: Path) -> tuple[list[str], str]:
    """The pseudo-mask source arguments and a description: vtest.avi (trimmed / resized on a dry
    run) with a prompts file, else a synthetic clip with its truth prompts."""
    import cv2

    plan = ctx.plan
    video = Path(ctx.args.video) if ctx.args.video else VTEST
    if video.is_file():
        source, scale = video, 1.0
        if plan.e2e_frames or plan.e2e_size_wh:
            source = work / "frames" / video.stem
            source.mkdir(parents=True)
            cap, i = cv2.VideoCapture(str(video)), 0
            while not plan.e2e_frames or i < plan.e2e_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                if plan.e2e_size_wh:
                    scale = plan.e2e_size_wh[0] / frame.shape[1]
                    frame = cv2.resize(frame, plan.e2e_size_wh, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(source / f"{i:05d}.jpg"), frame)
                i += 1
            cap.release()
            if i == 0:
                raise RuntimeError(f"{video}: no frame decodes")
        from hmtools.pseudo.pipeline import safe_video_id

        prompts = work / "prompts.csv"
        x1, y1, x2, y2 = (round(v * scale) for v in VTEST_BOX_XYXY)
        prompts.write_text(f"video,frame,object_id,x1,y1,x2,y2\n{safe_video_id(source.stem)},0,1,"
                           f"{x1},{y1},{x2},{y2}\n")
        what = f"{video.name}" + (f", first {plan.e2e_frames} frames" if plan.e2e_frames else "") + \
               (f" at {plan.e2e_size_wh[0]}x{plan.e2e_size_wh[1]}" if plan.e2e_size_wh else "")
        return [str(source), "--prompts", str(prompts)], what
    ctx.say(f"note: {video} absent (apt-get install opencv-doc); measuring on a synthetic clip instead")
    frames = plan.e2e_frames or 240
    size = "160x96" if ctx.dry else f"{plan.frame_hw[1]}x{plan.frame_hw[0]}"
    root = work / "synth"
    _cli(ctx, ["synth", str(root), "--videos", "1", "--frames", f"{max(24, frames)}-{max(24, frames)}",
               "--size", size, "--quiet"], ctx.remaining() - 5)
    return ([str(root), "--dataset", "synthetic", "--truth-prompts"],
            f"a synthetic clip ({max(24, frames)} frames, {size}; {video.name} absent)")


def section_e2e(ctx: "Context") -> dict:
    plan, device = ctx.plan, ctx.device
    import torch
    from hmtools.pseudo.ostrack.build import build_ostrack

    if not ctx.sam_checkpoint.is_file():  # normally written by the sam section
        torch.save(_build_sam(plan.sam_models[0], device).state_dict(), ctx.sam_checkpoint)
    if not ctx.ostrack_checkpoint.is_file():  # normally written by the ostrack section
        torch.save({"net": build_ostrack(plan.ostrack_configs[0]).state_dict()}, ctx.ostrack_checkpoint)
    _free(device)
    work = ctx.work / "e2e"
    work.mkdir()
    source_args, what = _e2e_input(ctx, work)
    sam_model = "vit_h" if ctx.dry else plan.sam_models[0]
    ostrack_config = "vitb_256" if ctx.dry else plan.ostrack_configs[0]
    t0 = time.monotonic()
    proc = _cli(ctx, ["pseudo-mask", *source_args, "--store", str(work / "store"),
                      "--tracker", "ostrack", "--ostrack-config", ostrack_config,
                      "--ostrack-checkpoint", str(ctx.ostrack_checkpoint),
                      "--segmenter", "sam", "--sam-model", sam_model,
                      "--sam-checkpoint", str(ctx.sam_checkpoint), "--sam-batch", str(ctx.args.sam_batch),
                      "--device", device.type, "--no-progress"], ctx.remaining() - 3)
    wall = time.monotonic() - t0
    found = _REPORT.search(proc.stdout)
    if not found:
        raise RuntimeError(f"no timing report in the output of pseudo-mask: {proc.stdout.strip()[-200:]!r}")
    frames, total_s, fps, inside = (int(found[1]), float(found[2]), float(found[3]), int(found[4]))
    outside = 1 - inside / 100
    models = ("tiny SAM + tiny OSTrack behind the vit_h / vitb_256 names" if ctx.dry
              else f"OSTrack {ostrack_config} + SAM {sam_model}")
    pub_s = PUBLISHED_SAM_S.get(sam_model, 0) + 1 / PUBLISHED_OSTRACK_FPS.get(ostrack_config, math.inf)
    ctx.say(f"pseudo-mask on {what}, {models}, {'bf16' if device.type == 'cuda' else 'fp32'}, "
            f"--sam-batch {ctx.args.sam_batch}: {frames} frames in {total_s:.1f} s = {fps:.2f} fps; "
            f"{100 * outside:.0f}% of the time outside the models (the command's timing report); "
            f"{wall:.1f} s wall with start-up and loading   [expected: no published figure; the "
            f"published component speeds add up to {1 / pub_s:.1f} fps (A100 SAM + 2080Ti OSTrack, "
            f"fp32, one frame at a time)]")
    return {"fps": fps, "frames": frames, "seconds": total_s, "outside_share": outside,
            "wall_s": wall, "source": what, "derived_expected_fps": 1 / pub_s}


SECTIONS: dict[str, Callable[["Context"], dict]] = {
    "train": section_train, "eval": section_eval, "sam": section_sam,
    "ostrack": section_ostrack, "sam2": section_sam2, "e2e": section_e2e,
}


# -- the run --------------------------------------------------------------------------------------

class Context:
    """What the sections share: plan, device, budget, scratch folder, and the output."""

    def __init__(self, args, plan: Plan, device, work: Path):
        self.args, self.plan, self.device, self.work = args, plan, device, work
        self.dry = args.dry_run
        self.start = time.monotonic()
        self.deadline = self.start + args.budget_s
        self.section_deadline = self.deadline
        self.current = ""
        self.sam_checkpoint = work / "sam_vit_h_4b8939.pth"
        self.ostrack_checkpoint = work / "OSTrack_ep0300.pth.tar"

    def remaining(self) -> float:
        return min(self.deadline, self.section_deadline) - time.monotonic()

    def say(self, line: str) -> None:
        print(f"[{self.current:7s}] {line}", flush=True)


def _device_info(device) -> dict:
    import torch

    info = {"torch": torch.__version__, "device": str(device), "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, memory_gib=props.total_memory / 2 ** 30, cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())
    else:
        info.update(name=f"CPU ({platform.processor() or platform.machine()}, "
                         f"{torch.get_num_threads()} threads)")
    return info


def run(args) -> dict:
    import torch

    plan = DRY if args.dry_run else REAL
    if args.max_batch is not None:
        plan = Plan(**{**vars(plan), "max_batch": args.max_batch})
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    only = [s for s in (args.only or "").split(",") if s] or list(SECTIONS)
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"gpu_check: unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    info = _device_info(device)
    results: dict[str, Any] = {"dry_run": args.dry_run, "budget_s": args.budget_s, **info,
                               "sources": SOURCES, "sections": {}}
    print(f"gpu_check{' --dry-run' if args.dry_run else ''}: {info['name']} "
          f"{'(%.0f GiB) ' % info['memory_gib'] if 'memory_gib' in info else ''}torch {info['torch']}, "
          f"budget {args.budget_s:.0f} s", flush=True)
    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        ctx = Context(args, plan, device, Path(tmp))
        for name in only:
            ctx.current = name
            left = ctx.deadline - time.monotonic()
            need = 1.0 if args.dry_run else MIN_START_S[name]
            if left < need:
                ctx.say(f"skipped: {left:.0f} s of the budget left, the section needs ~{need} s")
                results["sections"][name] = {"status": "skipped", "reason": f"{left:.0f} s left"}
                continue
            allowance = min(plan.allowance_s.get(name, left), left)
            ctx.section_deadline = time.monotonic() + allowance
            t0 = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, allowance)
            try:
                res = {"status": "ok", **SECTIONS[name](ctx)}
            except SectionTimeout:
                res = {"status": "error", "error": f"timed out after {allowance:.0f} s"}
            except subprocess.TimeoutExpired as err:
                res = {"status": "error", "error": f"subprocess timed out after {err.timeout:.0f} s"}
            except Exception as err:  # every section is guarded: one line, then the next
                res = {"status": "error", "error": _one_line(err)}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if res["status"] == "error":
                ctx.say(f"FAILED {res['error']}")
            res["section_s"] = time.monotonic() - t0
            results["sections"][name] = res
            _free(device)
            if args.json:
                _write_json(args.json, {**results, "wall_s": time.monotonic() - ctx.start})
        results["wall_s"] = time.monotonic() - ctx.start
    signal.signal(signal.SIGALRM, previous_handler)
    ctx.current = "sources"
    for key, text in SOURCES.items():
        ctx.say(f"{key}: {text}")
    ok = sum(r["status"] == "ok" for r in results["sections"].values())
    print(f"done: {ok}/{len(only)} sections ok in {results['wall_s']:.1f} s on {info['name']}, "
          f"torch {info['torch']}" + (f", CUDA {info['cuda']}" if info.get("cuda") else ""), flush=True)
    if args.json:
        _write_json(args.json, results)
    return results


def _write_json(path: str, results: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str) + "\n")
    tmp.replace(p)


def cli_shim(argv: list[str]) -> None:
    """``hmtools ARGV`` with the tiny SAM and OSTrack behind the ``vit_h`` / ``vitb_256`` names.

    Only for the dry run: the command line, the checkpoint loaders (``load_sam`` builds through
    ``sam_model_registry``, ``load_ostrack`` through ``OSTRACK_CONFIGS``) and the pipeline are the
    real ones; only the architectures are small.
    """
    import segment_anything
    from hmtools.pseudo.ostrack import build
    from hmtools.pseudo.sam import build_tiny_sam

    segment_anything.sam_model_registry["vit_h"] = lambda checkpoint=None: build_tiny_sam(img_size=64)
    build.OSTRACK_CONFIGS["vitb_256"] = build.OSTRACK_CONFIGS["tiny"]
    from cli import hmtools

    hmtools.main(args=argv, prog_name="hmtools")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--cli-shim"]:
        cli_shim(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny variants on the CPU, in seconds")
    ap.add_argument("--json", help="also write the results here (updated after every section)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="whole-run time budget (seconds)")
    ap.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--max-batch", type=int, help="cap of the training batch search")
    ap.add_argument("--sam-batch", type=int, default=4, help="pseudo-mask --sam-batch in the e2e run")
    ap.add_argument("--video", help=f"video for the e2e run (default {VTEST})")
    args = ap.parse_args(argv)
    if args.budget_s <= 0:
        ap.error("--budget-s must be > 0")
    if not args.dry_run and args.device is None:
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device here; use --dry-run (tiny variants), or --device cpu "
                  "to run the full sizes on the CPU (hours)", file=sys.stderr)
            return 2
    results = run(args)
    return 0 if all(r["status"] in ("ok", "not installed") for r in results["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
