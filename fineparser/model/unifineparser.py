"""The Uni-FineParser network: I3D with SAP, SVE, TAP and fine-grained contrastive regression.

Data flow for a pair (query X, exemplar Z), each (B, N, 3, T, H, W) normalised snippets:

1. Both videos go through the I3D together (as in the published code, so batch-norm statistics
   cover the pair); SAP sits after stage ``sap_stage`` and yields A (B, N, T_s, H_s, W_s).
2. ``X^F = pool(B4) + SVE`` (B, N, C4).
3. TAP decodes X^F into step features X^T (B, L, Cq) with attention A1, A2 (B, L, N).
4. ``Delta = E_R(E_S([X^T_X, X^T_Z]))`` (B, L); Eq. 7: ``y_hat = y_Z + mean_m Delta_m``
   (:meth:`UniFineParser.regress`, which needs only the step features).

Multi-exemplar inference (Eq. 10) is not the network's business: :class:`fineparser.predictor.Predictor`
encodes every clip once and votes over the M exemplars.

DD setting (Table 12): the network regresses score / difficulty; :meth:`UniFineParser.compare`
divides the exemplar's score by its difficulty and multiplies the prediction by the query's.

Where the paper is ambiguous, the choice is documented where it is made: TF SAME padding and
feature pooling (:mod:`~fineparser.model.i3d`), f_A and A + 1 (:mod:`~fineparser.model.sap`),
frames and the ResNet-50 projection (:mod:`~fineparser.model.sve`), attention width, tau, the
garbled second query and the no-TAP variant (:mod:`~fineparser.model.tap`), Eq. 3 / Eq. 4 and
the soft labels (:mod:`fineparser.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from fineparser.model.i3d import I3D
from fineparser.model.sap import SpatialAttention
from fineparser.model.sve import StaticVisualEncoder
from fineparser.model.tap import ContrastiveRegressor, TemporalDecoder


@dataclass
class VideoFeatures:
    """What the encoder computes for a batch of videos.

    Attributes:
        snippet_features: X^F (B, N, C4).
        step_features: X^T (B, L, Cq); L = Lq with TAP, N without.
        attention: SAP attention A (B, N, T_s, H_s, W_s) in [0, 1], or None without SAP.
        a1: First cross-attention (B, L, N); each row sums to 1 over the snippets.
        a2: Second cross-attention (B, L, N).
    """

    snippet_features: torch.Tensor
    step_features: torch.Tensor
    attention: torch.Tensor | None
    a1: torch.Tensor
    a2: torch.Tensor

    def split(self, size: int) -> tuple[VideoFeatures, VideoFeatures]:
        """Split along the batch into the first ``size`` videos and the rest."""
        parts = {name: (None, None) if value is None else (value[:size], value[size:])
                 for name, value in vars(self).items()}
        return (VideoFeatures(**{k: v[0] for k, v in parts.items()}),
                VideoFeatures(**{k: v[1] for k, v in parts.items()}))


@dataclass
class PairOutput:
    """Result of comparing queries with exemplars.

    Attributes:
        delta: Score differences Delta (B, L).
        y_hat: Predicted query score (B,), in the dataset's score units.
        y_hat_raw: What the network regressed (B,): equal to ``y_hat`` in the AN setting,
            score / difficulty in the DD setting (the quantity the score loss compares).
        query: Features of the query videos.
        exemplar: Features of the exemplar videos.
    """

    delta: torch.Tensor
    y_hat: torch.Tensor
    y_hat_raw: torch.Tensor
    query: VideoFeatures
    exemplar: VideoFeatures


class Regression(NamedTuple):
    """What the regressor makes of encoded pairs (:meth:`UniFineParser.regress`).

    Attributes:
        delta: Score differences Delta (B, L), in the regressed units (score / difficulty for DD).
        y_hat: Predicted query score (B,), in the dataset's score units.
        y_hat_raw: What the network regressed (B,): ``y_hat`` for AN, score / difficulty for DD.
    """

    delta: torch.Tensor
    y_hat: torch.Tensor
    y_hat_raw: torch.Tensor


def _check_videos(name: str, videos: torch.Tensor) -> None:
    if videos.ndim != 6 or videos.shape[2] != 3:
        raise ValueError(f"{name}: expected (B, N, 3, T, H, W) snippets, got {tuple(videos.shape)}")


def _check_per_video(name: str, value: torch.Tensor | None, shape: tuple[int, ...]) -> None:
    if value is None or tuple(value.shape) != shape:
        got = None if value is None else tuple(value.shape)
        raise ValueError(f"{name}: expected a tensor of shape {shape}, got {got}")


class UniFineParser(nn.Module):
    """Uni-FineParser (Xu, Yin, Peng), built by :func:`fineparser.model.build.build_model`.

    Args:
        i3d: Backbone in the Kinetics checkpoint layout.
        sap: Mask-guided attention, or None (no SAP).
        sap_stage: I3D stage (1..3) after which ``sap`` is applied.
        sve: Static visual encoder, or None (no SVE).
        decoder: TAP temporal decoder.
        regressor: E_S and E_R.
        exemplar_setting: "AN" or "DD".

    Example:
        >>> model = build_model(get_config("tiny"))
        >>> out = model(query, exemplar, y_exemplar)          # PairOutput
        >>> out.y_hat.shape, out.query.attention.shape        # (B,), (B, N, 4, 8, 8)
    """

    def __init__(self, i3d: I3D, sap: SpatialAttention | None, sap_stage: int,
                 sve: StaticVisualEncoder | None, decoder: TemporalDecoder,
                 regressor: ContrastiveRegressor, exemplar_setting: str = "AN"):
        super().__init__()
        self.i3d = i3d
        self.sap = sap
        self.sap_stage = sap_stage
        self.sve = sve
        self.decoder = decoder
        self.regressor = regressor
        self.exemplar_setting = exemplar_setting
        self.channels_last = False

    def to_channels_last(self) -> UniFineParser:
        """Keep every convolution weight, and the snippets :meth:`encode` sees, channels-last.

        The same numbers in another memory layout: oneDNN convolves NDHWC tensors without the
        reorders it needs around NCDHW ones (demo preset, one CPU thread: a training step 1.3-1.8x
        faster, ``benchmarks/bench_train.py``). Outputs equal the default layout's up to float
        summation order; the state dict keeps its keys and shapes (a checkpoint loads either way).
        Call before building the optimiser (the weights' storage is replaced).
        """
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last_3d)
            elif isinstance(m, nn.Conv2d):
                m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def flat_snippets(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, N, 3, T, H, W) snippets as the (B * N, 3, T, H, W) batch the I3D takes, in the
        model's layout (:meth:`to_channels_last`)."""
        snippets = videos.flatten(0, 1)
        if self.channels_last:
            snippets = snippets.contiguous(memory_format=torch.channels_last_3d)
        return snippets

    def encode(self, videos: torch.Tensor) -> VideoFeatures:
        """Encode (B, N, 3, T, H, W) normalised snippets into :class:`VideoFeatures`."""
        _check_videos("videos", videos)
        b, n = videos.shape[:2]
        snippets = self.flat_snippets(videos)
        x, attention = snippets, None
        for stage in (1, 2, 3, 4):
            x = self.i3d.forward_stage(stage, x)
            if self.sap is not None and stage == self.sap_stage:
                x, attention = self.sap(x)
                attention = attention.unflatten(0, (b, n))
        feats = x.mean(dim=(2, 3, 4))
        if self.sve is not None:
            feats = feats + self.sve(snippets)
        x_f = feats.unflatten(0, (b, n))
        x_t, a1, a2 = self.decoder(x_f)
        return VideoFeatures(x_f, x_t, attention, a1, a2)

    def regress(self, query_steps: torch.Tensor, exemplar_steps: torch.Tensor, y_exemplar: torch.Tensor,
                difficulty_query: torch.Tensor | None = None,
                difficulty_exemplar: torch.Tensor | None = None) -> Regression:
        """Regress Delta from step features and apply Eq. 7 (and the DD rescaling).

        Args:
            query_steps, exemplar_steps: X^T (B, L, Cq) of the queries and their exemplars.
            y_exemplar: Exemplar scores (B,), in score units (also in the DD setting).
            difficulty_query, difficulty_exemplar: (B,) difficulty degrees; required for DD.
        """
        b = query_steps.shape[0]
        _check_per_video("y_exemplar", y_exemplar, (b,))
        delta = self.regressor(query_steps, exemplar_steps)
        if self.exemplar_setting == "DD":
            _check_per_video("difficulty_query", difficulty_query, (b,))
            _check_per_video("difficulty_exemplar", difficulty_exemplar, (b,))
            y_raw = y_exemplar / difficulty_exemplar + delta.mean(dim=-1)
            y_hat = y_raw * difficulty_query
        else:
            y_raw = y_exemplar + delta.mean(dim=-1)
            y_hat = y_raw
        return Regression(delta, y_hat, y_raw)

    def compare(self, query: VideoFeatures, exemplar: VideoFeatures, y_exemplar: torch.Tensor,
                difficulty_query: torch.Tensor | None = None,
                difficulty_exemplar: torch.Tensor | None = None) -> PairOutput:
        """:meth:`regress` on encoded videos, keeping their features in the output.

        Args:
            query, exemplar: Encoded videos, same batch size B.
            y_exemplar: Exemplar scores (B,), in score units (also in the DD setting).
            difficulty_query, difficulty_exemplar: (B,) difficulty degrees; required for DD.
        """
        r = self.regress(query.step_features, exemplar.step_features, y_exemplar, difficulty_query,
                         difficulty_exemplar)
        return PairOutput(r.delta, r.y_hat, r.y_hat_raw, query, exemplar)

    def forward(self, query: torch.Tensor, exemplar: torch.Tensor, y_exemplar: torch.Tensor,
                difficulty_query: torch.Tensor | None = None,
                difficulty_exemplar: torch.Tensor | None = None) -> PairOutput:
        """Predict the query's score from one exemplar (Eq. 1 / 7).

        Args:
            query, exemplar: (B, N, 3, T, H, W) normalised snippets.
            y_exemplar: (B,) exemplar scores.
            difficulty_query, difficulty_exemplar: (B,) difficulties, DD setting only.
        """
        _check_videos("query", query)
        if exemplar.shape != query.shape:
            raise ValueError(f"exemplar: expected the query's shape {tuple(query.shape)}, "
                             f"got {tuple(exemplar.shape)}")
        feats_q, feats_z = self.encode(torch.cat([query, exemplar])).split(query.shape[0])
        return self.compare(feats_q, feats_z, y_exemplar, difficulty_query, difficulty_exemplar)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by component, each exactly once: i3d, sap, sve, tap, temperature, regressor.

        The paper trains the I3D and tau at lr 1e-4 and the ResNet and heads at 1e-3 (Sec. 4.3).
        Components switched off are absent.
        """
        groups = {"i3d": list(self.i3d.parameters())}
        if self.sap is not None:
            groups["sap"] = list(self.sap.parameters())
        if self.sve is not None:
            groups["sve"] = list(self.sve.parameters())
        groups["tap"] = [p for p in self.decoder.parameters() if p is not self.decoder.temperature]
        groups["temperature"] = [self.decoder.temperature]
        groups["regressor"] = list(self.regressor.parameters())
        return groups
