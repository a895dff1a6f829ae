"""Errors the user causes are one line, exit non-zero and leave nothing half-written (``cli.py``).

Each case runs a command with bad input: a missing path, a file where a folder is expected (and
the reverse), a full disk and an unwritable store (injected ``ENOSPC`` / ``EACCES``: the tests may
run as root, for whom permissions do not apply, and cannot mount a tmpfs), and Ctrl-C in the
middle of a write.
"""

from __future__ import annotations

import errno
import os

import pytest
from click.testing import CliRunner

from cli import fineparser, hmtools
from hmtools.store import MaskStore, VideoDoc


@pytest.fixture
def store(tmp_path):
    s = MaskStore.create(tmp_path / "store")
    s.write(VideoDoc.new("c__1", (4, 4), ["0.jpg", "1.jpg"]))
    (tmp_path / "file.txt").write_text("x")
    return s


def _files(root):
    """Every file but lock files and the derived index (rebuilt from the documents; each of its
    files is replaced atomically, but a failed build may have replaced some of them)."""
    return sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file()
                  and p.parent.name not in ("locks", "index"))


def _fail_writes(monkeypatch, exc):
    """Every atomic write fails with ``exc`` while writing its temporary file."""
    import hmtools.atomic as atomic

    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode:
            real_open(path, mode, *args, **kwargs).close()
            raise exc
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", failing_open, raising=False)


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EACCES = PermissionError(errno.EACCES, os.strerror(errno.EACCES))

CASES = [
    # (command, args ({s}: store, {t}: tmp_path), injected error or None, expected in the one line)
    (hmtools, ["stats", "--store", "{t}/missing"], None, "no such mask store"),
    (hmtools, ["validate", "--store", "{t}/file.txt"], None, "file.txt"),
    (hmtools, ["index", "--store", "{t}", "--quiet"], None, "not a mask store"),
    (hmtools, ["import-hm", "--store", "{s}", "--masks", "{t}/file.txt"], None, "file.txt"),
    (hmtools, ["import-hm", "--store", "{s}", "--masks", "{t}/missing"], None, "mask root not found"),
    (hmtools, ["export-hm", "--store", "{s}", "--out", "{s}/x"], None, "refusing to export into"),
    (hmtools, ["index", "--store", "{s}", "--quiet"], ENOSPC, "No space left on device"),
    (hmtools, ["index", "--store", "{s}", "--quiet"], EACCES, "Permission denied"),
    (hmtools, ["index", "--store", "{s}", "--quiet"], KeyboardInterrupt(), "interrupted"),
    (hmtools, ["init", "{t}/new"], ENOSPC, "No space left on device"),
    (fineparser, ["predict", "--checkpoint", "{t}", "--video", "{t}/file.txt"], None, ""),
    (fineparser, ["eval", "--checkpoint", "{t}/missing.pt"], None, "missing.pt"),
]


@pytest.mark.parametrize("group, args, inject, expected", CASES,
                         ids=[f"{c[1][0]}-{i}" for i, c in enumerate(CASES)])
def test_user_errors_are_one_line_and_change_nothing(store, tmp_path, monkeypatch, group, args, inject,
                                                     expected):
    if inject is not None:
        _fail_writes(monkeypatch, inject)
    before = _files(tmp_path)
    argv = [a.format(s=store.root, t=tmp_path) for a in args]
    result = CliRunner().invoke(group, argv)
    # click's own usage errors add its "Usage:" and "Try ... --help" lines around the one error line
    lines = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith(("Usage:", "Try "))]
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(lines) == 1, result.output
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _files(tmp_path) == before  # nothing written
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary file left
