"""A 2-process DistributedDataParallel run on the CPU (gloo), launched by torchrun."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fineparser.distributed import DistInfo, any_true, gather_objects, init_distributed, mean_over_processes


def _fineparser_script() -> str | None:
    local = Path(sys.executable).parent / "fineparser"
    return str(local) if local.is_file() else shutil.which("fineparser")


def test_single_process_helpers_are_identities(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed("cpu")
    assert info == DistInfo(0, 1, 0, info.device) and info.is_main and not info.enabled
    assert any_true(True, info) and not any_true(False, info)
    assert mean_over_processes({"a": 2.0}, info) == {"a": 2.0}
    assert gather_objects({"x": 1}, info) == [{"x": 1}]


@pytest.mark.slow
@pytest.mark.skipif(_fineparser_script() is None, reason="the fineparser console script is not installed")
def test_two_process_gloo_run_matches_single_process_eval(tiny_aqa, tmp_path):
    data_root, store_root = tiny_aqa
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           _fineparser_script(), "train", "--dataset", "synthetic", "--data-root", str(data_root),
           "--store", str(store_root), "--masks", "gtm", "--preset", "tiny", "--run-dir", str(run),
           "--set", "epochs=1", "--set", "workers=0", "--set", "device=cpu", "--set", "threads=1",
           "--set", "both_orders=true", "--set", "score_scale=10"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 1                           # only rank 0 writes
    line = lines[0]
    assert line["pairs"] == 6 and line["eval"]["n"] == 4   # 3 pairs per process; eval gathered

    single = subprocess.run([_fineparser_script(), "eval", "--checkpoint", str(run / "last.pt"),
                             "--out", str(tmp_path / "eval"), "--set", "workers=0"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "eval_test.json").read_text())
    # the same predictions up to float32 noise (each process encodes its own batches)
    assert report["rl2"] == pytest.approx(line["eval"]["rl2"], rel=1e-4)
    assert report["mae"] == pytest.approx(line["eval"]["mae"], rel=1e-4)
