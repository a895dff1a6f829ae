"""Parameter and FLOP counts, next to the paper's 35.94 M and 2444 GFLOPs."""

from fineparser.model import get_config
from fineparser.model.summary import summarize_model


def test_paper_preset_is_within_3_percent_of_the_paper():
    summary = summarize_model(get_config("paper"))
    assert abs(summary.params_vs_paper) < 0.03
    assert summary.params_by_component["i3d"] == 12_287_264
    assert summary.params_by_component["sve"] == 21_284_672
    assert summary.params_by_component["sap"] == 3
    assert summary.params_total == sum(summary.params_by_component.values())
    # I3D on 40 snippets + ResNet-34 on 80 frames dominate: about 1.7 TFLOPs (torch: 2 per MAC)
    assert 1.5e12 < summary.flops < 1.9e12
    data = summary.to_dict()
    assert data["gmacs"] * 2 == data["gflops"] and data["paper_gflops"] == 2444.21


def test_params_only_and_ablations_change_counts():
    full = summarize_model(get_config("tiny"), count_flops=False)
    no_sve = summarize_model(get_config("tiny", sve=False), count_flops=False)
    assert full.flops is None and "sve" not in no_sve.params_by_component
    assert full.params_total - no_sve.params_total == full.params_by_component["sve"]
