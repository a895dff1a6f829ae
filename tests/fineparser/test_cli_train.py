"""``fineparser train / eval / predict`` from the command line: errors are one line, outputs exist."""

import csv
import json

import pytest
from click.testing import CliRunner

from cli import fineparser


def _run(args, stdout_only=False):
    result = CliRunner().invoke(fineparser, [str(a) for a in args])
    return result.exit_code, result.stdout if stdout_only else result.output


def _train_args(data_root, store_root, run_dir, *extra):
    return ["train", "--dataset", "synthetic", "--data-root", data_root, "--store", store_root,
            "--preset", "tiny", "--run-dir", run_dir, "--set", "workers=0", *extra]


def test_gtm_with_missing_corrections_names_the_videos(tmp_path):
    from helpers.aqa_fixture import build_tiny_aqa, tiny_records

    records = tiny_records(n_train=4, n_test=1, num_frames=8)
    data_root, store_root = build_tiny_aqa(tmp_path, records, uncorrected=("comptrain__1", "comptrain__3"))
    code, out = _run(_train_args(data_root, store_root, tmp_path / "run", "--masks", "gtm"))
    assert code == 1 and "Traceback" not in out
    assert "2 video(s) have no corrections" in out and "comptrain__1, comptrain__3" in out
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("command", [
    ["eval", "--checkpoint", "{bad}"],
    ["predict", "{video}", "--checkpoint", "{bad}", "--action-type", "107B"],
    ["train", "--resume", "{bad}"],
])
def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, command):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a checkpoint")
    video = tmp_path / "frames"
    video.mkdir()
    code, out = _run([c.format(bad=bad, video=video) for c in command])
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("Error: ") and f"{bad}: corrupt or unreadable checkpoint" in lines[0]


def test_bad_override_is_a_one_line_error(tmp_path):
    code, out = _run(["train", "--data-root", tmp_path, "--masks", "none", "--set", "epochs=many"])
    assert code == 1 and out.strip() == "Error: --set epochs: expected int, got 'many'"


@pytest.mark.slow
def test_train_eval_predict_end_to_end(tiny_aqa, tmp_path):
    data_root, store_root = tiny_aqa
    run = tmp_path / "run"
    code, out = _run(_train_args(data_root, store_root, run, "--masks", "pm", "--set", "epochs=1"),
                     stdout_only=True)
    assert code == 0, out
    assert json.loads(out.splitlines()[0])["epoch"] == 1 and "best Spearman rho" in out

    code, out = _run(["eval", "--checkpoint", run / "best.pt", "--out", tmp_path / "eval"])
    assert code == 0, out
    assert "Spearman rho =" in out and "107B" in out and "407C" in out
    with open(tmp_path / "eval" / "predictions_test.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(int(r["n_exemplars"]) == 2 for r in rows)
    report = json.loads((tmp_path / "eval" / "eval_test.json").read_text())
    assert report["weights"] == "ema" and report["n"] == 4 and "max(true) - min(true)" in report["rl2_definition"]
    # beside the model: the Delta = 0 vote from the same exemplars, and where SAP looks
    assert "Delta = 0 vote" in out and "attention IoU" in out
    assert -1 <= report["baseline_rho"] <= 1 and 0 <= report["attention_iou"] <= 1
    assert (tmp_path / "eval" / "predictions_test.png").stat().st_size > 1000
    assert (run / "curves.png").stat().st_size > 1000

    clip = data_root / "FINADiving_MTL_256s" / "comptest" / "6"
    code, out = _run(["predict", clip, "--checkpoint", run / "best.pt", "--action-type", "107B",
                      "--out", tmp_path / "pred"])
    assert code == 0, out
    pred = json.loads((tmp_path / "pred" / "prediction.json").read_text())
    assert len(pred["delta_per_step"]) == 3 and len(pred["exemplars"]) == 2     # tiny: Lq=3, M=2
    assert pred["score"] == pytest.approx(sum(e["prediction"] for e in pred["exemplars"]) / 2, rel=1e-5)
    assert "transitions taken from the dataset" in out
    for name in ("attention_snippet2.png", "temporal_attention.png"):
        assert (tmp_path / "pred" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out = _run(["predict", clip, "--checkpoint", run / "best.pt", "--action-type", "999Z"])
    assert code == 1 and "no training clip with action type '999Z' (known: 107B, 407C)" in out
