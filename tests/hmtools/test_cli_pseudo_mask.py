"""``hmtools pseudo-mask``: its choices and defaults are the registries' and the settings', a run end
to end, skipping, per-video failures, a missing checkpoint."""

from __future__ import annotations

import shutil
from dataclasses import replace

import click
import pytest
from click.testing import CliRunner

from hmtools.commands.pseudo_mask import pseudo_mask
from hmtools.datasets import DATASET_KINDS
from hmtools.pseudo import pipeline
from hmtools.pseudo.backends import DETECTORS, SEGMENTERS, TRACKERS
from hmtools.pseudo.inputs import VideoJob
from hmtools.pseudo.ostrack.config import OSTRACK_CONFIGS
from hmtools.pseudo.sam import SAM_CHECKPOINTS
from hmtools.pseudo.settings import PseudoMaskSettings

from helpers.pseudo_clips import prompt_for, square_clip

D = PseudoMaskSettings()
OPTIONS = {p.name: p for p in pseudo_mask.params}


@pytest.mark.parametrize("option, choices, default", [
    ("tracker", list(TRACKERS), D.tracker),
    ("segmenter", list(SEGMENTERS), D.segmenter),
    ("detect", list(DETECTORS), D.detect),
    ("sam_model", list(SAM_CHECKPOINTS), D.sam_model),
    ("ostrack_config", [k for k, c in OSTRACK_CONFIGS.items() if c.official], D.ostrack_config),
    ("detect_frames", None, D.detect_frames),
    ("sam_batch", None, D.sam_encoder_batch),
    ("device", None, D.device),
    ("objects", None, VideoJob.n_objects),
    ("full_precision", None, not D.half),
    ("allow_pickled_objects", None, D.allow_pickled_objects),
    ("ostrack_checkpoint", None, D.ostrack_checkpoint),
    ("sam_checkpoint", None, D.sam_checkpoint),
])
def test_choices_and_defaults_come_from_the_registries_and_the_settings(option, choices, default):
    opt = OPTIONS[option]
    if choices is not None:
        assert isinstance(opt.type, click.Choice) and list(opt.type.choices) == choices
    assert opt.get_default(click.Context(pseudo_mask)) == default


def test_dataset_kinds_and_only_published_ostrack_configs_are_offered():
    assert list(OPTIONS["dataset"].type.choices) == list(DATASET_KINDS)
    assert list(OPTIONS["ostrack_config"].type.choices) == ["vitb_256", "vitb_384"]  # not the tiny test variant


@pytest.mark.parametrize("args, changed", [
    ([], {}),
    (["--tracker", "ostrack", "--segmenter", "sam", "--sam-model", "vit_b", "--sam-batch", "2"],
     dict(tracker="ostrack", segmenter="sam", sam_model="vit_b", sam_encoder_batch=2)),
    (["--detect", "hog", "--detect-frames", "3", "--full-precision", "--allow-pickled-objects"],
     dict(detect="hog", detect_frames=3, half=False, allow_pickled_objects=True)),
])
def test_command_passes_settings_equal_to_the_library_defaults_plus_the_flags(tmp_path, monkeypatch, args, changed):
    seen = {}

    def fake(source, store_root, settings, **kwargs):
        seen.update(settings=settings, **kwargs)
        return pipeline.RunSummary([])

    monkeypatch.setattr(pipeline, "pseudo_mask_source", fake)
    out = CliRunner().invoke(pseudo_mask, [str(tmp_path), "--store", str(tmp_path / "s"), *args])
    assert out.exit_code == 0, out.output
    assert seen["settings"] == replace(PseudoMaskSettings(), **changed)
    assert (seen["n_objects"], seen["shard"], seen["truth_prompts"]) == (VideoJob.n_objects, None, False)


def test_command_line_end_to_end(tmp_path):
    from cli import hmtools

    truth = square_clip(tmp_path / "clip")
    (tmp_path / "p.csv").write_text("video,frame,object_id,x1,y1,x2,y2\n" +
                                    "clip,00100.png,1,{},{},{},{}\n".format(*prompt_for("clip", truth[0]).box_xyxy))
    runner = CliRunner()
    help_text = runner.invoke(hmtools, ["pseudo-mask", "--help"]).output
    assert "Example: hmtools pseudo-mask" in help_text
    args = ["pseudo-mask", str(tmp_path / "clip"), "--store", str(tmp_path / "store"), "--prompts",
            str(tmp_path / "p.csv"), "--tracker", "none", "--no-progress"]
    ok = runner.invoke(hmtools, args)
    assert ok.exit_code == 0, ok.output
    assert "1 done, 0 skipped" in ok.output
    again = runner.invoke(hmtools, args)
    assert again.exit_code == 0 and "0 done, 1 skipped" in again.output
    shutil.rmtree(tmp_path / "clip")
    (tmp_path / "clip.mp4").write_bytes(b"junk")
    bad = runner.invoke(hmtools, ["pseudo-mask", str(tmp_path / "clip.mp4"), "--store", str(tmp_path / "store"),
                                  "--prompts", str(tmp_path / "p.csv"), "--no-progress"])
    assert bad.exit_code == 1 and "FAILED clip:" in bad.output
    missing = runner.invoke(hmtools, ["pseudo-mask", str(tmp_path / "clip.mp4"), "--store", str(tmp_path / "s2"),
                                      "--segmenter", "sam", "--sam-model", "vit_b", "--no-progress"])
    assert missing.exit_code != 0
    assert "sam_vit_b_01ec64.pth" in missing.output and "Traceback" not in missing.output
    # A failed run leaves no store it created (issue 13), never removes one that was there, and
    # keeps one it created when a video was finished (a rerun skips it).
    assert not (tmp_path / "s2").exists() and (tmp_path / "store" / "videos" / "clip.json").is_file()
    assert runner.invoke(hmtools, ["init", str(tmp_path / "s3")]).exit_code == 0
    again_missing = runner.invoke(hmtools, ["pseudo-mask", str(tmp_path / "clip.mp4"), "--store",
                                            str(tmp_path / "s3"), "--segmenter", "sam", "--sam-model", "vit_b"])
    assert again_missing.exit_code != 0 and (tmp_path / "s3" / "videos").is_dir()
    nested = runner.invoke(hmtools, ["pseudo-mask", str(tmp_path / "clip.mp4"), "--store", str(tmp_path / "a" / "b"),
                                     "--prompts", str(tmp_path / "p.csv"), "--no-progress"])
    assert nested.exit_code == 1 and not (tmp_path / "a").exists()
