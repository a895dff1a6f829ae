import random

import numpy as np
import pytest
import torch

from fineparser.checkpoint import (copy_checkpoint, load_checkpoint, load_model_state, rng_state,
                                   save_checkpoint, set_rng_state)
from hmtools.errors import CheckpointError


def _payload():
    return {"epoch": 1, "model": {"w": torch.ones(2)}, "model_config": {}, "train_config": {},
            "rng": rng_state()}


@pytest.mark.parametrize("content,message", [
    (b"", "corrupt or unreadable checkpoint"),
    (b"garbage that is not a zip", "corrupt or unreadable checkpoint"),
    (b"junk", r"corrupt or unreadable checkpoint \(too short for a torch file\)"),  # struct.error in torch
])
def test_corrupt_files_give_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_checkpoint(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", _payload())
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pt: corrupt or unreadable"):
        load_checkpoint(cut)


@pytest.mark.parametrize("obj,message", [
    ({"w": torch.ones(1)}, "not a fineparser training checkpoint"),
    ({"format": "fineparser-checkpoint", "version": 99}, "version 99"),
    ({"format": "fineparser-checkpoint", "version": 1, "epoch": 1}, "lacks model"),
])
def test_wrong_contents(tmp_path, obj, message):
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "fineparser-checkpoint", "version": 1, "obj": random.Random(0)}, path)
    with pytest.raises(CheckpointError, match="weights-only load refuses") as err:
        load_checkpoint(path)
    assert "weights_only=False" not in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_run_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    save_checkpoint(tmp_path / "last.pt", _payload())
    assert load_checkpoint(tmp_path)["epoch"] == 1       # a run folder means its last.pt


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _payload())
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(path)["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all()
    assert expected[2] == again[2]


def test_copy_is_independent_of_later_saves(tmp_path):
    last = save_checkpoint(tmp_path / "last.pt", _payload())
    best = copy_checkpoint(last, tmp_path / "best.pt")
    save_checkpoint(last, {**_payload(), "epoch": 2})
    assert load_checkpoint(best)["epoch"] == 1 and load_checkpoint(last)["epoch"] == 2


def test_model_state_mismatch_is_a_checkpoint_error():
    model = torch.nn.Linear(2, 3)
    with pytest.raises(CheckpointError, match="x.pt: does not match this model configuration"):
        load_model_state(model, {"weight": torch.zeros(3, 3), "bias": torch.zeros(3)}, "x.pt")


def test_a_damaged_weight_is_refused_where_torch_would_load_it(tmp_path):
    from helpers.damaged_zip import flip_tensor_byte

    path = save_checkpoint(tmp_path / "last.pt", _payload())
    flip_tensor_byte(path, at=1)
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match=r"last.pt: corrupt checkpoint \(the bytes of its record "
                                              r"'data/\d+' fail their CRC-32 check: the file is damaged\)$"):
        load_checkpoint(tmp_path)
