"""The SAM 2 video backend (hmtools.pseudo.sam2_video) on a tiny random-weight SAM 2 built from the
``sam2`` package's own modules: loading in the official layout, one-line errors, two objects kept
apart, memory bounded across chunk boundaries, the pipeline, re-propagation and the command line."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from hmtools.errors import HMError
from hmtools.pseudo.backends import Backends
from hmtools.pseudo.pipeline import generate_pseudo_masks, jobs_from_path, open_store
from hmtools.pseudo.prompts import Prompt, Prompts
from hmtools.pseudo.settings import PseudoMaskSettings
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.store import MaskStore, PseudoMask, VideoDoc

from helpers.pseudo_clips import square_clip
from helpers.torch_threads import one_torch_thread

BOX_1, BOX_2 = (4.0, 8.0, 24.0, 40.0), (36.0, 8.0, 60.0, 40.0)


def test_without_the_package_the_error_says_what_to_install(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from cli import hmtools
    from hmtools.pseudo.sam2_video import load_sam2

    monkeypatch.setitem(sys.modules, "sam2", None)  # import sam2 -> ImportError
    with pytest.raises(HMError) as err:
        load_sam2("tiny_test", tmp_path / "nowhere.pt")
    msg = str(err.value)
    assert "\n" not in msg and "pip install" in msg and "SAM2_BUILD_CUDA=0" in msg and "[sam2]" in msg
    square_clip(tmp_path / "clip", n=2)
    res = CliRunner().invoke(hmtools, ["pseudo-mask", str(tmp_path / "clip"), "--store", str(tmp_path / "s"),
                                       "--tracker", "sam2", "--detect", "hog", "--no-progress"])
    assert res.exit_code == 1 and res.output == f"Error: {msg}\n"


sam2 = pytest.importorskip("sam2", reason="the 'sam2' package is not installed (pip install '.[sam2]')")
import torch  # noqa: E402

from hmtools.pseudo.sam2_video import (Sam2Segmenter, build_tiny_sam2, config_for_checkpoint,  # noqa: E402
                                       load_sam2)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_sam2(seed=0)


@pytest.fixture
def checkpoint(tmp_path, tiny):
    path = tmp_path / "tiny.pt"
    torch.save({"model": tiny.state_dict()}, path)  # the layout of sam2.1_hiera_*.pt
    return path


def _frames(n=6, size_hw=(48, 64)):
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 80, (*size_hw, 3), dtype=np.uint8)
    out = []
    for t in range(n):
        img = bg.copy()
        img[8:40, 4 + t:24 + t] = (220, 40, 40)
        img[8:40, 36:60] = (40, 220, 40)
        out.append(img)
    return out


def test_loads_the_official_layout_strictly(checkpoint, tiny):
    model = load_sam2("tiny_test", checkpoint)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in tiny.state_dict().items())
    assert config_for_checkpoint("/x/sam2.1_hiera_base_plus.pt") == "sam2.1_hiera_b+"
    assert config_for_checkpoint("mine.pt") is None


@pytest.mark.parametrize("case, expected", [
    ("missing", "checkpoint not found (download it from https://dl.fbaipublicfiles.com/segment_anything_2/"),
    ("text", "cannot read checkpoint"),
    ("bare", "not a SAM 2 checkpoint (expected {'model': state_dict}"),
    ("other model", "does not match SAM 2 config tiny_test (missing: "),
    ("no config", "not an official SAM 2.1 file name; say which model it is with --sam2-config (sam2.1_hiera_t, "),
    ("missing, no config", "mine.pt: SAM 2.1 (--sam2-checkpoint) checkpoint not found"),
    ("none given", "SAM 2.1 (--sam2-checkpoint): no checkpoint given"),
])
def test_a_wrong_file_or_config_is_one_line(tmp_path, tiny, case, expected):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    config = "tiny_test"
    if case == "text":
        path.write_text("hello")
    elif case == "bare":
        torch.save(tiny.state_dict(), path)
    elif case == "other model":
        state = dict(tiny.state_dict())
        state.pop("no_mem_embed")
        torch.save({"model": state}, path)
    elif case == "no config":
        path, config = tmp_path / "mine.pt", None
        path.write_bytes(b"weights")
    elif case == "missing, no config":
        path, config = tmp_path / "mine.pt", None
    elif case == "none given":
        path, config = None, None
    with pytest.raises(HMError) as err:
        load_sam2(config, path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_two_objects_are_tracked_apart(tiny):
    """Object 1 comes out the same with or without object 2 beside it: separate memory banks."""
    frames = _frames()
    both, alone = Sam2Segmenter(tiny, chunk_frames=8), Sam2Segmenter(tiny, chunk_frames=8)
    for t, img in enumerate(frames):
        r2 = both.segment([img], [{1: BOX_1, 2: BOX_2}], [t])[0]
        r1 = alone.segment([img], [{1: BOX_1}], [t])[0]
        assert set(r2) == {1, 2} and r2[1].mask.shape == img.shape[:2]
        assert np.array_equal(r2[1].mask, r1[1].mask) and r2[1].score == pytest.approx(r1[1].score, abs=1e-6)
        assert 0.0 <= r2[2].score <= 1.0  # SAM 2's object score, a probability
        if t == 0:  # the box prompts' masks differ (random weights: later frames may look alike)
            assert not np.array_equal(r2[1].mask, r2[2].mask)
    cond = {o: m.outputs["cond_frame_outputs"][0]["maskmem_features"] for o, m in both._objects.items()}
    assert not torch.equal(cond[1], cond[2])  # each object remembers its own prompt


def test_memory_stays_bounded_across_chunk_boundaries(tiny):
    seg = Sam2Segmenter(tiny, chunk_frames=3)
    frames = _frames(n=10)
    held, numel = [], []
    for t, img in enumerate(frames):
        seg.segment([img], [{1: BOX_1, 2: BOX_2}], [t])
        held.append(seg.memory_frames())
        numel.append(sum(x.numel() for m in seg._objects.values() for outs in m.outputs.values()
                         for out in outs.values() for x in (out["maskmem_features"], out["pred_masks"])))
    # frames 0-3 are chunk 1; a full chunk restarts on its last frame from that frame's mask, and
    # keeps the prompt frame (frame 0) as a conditioning frame at its distance in the past
    assert [h[1] for h in held] == [1, 2, 3, 2, 3, 4, 2, 3, 4, 2]
    assert held[-1] == {1: 2, 2: 2}
    assert sorted(seg._objects[1].outputs["cond_frame_outputs"]) == [-9, 0]
    assert numel[3] == numel[6] == numel[9] and numel[5] == numel[8]
    seg.reset()
    assert seg.memory_frames() == {}


def test_seed_starts_from_a_mask(tiny):
    img = _frames(n=1)[0]
    mask = np.zeros(img.shape[:2], bool)
    mask[8:40, 4:24] = True
    seg = Sam2Segmenter(tiny)
    seg.seed(1, img, mask, 0)
    assert seg.memory_frames() == {1: 1}
    res = seg.segment([img], [{1: BOX_1}], [1])[0][1]  # tracked from the mask; the box is unused
    assert res.mask.shape == mask.shape
    seg.forget(1)
    assert seg.memory_frames() == {}


def _two_square_clip(folder, n=8):
    folder.mkdir(parents=True)
    for t, img in enumerate(_frames(n)):
        cv2.imwrite(str(folder / f"{t:05d}.png"), img[..., ::-1])


def test_pipeline_writes_two_athletes_with_object_scores(tmp_path, tiny):
    _two_square_clip(tmp_path / "clip")
    settings = PseudoMaskSettings(tracker="sam2", sam2_config="tiny_test", sam2_chunk_frames=3)
    backends = Backends.from_parts(settings, Sam2Segmenter(tiny, chunk_frames=3), checkpoints={"sam2": "abc"})
    prompts = Prompts([Prompt("clip", 0, 1, BOX_1), Prompt("clip", 0, 2, BOX_2)])
    summary = generate_pseudo_masks(jobs_from_path(tmp_path / "clip"), open_store(tmp_path / "store"), settings,
                                    prompts=prompts, backends=backends, progress=False)
    assert not summary.failed, summary.lines()
    doc = MaskStore.open(tmp_path / "store").read("clip")
    assert doc.producer.backend == "sam2" and doc.producer.checkpoints == {"sam2": "abc"}
    assert doc.producer.params["segmenter"] is None and doc.producer.params["sam2_chunk_frames"] == 3
    for i in range(8):
        for obj_id in (1, 2):
            q = doc.pseudo[i][obj_id].quality
            assert 0.0 <= q.score <= 1.0 and q.tracker_peak is None


def test_corrections_repropagate_through_sam2(tmp_path, tiny):
    folder = tmp_path / "frames" / "sq"
    truth = square_clip(folder, n=8)
    names = sorted(p.name for p in folder.iterdir())
    store = MaskStore.create(tmp_path / "store")
    doc = VideoDoc.new("sq", truth[0].shape, names, source=str(folder))
    for i in range(8):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(np.zeros_like(truth[0]))))
    doc.set_correction(3, 1, doc.make_correction(3, 1, mask_to_rle(truth[3]), by="ann", at="now", tool="test",
                                                 pseudo_hash=doc.pseudo_hash(3, 1)))
    store.write(doc)
    from hmtools.workflows.propagate import propagate_store

    settings = PseudoMaskSettings(tracker="sam2", sam2_config="tiny_test")
    summary = propagate_store(store, backends=Backends.from_parts(settings, Sam2Segmenter(tiny)), progress=False)
    assert [o.status for o in summary.outcomes] == ["done"], summary.lines()
    doc = store.read("sq")
    assert [doc.pseudo_mask(i, 1).anchor for i in (2, 4, 7)] == ["00103.png"] * 3
    assert rle_to_mask(doc.pseudo_mask(3, 1).rle).sum() == 0  # the corrected frame's pseudo mask stays


def test_command_line(tmp_path, checkpoint):
    from click.testing import CliRunner

    from cli import hmtools

    _two_square_clip(tmp_path / "clip")
    (tmp_path / "p.csv").write_text("video,frame,object_id,x1,y1,x2,y2\n"
                                    f"clip,0,1,{','.join(map(str, BOX_1))}\nclip,0,2,{','.join(map(str, BOX_2))}\n")
    args = ["pseudo-mask", str(tmp_path / "clip"), "--store", str(tmp_path / "store"), "--prompts",
            str(tmp_path / "p.csv"), "--tracker", "sam2", "--sam2-checkpoint", str(checkpoint), "--no-progress"]
    res = CliRunner().invoke(hmtools, args + ["--sam2-config", "tiny_test", "--sam2-chunk", "4"])
    assert res.exit_code == 0, res.output
    assert "1 done" in res.output and "16 masks" in res.output
    res = CliRunner().invoke(hmtools, args)  # an unofficial file name needs --sam2-config
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "--sam2-config" in res.output
