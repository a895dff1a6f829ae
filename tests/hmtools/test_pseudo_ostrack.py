"""OSTrack: official checkpoint layout, strict loading, CE token counts, crop geometry, tracker."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hmtools.errors import CheckpointError
from hmtools.pseudo.ostrack.build import OSTRACK_CONFIGS, build_ostrack
from hmtools.pseudo.ostrack.head import maps_to_box
from hmtools.pseudo.ostrack.tracker import (OSTrackTracker, box_to_crop, clip_box, hann1d, hann2d,
                                            map_box_back, sample_target)
from hmtools.pseudo.ostrack.vit import Attention, candidate_elimination
from hmtools.pseudo.ostrack.weights import load_ostrack

LAYOUTS = Path(__file__).resolve().parents[1] / "data" / "checkpoint-layouts"


def read_layout(name: str) -> dict[str, tuple]:
    """``key -> shape`` from a ``checkpoint-layouts/ostrack-*.txt`` file."""
    out = {}
    for line in (LAYOUTS / f"ostrack-{name}_mae_ce.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, rest = line.split(" ", 1)
        out[key] = ast.literal_eval(rest.rsplit(" ", 1)[0])
    return out


def layout_state(name: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in read_layout(name).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        else:
            state[key] = torch.randn(shape, generator=g) * 0.02
    return state


needs_layouts = pytest.mark.skipif(not LAYOUTS.is_dir(), reason=f"checkpoint layouts not found at {LAYOUTS}")


@needs_layouts
@pytest.mark.parametrize("name", ["vitb_256", "vitb_384"])
def test_model_keys_and_shapes_match_the_official_layout(name):
    layout = read_layout(name)
    model = build_ostrack(name).state_dict()
    assert len(layout) == 242
    assert set(model) == set(layout)
    assert {k: tuple(v.shape) for k, v in model.items()} == layout


@needs_layouts
@pytest.mark.slow
@pytest.mark.parametrize("name", ["vitb_256", "vitb_384"])
def test_official_layout_checkpoint_loads_strictly_and_runs(tmp_path, name):
    torch.set_num_threads(2)
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": layout_state(name), "epoch": 300}, path)
    model = load_ostrack(name, path)
    cfg = OSTRACK_CONFIGS[name]
    with torch.inference_mode():
        out = model(torch.randn(1, 3, cfg.template_size, cfg.template_size),
                    torch.randn(1, 3, cfg.search_size, cfg.search_size))
    f = cfg.feat_size
    assert out.maps.score.shape == (1, 1, f, f) and out.maps.size.shape == (1, 2, f, f)
    assert float(out.maps.score.min()) >= 1e-4 and float(out.maps.score.max()) <= 1 - 1e-4
    assert [r.shape[1] for r in out.removed_indexes] == {
        "vitb_256": [76, 54, 37], "vitb_384": [172, 121, 84]}[name]


@needs_layouts
def test_wrong_layout_or_file_is_a_checkpoint_error(tmp_path):
    tiny = build_ostrack("tiny").state_dict()
    bad = dict(tiny)
    bad["backbone.pos_embed_x"] = torch.zeros(1, 5, 32)
    path = tmp_path / "ck.pth.tar"
    torch.save({"net": bad}, path)
    with pytest.raises(CheckpointError, match="shape: backbone.pos_embed_x"):
        load_ostrack("tiny", path)
    torch.save({"model": tiny}, path)
    with pytest.raises(CheckpointError, match="no 'net' key"):
        load_ostrack("tiny", path)
    with pytest.raises(CheckpointError, match="github.com/botaoye/OSTrack"):
        load_ostrack("vitb_256", tmp_path / "missing.pth.tar")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="ck.pth.tar"):
        load_ostrack("tiny", path)


class TrainingState:
    """Stands for a pickled training object next to the weights (not importable on load)."""

    def __init__(self):
        self.lr = 0.1


def test_pickled_objects_need_the_explicit_flag(tmp_path, monkeypatch):
    path = tmp_path / "old.pth.tar"
    torch.save({"net": build_ostrack("tiny").state_dict(), "settings": TrainingState()}, path,
               pickle_protocol=2)
    with pytest.raises(CheckpointError, match="--allow-pickled-objects"):
        load_ostrack("tiny", path)
    # The class is never imported: it becomes a placeholder, the weights load.
    monkeypatch.delattr(TrainingState, "__init__")
    model = load_ostrack("tiny", path, allow_pickled_objects=True)
    assert isinstance(model, torch.nn.Module)


CALLS: list = []


def record_call(arg):
    CALLS.append(arg)


class Evil:
    def __reduce__(self):
        return (record_call, ("pwned",))


def test_placeholder_unpickler_never_calls_unknown_globals(tmp_path):
    path = tmp_path / "evil.pth.tar"
    torch.save({"net": build_ostrack("tiny").state_dict(), "x": Evil()}, path)
    with open(path, "rb") as fh:  # a plain unpickler would call record_call
        assert b"record_call" in fh.read()
    load_ostrack("tiny", path, allow_pickled_objects=True)
    assert CALLS == []


@pytest.mark.parametrize("lens_s, ratio, expected", [(256, 0.7, 180), (180, 0.7, 126), (126, 0.7, 89),
                                                     (576, 0.7, 404), (404, 0.7, 283), (283, 0.7, 199),
                                                     (16, 1.0, 16)])
def test_candidate_elimination_keeps_ceil_ratio_of_the_most_attended(lens_s, ratio, expected):
    b, heads, lens_t, c = 2, 3, 4, 8
    tokens = torch.randn(b, lens_t + lens_s, c)
    attn = torch.rand(b, heads, 1, lens_t + lens_s)
    favourite = torch.arange(lens_s - 3, lens_s)  # give three search tokens all the attention
    attn[..., lens_t + favourite] = 10.0
    index = torch.arange(100, 100 + lens_s).expand(b, -1)
    out, keep, removed = candidate_elimination(attn, tokens, lens_t, ratio, index)
    assert out.shape == (b, lens_t + expected, c) and keep.shape == (b, expected)
    assert torch.equal(out[:, :lens_t], tokens[:, :lens_t])
    assert set((favourite + 100).tolist()) <= set(keep[0].tolist())
    if expected < lens_s:
        assert removed.shape == (b, lens_s - expected)
        assert sorted(keep[0].tolist() + removed[0].tolist()) == list(range(100, 100 + lens_s))
        k = keep[0, 0] - 100
        assert torch.equal(out[0, lens_t], tokens[0, lens_t + k])  # kept tokens carry their values
    else:
        assert removed is None


def test_attention_probe_equals_explicit_softmax_rows():
    torch.manual_seed(0)
    attn = Attention(16, 2)
    x = torch.randn(2, 10, 16)
    rows = torch.tensor([[3], [7]])
    out, probe = attn(x, rows)
    qkv = attn.qkv(x).reshape(2, 10, 3, 2, 8).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    full = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)
    assert torch.allclose(probe[0, :, 0], full[0, :, 3], atol=1e-6)
    assert torch.allclose(probe[1, :, 0], full[1, :, 7], atol=1e-6)
    explicit = attn.proj((full @ v).transpose(1, 2).reshape(2, 10, 16))
    assert torch.allclose(out, explicit, atol=1e-5)


def test_backbone_restores_eliminated_tokens_as_zeros():
    model = build_ostrack("tiny")
    with torch.inference_mode():
        out = model.backbone(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64))
    lens_z, lens_x = 4, 16
    search = out.tokens[:, lens_z:]
    assert out.tokens.shape == (2, lens_z + lens_x, 32)
    assert [r.shape[1] for r in out.removed_indexes] == [4, 3, 2]  # 16 -> 12 -> 9 -> 7
    removed = torch.cat(out.removed_indexes, dim=1)
    for i in range(2):
        zero_rows = (search[i].abs().sum(-1) == 0).nonzero().flatten()
        assert sorted(zero_rows.tolist()) == sorted(removed[i].tolist())


@pytest.mark.parametrize("box", [(50.0, 20.0, 30.0, 40.0), (-10.0, -5.0, 25.0, 30.0),
                                 (180.0, 80.0, 30.0, 25.0), (3.5, 7.25, 11.0, 13.5)])
@pytest.mark.parametrize("factor, size", [(2.0, 128), (4.0, 256), (5.0, 384)])
def test_crop_and_map_back_round_trip(box, factor, size):
    img = np.random.default_rng(0).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    crop = sample_target(img, box, factor, size)
    assert crop.pixels.shape == (size, size, 3)
    assert crop.side == math.ceil(math.sqrt(box[2] * box[3]) * factor)
    in_crop = box_to_crop(box, crop)
    assert np.allclose(map_box_back(in_crop, crop), box, atol=1e-4)  # float32 division
    # map-back measures from the box centre, so the box sits exactly at the crop centre
    assert in_crop[:2] == pytest.approx((size / 2, size / 2), abs=1e-9)


def _coordinate_image(h: int = 10, w: int = 12) -> np.ndarray:
    """Channel 0 holds x + 1, channel 1 y + 1 (0 therefore means padding)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :] + 1
    img[..., 1] = np.arange(h)[:, None] + 1
    img[..., 2] = 200
    return img


# Official ``sample_target`` on the 10 x 12 coordinate image, factor 1, no resizing: the corner is
# ``round(cx - side / 2)`` (Python's round: half to even) and right / bottom padding is
# ``max(x2 - W + 1, 0)``, so a crop ending exactly at the edge (x2 == W) loses column W - 1.
# Worked out by hand and checked against the official function.
CROP_CASES = {  # name: (box_xywh, origin_xy, channel-0 rows (x + 1), channel-1 columns (y + 1))
    "inside": ((7.0, 5.0, 4.0, 4.0), (7, 5), [8, 9, 10, 11], [6, 7, 8, 9]),
    "ends at right and bottom edge": ((8.0, 6.0, 4.0, 4.0), (8, 6), [9, 10, 11, 0], [7, 8, 9, 0]),
    "3 px at the corner": ((9.0, 7.0, 3.0, 3.0), (9, 7), [10, 11, 0], [8, 9, 0]),
    "above and left": ((-1.0, -2.0, 4.0, 4.0), (-1, -2), [0, 1, 2, 3], [0, 0, 1, 2]),
    "round(0.5) == 0": ((0.5, 0.5, 4.0, 4.0), (0, 0), [1, 2, 3, 4], [1, 2, 3, 4]),
    "round(1.5) == 2": ((1.5, 1.5, 4.0, 4.0), (2, 2), [3, 4, 5, 6], [3, 4, 5, 6]),
}


@pytest.mark.parametrize("case", sorted(CROP_CASES))
def test_sample_target_matches_official_crop_and_padding(case):
    box, origin, xs, ys = CROP_CASES[case]
    side = len(xs)
    crop = sample_target(_coordinate_image(), box, factor=1.0, output_size=side)
    assert crop.origin_xy == origin and crop.side == side and crop.resize_factor == 1.0
    xs, ys = np.array(xs), np.array(ys)
    inside = (xs[None, :] > 0) & (ys[:, None] > 0)
    assert (crop.pixels[..., 0] == np.where(inside, xs[None, :], 0)).all()
    assert (crop.pixels[..., 1] == np.where(inside, ys[:, None], 0)).all()
    assert (crop.pixels[..., 2] == np.where(inside, 200, 0)).all()


def test_crop_outside_the_frame_is_zeros():
    crop = sample_target(_coordinate_image(), (40.0, 40.0, 4.0, 4.0), factor=1.0, output_size=8)
    assert crop.pixels.shape == (8, 8, 3) and crop.pixels.max() == 0


# Official ``map_box_back`` (state = the previous box, pred = network box * S / resize_factor in
# float32): ``cx + cx_prev - 0.5 * S / resize_factor - w / 2``. Values from running the official
# formulas; the integer-corner map-back would be off by 0.5 px in the first two cases.
MAP_BACK_CASES = [  # (previous box_xywh, factor, S, pred (cx, cy, w, h) in crop px, frame box_xywh)
    ((50.5, 20.0, 30.0, 40.0), 2.0, 64, (32.0, 32.0, 16.0, 16.0), (56.75, 31.25, 17.5, 17.5)),
    ((3.5, 7.25, 11.0, 13.5), 4.0, 256, (128.0, 100.0, 64.0, 32.0),
     (2.8749999999999964, 5.5781249999999964, 12.25, 6.125)),
    ((700.0, 300.0, 61.0, 119.0), 4.0, 256, (200.0, 40.0, 90.0, 150.0),
     (766.46484375, 142.37890625, 119.8828125, 199.8046875)),
]


@pytest.mark.parametrize("prev, factor, size, pred, expected", MAP_BACK_CASES)
def test_map_box_back_matches_official(prev, factor, size, pred, expected):
    img = np.zeros((576, 768, 3), np.uint8)
    crop = sample_target(img, prev, factor, size)
    assert map_box_back(pred, crop) == pytest.approx(expected, abs=1e-9)


def test_clip_box_and_hann():
    assert clip_box((-5, -5, 20, 20), (100, 100)) == (0.0, 0.0, 15.0, 15.0)
    assert clip_box((95, 95, 20, 20), (100, 100)) == (90.0, 90.0, 10.0, 10.0)
    # official hann1d(sz, centered=True): 0.5 * (1 - cos(2 pi k / (sz + 1))), k = 1..sz
    assert hann1d(4).tolist() == pytest.approx([0.3454915, 0.9045085, 0.9045085, 0.3454914], abs=1e-6)
    assert hann1d(5).tolist() == pytest.approx([0.25, 0.75, 1.0, 0.75, 0.25], abs=1e-6)
    w = hann2d(16)
    assert w.shape == (1, 1, 16, 16) and float(w.min()) > 0
    assert torch.equal(w[0, 0], hann1d(16)[:, None] * hann1d(16)[None, :])


def test_maps_to_box_reads_the_argmax_cell():
    score = torch.zeros(1, 1, 4, 4)
    score[0, 0, 2, 1] = 1.0  # row 2, column 1
    size = torch.full((1, 2, 4, 4), 0.5)
    offset = torch.full((1, 2, 4, 4), 0.25)
    box, idx = maps_to_box(score, size, offset)
    assert idx.item() == 9
    assert torch.allclose(box, torch.tensor([[(1 + 0.25) / 4, (2 + 0.25) / 4, 0.5, 0.5]]))


def test_tracker_batches_objects_consistently():
    torch.manual_seed(0)
    model = build_ostrack("tiny")
    frames = [np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8) for i in range(3)]
    both = OSTrackTracker(model)
    both.start(frames[0], 1, (10, 10, 30, 40))
    both.start(frames[0], 2, (40, 20, 70, 50))
    single = OSTrackTracker(model)
    single.start(frames[0], 2, (40, 20, 70, 50))
    for f in frames[1:]:
        out = both.step(f)
        alone = single.step(f)
        assert set(out) == {1, 2}
        assert np.allclose(out[2].box_xyxy, alone[2].box_xyxy, atol=1e-3)
        for tb in out.values():
            x1, y1, x2, y2 = tb.box_xyxy
            assert 0 <= x1 <= x2 <= 80 and 0 <= y1 <= y2 <= 60
            assert 0.0 < tb.peak < 1.0


def test_tracker_step_follows_official_track():
    """One step equals the official ``track``: crop around the state, Hann x score, ``cal_bbox``,
    ``* S / resize_factor`` in float32, map-back around the previous centre, ``clip_box``."""
    torch.manual_seed(0)
    model = build_ostrack("tiny")
    frames = [np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8) for i in range(2)]
    tracker = OSTrackTracker(model, half=False)
    state = [50.5, 30.0, 29.0, 25.0]  # reaches the right edge at factor 4
    tracker.start(frames[0], 7, (state[0], state[1], state[0] + state[2], state[1] + state[3]))
    out = tracker.step(frames[1])[7]

    cfg = model.cfg
    s = cfg.search_size
    crop = sample_target(frames[1], state, cfg.search_factor, s)
    template = sample_target(frames[0], state, cfg.template_factor, cfg.template_size)
    with torch.no_grad():
        maps = model(model.preprocess(torch.from_numpy(template.pixels[None])),
                     model.preprocess(torch.from_numpy(crop.pixels[None]))).maps
    box, _ = maps_to_box(hann2d(cfg.feat_size) * maps.score, maps.size, maps.offset)
    cx, cy, w, h = (box[0] * s / crop.resize_factor).tolist()
    half_side = 0.5 * s / crop.resize_factor
    cx += state[0] + 0.5 * state[2] - half_side
    cy += state[1] + 0.5 * state[3] - half_side
    expected = clip_box((cx - 0.5 * w, cy - 0.5 * h, w, h), (60, 80), margin=10)
    assert tracker.objects[7].box_xywh == pytest.approx(expected, abs=1e-9)
    assert out.box_xyxy == pytest.approx((expected[0], expected[1], expected[0] + expected[2],
                                          expected[1] + expected[3]), abs=1e-9)


def test_placeholder_unpickler_refuses_file_touching_classes(tmp_path):
    """numpy.memmap is a class: called by a pickle it would create a file; it must stay inert."""
    import pickle

    import numpy as np

    from hmtools.pseudo.checkpoints import _PlaceholderUnpickler

    target = tmp_path / "written_by_pickle.bin"

    class Evil:
        def __reduce__(self):
            return (np.memmap, (str(target), np.uint8, "w+", 0, (16,)))

    blob = pickle.dumps({"net": {}, "evil": Evil()})
    import io

    out = _PlaceholderUnpickler(io.BytesIO(blob)).load()
    assert not target.exists()
    assert type(out["evil"]).__module__.startswith("placeholder.")
