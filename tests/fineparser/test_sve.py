"""SVE: ResNet on the two central frames, torchvision layout."""

import torch
import torchvision

from fineparser.model.sve import StaticVisualEncoder


def test_only_frames_t_half_and_next_are_used():
    torch.manual_seed(0)
    sve = StaticVisualEncoder("resnet18", 1024).eval()
    assert isinstance(sve.proj, torch.nn.Identity)  # 2 x 512 = C4
    x = torch.randn(2, 3, 8, 32, 32)
    base = sve(x)
    other = x.clone()
    other[:, :, [0, 1, 2, 3, 6, 7]] = 0.0
    assert base.shape == (2, 1024) and torch.allclose(sve(other), base, atol=1e-5)
    moved = x.clone()
    moved[:, :, 5] += 1.0
    assert not torch.allclose(sve(moved), base, atol=1e-3)


def test_layout_is_torchvision_without_fc_and_resnet50_is_projected():
    with torch.device("meta"):
        sve = StaticVisualEncoder("resnet34", 1024)
        tv = torchvision.models.resnet34()
        sve50 = StaticVisualEncoder("resnet50", 1024)
    tv_keys = [(k, v.shape) for k, v in tv.state_dict().items() if not k.startswith("fc.")]
    assert [(k, v.shape) for k, v in sve.backbone.state_dict().items()] == tv_keys
    assert sum(p.numel() for p in sve.parameters()) == 21_284_672
    assert sve50.proj.in_features == 4096 and sve50.proj.out_features == 1024


def test_narrow_resnet_keeps_the_layout_with_scaled_widths():
    from fineparser.model.sve import build_resnet, resnet_feature_dim

    with torch.device("meta"):
        tv = torchvision.models.resnet18()
        narrow = build_resnet("resnet18", 0.25)
    tv_state = {k: v.shape for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    state = {k: v.shape for k, v in narrow.state_dict().items()}
    assert list(state) == list(tv_state)  # same keys, same order
    assert state["conv1.weight"] == (16, 3, 7, 7) and state["layer4.1.conv2.weight"] == (128, 128, 3, 3)
    assert resnet_feature_dim("resnet18", 0.25) == 128 and resnet_feature_dim("resnet50", 0.5) == 1024
    sve = StaticVisualEncoder("resnet18", 256, width=0.25)  # 2 x 128 = 256: no projection
    assert isinstance(sve.proj, torch.nn.Identity)
    assert sve(torch.rand(3, 3, 4, 32, 32)).shape == (3, 256)
