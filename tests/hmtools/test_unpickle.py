import os
import pickle

import numpy as np
import pytest

from hmtools.datasets.unpickle import safe_load_pickle
from hmtools.errors import DatasetError


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _write(path, payload: bytes):
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_roundtrip_of_annotation_like_data(tmp_path, protocol):
    data = {("FINADivingWorldCup2021_Men3m_final_r1", 0): {
        "action_type": "407C", "dive_score": 81.6, "difficulty": np.float64(3.2),
        "frames_labels": np.array([4, 4, 25, 36], dtype=np.int64),
        "steps_transit_frames": np.array([491, 492]), "judge_scores": [9.0, 9.5],
        "sub-action_types": {4: "Inward", 25: "3.5 Soms.Tuck", 36: "Entry"},
        "flags": {1, 2}, "frozen": frozenset({3}), "raw": b"\x00\xff",
        "mask": np.zeros((2, 3), dtype=bool), "none": None,
    }}
    path = _write(tmp_path / "a.pkl", pickle.dumps(data, protocol=protocol))
    loaded = safe_load_pickle(path)
    entry = loaded[("FINADivingWorldCup2021_Men3m_final_r1", 0)]
    assert entry["frames_labels"].tolist() == [4, 4, 25, 36]
    assert entry["frames_labels"].dtype == np.int64
    assert float(entry["difficulty"]) == 3.2
    assert entry["flags"] == {1, 2} and entry["frozen"] == frozenset({3})
    assert entry["raw"] == b"\x00\xff"
    assert entry["mask"].shape == (2, 3) and entry["none"] is None


def test_refuses_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pkl", pickle.dumps({"x": _RunsCode(marker)}))
    with pytest.raises(DatasetError) as info:
        safe_load_pickle(path)
    message = str(info.value)
    assert str(path) in message
    assert "refused to unpickle" in message and "system" in message
    assert "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [
    ("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen"),
    ("numpy", "load"), ("numpy.lib.npyio", "load"), ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
])
def test_refuses_other_globals(tmp_path, module, name):
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    path = _write(tmp_path / "g.pkl", payload)
    with pytest.raises(DatasetError, match=f"refused to unpickle {module}.{name}"):
        safe_load_pickle(path)


@pytest.mark.parametrize("payload", [
    pickle.dumps({"a": list(range(100))})[:-7],  # truncated
    b"",                                          # empty
    b"not a pickle at all",                       # garbage
])
def test_corrupt_pickle_names_the_file(tmp_path, payload):
    path = _write(tmp_path / "bad.pkl", payload)
    with pytest.raises(DatasetError, match="bad.pkl: corrupt or truncated pickle"):
        safe_load_pickle(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.pkl: file not found"):
        safe_load_pickle(tmp_path / "nope.pkl")
