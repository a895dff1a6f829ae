"""TAP decoder and the contrastive regressor."""

import pytest
import torch

from fineparser.model.tap import ContrastiveRegressor, CrossAttention, TemporalDecoder


@pytest.mark.parametrize("heads", [1, 4])
def test_cross_attention_rows_are_distributions_over_snippets(heads):
    torch.manual_seed(0)
    ca = CrossAttention(8, 12, 16, heads)
    out, attn = ca(torch.randn(2, 3, 8), torch.randn(2, 5, 12), torch.tensor(1.0))
    assert out.shape == (2, 3, 16) and attn.shape == (2, 3, 5)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 3), atol=1e-6)


def test_single_head_matches_the_equations():
    torch.manual_seed(0)
    ca = CrossAttention(4, 6, 4)
    q, kv, tau = torch.randn(1, 2, 4), torch.randn(1, 3, 6), torch.tensor(2.5)
    out, attn = ca(q, kv, tau)
    a = torch.softmax(ca.w_q(q) @ ca.w_k(kv).transpose(1, 2) / tau, -1)
    assert torch.allclose(attn, a, atol=1e-6) and torch.allclose(out, a @ ca.w_v(kv), atol=1e-6)


def test_larger_temperature_flattens_attention():
    torch.manual_seed(0)
    ca = CrossAttention(8, 8, 8)
    q, kv = torch.randn(1, 3, 8), torch.randn(1, 6, 8)

    def entropy(tau):
        a = ca(q, kv, torch.tensor(tau))[1]
        return -(a * a.log()).sum(-1).mean()

    assert entropy(0.1) < entropy(1.0) < entropy(100.0)


def test_decoder_shapes_with_and_without_learnable_queries():
    torch.manual_seed(0)
    x_f = torch.randn(2, 7, 24)
    dec = TemporalDecoder(24, 16, num_queries=3, self_heads=2, temperature_init=4.0)
    x_t, a1, a2 = dec(x_f)
    assert x_t.shape == (2, 3, 16) and a1.shape == a2.shape == (2, 3, 7)
    assert dec.temperature.item() == pytest.approx(4.0) and dec.queries.shape == (3, 16)
    base = TemporalDecoder(24, 16, num_queries=None, cross_heads=(2, 4), self_heads=2)
    x_t, a1, a2 = base(x_f)
    assert base.queries is None and x_t.shape == (2, 7, 16) and a2.shape == (2, 7, 7)
    assert base.cross1.w_q.in_features == 24


def test_regressor_gives_one_delta_per_step():
    reg = ContrastiveRegressor(16)
    assert [m.out_features for m in reg.modules() if isinstance(m, torch.nn.Linear)] == [16, 16, 8, 4, 1]
    assert reg(torch.randn(2, 5, 16), torch.randn(2, 5, 16)).shape == (2, 5)


def test_plain_self_attention_is_the_paper_literal_x2_equals_mhsa_x1():
    from fineparser.model.tap import TemporalDecoder

    torch.manual_seed(0)
    ours = TemporalDecoder(32, 16, num_queries=3, self_heads=2)
    plain = TemporalDecoder(32, 16, num_queries=3, self_heads=2, self_attention="plain")
    assert plain.norm is None and not any(k.startswith("norm.") for k in plain.state_dict())
    plain.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith("norm.")})
    x_f = torch.rand(2, 5, 32)
    q = plain.queries.unsqueeze(0).expand(2, -1, -1)
    x1, _ = plain.cross1(q, x_f, plain.temperature)
    x2 = plain.self_attn(x1, x1, x1, need_weights=False)[0] + q
    expected, _ = plain.cross2(x2, x_f, plain.temperature)
    assert torch.allclose(plain(x_f)[0], expected, atol=1e-6)
    assert not torch.allclose(ours(x_f)[0], expected, atol=1e-4)
    with pytest.raises(ValueError, match="self_attention"):
        TemporalDecoder(32, 16, self_attention="post_norm")
