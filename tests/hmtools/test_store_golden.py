"""The store workflows write the same documents as the code before the typed layer API (e9c96ef).

One correction session on a tiny synthetic set (``helpers/store_scenario.py``: import-hm into both
layers, a CVAT round trip, five editor saves) is compared with the documents the old code wrote
for it (``tests/data/store-golden/documents.json``), apart from write times. The only differences
are the two the single status rule makes on purpose, listed here exactly.
"""

import json

from helpers.store_scenario import GOLDEN, run_session

SYNC, INDIVIDUAL = "SynthCup2024_Men10mSynchronised_final_r1__0", "SynthCup2024_Men3m_final_r1__0"


def _status_changes(old: dict, new: dict) -> list[tuple[str, int, str, str, str]]:
    """``(video, frame, object, old status, new status)`` of every correction whose status differs;
    ``new`` gets the old statuses back so the rest can be compared whole."""
    changes = []
    for vid, doc in old.items():
        frames_new = new[vid]["layers"]["corrected"]["frames"]
        for i, entry in enumerate(doc["layers"]["corrected"]["frames"]):
            for obj, corr in (entry or {}).items():
                got = (frames_new[i] or {}).get(obj)
                if got is not None and got["status"] != corr["status"]:
                    changes.append((vid, i, obj, corr["status"], got["status"]))
                    got["status"] = corr["status"]
    return changes


def test_same_documents_as_the_old_code_but_for_the_status_rule(tmp_path):
    old = json.loads(GOLDEN.read_text())
    new = run_session(tmp_path)
    assert sorted(new) == sorted(old)
    changes = _status_changes(old, new)
    # import-hm into the corrected layer now says "confirmed" where the mask is the pseudo mask
    # (it wrote "edited" before); its 4 empty frames stay "empty".
    synced = [c for c in changes if c[0] == SYNC]
    assert len(synced) == 21 and {c[3:] for c in synced} == {("edited", "confirmed")}
    statuses = [m["status"] for f in new[SYNC]["layers"]["corrected"]["frames"] for m in f.values()]
    assert statuses.count("edited") == 21 and statuses.count("empty") == 4  # (restored to the old ones)
    # The editor's "accept" of an empty pseudo mask is now "empty" (it was "confirmed").
    assert [c for c in changes if c[0] != SYNC] == [(INDIVIDUAL, 22, "1", "confirmed", "empty")]
    # Everything else, masks, hashes, authors, tools and metadata included, is unchanged.
    for vid in old:
        assert new[vid] == old[vid], vid
