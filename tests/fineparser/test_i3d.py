"""I3D: checkpoint layout, TF SAME padding, stage shapes."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fineparser.model.build import build_i3d
from fineparser.model.i3d import MaxPool3dSame, Unit3D, same_padding

LAYOUT = Path(__file__).resolve().parents[1] / "data" / "checkpoint-layouts" / "i3d-kinetics-model_rgb.txt"


def _layout() -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in LAYOUT.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split(" ", 1)
            rows.append((name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    return rows


@pytest.mark.skipif(not LAYOUT.is_file(), reason=f"{LAYOUT} (checkpoint layout listing) not present")
def test_state_dict_is_the_kinetics_checkpoint_layout_without_logits():
    with torch.device("meta"):
        i3d = build_i3d(1.0)
    ours = [(k, tuple(v.shape)) for k, v in i3d.state_dict().items()]
    official = [row for row in _layout() if not row[0].startswith("conv3d_0c_1x1.")]
    assert len(official) == 342
    assert ours == official  # same keys, same order, same shapes, num_batches_tracked included
    assert sum(p.numel() for p in i3d.parameters()) == 12_287_264


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 7, 2, (2, 3)), (8, 7, 2, (2, 3)), (7, 7, 2, (3, 3)), (112, 3, 2, (0, 1)),
    (4, 3, 2, (0, 1)), (2, 2, 2, (0, 0)), (56, 3, 1, (1, 1)), (1, 3, 1, (1, 1)),
])
def test_same_padding_matches_tensorflow(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize("t, pad_t", [(8, (2, 3)), (7, (3, 3))])
def test_strided_unit_pads_like_tf_same(t, pad_t):
    torch.manual_seed(0)
    unit = Unit3D(3, 4, (7, 7, 7), (2, 2, 2)).eval()
    x = torch.randn(1, 3, t, 16, 16)
    expected = F.conv3d(F.pad(x, (2, 3, 2, 3, *pad_t)), unit.conv3d.weight, stride=2)
    expected = F.relu(unit.batch3d(expected))
    assert torch.allclose(unit(x), expected, atol=1e-6)
    assert unit(x).shape[2:] == (-(-t // 2), 8, 8)


def test_batch_norm_uses_tf_epsilon_and_pool_pads_by_same():
    assert {m.eps for m in build_i3d(0.125).modules() if isinstance(m, torch.nn.BatchNorm3d)} == {1e-3}
    x = torch.rand(1, 2, 4, 9, 9)  # non-negative, like every pooled activation (post-ReLU)
    out = MaxPool3dSame((3, 3, 3), (2, 2, 2))(x)
    assert out.shape[2:] == (2, 5, 5)
    assert torch.equal(out, F.max_pool3d(F.pad(x, (1, 1, 1, 1, 0, 1)), 3, 2))


def test_stage_shapes_of_one_224_snippet():
    with torch.device("meta"):
        i3d = build_i3d(1.0)
        x = torch.empty(1, 3, 8, 224, 224)
    shapes = []
    for stage in (1, 2, 3, 4):
        x = i3d.forward_stage(stage, x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 4, 112, 112), (192, 4, 56, 56), (832, 2, 14, 14), (1024, 1, 7, 7)]
    assert i3d.stage_channels == {1: 64, 2: 192, 3: 832, 4: 1024}


def test_reduced_width_runs_and_pools_to_c4():
    torch.manual_seed(0)
    i3d = build_i3d(0.125).eval()
    feats = i3d(torch.randn(2, 3, 8, 32, 32))
    assert feats.shape == (2, i3d.out_channels) and i3d.out_channels == 128
    assert torch.isfinite(feats).all() and feats.min() >= 0  # mean of post-ReLU maps


@pytest.mark.parametrize("kernel,stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)),
                                           ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2))])
def test_pool_without_a_padded_copy_equals_padding_with_zeros(kernel, stride):
    from fineparser.model.i3d import _native_pool_padding, _pad_same

    torch.manual_seed(0)
    pool = MaxPool3dSame(kernel, stride)
    for size in [(1, 1, 1), (2, 7, 8), (3, 13, 14), (4, 28, 56), (5, 9, 7), (8, 12, 20)]:
        x = torch.relu(torch.randn(1, 2, *size))  # the I3D pools post-ReLU features
        expected = F.max_pool3d(_pad_same(x, kernel, stride), kernel, stride)
        assert torch.equal(pool(x), expected), size
    assert _native_pool_padding((4, 56, 56), kernel, stride) is not None  # the common case is native


@pytest.mark.parametrize("eps", [1e-3, 1e-5])
def test_batch_norm_epsilon_is_a_switch_and_the_paper_preset_uses_the_aqa_codes_one(eps):
    from fineparser.model import build_model, get_config

    assert {m.eps for m in build_i3d(0.125, bn_eps=eps).modules() if isinstance(m, torch.nn.BatchNorm3d)} == {eps}
    assert get_config("paper").i3d_bn_eps == 1e-5 and get_config("tiny").i3d_bn_eps == 1e-3
    model = build_model(get_config("tiny", i3d_bn_eps=eps))
    assert {m.eps for m in model.i3d.modules() if isinstance(m, torch.nn.BatchNorm3d)} == {eps}


def test_small_running_variance_makes_the_epsilon_visible():
    torch.manual_seed(0)
    a, b = build_i3d(0.125, bn_eps=1e-3).eval(), build_i3d(0.125, bn_eps=1e-5).eval()
    b.load_state_dict(a.state_dict())
    for m in list(a.modules()) + list(b.modules()):
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_var.fill_(1e-3)
    x = torch.rand(1, 3, 8, 32, 32)
    assert not torch.allclose(a.forward_stage(1, x), b.forward_stage(1, x), atol=1e-3)


@pytest.mark.parametrize("end,shape3,shape4", [("mixed_4f", (832, 2, 14, 14), (1024, 1, 7, 7)),
                                                ("mixed_3c", (480, 4, 28, 28), (1024, 1, 7, 7))])
def test_stage_three_ends_after_mixed_4f_or_mixed_3c(end, shape3, shape4):
    with torch.device("meta"):
        i3d = build_i3d(1.0, stage3_end=end)
        x = torch.empty(1, 3, 8, 224, 224)
    for stage in (1, 2, 3):
        x = i3d.forward_stage(stage, x)
    assert tuple(x.shape[1:]) == shape3 and i3d.stage_channels[3] == shape3[0]
    assert tuple(i3d.forward_stage(4, x).shape[1:]) == shape4
    assert sum(map(len, i3d.stages.values())) == len(i3d.BLOCKS)
    with pytest.raises(ValueError, match="stage3_end"):
        build_i3d(0.125, stage3_end="mixed_4b")
