"""A fixed correction session on a tiny synthetic set, written through the store workflows.

Used by ``tests/hmtools/test_store_golden.py`` to compare the documents the current code writes
with those written by the code before the layer API (``tests/data/store-golden/``). The session
uses the command line (``synth``, ``init``, ``import-hm``, ``export-cvat``, ``import-cvat``) and
the editor's request logic, so it runs unchanged on both versions; only how the editor is given
the store differs (``editor_store``).

Regenerate the golden file from a checkout of the old code with::

    PYTHONPATH=<old checkout>:tests python -c "from helpers.store_scenario import write_golden; write_golden()"
"""

from __future__ import annotations

import json
from pathlib import Path

SYNTH_ARGS = ["--videos", "4", "--seed", "3", "--size", "80x48", "--frames", "24-26", "--quiet"]
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "store-golden" / "documents.json"
# Fields that hold the time of a write (they differ between any two runs).
TIME_FIELDS = ("at", "created")


def _cli(args: list[str]) -> None:
    from click.testing import CliRunner

    import cli

    result = CliRunner().invoke(cli.hmtools, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise AssertionError(f"hmtools {' '.join(args)} exited {result.exit_code}: {result.output}")


def run_session(tmp: Path, editor_store=lambda store: store) -> dict[str, dict]:
    """Run the session in ``tmp``; returns the written documents as JSON, normalised.

    Args:
        editor_store: maps the opened :class:`MaskStore` to what ``EditorApp`` takes first.
    """
    import numpy as np

    from hmtools.rle import mask_to_rle, rle_to_mask
    from hmtools.store import MaskStore, mask_hash

    try:
        from hmtools.web.app import EditorApp, correction_key, rle_to_runs
    except ImportError:  # the code before the editor's logic left web/server.py
        from hmtools.web.server import EditorApp, correction_key, rle_to_runs

    data, store_dir = tmp / "synth", tmp / "store"
    _cli(["synth", str(data), *SYNTH_ARGS])
    _cli(["init", str(store_dir)])
    _cli(["import-hm", "--store", str(store_dir), "--masks", str(data / "FineDiving_HM"), "--dataset",
          "synthetic", "--data-root", str(data), "--layer", "pseudo"])
    store = MaskStore.open(store_dir)
    v1, v2, v3, _ = store.video_ids()
    # import-hm into the corrected layer over identical pseudo masks (the status rule's case).
    _cli(["import-hm", "--store", str(store_dir), "--masks", str(data / "FineDiving_HM"), "--layer", "corrected",
          "--video", v1, "--by", "truth"])
    # A CVAT round trip of one video, imported unchanged: every mask is confirmed or empty.
    _cli(["export-cvat", "--store", str(store_dir), str(tmp / "task"), "--video", v2])
    _cli(["import-cvat", "--store", str(store_dir), str(tmp / "task" / "annotations.xml"), "--annotator", "ann"])
    # The editor: accept, draw a shifted mask, mark empty, draw the pseudo mask itself, accept an
    # empty pseudo mask (frame 22: the diver is under water).
    app = EditorApp(editor_store(store), annotator="ed")
    doc = store.read(v3)
    for frame_idx, action in ((0, "accept"), (1, "mask"), (2, "empty"), (3, "same"), (22, "accept")):
        pm = doc.pseudo[frame_idx][1]
        item = {"object_id": 1, "base_corrected": correction_key(None), "base_pseudo_hash": mask_hash(pm.rle)}
        if action in ("accept", "empty"):
            item["action"] = action
        else:
            mask = rle_to_mask(pm.rle)
            if action == "mask":
                mask = np.roll(mask, 2, axis=1) | mask
            item.update(action="mask", runs=rle_to_runs(mask_to_rle(mask)))
        app.save({"video_id": v3, "frame_idx": frame_idx, "objects": [item]})
    return {vid: normalise(json.loads(store.path(vid).read_text()), tmp) for vid in store.video_ids()}


def normalise(doc_json: dict, tmp: Path) -> dict:
    """The document without write times, with ``tmp`` replaced by ``<tmp>`` in every string."""
    text = json.dumps(doc_json, sort_keys=True).replace(str(tmp), "<tmp>")
    data = json.loads(text)

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in TIME_FIELDS}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(data)


def write_golden() -> Path:
    """Run the session (with the old code on the path) and write the golden documents."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        docs = run_session(Path(d), editor_store=lambda store: store.root)
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(docs, sort_keys=True, separators=(",", ":")) + "\n")
    return GOLDEN

