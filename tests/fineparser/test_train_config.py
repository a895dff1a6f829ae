import json

import pytest

from fineparser.train_config import ConfigError, TrainConfig, load_train_config, save_train_config

BASE = ["data_root=/data", "masks=none"]


@pytest.mark.parametrize("override,field,value", [
    ("epochs=3", "epochs", 3),
    ("lr_heads=2e-3", "lr_heads", 2e-3),
    ("grad_clip=1", "grad_clip", 1.0),             # an int where a float is declared
    ("amp=false", "amp", False),
    ("store=null", "store", None),
    ("schedule=step", "schedule", "step"),
    ("run_dir=runs/x", "run_dir", "runs/x"),
])
def test_overrides_are_typed_by_the_dataclass(override, field, value):
    cfg = load_train_config(None, BASE + [override])
    assert getattr(cfg, field) == value and type(getattr(cfg, field)) is type(value)


@pytest.mark.parametrize("override,message", [
    ("epochs=3.5", "epochs: expected int"),
    ("epochs=0", "epochs: expected an integer >= 1"),
    ("amp=yes", "amp: expected bool"),
    ("masks=gt", "masks: expected one of"),
    ("nonsense=1", "unknown key"),
    ("epochs", "expected key=value"),
    ("model.num_queries=x", "num_queries: expected int"),
    ("model.nope=1", "ModelConfig has no field 'nope'"),
    ("model.sap_stage=4", "sap_stage"),
    ("model_preset=huge", "model_preset"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(None, BASE + [override])


def test_gtm_needs_a_store():
    with pytest.raises(ConfigError, match="store"):
        load_train_config(None, ["data_root=/d", "masks=gtm"])


def test_order_file_then_fields_then_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data_root": "/d", "masks": "none", "epochs": 5, "batch_size": 4,
                                "model_preset": "demo", "model": {"num_queries": 9}}))
    cfg = load_train_config(path, ["epochs=7", "model.query_dim=32"], batch_size=8, store=None)
    assert (cfg.epochs, cfg.batch_size) == (7, 8)
    mcfg = cfg.model_config()
    assert (mcfg.num_queries, mcfg.query_dim, mcfg.num_snippets) == (9, 32, 8)  # demo preset N=8


def test_resolved_config_round_trips(tmp_path):
    cfg = load_train_config(None, BASE + ["model_preset=tiny", "model.num_queries=6", "seed=3"])
    path = save_train_config(cfg, tmp_path / "run")
    saved = json.loads(path.read_text())
    assert saved["model"]["num_queries"] == 6 and saved["model"]["num_snippets"] == 4
    again = load_train_config(path)
    assert again.model_config() == cfg.model_config() and again.seed == 3
    assert TrainConfig.from_dict(again.to_dict()) == again


def test_unreadable_file_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_train_config(bad)


def test_dataset_kinds_are_the_reader_registry_and_each_has_a_sampling():
    from fineparser.sampling import DATASET_SAMPLING
    from fineparser.train_config import DATASETS
    from hmtools.datasets import DATASET_KINDS

    assert DATASETS == DATASET_KINDS and set(DATASET_SAMPLING) == set(DATASET_KINDS)
    assert DATASET_SAMPLING == {"finediving": "spread", "synthetic": "spread", "mtlaqa": "last", "aqa7": "first"}
