"""hmtools.store.layers and the document's typed access: layers, frame entries, accessors, the
correction status rule (hmtools.store.records.correction_status) and staleness."""

import numpy as np
import pytest

from hmtools.rle import RLE, empty_rle, mask_to_rle
from hmtools.store import (Correction, FrameEntry, Layer, PseudoMask, VideoDoc, correction_status,
                           mask_hash)


def box(y0, y1, x0, x1, hw=(4, 4)):
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return mask_to_rle(m)


A, B, EMPTY = box(0, 2, 0, 2), box(2, 4, 2, 4), empty_rle((4, 4))


def doc_with_pseudo():
    doc = VideoDoc.new("v", (4, 4), ["a.jpg", "b.jpg", "c.jpg"], objects=2)
    doc.set_pseudo(0, 1, PseudoMask(A))
    doc.set_pseudo(1, 1, PseudoMask(EMPTY))
    return doc


@pytest.mark.parametrize("rle, pseudo, expected", [
    (A, A, "confirmed"),          # the pseudo mask accepted as is
    (A, B, "edited"),             # changed by hand
    (A, None, "edited"),          # drawn where there was no pseudo mask
    (EMPTY, A, "empty"),          # nobody there
    (EMPTY, None, "empty"),
    (EMPTY, EMPTY, "empty"),      # accepting an empty pseudo mask: empty, not confirmed
    (box(0, 2, 0, 2, (4, 5)), box(0, 2, 0, 2, (5, 4)), "edited"),  # same runs, another size
])
def test_correction_status_rule(rle, pseudo, expected):
    assert correction_status(rle, pseudo) == expected


@pytest.mark.parametrize("frame, obj, rle, status", [
    (0, 1, A, "confirmed"),
    (0, 1, B, "edited"),
    (0, 2, A, "edited"),          # object 2 has no pseudo mask in frame 0
    (1, 1, EMPTY, "empty"),
    (2, 1, EMPTY, "empty"),
])
def test_make_correction_judges_against_the_stored_pseudo_mask(frame, obj, rle, status):
    doc = doc_with_pseudo()
    corr = doc.make_correction(frame, obj, rle, by="ana", at="t", tool="test", pseudo_hash="0123456789abcdef")
    assert (corr.status, corr.by, corr.tool, corr.pseudo_hash) == (status, "ana", "test", "0123456789abcdef")
    assert corr.rle.counts == rle.counts
    assert doc.correction(frame, obj) is None  # nothing stored until set_correction


def test_make_correction_stores_an_empty_mask_in_canonical_form():
    doc = doc_with_pseudo()
    odd_empty = RLE((4, 4), "not canonical", 0, (0, 0, 0, 0))  # only its area is read
    corr = doc.make_correction(0, 1, odd_empty, by="a", at="t", tool="x", pseudo_hash=None)
    assert corr.status == "empty" and corr.rle.counts == EMPTY.counts


def test_accessors_and_staleness():
    doc = doc_with_pseudo()
    assert doc.pseudo_mask(0, 1).rle is A and doc.pseudo_mask(0, 2) is None and doc.pseudo_mask(2, 1) is None
    assert doc.pseudo_hash(0, 1) == mask_hash(A) and doc.pseudo_hash(2, 1) is None
    doc.set_correction(0, 1, doc.make_correction(0, 1, B, by="a", at="t", tool="x", pseudo_hash=mask_hash(A)))
    doc.set_correction(2, 2, doc.make_correction(2, 2, A, by="a", at="t", tool="x", pseudo_hash=mask_hash(B)))
    assert doc.correction(0, 1).status == "edited" and doc.correction(0, 2) is None
    assert [doc.is_stale(0, 1), doc.is_stale(2, 2), doc.is_stale(1, 1)] == [False, True, False]
    assert list(doc.stale_corrections()) == [(2, 2)]
    doc.set_pseudo(0, 1, PseudoMask(B))   # a regenerated pseudo mask orphans the first correction
    assert list(doc.stale_corrections()) == [(0, 1), (2, 2)]
    # Effective: corrected, else pseudo, per object; by source.
    assert doc.object_mask("effective", 0, 1).counts == B.counts
    assert doc.object_mask("effective", 1, 1).counts == EMPTY.counts
    assert doc.object_mask("pseudo", 2, 2) is None and doc.object_mask("corrected", 2, 2).counts == A.counts
    assert doc.layer_mask("effective", 2).counts == A.counts and doc.layer_mask("pseudo", 2) is None
    with pytest.raises(ValueError, match="layer must be one of"):
        doc.layer("truth")


def test_layer_reads_like_the_list_it_replaces():
    doc = doc_with_pseudo()
    layer = doc.pseudo
    assert isinstance(layer, Layer) and len(layer) == 3 and layer[2] is None
    assert isinstance(layer[0], FrameEntry) and layer[0][1].rle is A and set(layer[0]) == {1}
    assert layer.get(0, 1).rle is A and layer.get(0, 2) is None and layer.get(2, 1) is None
    assert dict(layer.objects(2)) == {} and not layer.objects(2)
    assert [layer.is_annotated(i) for i in range(3)] == [True, True, False]
    assert [(i, o) for i, o, _ in layer.items()] == [(0, 1), (1, 1)]
    assert layer.has_masks() and not doc.corrected.has_masks()
    assert doc.corrected == [None] * 3 and doc.corrected == Layer(3) and doc.pseudo != Layer(3)
    assert layer[0] == {1: PseudoMask(A)}
    with pytest.raises(TypeError):
        layer[0][2] = PseudoMask(B)       # entries are read-only: write through the document
    layer[1] = None                       # a frame can be reset to "not annotated"
    assert not layer.is_annotated(1)
    doc.clear_layer("pseudo")
    assert doc.pseudo == [None] * 3


def test_entries_are_copied_between_layers():
    doc, other = doc_with_pseudo(), doc_with_pseudo()
    other.pseudo[0] = doc.pseudo[0]
    other.set_pseudo(0, 2, PseudoMask(B))
    assert set(other.pseudo[0]) == {1, 2} and set(doc.pseudo[0]) == {1}


def test_lists_of_entries_are_still_accepted():
    doc = VideoDoc(video_id="v", size_hw=(4, 4), frames=("a", "b"), objects=doc_with_pseudo().objects,
                   pseudo=[{1: PseudoMask(A)}, None], corrected=[None, {2: Correction(EMPTY, "empty", "a", "t", "x")}])
    doc.check()
    assert isinstance(doc.pseudo, Layer) and doc.pseudo_mask(0, 1).rle is A and doc.correction(1, 2).status == "empty"
