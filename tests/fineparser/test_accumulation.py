"""Gradient accumulation: 1 process accumulating 2 batches = 2 processes (gloo) without it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fineparser.optim import accumulation_group, accumulation_steps
from fineparser.train_config import TrainConfig


REPO = str(Path(__file__).resolve().parents[2])  # the checkout under test, not an installed copy


def _fineparser_script() -> str | None:
    local = Path(sys.executable).parent / "fineparser"
    return str(local) if local.is_file() else shutil.which("fineparser")


@pytest.mark.parametrize("fields,world,expected", [
    ({}, 4, 1), ({"grad_accum": 3}, 2, 3),
    ({"batch_size": 2, "effective_batch_size": 16}, 4, 2),   # the FineParser code's 4 GPUs
    ({"batch_size": 2, "effective_batch_size": 16}, 1, 8),   # the same steps on one GPU
])
def test_accumulation_steps_make_the_effective_batch(fields, world, expected):
    cfg = TrainConfig(data_root="x", masks="none", **fields)
    assert accumulation_steps(cfg, world) == expected


def test_effective_batch_must_divide_and_excludes_grad_accum():
    with pytest.raises(ValueError, match="multiple"):
        accumulation_steps(TrainConfig(data_root="x", masks="none", batch_size=2, effective_batch_size=6), 2)
    with pytest.raises(ValueError, match="grad_accum"):
        TrainConfig(data_root="x", masks="none", grad_accum=2, effective_batch_size=4)


def test_groups_of_batches_and_a_shorter_last_group():
    assert [accumulation_group(b, 2, 5) for b in range(5)] == [(True, 2), (False, 2), (True, 2),
                                                                (False, 2), (True, 1)]


def _train(cmd_prefix, run, data_root, store_root, extra):
    cmd = [*cmd_prefix, "train", "--dataset", "synthetic", "--data-root", str(data_root),
           "--store", str(store_root), "--masks", "gtm", "--preset", "tiny", "--run-dir", str(run),
           "--set", "epochs=1", "--set", "workers=0", "--set", "device=cpu", "--set", "threads=1",
           "--set", "batch_size=1", "--set", "effective_batch_size=2", "--set", "ema_decay=0", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
@pytest.mark.skipif(_fineparser_script() is None, reason="the fineparser console script is not installed")
def test_one_process_accumulating_two_equals_two_processes(tiny_aqa, tmp_path):
    data_root, store_root = tiny_aqa
    script = _fineparser_script()
    two = _train([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                  script], tmp_path / "ddp", data_root, store_root, [])
    one = _train([script], tmp_path / "accum", data_root, store_root, [])
    # Parameters only: batch-norm running statistics are rank 0's own under DDP.
    names = [k for k in one if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert names and set(one) == set(two)
    worst = max(float((one[k].float() - two[k].float()).abs().max()) for k in names)
    assert worst < 1e-5
    moved = _train([script], tmp_path / "plain", data_root, store_root,
                   ["--set", "effective_batch_size=0"])  # 1 pair per step: a different trajectory
    assert max(float((one[k].float() - moved[k].float()).abs().max()) for k in names) > 1e-4
