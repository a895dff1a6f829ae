"""ViT-S/16 SVE (Table 8): timm's vit_small_patch16_224 layout, loading and outputs."""

import pytest
import torch

from fineparser.model import build_model, get_config
from fineparser.model.vit import build_vit_small
from fineparser.model.weights import load_resnet_weights


def _timm_like_layout() -> dict[str, tuple[int, ...]]:
    """timm's vit_small_patch16_224 keys and shapes, written out from its definition."""
    d, h = 384, 1536
    keys = {"cls_token": (1, 1, d), "pos_embed": (1, 197, d), "patch_embed.proj.weight": (d, 3, 16, 16),
            "patch_embed.proj.bias": (d,)}
    for i in range(12):
        p = f"blocks.{i}."
        keys.update({p + "norm1.weight": (d,), p + "norm1.bias": (d,), p + "attn.qkv.weight": (3 * d, d),
                     p + "attn.qkv.bias": (3 * d,), p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
                     p + "norm2.weight": (d,), p + "norm2.bias": (d,), p + "mlp.fc1.weight": (h, d),
                     p + "mlp.fc1.bias": (h,), p + "mlp.fc2.weight": (d, h), p + "mlp.fc2.bias": (d,)})
    keys.update({"norm.weight": (d,), "norm.bias": (d,), "head.weight": (1000, d), "head.bias": (1000,)})
    return keys


def test_layout_is_timm_vit_small_without_head():
    with torch.device("meta"):
        vit = build_vit_small((224, 224))
    ours = {k: tuple(v.shape) for k, v in vit.state_dict().items()}
    expected = {k: v for k, v in _timm_like_layout().items() if not k.startswith("head.")}
    assert ours == expected
    assert sum(v.numel() for v in vit.parameters()) == 21_665_664  # timm's 22.05 M minus the head


def test_a_file_in_that_layout_loads_into_the_sve_and_changes_its_output(tmp_path):
    torch.manual_seed(0)
    cfg = get_config("tiny", sve_backbone="vit_small_patch16_224", frame_size_hw=(224, 224))
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build_vit_small((224, 224)).state_dict().items()}
    state = {k: torch.randn(s) * 0.02 for k, s in _timm_like_layout().items()}
    assert set(shapes) == set(state) - {"head.weight", "head.bias"}
    torch.save(state, tmp_path / "pytorch_model.bin")
    model = build_model(cfg).eval()
    frames = torch.rand(2, 3, 8, 224, 224)
    before = model.sve(frames)
    assert load_resnet_weights(model, tmp_path / "pytorch_model.bin") == len(shapes)
    assert torch.equal(model.sve.backbone.pos_embed, state["pos_embed"])
    assert before.shape == (2, model.i3d.out_channels)
    assert not torch.allclose(before, model.sve(frames))


def test_matches_timm_keys_and_outputs_when_timm_is_installed():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    ref = timm.create_model("vit_small_patch16_224", pretrained=False).eval()
    ours = build_vit_small((224, 224)).eval()
    state = ref.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items() if not k.startswith("head.")} == \
        {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ours.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        expected = ref.forward_head(ref.forward_features(x), pre_logits=True)
        assert torch.allclose(ours(x), expected, atol=1e-5)


def test_tiny_frames_get_their_own_position_table_and_run():
    cfg = get_config("tiny", sve_backbone="vit_small_patch16_224", sve_width=0.25)
    model = build_model(cfg)
    assert model.sve.backbone.pos_embed.shape == (1, 1 + 2 * 2, 96)
    video = torch.rand(1, cfg.num_snippets, 3, cfg.snippet_frames, *cfg.frame_size_hw)
    assert model(video, video, torch.ones(1)).y_hat.shape == (1,)
