"""Set-up shared by the fineparser tests.

One intra-op thread: the tiny models are far too small to gain from more, and on a shared 2-core
machine a second OpenMP thread that has to wait for a busy core makes each op 10-40 x slower.
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_aqa(tmp_path_factory):
    """Trainer tests: ``(data_root, store_root)`` of 6 training and 4 test clips of 24 frames at
    40 x 48, two action types, every frame masked in both layers (``helpers/aqa_fixture.py``)."""
    from helpers.aqa_fixture import build_tiny_aqa

    return build_tiny_aqa(tmp_path_factory.mktemp("tiny_aqa"))


@pytest.fixture
def tiny_table(tiny_aqa):
    """``tiny_table(masks="gtm", frames=23) -> (samples, ClipTable)`` of the ``tiny_aqa`` clips."""
    from fineparser.sampling import build_clip_table
    from hmtools.datasets import open_dataset
    from hmtools.store import MaskStore

    def make(masks: str = "gtm", frames: int = 23):
        data_root, store_root = tiny_aqa
        samples = open_dataset("synthetic", data_root).samples()
        return samples, build_clip_table(samples, frames, "spread", masks, MaskStore.open(store_root))

    return make
