"""Correction history (Correction.history, VideoDoc.set_correction/revert_correction, hmtools.workflows.history)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli import hmtools
from hmtools.errors import StoreError
from hmtools.rle import mask_to_rle
from hmtools.store import MaskStore, PseudoMask, VideoDoc, mask_hash
from hmtools.store.schema import schema_errors
from hmtools.workflows.history import correction_history, revert


def _mask(k):
    m = np.zeros((4, 4), bool)
    m[:k] = True
    return mask_to_rle(m)


@pytest.fixture
def store(tmp_path):
    store = MaskStore.create(tmp_path / "store")
    doc = VideoDoc.new("v", (4, 4), ["a.jpg", "b.jpg"])
    doc.set_pseudo(0, 1, PseudoMask(_mask(1)))
    store.write(doc)
    for k, who in ((2, "ana"), (3, "bo"), (3, "cy")):  # the third is the same decision as the second
        with store.edit("v") as d:
            d.set_correction(0, 1, d.make_correction(0, 1, _mask(k), by=who, at=f"t{k}", tool="cvat",
                                                     pseudo_hash=d.pseudo_hash(0, 1)))
    return store


def test_overwrite_keeps_the_previous_correction(store):
    corr = store.read("v").correction(0, 1)
    assert (corr.by, corr.rle.area) == ("cy", 12)
    assert [(h.by, h.rle.area, h.history) for h in corr.history] == [("ana", 8, ())]
    data = json.loads(store.path("v").read_text())
    past = data["layers"]["corrected"]["frames"][0]["1"]["history"]
    assert past[0]["mask_hash"] == mask_hash(_mask(2)) and past[0]["by"] == "ana"
    assert schema_errors(data) == []


def test_history_rows_and_revert(store):
    rows = correction_history(store, "v", "a.jpg")
    assert [(r.version, r.current, r.by, r.area) for r in rows] == [(0, False, "ana", 8), (1, True, "cy", 12)]
    assert correction_history(store, "v", "1") == []          # by index: frame b.jpg has none
    assert revert(store, "v", "a.jpg") == ["v a.jpg#1: restored edited by ana at t2 (cvat)"]
    assert store.read("v").correction(0, 1).history == ()
    assert revert(store, "v", 0) == ["v a.jpg#1: pseudo mask effective again (no earlier correction)"]
    doc = store.read("v")
    assert doc.corrected[0] is None and doc.effective(0) == _mask(1)
    with pytest.raises(StoreError, match="no correction to revert"):
        revert(store, "v", "a.jpg")
    with pytest.raises(StoreError, match="no frame named 'zz.jpg'"):
        revert(store, "v", "zz.jpg")


def test_old_documents_without_history_read(store):
    data = json.loads(store.path("v").read_text())
    del data["layers"]["corrected"]["frames"][0]["1"]["history"]
    store.path("v").write_text(json.dumps(data))
    assert store.read("v").correction(0, 1).history == ()


def test_commands(store):
    runner = CliRunner()
    res = runner.invoke(hmtools, ["history", "--store", str(store.root), "v"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[1].startswith("* a.jpg#1 v1  edited    t3  by cy with cvat")
    res = runner.invoke(hmtools, ["revert", "--store", str(store.root), "v", "a.jpg", "--object", "1"])
    assert res.exit_code == 0 and "restored edited by ana" in res.output
    res = runner.invoke(hmtools, ["revert", "--store", str(store.root), "v", "b.jpg"])
    assert res.exit_code == 1 and "no correction to revert" in res.output and "Traceback" not in res.output
