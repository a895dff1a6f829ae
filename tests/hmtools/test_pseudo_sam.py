"""SAM wrapper: batched encoder, batched per-frame decode (tiny random-weight SAM on the CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hmtools.errors import CheckpointError
from hmtools.pseudo.checkpoints import load_state_file, strict_load
from hmtools.pseudo.sam import SamSegmenter, build_tiny_sam, load_sam


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(5)]


BOXES = [{1: (8, 8, 40, 40), 2: (0, 0, 20, 30)}, {}, {1: (8, 8, 40, 40)}, {3: (1, 2, 60, 47)},
         {1: (10, 4, 30, 44), 2: (30, 10, 60, 40)}]


def test_encoder_batching_does_not_change_the_masks(frames):
    torch.manual_seed(0)
    sam = build_tiny_sam()
    one = SamSegmenter(sam, encoder_batch=1).segment(frames, BOXES)
    many = SamSegmenter(sam, encoder_batch=3).segment(frames, BOXES)
    assert [sorted(o) for o in one] == [sorted(b) for b in BOXES]
    for a, b in zip(one, many):
        for k in a:
            assert a[k].mask.shape == (48, 64) and a[k].mask.dtype == bool
            assert np.array_equal(a[k].mask, b[k].mask)
            assert a[k].score == pytest.approx(b[k].score, abs=1e-5)
            assert 0.0 <= a[k].stability <= 1.0 or np.isnan(a[k].stability)


def test_batched_decode_matches_segment_anything_predictor(frames):
    from segment_anything import SamPredictor

    sam = build_tiny_sam(seed=1)
    seg = SamSegmenter(sam, multimask=False)
    feats, sizes = seg.encode(frames[:1])
    boxes = np.array([[8, 8, 40, 40], [0, 0, 20, 30]], np.float32)
    logits, iou = seg.decode(feats[:1], sizes[0], (48, 64), boxes)

    predictor = SamPredictor(sam)
    img = torch.from_numpy(frames[0]).permute(2, 0, 1)[None].float()
    predictor.set_torch_image(seg.transform.apply_image_torch(img), (48, 64))
    ref_masks, ref_iou, _ = predictor.predict_torch(
        None, None, boxes=predictor.transform.apply_boxes_torch(torch.from_numpy(boxes), (48, 64)),
        multimask_output=False, return_logits=True)
    assert torch.allclose(logits, ref_masks[:, 0], atol=1e-4)
    assert torch.allclose(iou, ref_iou[:, 0], atol=1e-5)


def test_multimask_keeps_the_best_predicted_iou(frames):
    sam = build_tiny_sam(seed=2)
    seg = SamSegmenter(sam, multimask=True)
    feats, sizes = seg.encode(frames[:1])
    boxes = np.array([[8, 8, 40, 40]], np.float32)
    _, best = seg.decode(feats, sizes[0], (48, 64), boxes)
    with torch.inference_mode():
        b = seg.transform.apply_boxes_torch(torch.from_numpy(boxes), (48, 64))
        sparse, dense = sam.prompt_encoder(points=None, boxes=b, masks=None)
        _, all_iou = sam.mask_decoder(image_embeddings=feats, image_pe=sam.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=True)
    assert all_iou.shape == (1, 3)
    assert float(best[0]) == pytest.approx(float(all_iou.max()))


def test_stability_score_definition():
    seg = SamSegmenter(build_tiny_sam())
    logits = torch.full((2, 4, 4), -5.0)
    logits[0, :2] = 5.0   # 8 px above +1; 8 px above -1 -> 1.0
    logits[0, 2] = 0.5    # 4 more above -1 only -> 8 / 12
    # logits[1] stays at -5: nothing at all -> nan
    stab = seg.stability(logits)
    assert stab[0] == pytest.approx(8 / 12)
    assert np.isnan(stab[1])


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"):
        load_sam("vit_b", tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(ValueError, match="unknown SAM model"):
        load_sam("vit_x", None)
    sam = build_tiny_sam()
    path = tmp_path / "tiny.pth"
    torch.save(sam.state_dict(), path)
    other = build_tiny_sam(seed=5)
    strict_load(other, load_state_file(path), path, "tiny SAM")
    assert all(torch.equal(a, b) for a, b in zip(sam.state_dict().values(), other.state_dict().values()))
    bad = {k: v for k, v in sam.state_dict().items() if "mask_decoder" not in k}
    torch.save(bad, path)
    with pytest.raises(CheckpointError, match="missing: mask_decoder"):
        strict_load(other, load_state_file(path), path, "tiny SAM")
