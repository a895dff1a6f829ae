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
