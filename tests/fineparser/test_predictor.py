"""The predictor: encode once, Eq. 10 in one place, table rows and outside clips alike
(``fineparser/predictor.py``)."""

import numpy as np
import pytest
import torch

from fineparser.dataset import ClipDataset
from fineparser.distributed import DistInfo
from fineparser.exemplars import ExemplarChooser
from fineparser.inputs import to_snippets
from fineparser.model import build_model, get_config
from fineparser.predictor import Predictor, vote
from fineparser.sampling import build_clip_table
from hmtools.datasets import open_dataset

CPU = DistInfo(0, 1, 0, torch.device("cpu"))


@pytest.fixture(scope="module")
def table(tiny_aqa):
    samples = open_dataset("synthetic", tiny_aqa[0]).samples()
    return build_clip_table(samples, get_config("tiny").num_frames, "spread", "none")


def _model(setting="AN", seed=0):
    torch.manual_seed(seed)
    return build_model(get_config("tiny", exemplar_setting=setting))


def _plan(table, setting="AN", m=2):
    rows = table.indices("test")
    return rows, ExemplarChooser(table, table.indices("train"), setting).plan(rows, m)[0]


@pytest.mark.parametrize("y,counts,expected", [
    ([1.0, 3.0, 5.0], [2, 1], [2.0, 5.0]),
    ([4.0], [1], [4.0]),
    ([1.0, 2.0], [0, 2], [np.nan, 1.5]),          # a query without exemplars gives NaN
    ([], [], []),
])
def test_vote_is_the_mean_over_each_querys_exemplars(y, counts, expected):
    assert vote(np.array(y), counts) == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("setting", ["AN", "DD"])
def test_predictions_are_the_mean_of_the_models_own_pair_predictions(table, setting):
    model = _model(setting).eval()
    rows, plan = _plan(table, setting)
    preds = Predictor(model, table, CPU, score_scale=10.0).predict_rows(rows, plan)
    clips = ClipDataset(table, range(len(table)), model.config.frame_size_hw)

    def snippets(r):
        return to_snippets(clips[r].frames[None], model.config, CPU.device)

    d = torch.tensor(np.nan_to_num(table.difficulties, nan=1.0), dtype=torch.float32)
    expected = []
    with torch.no_grad():
        for q in rows:
            ys = [10.0 * float(model(snippets(q), snippets(z), torch.tensor([table.scores[z] / 10.0]),
                                     d[[q]], d[[z]]).y_hat) for z in plan[q]]
            expected.append(np.mean(ys))
    assert preds == pytest.approx(expected, rel=1e-4)


def test_a_clip_from_outside_the_table_gets_the_prediction_of_its_row(table):
    model = _model(seed=1)
    rows, plan = _plan(table)
    predictor = Predictor(model, table, CPU)
    by_rows = predictor.predict_rows(rows, plan)
    q = rows[0]
    clip = predictor.predict_clip(ClipDataset(table, [q], model.config.frame_size_hw)[0].frames, plan[q])
    assert clip.score == pytest.approx(by_rows[0], rel=1e-5)
    assert clip.pairs.y_hat.shape == (2,) and clip.pairs.delta.shape == (2, 3)   # M=2, Lq=3
    assert clip.score == pytest.approx(float(clip.pairs.y_hat.mean()), rel=1e-6)
    y_z = table.scores[plan[q]]
    assert clip.pairs.y_hat == pytest.approx(y_z + clip.pairs.delta.mean(axis=1), rel=1e-5)   # Eq. 7
    assert clip.features.attention.shape[:2] == (1, 4)


def test_dd_deltas_are_in_score_units(table):
    model = _model("DD")
    rows, plan = _plan(table, "DD", m=1)
    q = rows[0]
    predictor = Predictor(model, table, CPU, score_scale=10.0)
    clip = predictor.predict_clip(ClipDataset(table, [q], model.config.frame_size_hw)[0].frames, plan[q],
                                  difficulty=3.0)
    z = plan[q][0]
    # y = d_q * (y_z / d_z + mean Delta_raw): Delta in score units is d_q * score_scale * Delta_raw
    expected = 3.0 * table.scores[z] / table.difficulties[z] + clip.pairs.delta.mean()
    assert clip.score == pytest.approx(expected, rel=1e-5)


def test_every_clip_is_encoded_once_and_the_mode_is_restored(table, monkeypatch):
    model = _model()
    model.train()
    calls = []
    real = model.encode
    monkeypatch.setattr(model, "encode", lambda x: calls.append((x.shape[0], model.training)) or real(x))
    rows, plan = _plan(table)
    predictor = Predictor(model, table, CPU, batch_size=3)
    predictor.predict_rows(rows, plan)
    needed = set(rows) | {z for r in rows for z in plan[r]}
    assert sum(n for n, _ in calls) == len(needed) < len(rows) * 3
    assert not any(training for _, training in calls) and model.training
    predictor.predict_rows(rows, plan)                # cached: nothing encoded again
    assert sum(n for n, _ in calls) == len(needed) and set(predictor.features) == needed
