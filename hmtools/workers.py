"""Worker processes that never outlive the command that started them.

A command killed with SIGKILL cannot tell its workers to stop, and an idle pool worker would wait
forever for work (two ``import-hm`` workers stayed alive, about 70 MB each). Every worker calls
:func:`exit_with_parent` first: on Linux the kernel sends it SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a daemon thread checks the parent's pid twice a
second and exits when the worker has been re-parented. :func:`process_pool` is the pool every
command uses; fineparser's DataLoader workers call :func:`exit_with_parent` from their
``worker_init_fn``.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked the worker ends; pools and loaders are
started from the main thread here, and the watchdog alone would still do (within half a second).

Example:
    >>> with process_pool(2) as pool:                     # doctest: +SKIP
    ...     results = list(pool.map(work, jobs))
"""

from __future__ import annotations

import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5


def exit_with_parent(parent: int | None = None) -> None:
    """Make this (worker) process exit as soon as its parent is gone; call it first thing in a worker.

    Args:
        parent: the pid of the process that started this one, taken *before* the fork (a parent
            killed between the fork and this call is then noticed too); default ``os.getppid()``.
    """
    if parent is None or parent == os.getpid():  # not forked from ``parent`` (a spawned worker)
        parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent:  # the parent died before the prctl: nobody to work for
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(WATCH_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="hmtools-parent-watch", daemon=True).start()


def process_pool(workers: int):
    """A fork-based ``ProcessPoolExecutor`` of ``workers`` processes that exit with their parent."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))
