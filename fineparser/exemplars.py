"""Choosing exemplars from the training split (Sec. 3.3, Table 12).

- **AN**: exemplars share the query's action number (action type, e.g. "407C").
- **DD**: exemplars share the query's difficulty degree; the model then regresses
  score / difficulty (``ModelConfig.exemplar_setting = "DD"``).

Training uses one exemplar per query (M = 1), inference M = 10 (Eq. 10), fewer when fewer exist.
The choice is deterministic given the seed. :func:`select_exemplars` is the rule on plain
records; :class:`ExemplarChooser` applies it to the rows of a clip table (one exemplar per training
query, M per evaluated query with a fallback, M for a video outside the table). Example::

    records = [ExemplarRecord("407C", 3.2, 80.0), ExemplarRecord("407C", 3.2, 75.5), ...]
    idx = select_exemplars(records, ExemplarRecord("407C", 3.2, 0.0), m=10, setting="AN",
                           seed=0, exclude=query_index_if_in_records)
    plan, fallback = ExemplarChooser(table, table.indices("train"), "AN").plan(test_rows, m=10)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hmtools.errors import DatasetError


class ExemplarRecord(NamedTuple):
    """One training clip as exemplar selection sees it."""

    action_type: str
    difficulty: float
    score: float


def select_exemplars(records: Sequence[ExemplarRecord], query: ExemplarRecord, m: int,
                     setting: str = "AN", seed: int = 0, exclude: int | None = None) -> list[int]:
    """Indices into ``records`` of up to ``m`` exemplars for ``query``.

    Args:
        records: Training clips (action type, difficulty, score).
        query: The query clip (its score is not used).
        m: Number wanted; fewer are returned when fewer candidates exist (possibly none, which
            the caller must handle, e.g. by skipping the query during training).
        setting: "AN" (same action type) or "DD" (same difficulty degree).
        seed: Random seed; the same arguments always give the same indices.
        exclude: Index of the query itself when it is in ``records`` (never its own exemplar).

    Returns:
        Distinct indices in the order drawn.
    """
    if setting not in ("AN", "DD"):
        raise ValueError(f"select_exemplars: setting expected 'AN' or 'DD', got {setting!r}")
    if m < 1:
        raise ValueError(f"select_exemplars: m expected >= 1, got {m}")
    if setting == "AN":
        candidates = [i for i, r in enumerate(records) if r.action_type == query.action_type]
    else:
        candidates = [i for i, r in enumerate(records) if abs(r.difficulty - query.difficulty) < 1e-6]
    candidates = [i for i in candidates if i != exclude]
    return random.Random(seed).sample(candidates, min(m, len(candidates)))


class ExemplarChooser:
    """Exemplars for queries, drawn from a pool of (training) rows by :func:`select_exemplars`.

    Args:
        table: the clips (a :class:`~fineparser.sampling.ClipTable`).
        pool_rows: rows exemplars may come from (the training split).
        setting: ``AN`` (same action type) or ``DD`` (same difficulty).

    Calling it with ``(query_row, rng)`` gives one exemplar row (training); :meth:`plan` gives up
    to M per query (evaluation).
    """

    def __init__(self, table, pool_rows: Sequence[int], setting: str = "AN"):
        self.table, self.pool, self.setting = table, list(pool_rows), setting
        self.records = [self._record(r) for r in self.pool]
        self._pos = {r: i for i, r in enumerate(self.pool)}

    def _select(self, row: int, m: int, seed: int, setting: str | None = None) -> list[int]:
        query = self.records[self._pos[row]] if row in self._pos else self._record(row)
        picked = select_exemplars(self.records, query, m, setting or self.setting, seed=seed,
                                  exclude=self._pos.get(row))
        return [self.pool[i] for i in picked]

    def _record(self, row: int) -> ExemplarRecord:
        t = self.table
        return ExemplarRecord(t.action_types[row], float(t.difficulties[row]), float(t.scores[row]))

    def has_exemplar(self, row: int) -> bool:
        return bool(self._select(row, 1, 0))

    def candidates(self, row: int) -> list[int]:
        """Every pool row that :meth:`__call__` may draw for ``row``, in pool order."""
        return sorted(self._select(row, len(self.pool), 0), key=self._pos.__getitem__)

    def __call__(self, row: int, rng: np.random.Generator) -> int:
        picked = self._select(row, 1, int(rng.integers(2 ** 31)))
        if not picked:
            raise DatasetError(f"{self.table.video_ids[row]}: no exemplar candidate in the training "
                               f"split ({self.setting})")
        return picked[0]

    def plan_for(self, action_type: str, difficulty: float | None, m: int, seed: int = 0) -> list[int]:
        """Up to ``m`` pool rows for a clip outside the table (``fineparser predict``)."""
        query = ExemplarRecord(action_type, np.nan if difficulty is None else float(difficulty), 0.0)
        return [self.pool[i] for i in select_exemplars(self.records, query, m, self.setting, seed=seed)]

    def plan(self, rows: Sequence[int], m: int, seed: int = 0) -> tuple[dict[int, list[int]], list[int]]:
        """Up to ``m`` exemplars per query row, deterministic in ``seed``.

        A query without a candidate of its own action type (AN) or difficulty (DD) falls back to
        the ``m`` pool clips of the closest difficulty (any clips where difficulty is unknown).

        Returns:
            ``(plan, fallback_rows)``: row -> exemplar rows, and the rows that needed the fallback.
        """
        plan, fallback = {}, []
        for row in rows:
            picked = self._select(row, m, seed * 1_000_003 + row)
            if not picked:
                fallback.append(row)
                d = self.table.difficulties[row]
                dist = np.abs(self.table.difficulties[self.pool] - d) if not np.isnan(d) else None
                order = (np.argsort(np.nan_to_num(dist, nan=np.inf), kind="stable")
                         if dist is not None else np.random.default_rng(seed + row).permutation(len(self.pool)))
                picked = [self.pool[i] for i in order if self.pool[i] != row][:m]
            plan[row] = picked
        return plan, fallback
