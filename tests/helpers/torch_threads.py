"""One intra-op torch thread for tests of tiny models (not a test module).

The tiny models are far too small to gain from more threads, and on a shared 2-core machine a
second OpenMP thread that has to wait for a busy core makes each op 10-40 x slower.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_torch_thread():
    """``torch.set_num_threads(1)`` inside the block, the previous count after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
