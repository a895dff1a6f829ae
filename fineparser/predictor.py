"""The predictor: a trained model plus the step features of the clips it has encoded.

Every score the project reports goes through :class:`Predictor`: the trainer's evaluation,
``fineparser eval`` and ``fineparser predict``. Multi-exemplar voting (Eq. 10: the prediction is
the mean of the M single-exemplar predictions) is written once, in :func:`vote`.

The network's encoder does not depend on the partner video (the pair only meets in the
regressor), so every clip involved, queries and exemplars, is encoded once in ``eval()`` mode and
its step features X^T are cached (like segment-anything's ``SamPredictor`` keeps the image
embedding); the M comparisons per query reuse them: |queries| + |distinct exemplars| encodings
instead of |queries| * (M + 1). Under ``torchrun`` each process encodes a share of the clips and
the features are gathered. The cache belongs to one set of weights: make a new predictor after
the weights change (the trainer makes one per evaluation).

Example:
    >>> predictor = Predictor(model, table, batch_size=4)                  # doctest: +SKIP
    >>> predictor.predict_rows(test_rows, plan)      # (Q,) scores, Eq. 10  # doctest: +SKIP
    >>> predictor.predict_clip(frames, exemplars).score                     # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fineparser.distributed import DistInfo
from fineparser.inputs import autocast, to_snippets
from fineparser.model.unifineparser import VideoFeatures

PAIR_CHUNK = 4096  # pairs per regressor call


@dataclass
class PairScores:
    """Single-exemplar predictions of P (query, exemplar) pairs, in score units.

    Attributes:
        y_hat: (P,) float32 predicted query scores.
        delta: (P, L) float32 per-step differences (DD: multiplied by the query's difficulty).
    """

    y_hat: np.ndarray
    delta: np.ndarray


@dataclass
class ClipPrediction:
    """What :meth:`Predictor.predict_clip` gives for one video.

    Attributes:
        score: the Eq. 10 prediction.
        pairs: the M single-exemplar predictions and Deltas behind it.
        features: the video's :class:`~fineparser.model.VideoFeatures` (batch of one: attention
            A, A1, A2 for pictures).
    """

    score: float
    pairs: PairScores
    features: VideoFeatures


def vote(y_hat: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Eq. 10: each query's prediction is the mean of its consecutive single-exemplar predictions.

    Args:
        y_hat: (sum(counts),) single-exemplar predictions, grouped by query.
        counts: M of every query (0 gives NaN).

    Example:
        >>> vote(np.array([1.0, 3.0, 5.0]), [2, 1, 0]).tolist()
        [2.0, 5.0, nan]
    """
    preds, k = np.zeros(len(counts)), 0
    for i, m in enumerate(counts):
        preds[i] = y_hat[k:k + m].mean() if m else np.nan
        k += m
    return preds


class Predictor:
    """A model in inference and the step features X^T of the table rows it has encoded.

    Args:
        model: a :class:`~fineparser.model.UniFineParser` (``model.config`` gives the input
            layout and the exemplar setting); switched to ``eval()`` while the predictor works
            and back afterwards.
        table: the :class:`~fineparser.sampling.ClipTable` whose rows are queries or exemplars.
        info: this process in a ``torchrun`` group (default: one process on the model's device).
        batch_size, workers: clips per encoding batch and DataLoader workers.
        amp: bfloat16 autocast on CUDA.
        resize_scale: the central crop's resize (:class:`~fineparser.transforms.CropParams`) when
            the model's configuration sets no ``resize_hw``.
        score_scale: the training's score scale; predictions are in score units.
        cache: a :class:`~fineparser.dataset.ClipCache` of decoded clips, or None.
    """

    def __init__(self, model, table, info: DistInfo | None = None, *, batch_size: int = 1,
                 workers: int = 0, amp: bool = False, resize_scale: float = 8 / 7,
                 score_scale: float = 1.0, cache=None):
        self.model, self.table, self.mcfg = model, table, model.config
        self.info = info or DistInfo(0, 1, 0, next(model.parameters()).device)
        self.batch_size, self.workers, self.amp = batch_size, workers, amp
        self.resize_scale, self.score_scale, self.cache = resize_scale, score_scale, cache
        self.features: dict[int, torch.Tensor] = {}   # row -> X^T (L, Cq) float32 on the CPU

    @classmethod
    def from_config(cls, model, table, cfg, info: DistInfo | None = None, cache=None,
                    **changes) -> Predictor:
        """A predictor with the settings of a :class:`~fineparser.train_config.TrainConfig`
        (``eval_batch_size``, ``workers``, ``amp``, ``resize_scale``, ``score_scale``)."""
        settings = {"batch_size": cfg.eval_batch_size, "workers": cfg.workers, "amp": cfg.amp,
                    "resize_scale": cfg.resize_scale, "score_scale": cfg.score_scale}
        return cls(model, table, info, cache=cache, **{**settings, **changes})

    @property
    def device(self) -> torch.device:
        return self.info.device

    @contextmanager
    def _eval_mode(self):
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    # -- encoding ------------------------------------------------------------------------------------
    def encode_frames(self, frames: torch.Tensor) -> VideoFeatures:
        """Encode (B, F, 3, H, W) uint8 windows (in ``eval()`` mode, no gradient)."""
        with self._eval_mode(), autocast(self.device, self.amp):
            return self.model.encode(to_snippets(frames, self.mcfg, self.device))

    def encode_rows(self, rows: Sequence[int], desc: str = "encode") -> None:
        """Encode the table rows not encoded yet, in the given order, and keep their X^T.

        Under ``torchrun`` every process must call it with the same rows: each encodes every
        world_size-th one and the features are gathered.
        """
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        from fineparser.dataset import ClipDataset, worker_init
        from fineparser.distributed import gather_objects
        from fineparser.transforms import resize_target

        info = self.info
        todo = [r for r in dict.fromkeys(rows) if r not in self.features]
        mine = todo[info.rank::info.world_size]
        resize = resize_target(self.mcfg, self.resize_scale)
        loader = DataLoader(ClipDataset(self.table, mine, self.mcfg.frame_size_hw, resize, self.cache),
                            batch_size=self.batch_size, num_workers=self.workers,
                            worker_init_fn=worker_init, pin_memory=info.device.type == "cuda")
        feats: dict[int, torch.Tensor] = {}
        for batch in tqdm(loader, desc=desc, unit="batch", disable=not info.is_main, leave=False):
            out = self.encode_frames(batch.frames)
            for row, f in zip(batch.index.tolist(), out.step_features.float().cpu()):
                feats[row] = f
        for part in gather_objects(feats, info):
            self.features.update(part)

    # -- comparing and voting ----------------------------------------------------------------------
    def compare(self, query_steps: torch.Tensor, exemplar_rows: Sequence[int],
                difficulty_query: torch.Tensor | None = None) -> PairScores:
        """Single-exemplar predictions of P pairs (query features, encoded exemplar row).

        Args:
            query_steps: (P, L, Cq) X^T of the queries, one per pair.
            exemplar_rows: (P,) encoded table rows (see :meth:`encode_rows`).
            difficulty_query: (P,) float32 query difficulties; used (and required) by DD.
        """
        t = self.table
        dd = self.mcfg.exemplar_setting == "DD"
        rows = list(exemplar_rows)
        if not rows:
            return PairScores(np.zeros(0, np.float32), np.zeros((0, 0), np.float32))
        y_z = torch.tensor(t.scores[rows] / self.score_scale, dtype=torch.float32)
        d_z = torch.tensor(np.nan_to_num(t.difficulties[rows], nan=1.0), dtype=torch.float32)
        y, delta = [], []
        with self._eval_mode():
            for start in range(0, len(rows), PAIR_CHUNK):
                part = slice(start, start + PAIR_CHUNK)
                x_z = torch.stack([self.features[r] for r in rows[part]]).to(self.device)
                d_q = difficulty_query[part].to(self.device) if dd else None
                out = self.model.regress(query_steps[part].to(self.device), x_z,
                                         y_z[part].to(self.device), d_q,
                                         d_z[part].to(self.device) if dd else None)
                y.append(out.y_hat.float().cpu() * self.score_scale)
                d = out.delta.float().cpu() * self.score_scale
                delta.append(d * difficulty_query[part, None].cpu() if dd else d)
        return PairScores(torch.cat(y).numpy(), torch.cat(delta).numpy())

    def predict_rows(self, rows: Sequence[int], plan: dict[int, list[int]]) -> np.ndarray:
        """Eq. 10 for table rows: (Q,) predictions of ``rows`` from their ``plan`` exemplars
        (NaN for a query without any). Encodes whatever is not cached yet, rows sorted."""
        rows = list(rows)
        self.encode_rows(sorted(set(rows) | {z for q in rows for z in plan[q]}))
        pairs = [(q, z) for q in rows for z in plan[q]]
        if not pairs:
            return np.full(len(rows), np.nan)
        queries = [q for q, _ in pairs]
        x_q = torch.stack([self.features[q] for q in queries])
        d_q = torch.tensor(np.nan_to_num(self.table.difficulties[queries], nan=1.0), dtype=torch.float32)
        scores = self.compare(x_q, [z for _, z in pairs], d_q)
        return vote(scores.y_hat, [len(plan[q]) for q in rows])

    def predict_clip(self, frames: torch.Tensor, exemplar_rows: Sequence[int],
                     difficulty: float | None = None) -> ClipPrediction:
        """Eq. 10 for a video outside the table.

        Args:
            frames: (F, 3, H, W) uint8 window, transformed like the table's clips.
            exemplar_rows: the M table rows it is compared with (encoded here if not yet).
            difficulty: the video's difficulty (DD; 1.0 when None).
        """
        exemplar_rows = list(exemplar_rows)
        self.encode_rows(exemplar_rows, desc="exemplars")
        q = self.encode_frames(frames[None])
        m = len(exemplar_rows)
        d_q = torch.full((m,), float(difficulty or 1.0))
        pairs = self.compare(q.step_features.float().expand(m, -1, -1), exemplar_rows, d_q)
        return ClipPrediction(float(vote(pairs.y_hat, [m])[0]), pairs, q)
