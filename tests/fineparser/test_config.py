"""ModelConfig: Table 1 defaults, JSON round trip, validation, presets."""

import json

import pytest

from fineparser.config import ModelConfig
from fineparser.model.build import MODEL_PRESETS, get_config


def test_defaults_are_table_1():
    cfg = ModelConfig()
    assert (cfg.num_snippets, cfg.snippet_frames, cfg.snippet_stride) == (20, 8, 5)
    assert cfg.frame_size_hw == (224, 224) and cfg.num_frames == 103
    assert (cfg.query_dim, cfg.num_queries, cfg.num_exemplars) == (256, 6, 10)
    assert cfg.temperature_init == pytest.approx(17.92)
    assert (cfg.sap_stage, cfg.sve_backbone, cfg.exemplar_setting) == (2, "resnet34", "AN")
    # The paper preset adds the published codes' input pipeline; the defaults stay (demo, tiny).
    assert get_config("paper") == ModelConfig(i3d_bn_eps=1e-5, resize_hw=(455, 256))
    assert (ModelConfig().i3d_bn_eps, ModelConfig().resize_hw) == (1e-3, None)


@pytest.mark.parametrize("preset", sorted(MODEL_PRESETS))
def test_round_trip_through_json(preset):
    cfg = get_config(preset, cross_attention_heads=(2, 1), exemplar_setting="DD")
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and isinstance(again.frame_size_hw, tuple)


@pytest.mark.parametrize("field, value, fragment", [
    ("num_snippets", 0, "positive integer"),
    ("snippet_frames", 7, "even integer"),
    ("frame_size_hw", (224, 100), "multiple of 16"),
    ("pixel_std", (0.2, 0.0, 0.2), "> 0"),
    ("i3d_width", 1.5, "(0, 1]"),
    ("sap_stage", 4, "one of (1, 2, 3)"),
    ("sap_loss", "huber", "one of"),
    ("sve_backbone", "vit_s16", "resnet34"),
    ("cross_attention_heads", (3, 1), "dividing query_dim=256"),
    ("self_attention_heads", 7, "divisor"),
    ("soft_label_centre", "centre", "middle"),
    ("exemplar_setting", "XX", "DD"),
    ("sap", "yes", "true or false"),
    ("num_queries", True, "positive integer"),
])
def test_invalid_fields_name_field_expected_and_got(field, value, fragment):
    with pytest.raises(ValueError) as err:
        ModelConfig().replace(**{field: value})
    assert f"ModelConfig.{field}" in str(err.value) and fragment in str(err.value)
    assert repr(value) in str(err.value)


def test_stage_3_needs_frames_divisible_by_its_time_steps():
    with pytest.raises(ValueError, match="sap_stage=3"):
        ModelConfig(snippet_frames=10, sap_stage=3)
    assert ModelConfig(snippet_frames=10, sap_stage=2).snippet_frames == 10


def test_unknown_keys_and_presets_are_rejected():
    with pytest.raises(ValueError, match="no such field"):
        ModelConfig.from_dict({"num_querys": 6})
    with pytest.raises(ValueError, match="unknown field"):
        ModelConfig().replace(lq=3)
    with pytest.raises(ValueError, match="expected one of"):
        get_config("huge")


def test_num_steps_follows_tap():
    assert ModelConfig().num_steps == 6 and ModelConfig(tap=False).num_steps == 20
