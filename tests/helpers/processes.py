"""Start a command as a subprocess, kill it with SIGKILL while its workers run, and check that
no worker outlives it. Processes are read from /proc (psutil is not a dependency)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> tuple[int, str] | None:
    """``(ppid, state)`` of a live process, ``None`` when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] == pid and st[1] != "Z":
                out.append(int(entry))
    return out


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if (st := _stat(p)) is not None and st[1] != "Z"]


def kill_when_workers_run(args: list[str], n_workers: int, entry: str = "hmtools", prelude: str = "") -> None:
    """Run ``<entry> <args>``; once it has ``n_workers`` children, SIGSTOP it (so it cannot shut its
    pool down itself) and SIGKILL it; fail unless every child is gone within 5 s. ``prelude``: Python
    run first (to slow a worker down)."""
    code = f"{prelude}\nimport sys; from cli import {entry}; sys.argv[0] = {entry!r}; {entry}()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(children := _children(proc.pid)) < n_workers:
            if proc.poll() is not None:
                pytest.fail(f"{args[0]} ended (rc {proc.returncode}) before its workers were seen: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{args[0]}: no {n_workers} workers within 60 s")
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGSTOP)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _alive(children)
        for pid in left:  # do not leave them to the next test
            os.kill(pid, signal.SIGKILL)
        assert not left, f"{args[0]}: workers {left} outlived the killed command"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
