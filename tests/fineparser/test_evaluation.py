import csv

import numpy as np
import pytest
import torch

from fineparser.distributed import DistInfo
from fineparser.evaluation import evaluate_rows, write_predictions_csv
from fineparser.exemplars import ExemplarChooser
from fineparser.model import build_model, get_config
from fineparser.predictor import Predictor
from fineparser.sampling import build_clip_table
from hmtools.datasets import open_dataset

CPU = DistInfo(0, 1, 0, torch.device("cpu"))


@pytest.fixture(scope="module")
def table(tiny_aqa):
    samples = open_dataset("synthetic", tiny_aqa[0]).samples()
    return build_clip_table(samples, get_config("tiny").num_frames, "spread", "none")


def _zero_delta_model(setting="AN"):
    model = build_model(get_config("tiny", exemplar_setting=setting))
    with torch.no_grad():
        for p in model.regressor.parameters():
            p.zero_()                                  # Delta = 0: a prediction is the exemplar's score
    return model


@pytest.mark.parametrize("score_scale", [1.0, 10.0])
def test_zero_deltas_predict_the_mean_exemplar_score_in_score_units(table, score_scale):
    model = _zero_delta_model()
    rows = table.indices("test")
    plan, _ = ExemplarChooser(table, table.indices("train"), "AN").plan(rows, 2)
    result = evaluate_rows(Predictor(model, table, CPU, score_scale=score_scale), rows, plan)
    expected = [table.scores[plan[r]].mean() for r in rows]
    assert result.predictions == pytest.approx(expected, rel=1e-5)
    assert result.metrics.n == len(rows) and result.exemplars == [plan[r] for r in rows]


def test_dd_voting_rescales_by_the_difficulties(table):
    model = _zero_delta_model("DD")
    rows = table.indices("test")
    plan, _ = ExemplarChooser(table, table.indices("train"), "DD").plan(rows, 2)
    result = evaluate_rows(Predictor(model, table, CPU), rows, plan)
    d = table.difficulties
    expected = [d[r] * np.mean(table.scores[plan[r]] / d[plan[r]]) for r in rows]
    assert result.predictions == pytest.approx(expected, rel=1e-5)


def test_predictions_csv(table, tmp_path):
    model = _zero_delta_model()
    rows = table.indices("test")
    plan, _ = ExemplarChooser(table, table.indices("train"), "AN").plan(rows, 2)
    result = evaluate_rows(Predictor(model, table, CPU), rows, plan)
    path = write_predictions_csv(tmp_path / "p.csv", table, result)
    with open(path) as f:
        got = list(csv.DictReader(f))
    assert [g["video_id"] for g in got] == [table.video_ids[r] for r in rows]
    assert float(got[0]["prediction"]) == pytest.approx(result.predictions[0], abs=1e-4)
    assert got[0]["exemplars"].count(";") == 1
