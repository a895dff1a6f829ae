"""Set-up shared by the fineparser tests: one intra-op thread (``helpers/torch_threads.py``)."""

import pytest

from helpers.torch_threads import one_torch_thread


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    with one_torch_thread():
        yield


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
