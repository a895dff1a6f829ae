"""hmtools.store: documents, effective masks, validation, atomic writes under crashes, the per-video lock."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hmtools.errors import HMError, RLEError, StoreError
from hmtools.rle import empty_rle, mask_to_rle, rle_to_mask
from hmtools.store import (Correction, Flag, MaskStore, Producer, PseudoMask, Quality, VideoDoc,
                           doc_from_json, doc_to_json, mask_hash)

from helpers.mask_store import set_json_path

REPO = Path(__file__).resolve().parents[2]


def box(y0, y1, x0, x1, hw=(4, 4)):
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return mask_to_rle(m)


def make_doc(video_id="01__10", n=3, objects=2):
    doc = VideoDoc.new(video_id, (4, 4), [f"{i:05d}.jpg" for i in range(n)], objects=objects,
                       dataset="finediving", action_type="107B", split="train", synchronized=objects > 1)
    doc.producer = Producer(backend="test", params={"k": 1})
    doc.set_pseudo(0, 1, PseudoMask(box(0, 2, 0, 2), Quality(score=0.9, empty=False), Flag(True, ("low_score",))))
    if objects > 1:
        doc.set_pseudo(0, 2, PseudoMask(box(2, 4, 2, 4)))
    return doc


# -- documents ------------------------------------------------------------------------------------

def test_effective_mask_is_the_union_of_corrected_else_pseudo():
    doc = make_doc()
    assert doc.effective(0).area == 8
    assert doc.effective(1) is None                           # null: not annotated
    corr = Correction(box(0, 1, 0, 1), "edited", "ann", "2026-01-01T00:00:00Z", "test",
                      pseudo_hash=mask_hash(doc.pseudo[0][1].rle))
    doc.set_correction(0, 1, corr)
    eff = doc.effective_objects(0)
    assert eff[1][0] == "corrected" and eff[2][0] == "pseudo"
    expected = np.zeros((4, 4), bool)
    expected[0, 0] = True
    expected[2:4, 2:4] = True
    assert np.array_equal(rle_to_mask(doc.effective(0)), expected)
    # Empty (annotated, nobody there) differs from null.
    doc.set_correction(1, 1, Correction(empty_rle((4, 4)), "empty", "ann", "t", "test"))
    assert doc.effective(1) is not None and doc.effective(1).area == 0
    assert doc.effective(2) is None


def test_stale_corrections_detect_a_regenerated_pseudo_layer():
    doc = make_doc()
    doc.set_correction(0, 1, Correction(box(0, 1, 0, 1), "edited", "a", "t", "x",
                                        pseudo_hash=mask_hash(doc.pseudo[0][1].rle)))
    assert list(doc.stale_corrections()) == []
    doc.set_pseudo(0, 1, PseudoMask(box(0, 3, 0, 3)))
    assert list(doc.stale_corrections()) == [(0, 1)]


def test_json_round_trip_keeps_everything():
    doc = make_doc()
    doc.set_correction(2, 2, Correction(empty_rle((4, 4)), "empty", "ann", "2026-01-01T00:00:00Z", "cvat"))
    data = json.loads(json.dumps(doc_to_json(doc)))
    back = doc_from_json(data, "x.json")
    assert doc_to_json(back) == data
    assert back.pseudo[0][1].quality == Quality(score=0.9, empty=False)
    assert back.pseudo[0][1].flag == Flag(True, ("low_score",))
    assert back.pseudo[1] is None and back.corrected[2][2].status == "empty"
    assert data["layers"]["pseudo"]["frames"][1] is None



def test_read_rles_decode_from_their_checked_runs_like_pycocotools():
    from pycocotools import mask as cocomask

    rng = np.random.default_rng(5)
    doc = VideoDoc.new("01__10", (5, 7), [f"{i:05d}.jpg" for i in range(40)], objects=2)
    for i in range(40):
        m = rng.random((5, 7)) < rng.random()
        m[0, 0] = i % 2 == 0  # foreground first in half of them
        doc.set_pseudo(i, 1 + i % 2, PseudoMask(mask_to_rle(m)))
    doc.set_correction(3, 2, Correction(box(0, 1, 0, 1, (5, 7)), "edited", "a", "t", "x"))
    back = doc_from_json(json.loads(json.dumps(doc_to_json(doc))), "x.json")
    assert back == doc
    read = [m.rle for layer in (back.pseudo, back.corrected) for _, _, m in layer.items()]
    assert len(read) == 41 and all(r._runs is not None for r in read)
    for r in read:
        ref = cocomask.decode(r.to_coco())
        got = rle_to_mask(r)
        assert got.dtype == bool and got.flags.f_contiguous and got.flags.writeable
        assert np.array_equal(got.view(np.uint8), ref)


ENTRY = {"counts": box(1, 3, 1, 3).counts, "area": 4, "bbox": [1, 1, 2, 2]}


@pytest.mark.parametrize("path,value,message", [
    (("schema_version",), 2, "unsupported version"),
    (("height",), "4", "expected int"),
    (("frames",), ["00000.jpg", "00001.jpg"], "expected one per frame"),
    (("layers", "pseudo", "frames", 0, "1", "counts"), "3", "runs sum to"),
    (("layers", "pseudo", "frames", 0, "1", "area"), 5, "stored area 5"),
    (("layers", "pseudo", "frames", 0, "1", "bbox"), [0, 0], "bbox"),
    (("layers", "pseudo", "frames", 0, "7"), ENTRY, "unknown object"),
    (("layers", "pseudo", "frames", 0, "\u00b2"), ENTRY, "not a positive integer"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), {"score": "high"}, "quality"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), {"score": True}, r"quality\.score must be a number"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), {"empty": 1}, r"quality\.empty must be true/false"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), {"sharpness": 1.0}, "keys from"),
    (("layers", "pseudo", "frames", 0, "1", "quality"), [0.9], "keys from"),
    (("layers", "pseudo", "frames", 0, "1", "bbox"), [1, 1, 2.5, 2], "bbox"),
    (("layers", "pseudo", "frames", 0, "1", "bbox"), "1,1,2,2", "bbox"),
    (("layers", "pseudo", "frames", 0, "1", "anchor"), 5, "anchor must be a frame name"),
    (("layers", "pseudo", "frames", 0, "1"), "1", "expected an object with a 'counts' string"),
    (("layers", "pseudo", "frames", 0, "1", "counts"), 3, "expected an object with a 'counts' string"),
    (("layers", "corrected", "frames", 1), {"1": {**ENTRY, "status": "maybe"}}, "status"),
    (("video_id",), "../evil", "invalid video id"),
    (("layers", "corrected"), KeyError, "missing"),
])
def test_doc_from_json_rejects_with_one_line_naming_the_file(path, value, message):
    data = doc_to_json(make_doc())
    set_json_path(data, path, value)
    with pytest.raises(HMError, match=message) as info:
        doc_from_json(data, "videos/01__10.json")
    assert str(info.value).startswith("videos/01__10.json")
    assert "\n" not in str(info.value)


def test_doc_from_json_takes_subclasses_of_the_json_types():
    # Fields are checked by their types over all masks at once; a subclass (a NumPy float, an
    # OrderedDict) goes the per-mask way and is accepted as before.
    from collections import OrderedDict

    data = doc_to_json(make_doc())
    entry = data["layers"]["pseudo"]["frames"][0]
    entry["1"] = OrderedDict(entry["1"], quality={"score": np.float64(0.5), "empty": False})
    back = doc_from_json(data, "x.json")
    assert back.pseudo[0][1].quality == Quality(score=0.5, empty=False)
    assert back == doc_from_json(json.loads(json.dumps(data)), "x.json")


# -- store ------------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    return MaskStore.create(tmp_path / "store")


def test_create_open_and_refuse_foreign_folders(tmp_path):
    with pytest.raises(StoreError, match="no such mask store"):
        MaskStore.open(tmp_path / "nope")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(StoreError, match="not empty"):
        MaskStore.create(tmp_path / "busy")
    s = MaskStore.create(tmp_path / "s")
    assert MaskStore.open(tmp_path / "s").root == s.root and len(s) == 0


def test_write_read_edit(store):
    store.write(make_doc())
    assert store.video_ids() == ["01__10"]
    with store.edit("01__10") as doc:
        doc.set_pseudo(2, 1, PseudoMask(box(0, 4, 0, 4)))
    assert store.read("01__10").effective(2).area == 16
    with pytest.raises(RuntimeError):
        with store.edit("01__10") as doc:
            doc.set_pseudo(1, 1, PseudoMask(box(0, 4, 0, 4)))
            raise RuntimeError("body failed")
    assert store.read("01__10").effective(1) is None     # nothing written when the body raises
    with pytest.raises(StoreError, match="no document"):
        with store.edit("02__1"):
            pass


@pytest.mark.parametrize("content,message", [
    (b"", "corrupt or truncated JSON"),
    (None, "corrupt or truncated JSON"),               # the real document cut in half
    (b"[1, 2]", "expected an object"),
    (b"\xff\xfe{", "corrupt or truncated JSON"),
])
def test_corrupt_or_truncated_document_names_the_file(store, content, message):
    path = store.write(make_doc())
    if content is None:
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(StoreError, match=message) as info:
        store.read("01__10")
    assert str(path) in str(info.value)


def test_invalid_document_is_never_written(store):
    path = store.write(make_doc())
    before = path.read_bytes()
    doc = make_doc()
    doc.frames = doc.frames[:2]          # inconsistent with the layers
    with pytest.raises(StoreError, match="layer pseudo has 3 frames"):
        store.write(doc)
    assert path.read_bytes() == before


def test_atomic_write_when_replace_fails(store, monkeypatch):
    path = store.write(make_doc())
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    doc = make_doc()
    doc.set_pseudo(1, 1, PseudoMask(box(0, 4, 0, 4)))
    with pytest.raises(OSError):
        store.write(doc)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in store.videos_dir.iterdir()) == ["01__10.json"]   # no temp file left


def test_kill_9_in_the_middle_of_a_write_leaves_the_old_document(store):
    old = make_doc()
    path = store.write(old)
    before = path.read_bytes()
    child = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from hmtools.rle import mask_to_rle
        from hmtools.store import MaskStore, VideoDoc, PseudoMask
        import hmtools.atomic as atomic

        real_open = open

        class Slow:
            def __init__(self, fh): self.fh = fh
            def __enter__(self): return self
            def __exit__(self, *a): return self.fh.__exit__(*a)
            def write(self, text):
                for i in range(0, len(text), 4096):
                    self.fh.write(text[i:i + 4096]); self.fh.flush()
                    if i == 8192:
                        print("HALFWAY", flush=True)
                        time.sleep(60)
            def flush(self): self.fh.flush()
            def fileno(self): return self.fh.fileno()

        atomic.open = lambda path, *a, **k: Slow(real_open(path, *a, **k))  # the one atomic writer
        store = MaskStore.open({str(store.root)!r})
        n = 400
        doc = VideoDoc.new("01__10", (64, 64), [f"{{i:05d}}.jpg" for i in range(n)])
        rng = np.random.default_rng(0)
        for i in range(n):
            doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(rng.random((64, 64)) > 0.5)))
        store.write(doc)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        assert line.strip() == b"HALFWAY", proc.stderr.read().decode()
        temps = [p for p in store.videos_dir.iterdir() if p.name.endswith(".tmp")]
        assert temps and temps[0].stat().st_size > 8192      # really half-way through a big write
        assert store.remove_leftovers() == ([], temps)       # a live writer's file is left alone
        assert temps[0].exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert path.read_bytes() == before
    assert doc_to_json(store.read("01__10")) == doc_to_json(old)
    # The interrupted write's temp file is the only leftover; the next write removes it.
    assert store.leftovers() == temps
    store.write(make_doc(n=3))
    assert store.read("01__10").n_frames == 3
    assert store.leftovers() == []


def test_validate_fix_removes_leftovers_of_every_video_but_no_document(store):
    from click.testing import CliRunner

    from cli import hmtools

    store.write(make_doc())
    stale = [store.videos_dir / ".01__10.json.ab12cd34.tmp", store.videos_dir / ".02__3.json.x_y_z_01.tmp"]
    for p in stale:
        p.write_text("{half")
    other = store.videos_dir / ".01__10.json.x.json.abcdefgh.tmp"  # of "01__10.json.x", an invalid id
    other.write_text("{")
    result = CliRunner().invoke(hmtools, ["validate", "--store", str(store.root), "--fix", "--quiet"])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale) and not other.exists()
    assert store.leftovers() == [] and store.video_ids() == ["01__10"]
    assert "removed" in result.output and "note:" not in result.output


def test_lock_serialises_concurrent_edits(store):
    store.write(make_doc(n=2, objects=1))
    child = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from hmtools.rle import mask_to_rle
        from hmtools.store import MaskStore, PseudoMask
        frame = int(sys.argv[1])
        store = MaskStore.open({str(store.root)!r})
        with store.edit("01__10") as doc:
            print("IN", flush=True)
            time.sleep(0.5)          # both read before either writes, without the lock
            m = np.zeros((4, 4), bool); m[frame, frame] = True
            doc.set_pseudo(frame, 1, PseudoMask(mask_to_rle(m)))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child, str(f)], stdout=subprocess.PIPE) for f in (0, 1)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and all(o.strip() == b"IN" for o in outs)
    doc = store.read("01__10")
    assert doc.pseudo[0] is not None and doc.pseudo[1] is not None


def test_unsafe_video_ids_are_refused(store):
    for bad in ["../x", "a/b", ".hidden", "", "a..b"]:
        with pytest.raises(StoreError, match="invalid video id"):
            store.path(bad)


def test_rle_error_is_an_hm_error():
    assert issubclass(RLEError, HMError)
