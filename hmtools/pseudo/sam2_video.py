"""SAM 2 (Meta's ``sam2`` package, 1.1) as a video backend: ``--tracker sam2`` tracks and segments
in one, frame by frame from our :class:`~hmtools.video.VideoSource`, in memory that does not grow
with the video.

SAM 2's own ``SAM2VideoPredictor.init_state`` loads every frame of a video at the model's input size
and its ``inference_state`` keeps every frame's memory, so its memory grows with video length. Here
the video loop hands one decoded frame at a time to :class:`Sam2Segmenter`, which runs the model's
per-frame step (``SAM2Base.track_step``, the call ``propagate_in_video`` makes) once per object on the
frame's image features (encoded once for all objects). Each object keeps its own memory bank (the
``output_dict`` layout ``track_step`` reads) for one *chunk* of at most ``chunk_frames`` frames;
when the chunk is full, the bank is dropped and a new chunk starts on the same frame, seeded with
the object's last mask as a mask prompt (a conditioning frame, as ``add_new_mask`` makes); the
prompt frame's memory is carried along as a second conditioning frame (SAM 2 always attends to its
prompt frames; it lets an athlete lost at a boundary be found again). Peak memory is therefore
bounded by the chunk, not the video (``benchmarks/bench_sam2_memory.py``).

Prompts: an object that starts (a prompt box, a detection, ``--truth-prompts``) is a box prompt on
that frame; a corrected frame in re-propagation (:meth:`Sam2Segmenter.seed`) is a mask prompt.
Objects (two athletes in synchronized diving) have separate memory banks and never see each other's
masks, as in ``SAM2VideoPredictor`` (1.1 runs every object on its own slice).

Quality signals: ``score`` is SAM 2's object score (``sigmoid(object_score_logits)``, the
probability that the object is visible; 0 when SAM 2 decided it is gone), ``stability`` is SAM's
(IoU of the mask thresholded at logit +1 and -1); there is no separate tracker peak.

Weights: :func:`load_sam2` builds the model from the package's hydra config (with the overrides
``build_sam2_video_predictor`` applies) and loads the official checkpoint (``{"model": state_dict}``)
itself with ``weights_only=True`` and a one-line error when the file or its config is wrong.

Example:
    >>> seg = Sam2Segmenter(build_tiny_sam2())                                       # doctest: +SKIP
    >>> seg.segment([frame], [{1: (8, 8, 40, 40), 2: (50, 8, 90, 40)}], [0])[0][2].score  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.errors import CheckpointError, HMError
from hmtools.pseudo.base import SegmentResult, Segmenter
from hmtools.pseudo.checkpoints import load_state_file, require_checkpoint, strict_load
from hmtools.pseudo.trackers import MaskPropagationTracker

SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
SAM2_INSTALL = "SAM2_BUILD_CUDA=0 pip install 'hm-aqa[sam2]' (in a checkout: pip install '.[sam2]')"
IMG_MEAN, IMG_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # sam2.utils.misc.load_video_frames

# What build_sam2_video_predictor adds to every config (sam2/build_sam.py, apply_postprocessing).
VIDEO_OVERRIDES = (
    "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=8",
)


def _tiny_overrides(size: int = 128, dim: int = 32, mem_dim: int = 16) -> tuple[str, ...]:
    """The SAM 2.1 tiny config shrunk to ~0.65 M parameters (same classes, tiny widths) for tests."""
    g = size // 16
    m = "model.memory_attention.layer"
    return (
        f"model.image_size={size}",
        "model.image_encoder.trunk.embed_dim=8", "model.image_encoder.trunk.num_heads=1",
        "model.image_encoder.trunk.stages=[1,1,2,1]", "model.image_encoder.trunk.global_att_blocks=[3]",
        "model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[4,4]",
        "++model.image_encoder.trunk.window_spec=[4,4,4,2]",
        "model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
        f"model.image_encoder.neck.d_model={dim}", f"model.image_encoder.neck.position_encoding.num_pos_feats={dim}",
        f"model.memory_attention.d_model={dim}", f"{m}.d_model={dim}", f"{m}.dim_feedforward={2 * dim}",
        "model.memory_attention.num_layers=1",
        f"{m}.self_attention.embedding_dim={dim}", f"{m}.self_attention.feat_sizes=[{g},{g}]",
        f"{m}.cross_attention.embedding_dim={dim}", f"{m}.cross_attention.feat_sizes=[{g},{g}]",
        f"{m}.cross_attention.kv_in_dim={mem_dim}",
        f"model.memory_encoder.out_dim={mem_dim}", f"model.memory_encoder.position_encoding.num_pos_feats={mem_dim}",
        f"++model.memory_encoder.in_dim={dim}", f"++model.memory_encoder.mask_downsampler.embed_dim={dim}",
        f"model.memory_encoder.fuser.layer.dim={dim}", "model.memory_encoder.fuser.num_layers=1",
    )


@dataclass(frozen=True)
class Sam2Config:
    """One SAM 2 variant: the package's hydra config, overrides on top of it, its published file."""

    config_file: str
    overrides: tuple[str, ...] = ()
    checkpoint: str | None = None


# name -> variant; the official SAM 2.1 checkpoints and a tiny random-weight variant for tests.
SAM2_CONFIGS: dict[str, Sam2Config] = {
    "sam2.1_hiera_t": Sam2Config("configs/sam2.1/sam2.1_hiera_t.yaml", checkpoint="sam2.1_hiera_tiny.pt"),
    "sam2.1_hiera_s": Sam2Config("configs/sam2.1/sam2.1_hiera_s.yaml", checkpoint="sam2.1_hiera_small.pt"),
    "sam2.1_hiera_b+": Sam2Config("configs/sam2.1/sam2.1_hiera_b+.yaml", checkpoint="sam2.1_hiera_base_plus.pt"),
    "sam2.1_hiera_l": Sam2Config("configs/sam2.1/sam2.1_hiera_l.yaml", checkpoint="sam2.1_hiera_large.pt"),
    "tiny_test": Sam2Config("configs/sam2.1/sam2.1_hiera_t.yaml", _tiny_overrides()),
}


PUBLIC_CONFIGS = tuple(k for k in SAM2_CONFIGS if SAM2_CONFIGS[k].checkpoint)  # tiny_test is for tests


def _sam2():
    """The ``sam2`` package, or a one-line error saying what to install."""
    try:
        import sam2  # noqa: F401  (initialises hydra's config module)
        from sam2 import build_sam
    except ImportError as err:
        raise HMError(f"--tracker sam2 needs the 'sam2' package (SAM 2.1, {err.name or 'sam2'} is missing): "
                      f"{SAM2_INSTALL}") from None
    return build_sam


def config_for_checkpoint(checkpoint: str | Path | None) -> str | None:
    """The config name of an official checkpoint file name (``sam2.1_hiera_small.pt`` ->
    ``sam2.1_hiera_s``), ``None`` for any other name."""
    name = Path(checkpoint).name if checkpoint else None
    return next((k for k, c in SAM2_CONFIGS.items() if c.checkpoint and c.checkpoint == name), None)


def build_sam2(config: str, seed: int | None = None):
    """SAM 2 ``config`` (a key of :data:`SAM2_CONFIGS`) with random weights, in eval mode."""
    if config not in SAM2_CONFIGS:
        raise HMError(f"unknown SAM 2 config {config!r}; choose from {', '.join(SAM2_CONFIGS)}")
    _sam2()
    import torch
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    variant = SAM2_CONFIGS[config]
    cfg = compose(config_name=variant.config_file, overrides=list(VIDEO_OVERRIDES + variant.overrides))
    OmegaConf.resolve(cfg)
    if seed is not None:
        torch.manual_seed(seed)
    return instantiate(cfg.model, _recursive_=True).eval()


def build_tiny_sam2(seed: int = 0):
    """A random-weight SAM 2 (~0.65 M parameters, 128 px input) for tests and benchmarks."""
    return build_sam2("tiny_test", seed=seed)


def load_sam2(config: str | None, checkpoint: str | Path | None, allow_pickled_objects: bool = False):
    """Build SAM 2 ``config`` and load a local checkpoint in the official layout
    (``{"model": state_dict}``) strictly. ``config=None`` takes the config of an official file name.

    Raises:
        HMError / CheckpointError: the package is missing, the file is missing or unreadable, it is
            not a SAM 2 checkpoint, or it does not match the config (one line each).
    """
    _sam2()  # the missing package first: it is what the user must fix before anything else
    config = config or config_for_checkpoint(checkpoint)
    variant = SAM2_CONFIGS.get(config) if config else None
    published = SAM2_URL + variant.checkpoint if variant and variant.checkpoint else SAM2_URL
    # a missing file before a file name we cannot read the model from: the file is what to fix first
    what = f"SAM 2 {config}" if config else "SAM 2.1"
    path = require_checkpoint(checkpoint, f"{what} (--sam2-checkpoint)", published)
    if config is None:
        raise CheckpointError(f"{checkpoint}: not an official SAM 2.1 file name; say which model it is "
                              f"with --sam2-config ({', '.join(PUBLIC_CONFIGS)})")
    model = build_sam2(config)
    state = load_state_file(path, allow_placeholders=allow_pickled_objects)
    if not (isinstance(state, dict) and isinstance(state.get("model"), dict)):
        found = sorted(state)[:3] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not a SAM 2 checkpoint (expected {{'model': state_dict}} as in "
                              f"sam2.1_hiera_*.pt, found {found})")
    try:
        strict_load(model, state["model"], path, f"SAM 2 config {config}")
    except CheckpointError as err:  # the usual cause: another model's file
        raise CheckpointError(f"{err}; if it is another SAM 2 model, pass its --sam2-config") from None
    return model


def _has_cuda_extension() -> bool:
    """Whether sam2's compiled extension is there: without it (``SAM2_BUILD_CUDA=0``) or on the CPU
    SAM 2 skips filling small holes in the masks, with a warning; we skip it quietly."""
    import importlib.util

    return importlib.util.find_spec("sam2._C") is not None


class Sam2BoxTracker(MaskPropagationTracker):
    """The tracker half of ``--tracker sam2``: SAM 2 follows objects with its own memory, so the
    pipeline's box is only the previous mask's box (a start box is SAM 2's box prompt)."""

    name = "sam2"

    def __init__(self):
        super().__init__(momentum=1.0, pad=0.0, min_area=0.0)


@dataclass
class _FrameFeatures:
    """One frame's image features, as ``SAM2Base._prepare_backbone_features`` returns them."""

    vision_feats: list
    vision_pos_embeds: list
    feat_sizes: list
    size_hw: tuple[int, int]


@dataclass
class _ObjectMemory:
    """One object's memory bank for the current chunk.

    Attributes:
        outputs: ``{"cond_frame_outputs": {t: out}, "non_cond_frame_outputs": {t: out}}``, the
            ``output_dict`` ``SAM2Base.track_step`` reads; ``t`` counts frames from the chunk's
            first (conditioning) frame.
        t: the chunk-local time of the latest frame (``-1`` before the first).
        origin: frames from the object's prompt to this chunk's first frame (0 in the first chunk).
    """

    outputs: dict = field(default_factory=lambda: {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}})
    t: int = -1
    origin: int = 0

    def prompt_output(self) -> dict:
        """The output of the object's prompt frame (kept as a conditioning frame in every chunk)."""
        cond = self.outputs["cond_frame_outputs"]
        return cond[min(cond)]


class Sam2Segmenter(Segmenter):
    """SAM 2 video segmentation, one frame per :meth:`segment` call, memory bounded per chunk.

    Args:
        model: a ``SAM2VideoPredictor`` / ``SAM2Base`` (:func:`load_sam2`, :func:`build_tiny_sam2`).
        device: ``"cpu"`` or ``"cuda"``.
        chunk_frames: frames an object's memory bank covers before it is re-seeded from its last mask.
        half: bf16 autocast on CUDA (as SAM 2's demos run).
    """

    name = "sam2"
    needs_sequential = True

    def __init__(self, model, device: str = "cpu", chunk_frames: int = 64, half: bool = True):
        import torch

        if chunk_frames < 2:
            raise ValueError(f"chunk_frames must be >= 2, got {chunk_frames}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.chunk_frames = chunk_frames
        self.size = int(model.image_size)
        self.half = half and self.device.type == "cuda"
        self._mean = torch.tensor(IMG_MEAN, device=self.device)[:, None, None]
        self._std = torch.tensor(IMG_STD, device=self.device)[:, None, None]
        self._objects: dict[int, _ObjectMemory] = {}
        self._fill_holes = (getattr(model, "fill_hole_area", 0) > 0 and self.device.type == "cuda"
                            and _has_cuda_extension())  # its kernel is CUDA-only
        self._pos_enc = None  # maskmem_pos_enc is the same for every frame: one copy (as the predictor)

    def reset(self) -> None:
        self._objects.clear()

    def forget(self, obj_id: int) -> None:
        self._objects.pop(obj_id, None)

    def _autocast(self):
        import torch

        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.half)

    def _encode(self, frame_rgb: np.ndarray) -> _FrameFeatures:
        """Resize to the model's square input (as ``load_video_frames``), normalise, encode."""
        import torch
        import torch.nn.functional as F

        img = torch.from_numpy(np.ascontiguousarray(frame_rgb)).to(self.device).permute(2, 0, 1)[None].float()
        img = F.interpolate(img / 255.0, size=(self.size, self.size), mode="bilinear", align_corners=False,
                            antialias=True)
        img = (img - self._mean) / self._std
        backbone_out = self.model.forward_image(img)
        _, feats, pos, sizes = self.model._prepare_backbone_features(backbone_out)
        return _FrameFeatures(feats, pos, sizes, frame_rgb.shape[:2])

    def _step(self, mem: _ObjectMemory, frame: _FrameFeatures, box_xyxy=None, mask_hw=None):
        """One ``track_step`` of one object; the output stays in its bank. Returns the low-res logits
        ``(1, 1, h, w)`` and the object-score logit."""
        import torch
        import torch.nn.functional as F
        from sam2.utils.misc import fill_holes_in_mask_scores

        mem.t += 1
        point_inputs = mask_inputs = None
        if box_xyxy is not None:
            h, w = frame.size_hw
            scale = torch.tensor([w, h], dtype=torch.float32)
            coords = torch.tensor(box_xyxy, dtype=torch.float32).reshape(1, 2, 2) / scale * self.size
            point_inputs = {"point_coords": coords.to(self.device),
                            "point_labels": torch.tensor([[2, 3]], dtype=torch.int32, device=self.device)}
        elif mask_hw is not None:
            m = torch.as_tensor(mask_hw, device=self.device)[None, None].float()
            if m.shape[-2:] != (self.size, self.size):
                m = F.interpolate(m, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
            mask_inputs = (m >= 0.5).float()
        out = self.model.track_step(
            frame_idx=mem.t, is_init_cond_frame=mem.t == 0, current_vision_feats=frame.vision_feats,
            current_vision_pos_embeds=frame.vision_pos_embeds, feat_sizes=frame.feat_sizes,
            point_inputs=point_inputs, mask_inputs=mask_inputs, output_dict=mem.outputs,
            num_frames=self.chunk_frames + 1, track_in_reverse=False, run_mem_encoder=True)
        low_res = out["pred_masks"]
        if self._fill_holes:
            low_res = fill_holes_in_mask_scores(low_res, self.model.fill_hole_area)
        if self._pos_enc is None:
            self._pos_enc = [x[0:1].clone() for x in out["maskmem_pos_enc"]]
        key = "cond_frame_outputs" if mem.t == 0 else "non_cond_frame_outputs"
        mem.outputs[key][mem.t] = {  # what the predictor keeps per frame (not the high-res masks)
            "maskmem_features": out["maskmem_features"], "maskmem_pos_enc": self._pos_enc,
            "pred_masks": low_res, "obj_ptr": out["obj_ptr"],
            "object_score_logits": out["object_score_logits"]}
        return low_res, out["object_score_logits"]

    def _result(self, low_res, score_logit, size_hw) -> SegmentResult:
        import torch
        import torch.nn.functional as F

        logits = F.interpolate(low_res.float(), size=size_hw, mode="bilinear", align_corners=False)[0, 0]
        inter = int((logits > 1.0).sum())
        union = int((logits > -1.0).sum())
        score = float(torch.sigmoid(score_logit.float()).reshape(-1)[0])
        return SegmentResult(mask=(logits > 0).cpu().numpy(), score=score if math.isfinite(score) else math.nan,
                             stability=inter / union if union else math.nan)

    def _next_chunk(self, obj_id: int, frame: _FrameFeatures, low_res) -> None:
        """Drop a full bank; a new chunk starts on this frame from the object's last mask. The
        prompt frame's memory (one frame's worth) stays as a second conditioning frame, at its true
        distance in the past, so an athlete lost at a chunk boundary can still be found again, as
        SAM 2 does with the prompt frame it always attends to."""
        import torch.nn.functional as F

        old = self._objects[obj_id]
        mask = F.interpolate(low_res.float(), size=(self.size, self.size), mode="bilinear", align_corners=False) > 0
        fresh = _ObjectMemory(origin=old.origin + old.t)
        fresh.outputs["cond_frame_outputs"][-fresh.origin] = old.prompt_output()
        self._objects[obj_id] = fresh
        self._step(fresh, frame, mask_hw=mask[0, 0])

    def seed(self, obj_id: int, frame_rgb: np.ndarray, mask: np.ndarray, frame_idx: int | None = None) -> None:
        """Start ``obj_id`` from a known mask on this frame (a mask prompt, as ``add_new_mask``)."""
        import torch

        with torch.inference_mode(), self._autocast():
            mem = _ObjectMemory()
            self._objects[obj_id] = mem
            self._step(mem, self._encode(frame_rgb), mask_hw=np.asarray(mask, dtype=bool))

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks of the objects in ``boxes[i]`` on ``frames_rgb[i]``: an object without memory starts
        from its box (a box prompt), the others are tracked from their memory (boxes unused)."""
        import torch

        if len(frames_rgb) != len(boxes):
            raise ValueError(f"{len(frames_rgb)} frames but {len(boxes)} box sets")
        results: list[dict[int, SegmentResult]] = []
        with torch.inference_mode(), self._autocast():
            for frame_rgb, frame_boxes in zip(frames_rgb, boxes):
                out: dict[int, SegmentResult] = {}
                if frame_boxes:
                    frame = self._encode(frame_rgb)
                    for obj_id, box in frame_boxes.items():
                        mem = self._objects.get(obj_id)
                        if mem is None:
                            mem = self._objects[obj_id] = _ObjectMemory()
                            low_res, logit = self._step(mem, frame, box_xyxy=box)
                        else:
                            low_res, logit = self._step(mem, frame)
                        out[obj_id] = self._result(low_res, logit, frame.size_hw)
                        if mem.t >= self.chunk_frames:
                            self._next_chunk(obj_id, frame, low_res)
                results.append(out)
        return results

    def memory_frames(self) -> dict[int, int]:
        """Frames held in each object's memory bank (at most ``chunk_frames + 2``: the chunk and
        the prompt frame)."""
        return {o: sum(len(v) for v in m.outputs.values()) for o, m in self._objects.items()}

