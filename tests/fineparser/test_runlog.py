"""Run records: metrics.jsonl, TensorBoard events when installed, once-per-run notices, Table 7."""

import json

import numpy as np
import pytest

from fineparser.engine import train
from fineparser.model import get_config
from fineparser.runlog import RunLog, run_notices, scalars
from fineparser.train_config import load_train_config


def test_scalars_flatten_finite_numbers():
    line = {"epoch": 2, "loss": 0.5, "lr": {"i3d": 1e-4}, "eval": {"rho": float("nan"), "n": 4},
            "notices": ["x"], "ok": True}
    assert scalars(line) == {"epoch": 2.0, "loss": 0.5, "lr/i3d": 1e-4, "eval/n": 4.0}


@pytest.mark.parametrize("valid,tap,loss_t,said", [
    ([False, False], True, True, True),      # MTL-AQA / AQA-7: no transitions at all
    ([False, True], True, True, False),
    ([False, False], False, True, False),    # no TAP: nothing to say
    ([False, False], True, False, False),    # L_T switched off on purpose
])
def test_lt_zero_notice(valid, tap, loss_t, said):
    cfg = load_train_config(None, ["data_root=/d", "masks=none", "dataset=mtlaqa", f"loss_t={str(loss_t).lower()}"])
    notices = run_notices(cfg, get_config("tiny", tap=tap), np.array(valid))
    assert bool(notices) == said and all("L_T is zero" in n and "mtlaqa" in n for n in notices)


def test_event_files_when_tensorboard_is_installed(tmp_path):
    pytest.importorskip("tensorboard")
    log = RunLog(tmp_path)
    log.epoch({"epoch": 1, "loss": 0.25, "eval": {"rho": 0.5}})
    log.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss"] == 0.25
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_table7_switches_zero_the_losses_and_the_notice_reaches_the_metrics(tiny_aqa, tmp_path, monkeypatch):
    import fineparser.engine as engine

    data_root, store_root = tiny_aqa
    monkeypatch.setattr(engine, "run_notices", lambda cfg, mcfg, valid: ["L_T is zero: test"])
    run = tmp_path / "run"
    train(load_train_config(None, [
        "dataset=synthetic", f"data_root={data_root}", f"store={store_root}", "masks=gtm",
        "model_preset=tiny", "workers=0", "epochs=2", "batch_size=2", f"run_dir={run}",
        "loss_t=false", "loss_a=false"]))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["loss_t"] for line in lines] == [0.0, 0.0] and [line["loss_a"] for line in lines] == [0.0, 0.0]
    assert lines[0]["notices"] == ["L_T is zero: test"] and "notices" not in lines[1]
