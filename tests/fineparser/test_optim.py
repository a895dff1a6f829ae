"""Learning-rate groups and schedule (``fineparser/optim.py``)."""

import math

import pytest

from fineparser.model import build_model, get_config
from fineparser.optim import build_optimizer, lr_factor
from fineparser.train_config import load_train_config


@pytest.mark.parametrize("schedule,epoch,expected", [
    ("constant", 7, 1.0),
    ("step", 4, 1.0), ("step", 5, 0.1), ("step", 10, 0.01),
    ("cosine", 0, 1.0), ("cosine", 9, 0.01), ("cosine", 5, 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 5 / 9))),
])
def test_lr_schedule(schedule, epoch, expected):
    cfg = load_train_config(None, ["data_root=/d", "masks=none", "epochs=10", f"schedule={schedule}",
                                   "step_epochs=5"])
    assert lr_factor(epoch, cfg) == pytest.approx(expected)
    warm = cfg.replace(warmup_epochs=3)
    assert [lr_factor(e, warm) for e in range(3)] == pytest.approx([0.25, 0.5, 0.75])


def test_optimizer_groups_follow_the_paper():
    cfg = load_train_config(None, ["data_root=/d", "masks=none"])
    opt = build_optimizer(build_model(get_config("tiny")), cfg)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"i3d": 1e-4, "temperature": 1e-4, "sve": 1e-3, "sap": 1e-3, "tap": 1e-3,
                   "regressor": 1e-3}
    assert opt.defaults["weight_decay"] == 0.0
    faster_sap = build_optimizer(build_model(get_config("tiny")), cfg.replace(lr_sap=0.05))
    assert {g["name"]: g["lr"] for g in faster_sap.param_groups}["sap"] == 0.05


def _paper_recipe(*extra):
    return load_train_config(None, ["data_root=/d", "masks=none", "recipe=paper", *extra])


def test_paper_recipe_follows_the_paper_and_the_fineparser_code():
    cfg = _paper_recipe()
    assert (cfg.recipe, cfg.schedule, cfg.epochs, cfg.warmup_epochs) == ("paper", "timm_cosine", 400, 5)
    assert (cfg.ema_decay, cfg.grad_clip, cfg.amp, cfg.batch_size, cfg.effective_batch_size) == (0, 0, False, 2, 16)
    assert _paper_recipe("epochs=254").epochs == 254            # overrides still win
    assert load_train_config(None, ["data_root=/d", "masks=none"]).schedule == "cosine"  # ours unchanged
    with pytest.raises(ValueError, match="recipe"):
        load_train_config(None, ["data_root=/d", "masks=none", "recipe=fancy"])


def test_timm_cosine_is_fineparser_s_per_batch_schedule():
    """Heads warm up 1e-4 -> 1e-3 over 5 epochs, then decay to 1e-4 at 400; the I3D stays at 1e-4."""
    from fineparser.optim import LRSchedule, timm_cosine_lr

    cfg = _paper_recipe()
    assert timm_cosine_lr(0, 1e-3, cfg) == pytest.approx(1e-4)
    assert timm_cosine_lr(2.5, 1e-3, cfg) == pytest.approx(5.5e-4)
    assert timm_cosine_lr(200, 1e-3, cfg) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi / 2)))
    assert [timm_cosine_lr(p, 1e-4, cfg) for p in (0, 3, 100, 399)] == pytest.approx([1e-4] * 4)
    opt = build_optimizer(build_model(get_config("tiny")), cfg)
    schedule = LRSchedule(opt, cfg, batches_per_epoch=10)
    seen = []
    for _ in range(30):
        seen.append({g["name"]: g["lr"] for g in opt.param_groups})
        schedule.after_batch()
    schedule.after_epoch()  # no-op for a per-batch schedule
    assert seen[0]["tap"] == seen[1]["tap"] == pytest.approx(1e-4)      # timm's one-batch lag
    assert seen[21]["tap"] == pytest.approx(timm_cosine_lr(2.0, 1e-3, cfg))
    assert [s["i3d"] for s in seen] == pytest.approx([1e-4] * 30)


def test_timm_cosine_matches_timm_when_installed():
    pytest.importorskip("timm")
    import torch
    from timm.scheduler.cosine_lr import CosineLRScheduler

    from fineparser.optim import LRSchedule

    cfg, n = _paper_recipe("epochs=6", "warmup_epochs=2"), 4
    ours = build_optimizer(build_model(get_config("tiny")), cfg)
    ref = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)], "lr": g["lr"]}
                            for g in ours.param_groups])
    timm_s = CosineLRScheduler(ref, t_initial=cfg.epochs * n, lr_min=1e-4, warmup_lr_init=1e-4,
                               warmup_t=cfg.warmup_epochs * n, cycle_limit=15, t_in_epochs=False)
    schedule = LRSchedule(ours, cfg, batches_per_epoch=n)
    for epoch in range(cfg.epochs):
        for i in range(n):
            assert [g["lr"] for g in ours.param_groups] == pytest.approx([g["lr"] for g in ref.param_groups])
            timm_s.step_update(epoch * n + i)
            schedule.after_batch()
        timm_s.step(epoch)
