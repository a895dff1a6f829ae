import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hmtools.datasets import open_dataset
from hmtools.datasets.finediving import FINE_PKL, SUB_ACTION_IDS
from hmtools.errors import DatasetError
from hmtools.synth import AthleteFeatures, execution_score, generate, plan_dataset, render_clip
from hmtools.synth.generate import INSTANCES_DIR, MASKS_DIR, TRUTH_JSON
from hmtools.synth.plan import clip_seed

SMALL = dict(n_videos=6, seed=3, size_hw=(48, 80), frames_range=(24, 30), progress=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "a"
    summary = generate(out, **SMALL)
    return out, summary


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(small, tmp_path):
    out, summary = small
    again = tmp_path / "b"
    generate(again, **SMALL)
    first, second = _files(out), _files(again)
    assert first.keys() == second.keys() and len(first) > 3 * summary.frames
    assert [k for k in first if first[k] != second[k]] == []
    other = tmp_path / "c"
    generate(other, **dict(SMALL, seed=4))
    assert _files(other)[f"Annotations/{FINE_PKL}"] != first[f"Annotations/{FINE_PKL}"]


def test_workers_write_the_same_bytes(small, tmp_path):
    out, _ = small
    parallel = tmp_path / "p"
    generate(parallel, **SMALL, workers=2)
    first, second = _files(out), _files(parallel)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_a_worker_failure_leaves_nothing(tmp_path, monkeypatch):
    import errno

    real = Path.write_bytes

    def write_bytes(self, data):  # the third clip's frames fill the disk (in a forked worker)
        if "Women10m" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(OSError, match="No space left"):
        generate(tmp_path / "out", **SMALL, workers=2)
    assert not (tmp_path / "out").exists()


def test_readable_by_the_finediving_reader(small):
    out, summary = small
    plans = {p.video_id: p for p in plan_dataset(6, 3, frames_range=(24, 30))}
    ds = open_dataset("synthetic", out, on_defect="fail")
    assert len(ds.samples()) == summary.clips == 6 and ds.defects == []
    assert len(ds.samples("test")) == summary.test >= 1
    for s in ds.samples():
        plan = plans[s.video_id]
        assert s.transitions == plan.transitions() and len(s.transitions) in (2, 3)
        assert (s.action_type, s.score, s.difficulty) == (
            plan.action.action_type, plan.score, plan.action.difficulty)
        assert s.synchronized == ("Synchronised" in s.key[0]) == plan.synchronized
        assert s.judge_scores == plan.judge_scores
        first = int(s.frame_names[0][:-4])
        assert first >= 100 and s.frame_names == tuple(f"{first + i:05d}.jpg"
                                                       for i in range(s.num_frames))
        masks = out / MASKS_DIR / s.key[0] / str(s.key[1])
        assert sorted(p.name for p in masks.iterdir()) == [n[:-4] + ".png" for n in s.frame_names]
    assert any(s.synchronized for s in ds.samples())


def test_annotation_formats(small):
    out, _ = small
    fine = pickle.loads((out / "Annotations" / FINE_PKL).read_bytes())
    key, entry = next(iter(fine.items()))
    assert isinstance(key, tuple) and isinstance(key[0], str) and isinstance(key[1], int)
    assert set(entry) == {"action_type", "dive_score", "difficulty", "frames_labels",
                          "steps_transit_frames", "sub-action_types"}
    labels = entry["frames_labels"]
    assert isinstance(labels, np.ndarray) and labels[0] in (1, 2, 3, 4)
    assert labels[-1] == SUB_ACTION_IDS["Entry"]
    coarse = pickle.loads((out / "Annotations" / "FineDiving_coarse_annotation.pkl").read_bytes())
    c = coarse[key]
    # steps_transit_frames: absolute frame numbers, like the frame file names
    changes = np.flatnonzero(np.diff(labels)) + 1
    assert entry["steps_transit_frames"].tolist() == (c["start_frame"] + changes).tolist()
    assert c["end_frame"] - c["start_frame"] + 1 == len(labels)
    aqa = pickle.loads((out / "Annotations" / "fine-grained_annotation_aqa.pkl").read_bytes())
    assert aqa[key][0] == entry["action_type"] and (aqa[key][4] == labels).all()
    train = pickle.loads((out / "Annotations" / "train_split.pkl").read_bytes())
    test = pickle.loads((out / "Annotations" / "test_split.pkl").read_bytes())
    assert sorted(train + test) == sorted(fine) and not set(train) & set(test)


def test_masks_are_exactly_the_visible_athletes():
    size_hw = (48, 80)
    plans = plan_dataset(6, 3, frames_range=(24, 30))
    for i in (0, 1):  # individual and synchronized
        plan = plans[i]
        seed = clip_seed(3, "background", i)
        with_athletes = list(render_clip(plan, size_hw, seed))
        without = list(render_clip(plan, size_hw, seed, athletes=False))
        take, twist, soms, _ = plan.phase_frames
        entry_start = take + twist + soms
        for t, (a, b) in enumerate(zip(with_athletes, without)):
            mask = a.instances > 0
            changed = (a.image != b.image).any(-1)
            assert not b.instances.any()
            assert (changed[mask]).all()  # every mask pixel shows an athlete
            if t < entry_start:  # no splash yet: nothing else changed
                assert not (changed & ~mask).any()
                assert set(np.unique(a.instances)) == set(range(len(plan.athletes) + 1))
        assert not with_athletes[-1].instances.any()  # submerged at the end: empty mask
        assert with_athletes[entry_start].instances.any()  # hands in, body still above water


def test_instances_and_masks_agree_on_disk(small):
    out, _ = small
    truth = json.loads((out / TRUTH_JSON).read_text())
    clip = next(c for c in truth["clips"] if c["synchronized"])
    folder = Path(clip["competition"]) / str(clip["idx"])
    names = sorted(p.name for p in (out / MASKS_DIR / folder).iterdir())
    for k, name in enumerate(names):
        mask = cv2.imread(str(out / MASKS_DIR / folder / name), cv2.IMREAD_UNCHANGED)
        inst = cv2.imread(str(out / INSTANCES_DIR / folder / name), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == (48, 80)
        assert set(np.unique(mask)) <= {0, 255} and set(np.unique(inst)) <= {0, 1, 2}
        assert ((mask > 0) == (inst > 0)).all()
        for a, box in enumerate(clip["boxes_xyxy"][k], start=1):
            ys, xs = np.nonzero(inst == a)
            assert box == ([xs.min(), ys.min(), xs.max(), ys.max()] if len(xs) else None)


def test_score_depends_on_the_athlete_not_the_background(tmp_path):
    kwargs = dict(SMALL, n_videos=4)
    generate(tmp_path / "bg1", background_seed=1, **kwargs)
    generate(tmp_path / "bg2", background_seed=2, **kwargs)
    one, two = _files(tmp_path / "bg1"), _files(tmp_path / "bg2")
    for name in one:
        if name.startswith("Annotations/"):
            assert one[name] == two[name], name
    truth = [json.loads((tmp_path / d / TRUTH_JSON).read_text())["clips"] for d in ("bg1", "bg2")]
    for a, b in zip(*truth):
        assert (a["score"], a["athletes"], a["transitions"]) == (b["score"], b["athletes"],
                                                                 b["transitions"])
    frames = [k for k in one if k.endswith(".jpg")]
    assert sum(one[k] != two[k] for k in frames) == len(frames)


def test_execution_score_follows_the_visible_features():
    base = AthleteFeatures(tightness=0.5, entry_deviation_deg=10.0, splash=0.5)
    score = execution_score(base)
    assert execution_score(AthleteFeatures(0.9, 10.0, 0.5)) > score   # tighter
    assert execution_score(AthleteFeatures(0.5, -25.0, 0.5)) < score  # further from vertical
    assert execution_score(AthleteFeatures(0.5, 10.0, 0.9)) < score   # bigger splash
    assert execution_score(AthleteFeatures(0.5, -10.0, 0.5)) == score  # the side does not matter
    assert execution_score(AthleteFeatures(1.0, 0.0, 0.0)) == 10.0
    assert execution_score(AthleteFeatures(0.0, 30.0, 1.0)) == 0.0
    for plan in plan_dataset(96, 0):
        middle = sorted(plan.judge_scores)[2:5]
        assert plan.score == round(sum(middle) * plan.action.difficulty, 2)
        # judge noise is small: within 1.3 execution points (> 4 sigma incl. rounding)
        assert abs(plan.score / (3 * plan.action.difficulty) - plan.execution) < 1.3


def test_plan_defaults():
    plans = plan_dataset(96, 0)
    assert len(plans) == 96 and len({p.video_id for p in plans}) == 96
    assert all(40 <= p.num_frames <= 70 for p in plans)
    assert sum(p.split == "test" for p in plans) == 24
    assert sum(p.synchronized for p in plans) == 24
    train_types = {p.action.action_type for p in plans if p.split == "train"}
    assert {p.action.action_type for p in plans if p.split == "test"} <= train_types


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="folder is not empty"):
        generate(tmp_path, **dict(SMALL, n_videos=1))
    generate(tmp_path, overwrite=True, **dict(SMALL, n_videos=1))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    generate(tmp_path, **dict(SMALL, n_videos=2))  # an earlier synth output is replaced
    assert len(open_dataset("synthetic", tmp_path).samples()) == 2
    with pytest.raises(ValueError, match="size_hw"):
        generate(tmp_path / "x", **dict(SMALL, size_hw=(20, 20)))


def test_command(tmp_path):
    from cli import hmtools

    result = CliRunner().invoke(hmtools, ["synth", str(tmp_path / "s"), "--videos", "2",
                                          "--size", "80x48", "--frames", "24-26", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote 2 clips") and "preview.png" in result.output
    bad = CliRunner().invoke(hmtools, ["synth", str(tmp_path / "t"), "--size", "80by48"])
    assert bad.exit_code == 2 and "WIDTHxHEIGHT" in bad.output
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "x").write_text("")
    refused = CliRunner().invoke(hmtools, ["synth", str(tmp_path / "u"), "--videos", "1"])
    assert refused.exit_code == 1 and "folder is not empty" in refused.output
    assert "Traceback" not in refused.output


def test_camera_and_background_do_not_see_the_scored_features():
    import dataclasses

    size_hw = (48, 80)
    plan = plan_dataset(6, 3, frames_range=(24, 30))[1]
    other = dataclasses.replace(plan, athletes=tuple(
        AthleteFeatures(1.0 - a.tightness, -a.entry_deviation_deg / 2, 1.0 - a.splash)
        for a in plan.athletes))
    seed = clip_seed(3, "background", 1)
    empty = [f.image for f in render_clip(plan, size_hw, seed, athletes=False)]
    empty_other = [f.image for f in render_clip(other, size_hw, seed, athletes=False)]
    assert all((a == b).all() for a, b in zip(empty, empty_other))  # same crowd, camera, noise
    drawn = [f.instances for f in render_clip(plan, size_hw, seed)]
    drawn_other = [f.instances for f in render_clip(other, size_hw, seed)]
    assert any((a != b).any() for a, b in zip(drawn, drawn_other))  # the athletes differ


def test_broadcast_framing_keeps_the_athlete_large_and_in_view():
    size_hw = (96, 160)
    for i, plan in enumerate(plan_dataset(8, 5)[:4]):
        frames = list(render_clip(plan, size_hw, clip_seed(5, "background", i)))
        take, twist, soms, _ = plan.phase_frames
        flight = frames[take:take + twist + soms]
        heights = []
        for f in flight:
            ys, xs = np.nonzero(f.instances == 1)
            assert len(xs), "the athlete left the frame in flight"
            heights.append(ys.max() - ys.min() + 1)
        assert np.median(heights) >= size_hw[0] / 4  # a quarter of the frame or more
