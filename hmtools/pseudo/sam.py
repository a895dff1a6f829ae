"""SAM (``segment-anything``) as a box segmenter: batched encoder, batched per-frame box decode.

One image-encoder pass per frame, ``encoder_batch`` frames per encoder call, all objects of a frame
in one prompt-encoder + mask-decoder call (``SamPredictor.predict_torch`` without the predictor's
one-image state). On CUDA the encoder runs under bf16 autocast (fp16 where bf16 is unsupported); the
light decoder stays in fp32. With ``multimask`` the decoder returns three masks per box and the one
with the highest predicted IoU is kept. Stability is SAM's: the IoU of the mask thresholded at logit
``+offset`` and ``-offset`` (``utils/amg.py``).

Choice: frames are resized on the model's device with ``ResizeLongestSide.apply_image_torch``
(bilinear, antialiased) instead of the predictor's PIL resize; the difference is a fraction of a
grey level and it keeps the CPU free for decoding video.

Weights: :func:`load_sam` builds the registry model with ``checkpoint=None`` and loads the state
dict itself (``map_location="cpu"``, ``weights_only=True``), because the registry's own loader calls
``torch.load`` without either.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.pseudo.base import SegmentResult, Segmenter
from hmtools.pseudo.checkpoints import load_state_file, require_checkpoint, strict_load

SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
SAM_CHECKPOINTS = {
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_b": "sam_vit_b_01ec64.pth",
}


def _segment_anything():
    try:
        import segment_anything
    except ImportError as err:  # the package is a declared dependency; say so plainly if absent
        raise ImportError("the SAM segmenter needs the 'segment-anything' package "
                          "(pip install segment-anything)") from err
    return segment_anything


def load_sam(model_type: str, checkpoint: str | Path | None, allow_pickled_objects: bool = False,
             retry_flag: str | None = "--allow-pickled-objects"):
    """Build SAM ``model_type`` (vit_h / vit_l / vit_b) and load a local checkpoint strictly;
    ``allow_pickled_objects`` and ``retry_flag`` as in :func:`~hmtools.pseudo.checkpoints.load_state_file`."""
    if model_type not in SAM_CHECKPOINTS:
        raise ValueError(f"unknown SAM model {model_type!r}; choose from {sorted(SAM_CHECKPOINTS)}")
    published = SAM_URL + SAM_CHECKPOINTS[model_type]
    path = require_checkpoint(checkpoint, f"SAM {model_type}", published)
    sam = _segment_anything().sam_model_registry[model_type](checkpoint=None)
    state = load_state_file(path, allow_placeholders=allow_pickled_objects, retry_flag=retry_flag)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    strict_load(sam, state, path, f"SAM {model_type}")
    return sam.eval()


def build_tiny_sam(img_size: int = 64, seed: int = 0):
    """A random-weight SAM (~80 k parameters) for tests: same classes, tiny widths."""
    import torch
    from functools import partial
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)

    torch.manual_seed(seed)
    dim, grid = 32, img_size // 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
            out_chans=dim, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True, window_size=2, global_attn_indexes=(1,)),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(grid, grid),
                                     input_image_size=(img_size, img_size), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim, iou_head_depth=2, iou_head_hidden_dim=32),
    )
    return sam.eval()


class SamSegmenter(Segmenter):
    """Box prompts -> masks with a SAM model.

    Args:
        sam: a ``segment_anything.modeling.Sam``.
        device: ``"cpu"`` or ``"cuda"``.
        encoder_batch: frames per image-encoder call (memory: ~1 GB per frame for vit_h in bf16).
        half: reduced-precision encoder on CUDA.
        multimask: decode three masks per box and keep the best by predicted IoU.
        stability_offset: logit offset of the stability score.

    Example:
        >>> seg = SamSegmenter(build_tiny_sam())
        >>> out = seg.segment([np.zeros((48, 64, 3), np.uint8)], [{1: (8, 8, 40, 40)}])
        >>> out[0][1].mask.shape
        (48, 64)
    """

    name = "sam"
    needs_sequential = False

    def __init__(self, sam, device: str = "cpu", encoder_batch: int = 4, half: bool = True,
                 multimask: bool = True, stability_offset: float = 1.0):
        import torch
        from segment_anything.utils.transforms import ResizeLongestSide

        if encoder_batch < 1:
            raise ValueError(f"encoder_batch must be >= 1, got {encoder_batch}")
        self.device = torch.device(device)
        self.sam = sam.to(self.device).eval()
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.encoder_batch = encoder_batch
        self.multimask = multimask
        self.stability_offset = stability_offset
        self.autocast_dtype = None
        if half and self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    @property
    def batch_size(self) -> int:
        """How many frames the pipeline should hand over at once."""
        return self.encoder_batch

    def _prepare(self, frame_rgb: np.ndarray):
        import torch

        img = torch.from_numpy(np.ascontiguousarray(frame_rgb)).to(self.device, non_blocking=True)
        img = img.permute(2, 0, 1)[None].float()
        resized = self.transform.apply_image_torch(img)
        return self.sam.preprocess(resized[0]), tuple(resized.shape[-2:])

    def encode(self, frames_rgb: Sequence[np.ndarray]):
        """Image embeddings ``(F, C, h, w)`` and the resized input sizes, ``encoder_batch`` at a time."""
        import torch

        feats, input_sizes = [], []
        with torch.inference_mode():
            for start in range(0, len(frames_rgb), self.encoder_batch):
                prepared = [self._prepare(f) for f in frames_rgb[start:start + self.encoder_batch]]
                batch = torch.stack([p[0] for p in prepared])
                input_sizes += [p[1] for p in prepared]
                with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                                    enabled=self.autocast_dtype is not None):
                    feats.append(self.sam.image_encoder(batch).float())
        return torch.cat(feats), input_sizes

    def decode(self, features, input_size: tuple[int, int], original_size: tuple[int, int],
               boxes_xyxy: np.ndarray):
        """All boxes of one frame in one decode.

        Args:
            features: ``(1, C, h, w)`` embedding of the frame.
            boxes_xyxy: ``(K, 4)`` boxes in frame pixels.

        Returns:
            ``(K, H, W)`` mask logits, ``(K,)`` predicted IoU of the kept mask.
        """
        import torch

        with torch.inference_mode():
            boxes = torch.as_tensor(boxes_xyxy, dtype=torch.float32, device=self.device)
            boxes = self.transform.apply_boxes_torch(boxes, original_size)
            sparse, dense = self.sam.prompt_encoder(points=None, boxes=boxes, masks=None)
            low_res, iou = self.sam.mask_decoder(
                image_embeddings=features, image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=self.multimask)
            best = iou.argmax(dim=1)  # (K,)
            keep = torch.arange(len(best), device=best.device)
            low_res = low_res[keep, best][:, None]  # (K, 1, h, w)
            logits = self.sam.postprocess_masks(low_res, input_size, original_size)[:, 0]
            return logits, iou[keep, best]

    def stability(self, logits) -> np.ndarray:
        """SAM's stability score per mask of ``(K, H, W)`` logits (``nan`` where both are empty)."""
        import torch

        thr, off = self.sam.mask_threshold, self.stability_offset
        inter = (logits > thr + off).flatten(1).sum(1).float()
        union = (logits > thr - off).flatten(1).sum(1).float()
        ratio = inter / union.clamp(min=1)
        return torch.where(union > 0, ratio, torch.full_like(ratio, math.nan)).cpu().numpy()

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks for every (frame, object) box; frames without boxes skip the encoder.

        ``frame_indices`` is accepted for interface symmetry; SAM needs no temporal context.
        """
        if len(frames_rgb) != len(boxes):
            raise ValueError(f"{len(frames_rgb)} frames but {len(boxes)} box sets")
        results: list[dict[int, SegmentResult]] = [{} for _ in frames_rgb]
        todo = [i for i, b in enumerate(boxes) if b]
        if not todo:
            return results
        feats, input_sizes = self.encode([frames_rgb[i] for i in todo])
        for j, i in enumerate(todo):
            ids = list(boxes[i])
            arr = np.asarray([boxes[i][k] for k in ids], dtype=np.float32)
            logits, iou = self.decode(feats[j:j + 1], input_sizes[j], frames_rgb[i].shape[:2], arr)
            stab = self.stability(logits)
            masks = (logits > self.sam.mask_threshold).cpu().numpy()
            iou = iou.float().cpu().numpy()
            for k, obj_id in enumerate(ids):
                score = float(iou[k])
                results[i][obj_id] = SegmentResult(mask=masks[k], score=score if math.isfinite(score)
                                                   else math.nan, stability=float(stab[k]))
        return results

