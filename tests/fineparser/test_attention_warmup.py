import json

import torch

from fineparser.attention_warmup import attention_of, warm_up_attention, warmup_parameters
from fineparser.engine import Trainer, train
from fineparser.inputs import masks_to_snippets
from fineparser.losses import mask_targets
from fineparser.metrics import attention_iou
from fineparser.train_config import load_train_config


def _cfg(tiny_aqa, run_dir, *extra):
    data_root, store_root = tiny_aqa
    return load_train_config(None, [
        "dataset=synthetic", f"data_root={data_root}", f"store={store_root}", "masks=gtm",
        "model_preset=tiny", "workers=0", "epochs=1", "batch_size=2", f"run_dir={run_dir}", *extra])


def _iou(trainer):
    """Area-matched attention IoU over every training pair's query clip."""
    batch = torch.utils.data.default_collate([trainer.pairs[i] for i in range(len(trainer.pairs))])
    trainer.model.eval()
    with torch.no_grad():
        attn = attention_of(trainer.model, batch.query.frames, trainer.mcfg, torch.device("cpu"))
    trainer.model.train()
    masks, valid = masks_to_snippets(batch.query.masks, batch.query.mask_valid, trainer.mcfg)
    m_gt, cell_valid = mask_targets(masks, valid, attn.shape[-3:])
    return attention_iou(attn, m_gt, cell_valid)


def test_warm_up_lowers_l_a_and_finds_the_athlete(tiny_aqa, tmp_path):
    trainer = Trainer(_cfg(tiny_aqa, tmp_path / "run"))
    before = _iou(trainer)
    heads = {k: v.clone() for k, v in trainer.model.regressor.state_dict().items()}
    stats = warm_up_attention(trainer.model, trainer.pairs, trainer.mcfg, torch.device("cpu"), steps=40,
                              lr=3e-3, batch_size=2, progress=False)
    after = _iou(trainer)
    assert stats["steps"] == 40 and stats["loss_a_last"] < 0.9 * stats["loss_a_first"], stats
    assert after > before + 0.3, (before, after)  # measured: 0.04 -> 0.63
    # only the stages that feed SAP and f_A move
    assert all(torch.equal(v, trainer.model.regressor.state_dict()[k]) for k, v in heads.items())
    names = {id(p) for p in warmup_parameters(trainer.model, trainer.mcfg.sap_stage)}
    assert id(trainer.model.sap.f_a.weight) in names
    assert not any(id(p) in names for p in trainer.model.i3d.mixed_5c.parameters())


def test_warm_up_leaves_the_epochs_draws_unchanged(tiny_aqa, tmp_path):
    trainer = Trainer(_cfg(tiny_aqa, tmp_path / "run"))
    trainer.pairs.set_epoch(0)
    first = trainer.pairs[0]
    warm_up_attention(trainer.model, trainer.pairs, trainer.mcfg, torch.device("cpu"), steps=2, lr=1e-3,
                      batch_size=2, progress=False)
    assert trainer.pairs.epoch == 0 and trainer.pairs.stream == 0
    again = trainer.pairs[0]
    assert torch.equal(first.query.frames, again.query.frames)
    assert int(first.exemplar.index) == int(again.exemplar.index)
    trainer.pairs.set_epoch(0, stream=1)
    other = trainer.pairs[0]
    assert not torch.equal(first.query.frames, other.query.frames) or \
        int(first.exemplar.index) != int(other.exemplar.index)


def test_trainer_logs_the_warm_up_and_skips_it_without_masks(tiny_aqa, tmp_path):
    run = tmp_path / "gtm"
    train(_cfg(tiny_aqa, run, "sap_warmup_steps=3"))
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert line["sap_warmup"]["steps"] == 3 and line["sap_warmup"]["loss_a_first"] > 0
    none = tmp_path / "none"
    train(_cfg(tiny_aqa, none, "sap_warmup_steps=3", "masks=none", "store=null"))
    assert "sap_warmup" not in json.loads((none / "metrics.jsonl").read_text().splitlines()[0])
