"""hmtools.formats.ytvis: store -> YouTube-VIS JSON, readable by pycocotools, null where absent."""

import json

import numpy as np
import pytest
from pycocotools import mask as cocomask

from hmtools.rle import empty_rle, mask_to_rle
from hmtools.formats.ytvis import store_to_ytvis
from hmtools.store import Correction, MaskStore, PseudoMask, VideoDoc


def asym(i):
    m = np.zeros((4, 6), bool)
    m[0, i] = True
    m[1:3, 4] = True
    return m


@pytest.fixture
def store(tmp_path):
    s = MaskStore.create(tmp_path / "store")
    a = VideoDoc.new("Sync__1", (4, 6), ["1.jpg", "2.jpg", "3.jpg"], objects=2)
    a.set_pseudo(0, 1, PseudoMask(mask_to_rle(asym(0))))
    a.set_pseudo(1, 1, PseudoMask(mask_to_rle(asym(1))))
    a.set_pseudo(1, 2, PseudoMask(mask_to_rle(asym(2))))
    a.set_correction(1, 1, Correction(mask_to_rle(asym(3)), "edited", "ann", "t", "cvat"))
    a.set_correction(2, 2, Correction(empty_rle((4, 6)), "empty", "ann", "t", "cvat"))
    b = VideoDoc.new("Solo__2", (4, 6), ["1.jpg"])
    s.write(a)
    s.write(b)
    return s


def decode(seg):
    return cocomask.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)


def test_effective_layer_tracks_per_athlete(store):
    data = json.loads(json.dumps(store_to_ytvis(store)))
    assert [v["name"] for v in data["videos"]] == ["Solo__2", "Sync__1"]
    sync = data["videos"][1]
    assert (sync["id"], sync["width"], sync["height"], sync["length"]) == (2, 6, 4, 3)
    assert sync["file_names"] == ["Sync__1/1.jpg", "Sync__1/2.jpg", "Sync__1/3.jpg"]
    anns = data["annotations"]
    assert [(a["id"], a["video_id"]) for a in anns] == [(1, 2), (2, 2)]       # Solo__2 has no masks
    one, two = anns
    assert one["iscrowd"] == 0 and one["category_id"] == 1 and (one["height"], one["width"]) == (4, 6)
    assert np.array_equal(decode(one["segmentations"][0]), asym(0))
    assert np.array_equal(decode(one["segmentations"][1]), asym(3))            # corrected wins
    assert one["segmentations"][2] is None and one["bboxes"][2] is None and one["areas"][2] is None
    assert np.array_equal(decode(two["segmentations"][1]), asym(2))
    assert two["segmentations"][2] is None                                     # confirmed empty -> null
    assert one["bboxes"][0] == [0.0, 0.0, 5.0, 3.0] and one["areas"][0] == 3.0
    assert data["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]


def test_pseudo_and_corrected_layers(store):
    pseudo = store_to_ytvis(store, layer="pseudo", video_ids=["Sync__1"])
    assert len(pseudo["videos"]) == 1
    assert np.array_equal(decode(pseudo["annotations"][0]["segmentations"][1]), asym(1))
    corrected = store_to_ytvis(store, layer="corrected")
    assert len(corrected["annotations"]) == 1
    segs = corrected["annotations"][0]["segmentations"]
    assert segs[0] is None and np.array_equal(decode(segs[1]), asym(3))
    with pytest.raises(ValueError, match="layer"):
        store_to_ytvis(store, layer="both")


def test_export_ytvis_command(store, tmp_path):
    from click.testing import CliRunner

    import cli

    out = tmp_path / "ytvis.json"
    result = CliRunner().invoke(cli.hmtools, ["export-ytvis", "--store", str(store.root), "--out", str(out)])
    assert result.exit_code == 0 and "2 videos, 2 tracks" in result.output
    assert json.loads(out.read_text()) == json.loads(json.dumps(store_to_ytvis(store)))
