"""The channels-last layout (``channels_last``): the same model and numbers in another memory layout."""

import json

import torch

from fineparser.engine import train
from fineparser.model import build_model, get_config
from fineparser.run import load_trained_model
from fineparser.train_config import load_train_config


def _snippets(cfg, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((batch, cfg.num_snippets, 3, cfg.snippet_frames, *cfg.frame_size_hw), generator=g)


def test_same_outputs_and_gradients_as_the_default_layout():
    cfg = get_config("tiny")
    torch.manual_seed(0)
    ref = build_model(cfg).train()
    model = build_model(cfg).train()
    model.load_state_dict(ref.state_dict())
    model.to_channels_last()
    conv = model.i3d.conv3d_1a_7x7.conv3d.weight
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
    assert model.state_dict().keys() == ref.state_dict().keys()
    x, z = _snippets(cfg), _snippets(cfg, seed=1)
    out, want = model(x, z, torch.tensor([50.0, 60.0])), ref(x, z, torch.tensor([50.0, 60.0]))
    assert torch.allclose(out.y_hat, want.y_hat, atol=1e-4)
    assert torch.allclose(out.query.snippet_features, want.query.snippet_features, rtol=1e-3, atol=1e-3)
    assert torch.allclose(out.query.attention, want.query.attention, atol=1e-4)
    out.y_hat.sum().backward()
    want.y_hat.sum().backward()
    got, exp = model.i3d.conv3d_1a_7x7.conv3d.weight.grad, ref.i3d.conv3d_1a_7x7.conv3d.weight.grad
    assert torch.allclose(got, exp, atol=1e-3 * exp.abs().max().item())


def test_a_run_trained_channels_last_evaluates_in_it(tiny_aqa, tmp_path):
    data_root, store_root = tiny_aqa
    run = tmp_path / "run"
    train(load_train_config(None, [
        "dataset=synthetic", f"data_root={data_root}", f"store={store_root}", "masks=gtm",
        "model_preset=tiny", "workers=0", "epochs=1", "batch_size=2", f"run_dir={run}",
        "channels_last=true"]))
    assert json.loads((run / "config.json").read_text())["channels_last"] is True
    model, _ = load_trained_model(run / "last.pt")
    assert model.channels_last
    assert model.i3d.conv3d_1a_7x7.conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
