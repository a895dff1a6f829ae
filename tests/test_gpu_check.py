"""benchmarks/gpu_check.py cannot rot: its dry run (tiny variants, CPU) runs every section and reports
numbers that make sense; a failing section prints one line and the run goes on; the budget skips."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow  # ~15-35 s on two CPU cores: five sections and one pseudo-mask subprocess
def test_dry_run_reports_every_section(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    sections = res["sections"]
    has_sam2 = importlib.util.find_spec("sam2") is not None
    assert {k: v["status"] for k, v in sections.items()} == {
        **dict.fromkeys(["train", "eval", "sam", "ostrack", "e2e"], "ok"),
        "sam2": "ok" if has_sam2 else "not installed"}, sections
    if has_sam2:
        s2 = sections["sam2"]["tiny_test"]
        assert _positive(s2["fps"]) and _positive(s2["peak_first_chunk_gib"])

    train = sections["train"]
    assert train["batch"] >= 1 and train["oom_at"] == 2  # the simulated OOM stopped the search
    assert all(_positive(train[k]) for k in ("step_s", "pairs_per_s", "peak_gib"))
    ev = sections["eval"]
    assert ev["exemplars"] >= 1
    assert all(_positive(ev[k]) for k in ("videos_per_s", "encode_videos_per_s"))
    sam = sections["sam"]["tiny"]
    assert {"bf16_batch1_fps", "bf16_batch2_fps", "fp32_batch1_fps"} <= set(sam)
    assert all(_positive(v) for k, v in sam.items() if k.endswith("_fps") and k != "expected_fps")
    assert sam["expected_fps"] is None  # no published figure for the tiny SAM
    ost = sections["ostrack"]["tiny"]
    assert all(_positive(ost[k]) for k in ("net_fp32_fps", "net_bf16_fps", "tracker_fps"))
    e2e = sections["e2e"]
    assert e2e["frames"] >= 8 and _positive(e2e["fps"]) and 0 <= e2e["outside_share"] <= 1
    assert _positive(e2e["derived_expected_fps"])
    assert _positive(res["wall_s"]) and res["torch"] and res["name"]
    assert "[expected:" in proc.stdout and "105.4 fps" in proc.stdout and f"done: {5 + has_sam2}/6" in proc.stdout


def test_failing_section_is_one_line_and_budget_skips(tmp_path, capsys):
    gpu_check = _load()
    out = tmp_path / "r.json"
    # --max-batch 0: the batch search tries nothing, the section fails; ostrack still runs
    rc = gpu_check.main(["--dry-run", "--only", "train,ostrack", "--max-batch", "0", "--json", str(out)])
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())["sections"]
    assert rc == 1
    assert res["train"]["status"] == "error" and "no batch measured" in res["train"]["error"]
    assert res["ostrack"]["status"] == "ok" and _positive(res["ostrack"]["tiny"]["tracker_fps"])
    assert [line for line in printed.splitlines() if "FAILED" in line] == [
        f"[train  ] FAILED {res['train']['error']}"]

    rc = gpu_check.main(["--dry-run", "--budget-s", "0.01", "--json", str(out)])
    res = json.loads(out.read_text())["sections"]
    assert rc == 1 and {v["status"] for v in res.values()} == {"skipped"}
    assert "skipped:" in capsys.readouterr().out
