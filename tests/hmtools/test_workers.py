"""Commands killed with SIGKILL leave no worker behind (``hmtools/workers.py``).

Each case starts a command that runs worker processes, waits until they exist, freezes the command
(SIGSTOP, so that it cannot finish and shut its pool down itself) and kills it (SIGKILL): every
worker must be gone within a few seconds (``tests/helpers/processes.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers.processes import kill_when_workers_run

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _store_with_blocking_doc(root: Path, n_docs: int = 40) -> Path:
    """A store whose last document is a FIFO: the worker that reads it blocks until killed."""
    from hmtools.store import MaskStore, VideoDoc

    store = MaskStore.create(root / "store")
    for i in range(n_docs):
        store.write(VideoDoc.new(f"c__{i}", (4, 4), ["0.jpg"]))
    os.mkfifo(store.videos_dir / "zz__0.json")
    return store.root


def test_validate_workers_exit_when_the_command_is_killed(tmp_path):
    store = _store_with_blocking_doc(tmp_path)
    kill_when_workers_run(["validate", "--store", str(store), "--workers", "2", "--quiet"], 2)


SLOW_DOC_READS = """
import time, hmtools.store.store as s
_read = s.read_doc_file
s.read_doc_file = lambda path: (time.sleep(60), _read(path))[1]
"""


def test_index_workers_exit_when_the_command_is_killed(tmp_path):
    store = _store_with_blocking_doc(tmp_path, n_docs=100)  # 3 chunks; the index skips the FIFO
    kill_when_workers_run(["index", "--store", str(store), "--workers", "2", "--quiet"], 2,
                          prelude=SLOW_DOC_READS)


def test_import_workers_exit_when_the_command_is_killed(tmp_path):
    import cv2

    from hmtools.store import MaskStore, VideoDoc

    store = MaskStore.create(tmp_path / "store")
    png = cv2.imencode(".png", np.zeros((1500, 1500), np.uint8))[1].tobytes()  # slow to decode
    for i in range(12):
        store.write(VideoDoc.new(f"c__{i}", (1500, 1500), [f"{j}.jpg" for j in range(12)]))
        folder = tmp_path / "hm" / "c" / str(i)
        folder.mkdir(parents=True)
        for j in range(12):
            (folder / f"{j}.png").write_bytes(png)
    kill_when_workers_run(["import-hm", "--store", str(store.root), "--masks", str(tmp_path / "hm"),
                            "--layer", "pseudo", "--workers", "2"], 2)
