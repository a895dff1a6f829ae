"""README "Ablations": every override is accepted by `fineparser info --preset tiny --set ... --json`
and the variant it selects builds and runs one forward pass."""

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fineparser.commands.info import info
from fineparser.config import ModelConfig
from fineparser.model import build_model

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> list[tuple[str, list[str]]]:
    text = README.read_text()
    section = text.split("\n## Ablations\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        sets = re.findall(r"`--set ([^`]+)`", line)
        if line.startswith("|") and sets:
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((" / ".join(cells[:2]), sets))
    return rows


ROWS = _rows()


def test_every_paper_table_has_rows():
    tables = {name.split(" / ")[0] for name, _ in ROWS}
    assert {str(t) for t in range(5, 15)} <= tables
    assert len(ROWS) >= 44


@pytest.mark.parametrize("name,sets", ROWS, ids=[name for name, _ in ROWS])
def test_override_is_accepted_by_info_and_the_variant_runs(name, sets):
    args = ["--preset", "tiny", *[a for s in sets for a in ("--set", s)], "--json"]
    result = CliRunner().invoke(info, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for item in sets:
        key, _, raw = item.partition("=")
        value = json.loads(raw) if raw not in ("left", "middle", "right", "AN", "DD", "gtm", "pm", "paper",
                                                "ours", "plain", "residual_norm", "mixed_4f", "mixed_3c") \
            and not raw.startswith(("resnet", "vit")) else raw
        got = data["model_config"][key[6:]] if key.startswith("model.") else data["train_config"][key]
        assert got == value or got == pytest.approx(value), (key, got, value)
    cfg = ModelConfig.from_dict(data["model_config"])
    model = build_model(cfg).eval()
    video = torch.rand(1, cfg.num_snippets, 3, cfg.snippet_frames, *cfg.frame_size_hw)
    d = torch.ones(1)
    with torch.no_grad():
        out = model(video, video, torch.ones(1), d, d)
    assert out.y_hat.shape == (1,) and torch.isfinite(out.y_hat).all()
    assert out.delta.shape == (1, cfg.num_steps)
