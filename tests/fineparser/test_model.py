"""UniFineParser end to end: shapes, Eq. 7, DD, gradients, determinism, ablation switches."""

import pytest
import torch

from fineparser.losses import attention_loss, mask_targets, score_loss, soft_labels, temporal_loss
from fineparser.model import build_model, get_config


def _pair(cfg, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, cfg.num_snippets, 3, cfg.snippet_frames, *cfg.frame_size_hw)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(get_config("tiny"))


def test_paper_preset_shapes_for_a_full_pair():
    with torch.device("meta"):
        model = build_model(get_config("paper"))
        video = torch.empty(1, 20, 3, 8, 224, 224)
        out = model(video, video, torch.zeros(1))
    assert out.delta.shape == (1, 6) and out.y_hat.shape == (1,)
    for feats in (out.query, out.exemplar):
        assert feats.attention.shape == (1, 20, 4, 56, 56)
        assert feats.a1.shape == feats.a2.shape == (1, 6, 20)
        assert feats.snippet_features.shape == (1, 20, 1024) and feats.step_features.shape == (1, 6, 256)


def test_paper_preset_runs_on_a_small_input():
    torch.manual_seed(0)
    model = build_model(get_config("paper")).eval()
    query, exemplar = _pair(get_config("paper", num_snippets=2, frame_size_hw=(64, 64)), batch=1)
    with torch.no_grad():
        out = model(query, exemplar, torch.tensor([70.0]))
    assert out.query.attention.shape == (1, 2, 4, 16, 16) and out.query.a2.shape == (1, 6, 2)
    assert torch.isfinite(out.y_hat).all()


def test_tiny_forward_follows_eq_7(tiny):
    query, exemplar = _pair(tiny.config)
    y_z = torch.tensor([60.0, 85.5])
    out = tiny(query, exemplar, y_z)
    assert out.delta.shape == (2, 3) and out.query.attention.shape == (2, 4, 4, 8, 8)
    assert torch.allclose(out.y_hat, y_z + out.delta.mean(-1)) and torch.equal(out.y_hat, out.y_hat_raw)
    r = tiny.regress(out.query.step_features, out.exemplar.step_features, y_z)   # step features only
    assert torch.equal(r.delta, out.delta) and torch.equal(r.y_hat, out.y_hat)
    assert torch.allclose(out.query.a1.sum(-1), torch.ones(2, 3), atol=1e-5)
    assert 0 <= out.exemplar.attention.min() and out.exemplar.attention.max() <= 1


def test_zero_deltas_give_the_exemplar_score(tiny):
    model = build_model(get_config("tiny", sve=False))
    last = model.regressor.regressor[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    query, exemplar = _pair(model.config)
    y_z = torch.tensor([60.0, 85.5])
    out = model(query, exemplar, y_z)
    assert torch.all(out.delta == 0) and torch.equal(out.y_hat, y_z)


def test_dd_regresses_score_over_difficulty():
    torch.manual_seed(0)
    model = build_model(get_config("tiny", sve=False, exemplar_setting="DD"))
    query, exemplar = _pair(model.config)
    y_z, dd_q, dd_z = torch.tensor([60.0, 80.0]), torch.tensor([3.0, 2.0]), torch.tensor([2.0, 3.2])
    out = model(query, exemplar, y_z, dd_q, dd_z)
    raw = y_z / dd_z + out.delta.mean(-1)
    assert torch.allclose(out.y_hat_raw, raw) and torch.allclose(out.y_hat, raw * dd_q)
    with pytest.raises(ValueError, match="difficulty_query"):
        model(query, exemplar, y_z)


def test_every_parameter_group_receives_gradient(tiny):
    tiny.train()
    tiny.zero_grad()
    cfg = tiny.config
    query, exemplar = _pair(cfg)
    out = tiny(query, exemplar, torch.tensor([60.0, 85.5]))
    masks = (torch.rand(2, cfg.num_snippets, cfg.snippet_frames, 32, 32) > 0.5)
    m_gt, valid = mask_targets(masks, None, out.query.attention.shape[-3:])
    targets = soft_labels(torch.tensor([[1, 2], [0, 3]]), cfg.num_snippets, cfg.num_queries,
                          stride=cfg.snippet_stride, snippet_frames=cfg.snippet_frames)
    loss = (attention_loss(out.query.attention, m_gt, valid)
            + temporal_loss(out.query.a1, out.query.a2, targets)
            + score_loss(out.y_hat, torch.tensor([62.0, 80.0])))
    loss.backward()
    groups = tiny.parameter_groups()
    assert set(groups) == {"i3d", "sap", "sve", "tap", "temperature", "regressor"}
    ids = [id(p) for params in groups.values() for p in params]
    assert sorted(ids) == sorted(id(p) for p in tiny.parameters())  # each parameter exactly once
    for name, params in groups.items():
        assert all(p.grad is not None for p in params), name
        assert sum(float(p.grad.abs().sum()) for p in params) > 0, name


def test_same_seed_same_model_and_output():
    cfg = get_config("tiny", sve=False)
    query, exemplar = _pair(cfg)
    outs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outs.append(build_model(cfg).eval()(query, exemplar, torch.tensor([1.0, 2.0])).y_hat)
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


@pytest.mark.parametrize("overrides, check", [
    ({"sap": False}, lambda m, o: o.query.attention is None and m.sap is None),
    ({"tap": False}, lambda m, o: o.delta.shape == (2, 4) and m.decoder.queries is None),
    ({"sap_residual": False}, lambda m, o: not m.sap.residual),
    ({"cross_attention_heads": (2, 4)}, lambda m, o: m.decoder.cross2.heads == 4 and o.query.a2.shape == (2, 3, 4)),
    ({"num_queries": 5}, lambda m, o: o.delta.shape == (2, 5)),
    ({"num_snippets": 6}, lambda m, o: o.query.a1.shape == (2, 3, 6)),
])
def test_ablation_switches(overrides, check):
    torch.manual_seed(0)
    cfg = get_config("tiny", sve=False, **overrides)
    model = build_model(cfg)
    query, exemplar = _pair(cfg)
    out = model(query, exemplar, torch.tensor([1.0, 2.0]))
    assert check(model, out)
    assert torch.isfinite(out.y_hat).all()


def test_sve_backbone_is_selectable():
    with torch.device("meta"):
        for name, blocks in (("resnet18", 2), ("resnet50", 3)):
            model = build_model(get_config("tiny", sve_backbone=name))
            assert len(model.sve.backbone.layer1) == blocks


def test_bad_inputs_name_the_argument(tiny):
    query, exemplar = _pair(tiny.config)
    with pytest.raises(ValueError, match="exemplar: expected the query's shape"):
        tiny(query, exemplar[:, :2], torch.zeros(2))
    with pytest.raises(ValueError, match="y_exemplar: expected a tensor of shape \\(2,\\)"):
        tiny(query, exemplar, torch.zeros(3))
    with pytest.raises(ValueError, match="query: expected \\(B, N, 3, T, H, W\\)"):
        tiny(query[0], exemplar[0], torch.zeros(2))
