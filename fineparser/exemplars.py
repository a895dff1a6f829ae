"""Choosing exemplars from the training split (Sec. 3.3, Table 12).

- **AN**: exemplars share the query's action number (action type, e.g. "407C").
- **DD**: exemplars share the query's difficulty degree; the model then regresses
  score / difficulty (``ModelConfig.exemplar_setting = "DD"``).

Training uses one exemplar per query (M = 1), inference M = 10 (Eq. 10), fewer when fewer exist.
The choice is deterministic given the seed. Example::

    records = [ExemplarRecord("407C", 3.2, 80.0), ExemplarRecord("407C", 3.2, 75.5), ...]
    idx = select_exemplars(records, ExemplarRecord("407C", 3.2, 0.0), m=10, setting="AN",
                           seed=0, exclude=query_index_if_in_records)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple


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
