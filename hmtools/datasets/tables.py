"""Per-dataset tables kept in ``annotations/tables/`` (action types, AQA-7 classes, MTL-AQA events).

The CSV files are data, reviewed like code; this module reads them and derives the FineDiving
action-type table from clip records so a test can check the committed CSV against the metadata.

Example:
    >>> parse_dive_number("5253B").group, parse_dive_number("5253B").twists
    ('Twisting', 1.5)
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hmtools.errors import DatasetError

TABLES_DIR = Path(__file__).resolve().parents[2] / "annotations" / "tables"

GROUPS = {"1": "Forward", "2": "Back", "3": "Reverse", "4": "Inward", "5": "Twisting",
          "6": "Armstand"}
POSITIONS = {"A": "straight", "B": "pike", "C": "tuck", "D": "free"}
_DIVE_NUMBER = re.compile(r"([1-6])(\d{2,3})([A-D])")


@dataclass(frozen=True)
class DiveNumber:
    """A FINA dive number taken apart (``"5253B"``: Twisting, back, 2.5 somersaults, 1.5 twists, pike)."""

    action_type: str
    group: str
    direction: str
    somersaults: float
    twists: float
    position: str


def parse_dive_number(action_type: str) -> DiveNumber:
    """Decode a FINA dive number (groups 1-4 three digits, twisting 5 and armstand 6 three or four).

    Raises:
        ValueError: not a dive number.
    """
    code = action_type.strip().upper()
    match = _DIVE_NUMBER.fullmatch(code)
    if not match:
        raise ValueError(f"not a FINA dive number: {action_type!r}")
    group_digit, digits, letter = match.groups()
    if group_digit in "1234":
        if len(digits) != 2:
            raise ValueError(f"not a FINA dive number: {action_type!r}")
        direction, half_soms, half_twists = GROUPS[group_digit], int(digits[1]), 0
    else:
        direction = GROUPS.get(digits[0], "")
        if direction not in ("Forward", "Back", "Reverse", "Inward"):
            raise ValueError(f"not a FINA dive number: {action_type!r}")
        half_soms = int(digits[1])
        half_twists = int(digits[2]) if len(digits) == 3 else 0
        if group_digit == "5" and len(digits) != 3:
            raise ValueError(f"not a FINA dive number: {action_type!r}")
    return DiveNumber(code, GROUPS[group_digit], direction, half_soms / 2, half_twists / 2,
                      POSITIONS[letter])


def read_table(name: str, tables_dir: Path | None = None) -> list[dict[str, str]]:
    """Rows of ``annotations/tables/<name>.csv`` as dicts of strings.

    Raises:
        DatasetError: the table is missing.
    """
    path = (tables_dir or TABLES_DIR) / f"{name}.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: table not found")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def mtlaqa_video_events(tables_dir: Path | None = None) -> dict[int, str]:
    """MTL-AQA source video number -> ``"3m"``/``"10m"``; empty when the table is absent."""
    try:
        rows = read_table("mtlaqa_events", tables_dir)
    except DatasetError:
        return {}
    return {int(row["video"]): row["event"] for row in rows}


def write_table(rows: list[dict], path: Path) -> None:
    """Write rows (same keys in the same order) as a CSV with a header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def finediving_action_type_rows(records: list[dict]) -> list[dict]:
    """The ``finediving_action_types`` table from clip records.

    Args:
        records: dicts with ``action_type``, ``difficulty``, ``synchronized``, ``num_frames``
            (e.g. ``tests/helpers/finediving_fixture.finediving_meta_records()``).

    Returns:
        One row per action type, sorted by dive number: group, direction, somersaults, twists,
        position, the difficulty values seen (``;``-separated), clip counts (all, individual,
        synchronized) and frames (= FineDiving-HM masks).
    """
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_type[record["action_type"].upper()].append(record)
    rows = []
    for action_type in sorted(by_type):
        clips = by_type[action_type]
        dive = parse_dive_number(action_type)
        sync = sum(1 for c in clips if c["synchronized"])
        rows.append({
            "action_type": action_type, "group": dive.group, "direction": dive.direction,
            "somersaults": f"{dive.somersaults:g}", "twists": f"{dive.twists:g}",
            "position": dive.position,
            "difficulties": ";".join(f"{d:g}" for d in sorted({float(c["difficulty"]) for c in clips})),
            "clips": len(clips), "individual": len(clips) - sync, "synchronized": sync,
            "frames": sum(int(c["num_frames"]) for c in clips),
        })
    return rows
