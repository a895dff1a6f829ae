"""Loading model_rgb.pth and torchvision ResNet files: strict keys and shapes, one clear error."""

import pickle

import pytest
import torch
import torchvision

from fineparser.model import build_model, get_config, load_backbones, load_i3d_weights, load_resnet_weights
from fineparser.model.build import build_i3d
from hmtools.errors import CheckpointError


def _official_like(i3d) -> dict[str, torch.Tensor]:
    """A state dict written exactly like the Kinetics file: our keys plus the logits."""
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v.clone()
             for k, v in i3d.state_dict().items()}
    state["conv3d_0c_1x1.conv3d.weight"] = torch.randn(400, i3d.out_channels, 1, 1, 1)
    state["conv3d_0c_1x1.conv3d.bias"] = torch.randn(400)
    return state


def test_full_width_checkpoint_loads_strictly_and_values_arrive(tmp_path):
    torch.manual_seed(0)
    source, target = build_i3d(1.0), build_i3d(1.0)
    state = _official_like(source)
    path = tmp_path / "model_rgb.pth"
    torch.save(state, path)
    assert load_i3d_weights(target, path) == 342
    assert torch.equal(target.mixed_5c.branch_2[1].conv3d.weight, state["mixed_5c.branch_2.1.conv3d.weight"])
    assert torch.equal(target.conv3d_1a_7x7.batch3d.running_var, state["conv3d_1a_7x7.batch3d.running_var"])


@pytest.fixture(scope="module")
def tiny_state():
    torch.manual_seed(0)
    return _official_like(build_i3d(0.125))


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix", "no_batch_counts"])
def test_accepted_file_variants(tmp_path, tiny_state, wrap):
    state = dict(tiny_state)
    if wrap == "module_prefix":
        state = {"module." + k: v for k, v in state.items()}
    if wrap == "no_batch_counts":
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    data = {wrap: state} if wrap in ("state_dict", "model") else state
    torch.save(data, tmp_path / "w.pth")
    model = build_model(get_config("tiny", sve=False))
    load_i3d_weights(model, tmp_path / "w.pth")
    assert torch.equal(model.i3d.conv3d_2c_3x3.conv3d.weight, tiny_state["conv3d_2c_3x3.conv3d.weight"])


@pytest.mark.parametrize("change, fragments", [
    ("rename", ["1 missing (mixed_4d.branch_0.conv3d.weight)", "1 unexpected (mixed_4d.branch0.conv3d.weight)"]),
    ("drop_many", ["8 missing (", ", ... 5 more)"]),
    ("reshape", ["1 with the wrong shape (conv3d_2b_1x1.conv3d.weight: file (8, 8, 1, 1, 1) vs model (8, 8, 1, 1, 1)"]),
])
def test_wrong_checkpoint_fails_naming_path_and_keys(tmp_path, tiny_state, change, fragments):
    state = dict(tiny_state)
    if change == "rename":
        state["mixed_4d.branch0.conv3d.weight"] = state.pop("mixed_4d.branch_0.conv3d.weight")
    elif change == "drop_many":
        for k in [k for k in state if k.startswith("mixed_5c.branch_1.0.")][:4] + \
                 [k for k in state if k.startswith("mixed_5c.branch_2.0.")][:4]:
            del state[k]
    else:
        state["conv3d_2b_1x1.conv3d.weight"] = torch.zeros(8, 8, 1, 1, 2)
        fragments = ["1 with the wrong shape (conv3d_2b_1x1.conv3d.weight: file (8, 8, 1, 1, 2) vs model (8, 8, 1, 1, 1))"]
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    i3d = build_i3d(0.125)
    before = i3d.conv3d_1a_7x7.conv3d.weight.clone()
    with pytest.raises(CheckpointError) as err:
        load_i3d_weights(i3d, path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert torch.equal(i3d.conv3d_1a_7x7.conv3d.weight, before)  # nothing half-loaded


def test_full_width_file_into_reduced_width_model_fails(tmp_path):
    with torch.device("meta"):
        full = build_i3d(1.0)
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in full.state_dict().items()}
    torch.save(state, tmp_path / "model_rgb.pth")
    with pytest.raises(CheckpointError, match=r"\d+ with the wrong shape \(conv3d_1a_7x7"):
        load_i3d_weights(build_i3d(0.125), tmp_path / "model_rgb.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


@pytest.mark.parametrize("content, fragment", [
    (None, "file not found"),
    (b"not a checkpoint", "cannot be read"),
    (b"junk", r"cannot be read .*\(too short for a torch file\)$"),
    ("pickle", r"cannot be read .*\(Unsupported global: .+\)$"),
    ("list", "expected a state dict"),
])
def test_unreadable_files_give_a_checkpoint_error(tmp_path, capsys, content, fragment):
    path = tmp_path / "model_rgb.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"x": _Evil()}, protocol=2))
    elif content == "list":
        torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match=fragment) as err:
        load_i3d_weights(build_i3d(0.125), path)
    assert "executed" not in capsys.readouterr().out
    assert "\x1b" not in str(err.value) and "This file can still be loaded" not in str(err.value)
    if content is None:
        with pytest.raises(CheckpointError, match="model_rgb.pth"):
            load_i3d_weights(build_i3d(0.125), path)


def test_torchvision_resnet_file_loads_and_fc_is_ignored(tmp_path):
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    torch.save(state, tmp_path / "resnet18.pth")
    model = build_model(get_config("tiny"))
    assert load_resnet_weights(model, tmp_path / "resnet18.pth") == len(state) - 2
    assert torch.equal(model.sve.backbone.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_resnet_of_the_wrong_depth_fails_with_counts(tmp_path):
    with torch.device("meta"):
        state = torchvision.models.resnet34().state_dict()
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in state.items()}, tmp_path / "r34.pth")
    with pytest.raises(CheckpointError, match=r"SVE ResNet.*\d+ unexpected \(layer1\.2\.conv1\.weight"):
        load_resnet_weights(build_model(get_config("tiny")), tmp_path / "r34.pth")


def test_without_files_the_model_says_it_is_random(tmp_path):
    model = build_model(get_config("tiny", sve=False))
    lines = load_backbones(model)
    assert lines == [line for line in lines if "random" in line] and len(lines) == 1
    with pytest.raises(CheckpointError, match="no SVE"):
        load_backbones(model, resnet_path=tmp_path / "r.pth")


def test_a_damaged_weight_in_model_rgb_is_refused(tmp_path, tiny_state):
    from helpers.damaged_zip import flip_tensor_byte

    path = tmp_path / "model_rgb.pth"
    torch.save(tiny_state, path)
    flip_tensor_byte(path, record="data/5", at=2)
    model = build_model(get_config("tiny", sve=False))
    with pytest.raises(CheckpointError, match=r"model_rgb.pth: corrupt file, expected .+ \(the bytes of its "
                                              r"record 'data/5' fail their CRC-32 check: the file is damaged\)$"):
        load_i3d_weights(model, path)
