"""`fineparser info`: a thin command over summarize_model."""

import json

from click.testing import CliRunner

from fineparser.commands.info import info


def test_json_output():
    result = CliRunner().invoke(info, ["--preset", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["preset"] == "tiny" and data["params_total"] > 0 and data["gflops"] > 0
    assert data["paper_params"] == 35.94e6


def test_table_output_and_unknown_preset():
    result = CliRunner().invoke(info, ["--preset", "tiny", "--no-flops"])
    assert result.exit_code == 0 and "total" in result.output and "GFLOPs" not in result.output
    bad = CliRunner().invoke(info, ["--preset", "huge"])
    assert bad.exit_code != 0 and "expected one of" in bad.output


def test_paper_preset_reports_bn_eps_and_both_parameter_conventions():
    result = CliRunner().invoke(info, ["--preset", "paper", "--json", "--no-flops"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["i3d_bn_eps"] == 1e-5 and data["model_config"]["resize_hw"] == [455, 256]
    conv = data["params_by_convention"]
    assert conv["without_classifier"] == data["params_total"]
    assert conv["with_classifier"] - conv["without_classifier"] == 513_000   # ResNet-34 fc
    assert round(conv["without_classifier"] / 1e6, 2) == 35.26 and round(conv["with_classifier"] / 1e6, 2) == 35.77
    assert set(data["param_conventions"]) == set(conv)


def test_set_overrides_are_checked_like_train():
    ok = CliRunner().invoke(info, ["--preset", "tiny", "--no-flops", "--set", "model.i3d_bn_eps=1e-5"])
    assert ok.exit_code == 0 and "eps 1e-05" in ok.output and "+ SVE fc" in ok.output
    bad = CliRunner().invoke(info, ["--preset", "tiny", "--set", "model.num_querys=9"])
    assert bad.exit_code != 0 and "num_querys" in bad.output
