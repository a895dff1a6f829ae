"""SAP: Eq. 2 (mean/max maps, 1x1 conv, sigmoid) and Eq. 5 (A + 1 or A)."""

import pytest
import torch

from fineparser.model import build_model, get_config
from fineparser.model.sap import SpatialAttention


def test_attention_is_sigmoid_of_a_1x1_conv_over_mean_and_max():
    torch.manual_seed(0)
    sap = SpatialAttention()
    assert sum(p.numel() for p in sap.parameters()) == 3
    with torch.no_grad():
        sap.f_a.weight.copy_(torch.tensor([2.0, -1.0]).reshape(1, 2, 1, 1, 1))
        sap.f_a.bias.fill_(0.5)
    feats = torch.rand(2, 5, 4, 6, 6)
    out, attn = sap(feats)
    expected = torch.sigmoid(2.0 * feats.mean(1) - 1.0 * feats.amax(1) + 0.5)
    assert attn.shape == (2, 4, 6, 6) and torch.allclose(attn, expected, atol=1e-6)
    assert torch.allclose(out, feats * (expected + 1).unsqueeze(1), atol=1e-6)
    assert 0 <= attn.min() and attn.max() <= 1


def test_without_residual_features_are_multiplied_by_a():
    sap = SpatialAttention(residual=False)
    feats = torch.rand(1, 3, 2, 4, 4)
    out, attn = sap(feats)
    assert torch.allclose(out, feats * attn.unsqueeze(1))


@pytest.mark.parametrize("stage, shape", [(1, (4, 112, 112)), (2, (4, 56, 56)), (3, (2, 14, 14))])
def test_selectable_stage_sets_the_attention_size(stage, shape):
    with torch.device("meta"):
        model = build_model(get_config("paper", sap_stage=stage, sve=False))
        video = torch.empty(1, 2, 3, 8, 224, 224)
        out = model(video, video, torch.zeros(1))
    assert out.query.attention.shape == (1, 2, *shape)
    assert out.exemplar.attention.shape == (1, 2, *shape)
