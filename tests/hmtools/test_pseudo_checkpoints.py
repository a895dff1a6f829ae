"""Checkpoint loading messages (``hmtools/pseudo/checkpoints.py``): one line, whole sentences, never
torch's advice to load with ``weights_only=False``."""

import random
from pathlib import Path

import pytest
import torch

from hmtools.errors import CheckpointError
from hmtools.pseudo.checkpoints import load_state_file


def _pickled(path: Path) -> None:
    torch.save({"w": torch.zeros(2), "obj": random.Random(0)}, path)  # an object: refused


def _truncated(path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, path)
    path.write_bytes(path.read_bytes()[:60])


def _text(path: Path) -> None:
    path.write_text("garbage\n")  # not a pickle at all


def _stray_bytes(path: Path) -> None:
    path.write_bytes(b"junk")  # torch's legacy loader raises struct.error on it


@pytest.mark.parametrize("make, flag, expected", [
    (_text, None, r"cannot read checkpoint \(not a torch file: Unsupported operand 103\)$"),
    (_stray_bytes, None, r"cannot read checkpoint \(too short for a torch file\)$"),
    (_pickled, "--allow-pickled-objects", r"holds pickled objects, not only weights \(.+\.\); if you trust "
                                          r"the file's origin, retry with --allow-pickled-objects$"),
    (_pickled, None, r"holds pickled objects, not only weights \(.+\.\)$"),
    (_truncated, "--allow-pickled-objects", r"cannot read checkpoint \(RuntimeError: .+\.\)$"),
])
def test_messages_are_one_whole_line_without_unsafe_advice(tmp_path, make, flag, expected):
    path = tmp_path / "x.pth"
    make(path)
    with pytest.raises(CheckpointError, match=expected) as err:
        load_state_file(path, retry_flag=flag)
    msg = str(err.value)
    assert "\n" not in msg and "weights_only" not in msg and "Re-running" not in msg
    assert "\x1b" not in msg


def test_allow_placeholders_loads_what_the_message_offers(tmp_path):
    path = tmp_path / "x.pth"
    _pickled(path)
    assert torch.equal(load_state_file(path, allow_placeholders=True)["w"], torch.zeros(2))


def test_a_damaged_tensor_record_is_refused_not_loaded_as_a_wrong_weight(tmp_path):
    from helpers.damaged_zip import flip_tensor_byte

    path = tmp_path / "x.pth"
    torch.save({"w": torch.ones(8)}, path)
    assert torch.equal(load_state_file(path)["w"], torch.ones(8))
    flip_tensor_byte(path, at=3)
    loaded = torch.load(path, weights_only=True)["w"]  # what torch alone would hand over
    assert not torch.equal(loaded, torch.ones(8))
    with pytest.raises(CheckpointError, match=r"x.pth: corrupt checkpoint \(the bytes of its record "
                                              r"'data/0' fail their CRC-32 check: the file is damaged\)$"):
        load_state_file(path, allow_placeholders=True)
