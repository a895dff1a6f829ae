"""hmtools.stats and `hmtools stats`: the paper's FineDiving-HM counts, layers, renderers, start-up cost."""

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hmtools.rle import empty_rle, mask_to_rle
from hmtools.stats import (DEFAULT_BY, GROUPINGS, compute_stats, stats_to_csv, stats_to_json,
                           stats_to_markdown, stats_to_png, stats_to_table)
from hmtools.store import Correction, Flag, MaskStore, PseudoMask, VideoDoc
from hmtools.store.index import build_index

from helpers.finediving_fixture import META_SKIP_REASON, meta_available
from helpers.mask_store import write_meta_store

REPO = Path(__file__).resolve().parents[2]


def box(rows):
    m = np.zeros((4, 4), bool)
    m[:rows] = True
    return mask_to_rle(m)


@pytest.fixture
def store(tmp_path):
    """Two videos: 'a' individual/train with 3 frames (pseudo, pseudo flagged, null), 'b'
    synchronized/test with 2 frames (corrected empty; pseudo for athlete 2 + corrected athlete 1)."""
    s = MaskStore.create(tmp_path / "store")
    a = VideoDoc.new("a", (4, 4), ["1.jpg", "2.jpg", "3.jpg"], dataset="finediving", action_type="107B",
                     split="train", synchronized=False, event="individual")
    a.set_pseudo(0, 1, PseudoMask(box(1)))
    a.set_pseudo(1, 1, PseudoMask(box(2), flag=Flag(True, ("low_score",))))
    b = VideoDoc.new("b", (4, 4), ["1.jpg", "2.jpg"], objects=2, dataset="finediving", action_type="407C",
                     split="test", synchronized=True, event="synchronized")
    b.set_correction(0, 1, Correction(empty_rle((4, 4)), "empty", "ann", "t", "web"))
    b.set_pseudo(1, 2, PseudoMask(box(4)))
    b.set_correction(1, 1, Correction(box(1), "edited", "ann", "t", "web"))
    s.write(a)
    s.write(b)
    return s


def test_effective_counting_per_grouping(store):
    s = compute_stats(store, by=["action_type", "synchronized", "split", "layer", "flagged", "event"])
    assert s.total == 4 and s.n_videos == 2                      # 'a' frame 3 is null: not a mask
    j = s.to_json()
    assert j == {"total": 4, "by": {
        "action_type": {"107B": 2, "407C": 2},
        "synchronized": {"individual": 2, "synchronized": 2},
        "split": {"test": 2, "train": 2},
        "layer": {"pseudo": 2, "corrected": 1, "mixed": 1},
        "flagged": {"not flagged": 3, "flagged": 1},
        "event": {"individual": 2, "synchronized": 2}}}
    fg = {g.name: g.fg_ratio for g in s.by["action_type"]}
    assert fg["107B"] == pytest.approx((4 / 16 + 8 / 16) / 2)
    assert fg["407C"] == pytest.approx((0 + 16 / 16) / 2)        # the empty frame counts with 0


def test_layers_and_flagged_only(store):
    pseudo = compute_stats(store, by=["layer"], layer="pseudo")
    assert pseudo.total == 3 and pseudo.to_json()["by"] == {"layer": {"pseudo": 3}}
    corrected = compute_stats(store, by=["action_type"], layer="corrected")
    assert corrected.to_json() == {"total": 2, "by": {"action_type": {"407C": 2}}}
    flagged = compute_stats(store, by=["action_type"], flagged_only=True)
    assert flagged.to_json() == {"total": 1, "by": {"action_type": {"107B": 1}}}
    with pytest.raises(ValueError, match="unknown grouping"):
        compute_stats(store, by=["colour"])


def test_renderers(store, tmp_path):
    s = compute_stats(store, by=["action_type", "synchronized"])
    rows = list(csv.DictReader(io.StringIO(stats_to_csv(s))))
    assert rows[0] == {"grouping": "action_type", "group": "107B", "masks": "2", "share": "0.500000",
                       "fg_ratio": "0.375000"}
    assert rows[-1]["grouping"] == "total" and rows[-1]["masks"] == "4"
    md = stats_to_markdown(s)
    assert "| synchronized | masks | share | fg ratio |" in md and "| individual | 2 | 50.0% |" in md
    table = stats_to_table(s)
    assert table.splitlines()[0].startswith("4 effective masks in 2 videos")
    assert any(line.split()[:2] == ["407C", "2"] for line in table.splitlines())
    assert json.loads(stats_to_json(s)) == s.to_json()
    png = stats_to_png(s, tmp_path / "fig.png", "action_type")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_command_constants_match_the_library():
    from hmtools.commands import stats as cmd

    assert cmd.GROUPINGS == GROUPINGS and cmd.DEFAULT_BY == DEFAULT_BY


def test_cli_json_without_torch_or_pandas(store):
    """With a current index, `hmtools stats` reads Parquet only: no torch, pandas or OpenCV."""
    build_index(store, progress=False)
    code = ("import sys; from click.testing import CliRunner; import cli; "
            f"r = CliRunner().invoke(cli.hmtools, ['stats', '--store', {str(store.root)!r}, '--format', 'json', "
            "'--by', 'synchronized']); print(r.output); "
            "print(sorted(m for m in ('torch', 'pandas', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    *json_lines, modules = out.stdout.strip().splitlines()
    assert json.loads("\n".join(json_lines)) == {"total": 4, "by": {"synchronized": {"individual": 2,
                                                                                     "synchronized": 2}}}
    assert modules == "[]", out.stderr


@pytest.mark.slow
@pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)
def test_paper_figures_from_one_mask_per_frame_of_every_clip(tmp_path):
    """FineDiving-HM (paper Sec. 4 / Fig. 4a). ~10 s on 2 cores: 3,000 documents, 312,256 masks."""
    t0 = time.perf_counter()
    store = write_meta_store(tmp_path / "hm")
    build_index(store, progress=False)
    s = compute_stats(store, by=["action_type", "synchronized", "split"])
    assert s.total == 312_256
    sync = s.to_json()["by"]["synchronized"]
    assert sync == {"individual": 248_713, "synchronized": 63_543}
    by_type = s.to_json()["by"]["action_type"]
    assert len(by_type) == 52
    assert list(by_type.items())[:2] == [("107B", 35_287), ("407C", 34_054)]
    assert min(by_type.values()) == 101
    assert sorted(k for k, v in by_type.items() if v == 101) == ["109B", "201A", "201C", "303C"]
    assert sum(s.to_json()["by"]["split"].values()) == 312_256
    print(f"paper-figures test: {time.perf_counter() - t0:.1f} s")
