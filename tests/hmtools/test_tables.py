import pytest
from helpers.finediving_fixture import META_SKIP_REASON, finediving_meta_records, meta_available

from hmtools.datasets.aqa7 import AQA7_CLASSES
from hmtools.datasets.tables import (finediving_action_type_rows, mtlaqa_video_events,
                                     parse_dive_number, read_table)
from hmtools.errors import DatasetError


@pytest.mark.parametrize("code,group,direction,soms,twists,position", [
    ("107B", "Forward", "Forward", 3.5, 0, "pike"),
    ("407c", "Inward", "Inward", 3.5, 0, "tuck"),
    ("5253B", "Twisting", "Back", 2.5, 1.5, "pike"),
    ("626C", "Armstand", "Back", 3, 0, "tuck"),
    ("6243D", "Armstand", "Back", 2, 1.5, "free"),
    ("201A", "Back", "Back", 0.5, 0, "straight"),
])
def test_parse_dive_number(code, group, direction, soms, twists, position):
    dive = parse_dive_number(code)
    assert (dive.action_type, dive.group, dive.direction, dive.somersaults, dive.twists,
            dive.position) == (code.upper(), group, direction, soms, twists, position)


@pytest.mark.parametrize("code", ["", "107", "107E", "5507B", "7107B", "1071B", "653B", "525B"])
def test_parse_dive_number_rejects(code):
    with pytest.raises(ValueError, match="not a FINA dive number"):
        parse_dive_number(code)


@pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)
def test_action_type_table_matches_metadata():
    rows = finediving_action_type_rows(finediving_meta_records())
    committed = read_table("finediving_action_types")
    assert [{k: str(v) for k, v in row.items()} for row in rows] == committed
    by_type = {r["action_type"]: r for r in committed}
    assert len(by_type) == 52
    assert int(by_type["107B"]["frames"]) == 35287 and int(by_type["407C"]["frames"]) == 34054
    assert sum(int(r["clips"]) for r in committed) == 3000


def test_mtlaqa_events_table():
    events = mtlaqa_video_events()
    assert len(events) == 15
    assert {v for v, e in events.items() if e == "3m"} == {17, 18, 22}
    rows = read_table("mtlaqa_events")
    frames = {e: sum(int(r["finediving_frames"]) for r in rows if r["event"] == e)
              for e in ("3m", "10m")}
    assert frames == {"3m": 29446, "10m": 112945}  # the MTL-AQA-HM mask counts


def test_aqa7_table_matches_class_order():
    rows = read_table("aqa7_classes")
    assert tuple(r["class"] for r in rows) == AQA7_CLASSES
    assert [int(r["class_idx"]) for r in rows] == list(range(1, 8))
    assert sum(int(r["hm_masks"]) for r in rows) == 152711


def test_missing_table(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: table not found"):
        read_table("nope", tmp_path)
    assert mtlaqa_video_events(tmp_path) == {}
