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
