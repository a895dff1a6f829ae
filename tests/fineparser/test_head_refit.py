import json

import pytest
import torch

from fineparser.engine import Trainer, train
from fineparser.head_refit import encode_clips, refit_heads
from fineparser.predictor import Predictor
from fineparser.train_config import ConfigError, load_train_config


def _cfg(tiny_aqa, run_dir, *extra):
    data_root, store_root = tiny_aqa
    return load_train_config(None, [
        "dataset=synthetic", f"data_root={data_root}", f"store={store_root}", "masks=gtm",
        "model_preset=tiny", "workers=0", "epochs=1", "batch_size=2", f"run_dir={run_dir}", *extra])


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_refit_lowers_l_e_and_moves_only_the_heads(tiny_aqa, tmp_path):
    trainer = Trainer(_cfg(tiny_aqa, tmp_path / "run", "head_refit_steps=200", "head_refit_batch=8", "score_scale=10",
                           "head_refit_lr=1e-2"))
    model = trainer.model
    backbone = {name: _state(getattr(model, name)) for name in ("i3d", "sap", "sve")}
    heads = _state(model.regressor)
    stats = refit_heads(trainer, trainer.cfg.head_refit_steps)
    assert stats["steps"] == 200 and stats["pairs"] == 1600 and stats["views"] == 2
    assert stats["loss_e_last"] < 0.5 * stats["loss_e_first"], stats  # measured: 16.6 -> 4.2
    for name, before in backbone.items():
        after = getattr(model, name).state_dict()
        assert all(torch.equal(v, after[k]) for k, v in before.items()), name  # BN statistics too
    assert not all(torch.equal(v, model.regressor.state_dict()[k]) for k, v in heads.items())
    # the EMA restarts from the refitted weights, so the evaluation uses them
    with trainer.ema.average_parameters():
        shadow = _state(model.regressor)
    assert all(torch.equal(v, model.regressor.state_dict()[k]) for k, v in shadow.items())


def test_encoded_features_are_the_evaluations(tiny_aqa, tmp_path):
    trainer = Trainer(_cfg(tiny_aqa, tmp_path / "run"))
    rows = trainer.train_rows[:3]
    feats = encode_clips(trainer.model, trainer.table, rows, trainer.cfg, torch.device("cpu"),
                         flip=True, progress=False)
    assert feats.shape[:2] == (2, 3)
    predictor = Predictor.from_config(trainer.model, trainer.table, trainer.cfg, trainer.info)
    from fineparser.dataset import ClipDataset
    from fineparser.transforms import resize_target

    data = ClipDataset(trainer.table, rows, trainer.mcfg.frame_size_hw,
                       resize_target(trainer.mcfg, trainer.cfg.resize_scale))
    frames = torch.stack([data[i].frames for i in range(3)])
    assert torch.allclose(feats[0], predictor.encode_frames(frames).snippet_features, atol=1e-5)
    assert torch.allclose(feats[1], predictor.encode_frames(frames.flip(-1)).snippet_features, atol=1e-5)
    assert not torch.allclose(feats[0], feats[1], atol=1e-3)


def test_trainer_refits_after_the_last_epoch_only(tiny_aqa, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_aqa, run, "epochs=2", "eval_every=1", "head_refit_steps=4", "head_refit_batch=2"))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert "head_refit" not in lines[0]
    assert lines[1]["head_refit"]["steps"] == 4 and lines[1]["head_refit"]["pairs"] == 8
    assert (run / "curves.png").is_file()


def test_head_warm_up_runs_once_before_the_first_epoch(tiny_aqa, tmp_path, monkeypatch):
    import fineparser.head_refit as head_refit

    calls = []
    real = head_refit.refit_heads

    def spy(trainer, steps):
        calls.append((trainer.epoch, steps))
        return real(trainer, steps)

    monkeypatch.setattr(head_refit, "refit_heads", spy)
    run = tmp_path / "run"
    train(_cfg(tiny_aqa, run, "epochs=2", "eval_every=1", "head_warmup_steps=6", "head_refit_batch=2",
               "head_refit_steps=4"))
    assert calls == [(0, 6), (2, 4)]  # before epoch 1, and after the last
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["head_warmup"]["steps"] == 6 and lines[0]["head_warmup"]["pairs"] == 12
    assert "head_warmup" not in lines[1] and lines[1]["head_refit"]["steps"] == 4


@pytest.mark.parametrize("item", ["head_refit_steps=-1", "head_warmup_steps=-1", "head_refit_batch=0", "head_refit_lr=0"])
def test_refit_settings_are_checked(item):
    with pytest.raises(ConfigError, match=item.split("=")[0]):
        load_train_config(None, [item])
