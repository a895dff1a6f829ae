"""Temporal action parsing (TAP): the DETR-like temporal decoder of Sec. 3.2.

``X^F`` (B, N, C4) is the key and value of two cross-attentions with a self-attention between
them (Cross-Attention -> Self-Attention -> Cross-Attention). Reading of the paper
(``paper-notes.md`` rows 9-12, 20):

- Every projection has width d = Cq (256): ``W^Q`` (Cq -> d), ``W^K``, ``W^V`` (C4 -> d), without
  bias (the equations have none) and without an output projection (``X_1 = A_1 V_1``).
- ``A = softmax(Q K^T / tau)`` with one learnable temperature tau shared by both cross-attentions,
  initialised to 0.07 x 256 (Sec. 4.3). Multi-head variants (Table 10) divide each head's logits
  by the same tau and report A as the mean over heads.
- Self-attention (``self_attention="residual_norm"``, our default and the paper preset's):
  ``X_2 = LayerNorm(X_1 + MHSA(X_1))`` (torch's multi-head attention, 8 heads of 32 at the paper
  setting), the usual transformer wrapping, which keeps X_1's step identity when the attention
  mixes the queries; ``"plain"`` is the paper's literal ``X_2 = MHSA(X_1)`` (no residual, no
  LayerNorm, no ``norm.*`` parameters). No feed-forward block is mentioned, so there is none.
- The second cross-attention's query is printed garbled ("X2F = sum_i (X2F + Q2)"); we use
  ``X_2 + Q`` (the learnable query embeddings re-added, as in DETR), then ``Q_2 = W_2^Q (X_2 + Q)``.
- Without TAP (Table 6 "Base", "w/o TAP") there are no learnable queries: the first query is the
  snippet features themselves (``W_1^Q``: C4 -> d) and nothing is re-added, so the decoder yields
  one feature per snippet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SELF_ATTENTION_KINDS = ("residual_norm", "plain")


class CrossAttention(nn.Module):
    """``A = softmax(W^Q q (W^K kv)^T / tau)``, ``out = A W^V kv`` with ``heads`` heads.

    Example:
        >>> ca = CrossAttention(256, 1024, 256)
        >>> out, attn = ca(torch.rand(2, 6, 256), torch.rand(2, 20, 1024), torch.tensor(17.92))
        >>> out.shape, attn.shape                              # (2, 6, 256), (2, 6, 20)
    """

    def __init__(self, query_dim: int, kv_dim: int, dim: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.w_q = nn.Linear(query_dim, dim, bias=False)
        self.w_k = nn.Linear(kv_dim, dim, bias=False)
        self.w_v = nn.Linear(kv_dim, dim, bias=False)

    def forward(self, query: torch.Tensor, kv: torch.Tensor,
                temperature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, Dq), (B, N, Dkv), scalar tau -> (out (B, L, d), attention (B, L, N))."""
        b, l, _ = query.shape
        n = kv.shape[1]

        def split(x: torch.Tensor, length: int) -> torch.Tensor:  # (B, len, d) -> (B, h, len, d/h)
            return x.reshape(b, length, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.w_q(query), l), split(self.w_k(kv), n), split(self.w_v(kv), n)
        attn = torch.softmax(q @ k.transpose(-1, -2) / temperature, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, l, -1)
        return out, attn.mean(dim=1)


class TemporalDecoder(nn.Module):
    """Cross-attention / self-attention / cross-attention over snippet features.

    Args:
        in_dim: C4, width of the snippet features X^F.
        dim: Cq = d, width of the queries and of every projection.
        num_queries: Lq learnable step queries; ``None`` for the no-TAP variant.
        cross_heads: Heads of the (first, second) cross-attention.
        self_heads: Heads of the self-attention.
        temperature_init: Initial tau.
        self_attention: ``residual_norm`` (LayerNorm(X1 + MHSA(X1))) or ``plain`` (MHSA(X1)).

    Example:
        >>> dec = TemporalDecoder(1024, 256, num_queries=6)
        >>> x_t, a1, a2 = dec(torch.rand(2, 20, 1024))        # (2, 6, 256), (2, 6, 20), (2, 6, 20)
    """

    def __init__(self, in_dim: int, dim: int, num_queries: int | None = 6,
                 cross_heads: Sequence[int] = (1, 1), self_heads: int = 8,
                 temperature_init: float = 0.07 * 256, self_attention: str = "residual_norm"):
        super().__init__()
        if self_attention not in SELF_ATTENTION_KINDS:
            raise ValueError(f"self_attention: expected one of {SELF_ATTENTION_KINDS}, got {self_attention!r}")
        # nn.Embedding's N(0, 1) initialisation, as DETR's query embeddings.
        self.queries = nn.Parameter(torch.randn(num_queries, dim)) if num_queries else None
        self.cross1 = CrossAttention(dim if num_queries else in_dim, in_dim, dim, cross_heads[0])
        self.self_attn = nn.MultiheadAttention(dim, self_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim) if self_attention == "residual_norm" else None
        self.cross2 = CrossAttention(dim, in_dim, dim, cross_heads[1])
        self.temperature = nn.Parameter(torch.tensor(float(temperature_init)))

    def forward(self, x_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """X^F (B, N, C4) -> (X^T (B, L, d), A1 (B, L, N), A2 (B, L, N)); L = Lq, or N without TAP."""
        if self.queries is not None:
            query = self.queries.unsqueeze(0).expand(x_f.shape[0], -1, -1)
        else:
            query = x_f
        x1, a1 = self.cross1(query, x_f, self.temperature)
        x2 = self.self_attn(x1, x1, x1, need_weights=False)[0]
        if self.norm is not None:
            x2 = self.norm(x1 + x2)
        if self.queries is not None:
            x2 = x2 + query
        x_t, a2 = self.cross2(x2, x_f, self.temperature)
        return x_t, a1, a2


class ContrastiveRegressor(nn.Module):
    """Fine-grained contrastive regression: ``Delta = E_R(E_S(concat(X^T_query, X^T_exemplar)))``.

    E_S: 2d -> d -> d, ReLU after each layer (the trailing ReLU keeps E_S's last layer from
    collapsing into E_R's first one); E_R: d -> d/2 -> d/4 -> 1 with ReLU between layers
    (``paper-notes.md`` row 15). Applied to every step independently.

    Example:
        >>> reg = ContrastiveRegressor(256)
        >>> reg(torch.rand(2, 6, 256), torch.rand(2, 6, 256)).shape     # (2, 6)
    """

    def __init__(self, dim: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        hidden1, hidden2 = max(dim // 2, 1), max(dim // 4, 1)
        self.regressor = nn.Sequential(nn.Linear(dim, hidden1), nn.ReLU(), nn.Linear(hidden1, hidden2),
                                       nn.ReLU(), nn.Linear(hidden2, 1))

    def forward(self, x_query: torch.Tensor, x_exemplar: torch.Tensor) -> torch.Tensor:
        """(B, L, d), (B, L, d) -> score differences Delta (B, L)."""
        x_e = torch.cat([x_query, x_exemplar], dim=-1)
        return self.regressor(self.encoder(x_e)).squeeze(-1)
