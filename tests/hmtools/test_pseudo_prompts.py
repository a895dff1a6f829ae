"""Prompts files: CSV and JSON, validation with line numbers."""

from __future__ import annotations

import json

import pytest

from hmtools.pseudo.prompts import Prompt, Prompts, PromptsError, read_prompts

HEADER = "video,frame,object_id,x1,y1,x2,y2\n"


def test_csv_and_json_read_the_same(tmp_path):
    rows = [("a", "0", "1", "1", "2", "11", "22"), ("a", "00489.jpg", "2", "5", "5", "9", "9"),
            ("b", "3", "1", "0", "0", "4.5", "4.5")]
    (tmp_path / "p.csv").write_text(HEADER + "".join(",".join(r) + "\n" for r in rows) + "\n")
    keys = ("video", "frame", "object_id", "x1", "y1", "x2", "y2")
    entries = [dict(zip(keys, r)) for r in rows]
    entries[0]["frame"] = 0
    (tmp_path / "p.json").write_text(json.dumps({"prompts": entries}))
    for name in ("p.csv", "p.json"):
        prompts = read_prompts(tmp_path / name)
        assert len(prompts) == 3 and prompts.videos() == ["a", "b"]
        a = prompts.for_video("a")
        assert a[0].frame == 0 and a[0].object_id == 1 and a[0].box_xyxy == (1.0, 2.0, 11.0, 22.0)
        assert a[1].frame == "00489.jpg"
        assert prompts.for_video("zzz") == []


@pytest.mark.parametrize("body, message", [
    ("video,frame,object_id,x1,y1,x2\n", r"p.csv:1: header lacks y2"),
    (HEADER + "a,0,1,0,0,10,10\na,0,1,5,5,1,9\n", r"p.csv:3: box needs x2 > x1"),
    (HEADER + "a,0,0,0,0,10,10\n", r"p.csv:2: object_id must be a positive integer"),
    (HEADER + "a,0,x,0,0,10,10\n", r"p.csv:2: object_id must be an integer"),
    (HEADER + "a,0,1,0,0,ten,10\n", r"p.csv:2: x2 must be a number"),
    (HEADER + "a,,1,0,0,10,10\n", r"p.csv:2: missing frame"),
    (HEADER + "a,-1,1,0,0,10,10\n", r"p.csv:2: frame index must be >= 0"),
    (HEADER + "a,0,1,0,0,10,10\na,0,1,0,0,12,12\n", r"p.csv:3: duplicate prompt .* \(first at .*p.csv:2\)"),
])
def test_csv_errors_name_the_line(tmp_path, body, message):
    (tmp_path / "p.csv").write_text(body)
    with pytest.raises(PromptsError, match=message):
        read_prompts(tmp_path / "p.csv")


def test_json_errors_and_missing_file(tmp_path):
    (tmp_path / "p.json").write_text("[1]")
    with pytest.raises(PromptsError, match="entry 0"):
        read_prompts(tmp_path / "p.json")
    (tmp_path / "p.json").write_text("{")
    with pytest.raises(PromptsError, match="invalid JSON"):
        read_prompts(tmp_path / "p.json")
    with pytest.raises(PromptsError, match="not found"):
        read_prompts(tmp_path / "nope.csv")


def test_frame_resolution():
    names = ["00489.jpg", "00490.jpg"]
    assert Prompt("v", "00490.jpg", 1, (0, 0, 1, 1), "f:2").frame_index(names) == 1
    with pytest.raises(PromptsError, match="f:2: frame 5 is past the end"):
        Prompt("v", 5, 1, (0, 0, 1, 1), "f:2").frame_index(names)
    with pytest.raises(PromptsError, match="no frame named"):
        Prompt("v", "x.jpg", 1, (0, 0, 1, 1), "f:2").frame_index(names)
    assert len(Prompts([])) == 0
