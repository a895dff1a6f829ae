"""The document JSON Schema: packaged copy, generated documents valid, broken ones rejected; `hmtools validate`."""

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from hmtools.rle import empty_rle, mask_to_rle
from hmtools.store import Correction, Flag, MaskStore, Producer, PseudoMask, Quality, VideoDoc, doc_to_json
from hmtools.store.schema import load_schema, schema_errors, validate_store

from helpers.mask_store import set_json_path

REPO = Path(__file__).resolve().parents[2]


def box(rows):
    m = np.zeros((4, 4), bool)
    m[:rows, 1:3] = True
    return mask_to_rle(m)


def docs():
    """Documents covering every field: null producer, empty layers, quality, flags, corrections."""
    bare = VideoDoc.new("bare", (4, 4), ["a.jpg"])
    full = VideoDoc.new("FINADivingWorldCup2021_Men3m_final_r1__3", (4, 4), ["00489.jpg", "00490.jpg", "00491.jpg"],
                        objects=2, dataset="finediving", key=["FINADivingWorldCup2021_Men3m_final_r1", 3],
                        action_type="107B", split="train", synchronized=True, event="synchronized",
                        source="/data/frames")
    full.producer = Producer(backend="sam+ostrack", params={"box_expand": 1.1}, checkpoints={"sam": "ab" * 32},
                             tool_version="0.1.0")
    full.set_pseudo(0, 1, PseudoMask(box(2), Quality(score=0.9, stability=0.8, tracker_peak=0.7, iou_prev=0.6,
                                                     area_jump=0.1, empty=False, border=True),
                                     Flag(True, ("border",))))
    full.set_pseudo(0, 2, PseudoMask(empty_rle((4, 4))))
    full.set_correction(0, 1, Correction(box(3), "edited", "ann", "2026-01-01T00:00:00Z", "cvat", "0123456789abcdef"))
    full.set_correction(1, 2, Correction(empty_rle((4, 4)), "empty", "ann", "2026-01-01T00:00:00Z", "web", None))
    full.set_correction(2, 1, Correction(box(1), "confirmed", "ann", "2026-01-01T00:00:00Z", "web", None))
    return [bare, full]


def test_packaged_schema_is_the_documented_one():
    a = (REPO / "annotations" / "schema" / "video.schema.json").read_bytes()
    b = (REPO / "hmtools" / "schema" / "video.schema.json").read_bytes()
    assert a == b
    assert load_schema() == json.loads(a)
    jsonschema.Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize("doc", docs(), ids=lambda d: d.video_id[:10])
def test_generated_documents_are_valid(doc):
    data = json.loads(json.dumps(doc_to_json(doc)))
    jsonschema.validate(data, load_schema(), cls=jsonschema.Draft202012Validator)
    assert schema_errors(data) == []


@pytest.mark.parametrize("path,value,where", [
    (("schema_version",), 2, "$.schema_version"),
    (("video_id",), "../x", "$.video_id"),
    (("height",), 0, "$.height"),
    (("frames",), ["a.jpg", "a.jpg", "b.jpg"], "$.frames"),
    (("extra",), 1, "$"),
    (("synchronized",), "yes", "$.synchronized"),
    (("objects", 0, "id"), 0, "$.objects[0].id"),
    (("layers", "pseudo", "producer", "backend"), KeyError, "$.layers.pseudo.producer"),
    (("layers", "pseudo", "frames", 0, "1", "counts"), "ab cd", "$.layers.pseudo.frames[0].1.counts"),
    (("layers", "pseudo", "frames", 0, "1", "bbox"), [0, 0, 1], "$.layers.pseudo.frames[0].1.bbox"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), {"score": "0.9"}, "$.layers.pseudo.frames[0].1.quality.score"),
    (("layers", "pseudo", "frames", 0, "1", "flag", "review"), False, "$.layers.pseudo.frames[0].1.flag.review"),
    (("layers", "pseudo", "frames", 0, "0"), {"counts": "1", "area": 0, "bbox": [0, 0, 0, 0]}, "$.layers.pseudo.frames[0]"),
    (("layers", "corrected", "frames", 0, "1", "status"), "maybe", "$.layers.corrected.frames[0].1.status"),
    (("layers", "corrected", "frames", 1, "2", "area"), 3, "$.layers.corrected.frames[1].2.area"),
    (("layers", "corrected", "frames", 0, "1", "pseudo_hash"), "xyz", "$.layers.corrected.frames[0].1.pseudo_hash"),
    (("layers", "corrected", "frames", 2), [], "$.layers.corrected.frames[2]"),
])
def test_invalid_documents_are_rejected(path, value, where):
    data = copy.deepcopy(doc_to_json(docs()[1]))
    set_json_path(data, path, value)
    errors = schema_errors(data, limit=5)
    assert errors, "the schema accepted a broken document"
    assert any(e.startswith(where) for e in errors), errors


def test_validate_store_lists_every_bad_file(tmp_path):
    store = MaskStore.create(tmp_path / "store")
    for doc in docs():
        store.write(doc)
    good = VideoDoc.new("good", (4, 4), ["a.jpg"])
    store.write(good)
    store.path("bare").write_text('{"schema_version": 1, "video_id": "bare"')           # truncated
    data = doc_to_json(docs()[1])
    data["layers"]["pseudo"]["frames"][0]["1"]["counts"] = box(1).counts + "1"          # runs overflow H*W
    store.path(docs()[1].video_id).write_text(json.dumps(data))
    (store.videos_dir / "notes.txt").write_text("hi")
    (store.videos_dir / ".good.json.abc.tmp").write_text("{")                          # interrupted write
    report = validate_store(store, workers=1, progress=False)
    assert report.n_docs == 3 and len(report.problems) == 3
    text = "\n".join(report.problems)
    assert "bare.json: corrupt or truncated JSON" in text
    assert "__3.json: layer pseudo, frame 00489.jpg, object 1: runs sum to" in text
    assert "notes.txt: not a store document" in text
    assert report.leftovers == [str(store.videos_dir / ".good.json.abc.tmp")]

    import cli

    result = CliRunner().invoke(cli.hmtools, ["validate", "--store", str(store.root), "--quiet"])
    assert result.exit_code == 1
    assert len([line for line in result.stdout.splitlines() if line.strip()]) == 3
    store.path("bare").unlink()
    store.path(docs()[1].video_id).unlink()
    (store.videos_dir / "notes.txt").unlink()
    ok = CliRunner().invoke(cli.hmtools, ["validate", "--store", str(store.root), "--quiet"])
    assert ok.exit_code == 0, ok.output


def test_the_documented_example_is_a_valid_document():
    text = (REPO / "annotations" / "FORMAT.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    data = json.loads(example)
    assert schema_errors(data) == []
    from hmtools.store import doc_from_json

    doc = doc_from_json(data, "FORMAT.md")
    assert doc.effective_objects(0)[2][0] == "corrected" and doc.effective_objects(0)[1][0] == "pseudo"
    assert doc.effective(2) is None and list(doc.stale_corrections()) == []
