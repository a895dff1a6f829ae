"""Every command of ``hmtools`` and ``fineparser`` against the bad inputs that apply to it (issue 13).

A missing path, a path of the wrong kind (a file where a folder is expected or the reverse), a full
disk (ENOSPC) and an unwritable store or output (EACCES) at the first write, and Ctrl-C at the
first write (or, for commands that write nothing, at the first read). Each must print exactly one
line, exit non-zero (130 for Ctrl-C) and leave every file as it was, with no temporary file and no
folder of its own left (a new store, dataset, export or run folder, and the missing parents it made).

The disk errors are injected into every file the command opens for writing under the test's
folder: the file is created, the first ``write`` raises (as a real full disk does), and a rename
into the folder (``os.replace``, the last step of an atomic write) fails as well. As root (whom
permissions do not bind) EACCES is injected the same way; otherwise the folders are made read-only.
The table must name every command: a new command without an entry fails
:func:`test_every_command_has_an_entry`.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import re
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import cli

# Placeholders: {w} the test's copy of the world, {s} its store, {v} a video id, {fr} one of its
# frames, {f} a regular file, {d} an empty folder, {m} a path that does not exist, {clip} frames of
# a fineparser video, {act} its action type, {run} the world's training run.
STORE_CASES = {"missing": ["--store", "{m}"], "kind": ["--store", "{f}"]}
RUN = "{run}/last.pt"  # outside the copy: read-only, and too large to copy for every case
TRAIN = ["train", "--dataset", "synthetic", "--data-root", "{w}/aqa/data", "--store", "{w}/aqa/store",
         "--masks", "pm", "--preset", "tiny", "--set", "workers=0", "--set", "epochs=1", "--set", "model.sve=false"]

# command -> case -> argv. "write" holds the arguments of a successful run that writes: its
# ENOSPC, EACCES and Ctrl-C cases are derived from it. "read" does the same for commands that
# write nothing (Ctrl-C only).
TABLE: dict[str, dict[str, dict[str, list[str]]]] = {
    "hmtools": {
        "agreement": {**{k: ["agreement", *v] for k, v in STORE_CASES.items()},
                      "kind-csv": ["agreement", "--store", "{s}", "--csv", "{d}"],
                      "write": ["agreement", "--store", "{s}", "--csv", "{w}/out/new/agreement.csv"]},
        "correct": {**{k: ["correct", *v] for k, v in STORE_CASES.items()},
                    "read": ["correct", "--store", "{s}"]},
        "export-cvat": {**{k: ["export-cvat", *v, "{w}/out/task"] for k, v in STORE_CASES.items()},
                        "kind-out": ["export-cvat", "--store", "{s}", "{f}"],
                        "write": ["export-cvat", "--store", "{s}", "{w}/out/new/task"]},
        "export-hm": {**{k: ["export-hm", *v, "--out", "{w}/out/hm"] for k, v in STORE_CASES.items()},
                      "kind-out": ["export-hm", "--store", "{s}", "--out", "{f}"],
                      "write": ["export-hm", "--store", "{s}", "--out", "{w}/out/hm"]},
        "export-ytvis": {**{k: ["export-ytvis", *v, "--out", "{w}/out/y.json"] for k, v in STORE_CASES.items()},
                         "kind-out": ["export-ytvis", "--store", "{s}", "--out", "{d}"],
                         "write": ["export-ytvis", "--store", "{s}", "--out", "{w}/out/y.json"]},
        "history": {**{k: ["history", "{v}", *v] for k, v in STORE_CASES.items()},
                    "read": ["history", "{v}", "--store", "{s}"]},
        "import-cvat": {**{k: ["import-cvat", *v, "{w}/task/annotations.xml"] for k, v in STORE_CASES.items()},
                        "missing-source": ["import-cvat", "--store", "{s}", "{m}"],
                        "kind-source": ["import-cvat", "--store", "{s}", "{d}"],
                        "write": ["import-cvat", "--store", "{s}", "{w}/task/annotations.xml", "--annotator", "x"]},
        "import-hm": {**{k: ["import-hm", *v, "--masks", "{w}/hm"] for k, v in STORE_CASES.items()},
                      "missing-masks": ["import-hm", "--store", "{s}", "--masks", "{m}"],
                      "kind-masks": ["import-hm", "--store", "{s}", "--masks", "{f}"],
                      "write": ["import-hm", "--store", "{s}", "--masks", "{w}/hm", "--layer", "corrected",
                                "--overwrite", "--by", "x"]},
        "index": {**{k: ["index", *v, "--quiet"] for k, v in STORE_CASES.items()},
                  "write": ["index", "--store", "{s}", "--quiet", "--full"]},
        "init": {"kind": ["init", "{f}"], "write": ["init", "{w}/new-store"]},
        "propagate": {**{k: ["propagate", *v, "--video", "{v}"] for k, v in STORE_CASES.items()},
                      "missing-source": ["propagate", "{m}", "--store", "{s}"],
                      "write": ["propagate", "--store", "{s}", "--video", "{v}", "--force", "--no-progress"]},
        "pseudo-mask": {"missing": ["pseudo-mask", "{m}", "--store", "{s}"],
                        "kind": ["pseudo-mask", "{w}/synth", "--dataset", "synthetic", "--store", "{f}"],
                        "kind-prompts": ["pseudo-mask", "{w}/synth", "--store", "{s}", "--prompts", "{d}"],
                        "write": ["pseudo-mask", "{w}/synth", "--dataset", "synthetic", "--truth-prompts",
                                  "--store", "{w}/new-store", "--no-progress"]},
        "review": {**{k: ["review", *v] for k, v in STORE_CASES.items()},
                   "kind-csv": ["review", "--store", "{s}", "--csv", "{d}"],
                   "write": ["review", "--store", "{s}", "--all", "--csv", "{w}/out/new/queue.csv"]},
        "revert": {**{k: ["revert", "{v}", "{fr}", *v] for k, v in STORE_CASES.items()},
                   "write": ["revert", "{v}", "{fr}", "--store", "{s}"]},
        "stats": {**{k: ["stats", *v] for k, v in STORE_CASES.items()},
                  "kind-output": ["stats", "--store", "{s}", "-o", "{d}"],
                  "write": ["stats", "--store", "{s}", "-o", "{w}/out/stats.txt"]},
        "synth": {"kind": ["synth", "{f}"],
                  "write": ["synth", "{w}/new-synth", "--videos", "1", "--size", "80x48", "--frames", "24-24",
                            "--quiet"]},
        "validate": {**{k: ["validate", *v, "--quiet"] for k, v in STORE_CASES.items()},
                     "read": ["validate", "--store", "{s}", "--quiet"]},
    },
    "fineparser": {
        "eval": {"missing": ["eval", "--checkpoint", "{m}"],
                 "kind": ["eval", "--checkpoint", "{d}"],
                 "write": ["eval", "--checkpoint", RUN, "--out", "{w}/out/eval"]},
        "info": {"bad-preset": ["info", "--preset", "nosuch"],
                 "call": ["info", "--preset", "tiny", "--no-flops"]},
        "predict": {"missing": ["predict", "{m}", "--checkpoint", RUN, "--action-type", "{act}"],
                    "kind": ["predict", "{clip}", "--checkpoint", "{d}", "--action-type", "{act}"],
                    "write": ["predict", "{clip}", "--checkpoint", RUN, "--action-type", "{act}",
                              "--out", "{w}/out/predict"]},
        "train": {"missing": ["train", "--config", "{m}"],
                  "kind": ["train", "--config", "{d}"],
                  "missing-data": [*TRAIN, "--data-root", "{m}", "--run-dir", "{w}/out/run"],
                  "write": [*TRAIN, "--run-dir", "{w}/out/run"]},
    },
}
# Ctrl-C in a command that reads no file of ours: where it is raised instead.
CALLS = {"info": "fineparser.model.summary.summarize_model"}


def _cases():
    for group, commands in TABLE.items():
        for name, cases in commands.items():
            for case, argv in cases.items():
                if case == "write":
                    yield from ((group, name, kind, argv) for kind in ("enospc", "eacces", "ctrl-c"))
                elif case == "read":
                    yield group, name, "ctrl-c-read", argv
                elif case == "call":
                    yield group, name, "ctrl-c-call", argv
                else:
                    yield group, name, case, argv


CASES = list(_cases())


def test_every_command_has_an_entry():
    for group in (cli.hmtools, cli.fineparser):
        ctx = click.Context(group)
        assert sorted(TABLE[group.name]) == sorted(group.list_commands(ctx)), group.name


# -- the world: one tiny store, dataset and training run, copied for each case -----------------

def _invoke(group, args):
    result = CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, f"{group.name} {' '.join(map(str, args))}: {result.output}"
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    from helpers.aqa_fixture import build_tiny_aqa, tiny_records
    from hmtools.store import MaskStore

    w = tmp_path_factory.mktemp("world")
    _invoke(cli.hmtools, ["synth", w / "synth", "--videos", "1", "--size", "80x48", "--frames", "24-24",
                          "--quiet", "--seed", "1"])
    _invoke(cli.hmtools, ["init", w / "store"])
    shutil.copytree(w / "synth" / "FineDiving_HM", w / "hm")
    _invoke(cli.hmtools, ["import-hm", "--store", w / "store", "--masks", w / "hm", "--dataset", "synthetic",
                          "--data-root", w / "synth", "--layer", "pseudo"])
    store = MaskStore.open(w / "store")
    (vid,) = store.video_ids()
    doc = store.read(vid)
    _invoke(cli.hmtools, ["export-cvat", "--store", w / "store", w / "task", "--video", vid])
    _invoke(cli.hmtools, ["import-hm", "--store", w / "store", "--masks", w / "hm", "--layer", "corrected",
                          "--by", "truth"])
    _invoke(cli.hmtools, ["index", "--store", w / "store", "--quiet"])
    # The CVAT task is edited: its first mask drops out, so importing it changes the store.
    xml = (w / "task" / "annotations.xml").read_text()
    start = xml.index("<mask ")
    end = xml.index("</mask>", start) + len("</mask>")
    (w / "task" / "annotations.xml").write_text(xml[:start] + xml[end:])

    records = tiny_records(n_train=3, n_test=1, num_frames=8)
    data_root, _ = build_tiny_aqa(w / "aqa", records)
    _invoke(cli.fineparser, [*(a.format(w=w) for a in TRAIN), "--run-dir", w / "run"])
    test = next(r for r in records if r["split"] == "test")
    clip = data_root / "FINADiving_MTL_256s" / test["competition"] / str(test["idx"])
    (w / "file.txt").write_text("x")
    return w, {"v": vid, "fr": doc.frames[0], "clip": str(clip), "act": test["action_type"], "run": str(w / "run")}


def _tree(root: Path) -> dict[str, str]:
    """A hash of every file but lock files and the derived index (each index file is replaced
    atomically, but a failed build may have replaced some of them: the next build notices)."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not {"locks", "index"} & set(p.parts)}


def _folders(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and not {"locks", "index"} & set(p.parts)}


# -- injection -----------------------------------------------------------------------------------

class _FailingFile:
    """A file opened for writing whose first ``write`` calls ``trip`` (which raises a full disk, a
    revoked permission or Ctrl-C): the file exists, empty, like after the real thing."""

    def __init__(self, fh, trip, path):
        self._fh, self._trip, self._path = fh, trip, path

    def write(self, data):
        self._trip(self._path)
        return self._fh.write(data)

    def writelines(self, lines):
        self._trip(self._path)
        return self._fh.writelines(lines)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)


def _inject(monkeypatch, root: Path, exc: BaseException, *, on: str, once: bool) -> None:
    """Raise ``exc`` at the first write (``on="write"``: a ``write`` to a file, or a rename into a
    folder) or the first read (``on="read"``: an ``open``) of a file under ``root``; ``once``: only
    the first time (Ctrl-C), else every time (a full disk stays full)."""
    real_open, real_replace = builtins.open, os.replace
    fired = []
    prefix = str(root.resolve())

    def ours(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(prefix)

    def trip(path):
        if not (once and fired):
            fired.append(path)
            if isinstance(exc, OSError):  # as the real one: naming the file
                raise type(exc)(exc.errno, exc.strerror, os.fspath(path))
            raise exc

    def fake_open(file, mode="r", *args, **kwargs):
        writing = any(c in mode for c in "wax+")
        if ours(file) and writing and on == "write":
            return _FailingFile(real_open(file, mode, *args, **kwargs), trip, file)
        if ours(file) and not writing and on == "read":
            trip(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_replace(src, dst, *args, **kwargs):
        if on == "write" and ours(dst):
            trip(dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "replace", fake_replace)


def _read_only(root: Path):
    """Make every folder under ``root`` read-only (0o500); returns the undo."""
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    for p in folders:
        p.chmod(0o500)
    return lambda: [p.chmod(0o700) for p in folders]


_PROGRESS = re.compile(r"\d+%\|.*\| *[\d?]+/[\d?]+ \[")  # a tqdm bar: "encode:  50%|###  | 1/2 [00:01<..."


def _shown_lines(output: str) -> list[str]:
    """The lines a terminal shows (the last of each line's carriage-return updates), without
    progress bars and without the "Usage: ..." and "Try ... --help" lines click puts around the
    one error line of a usage error."""
    shown = [ln.split("\r")[-1] for ln in output.split("\n")]
    return [ln for ln in shown if ln.strip() and not ln.startswith(("Usage:", "Try ")) and not _PROGRESS.search(ln)]


@pytest.mark.parametrize("group, command, case, argv", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(world, tmp_path, monkeypatch, group, command, case, argv):
    template, names = world
    w = tmp_path / "w"
    shutil.copytree(template, w, symlinks=True, ignore=lambda folder, _: ["run"] if Path(folder) == template else [])
    (w / "out").mkdir()
    (w / "empty").mkdir()
    args = [a.format(w=w, s=w / "store", f=w / "file.txt", d=w / "empty", m=w / "missing", **names) for a in argv]
    before, folders, undo = _tree(w), _folders(w), None
    if case == "enospc":
        _inject(monkeypatch, w, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), on="write", once=False)
    elif case == "eacces":
        if os.geteuid() == 0:
            _inject(monkeypatch, w, PermissionError(errno.EACCES, os.strerror(errno.EACCES)), on="write",
                    once=False)
        else:
            undo = _read_only(w)
    elif case == "ctrl-c":
        _inject(monkeypatch, w, KeyboardInterrupt(), on="write", once=True)
    elif case == "ctrl-c-read":
        _inject(monkeypatch, w, KeyboardInterrupt(), on="read", once=True)
    elif case == "ctrl-c-call":
        module, attr = CALLS[command].rsplit(".", 1)

        def interrupted(*_a, **_k):
            raise KeyboardInterrupt

        monkeypatch.setattr(module + "." + attr, interrupted)
    try:
        result = CliRunner().invoke(getattr(cli, group), args)
    finally:
        if undo:
            undo()
        monkeypatch.undo()
    lines = _shown_lines(result.output)
    assert result.exit_code == 130 if case.startswith("ctrl-c") else result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert _tree(w) == before, "files changed"
    assert not [p for p in w.rglob("*") if p.name.endswith(".tmp")], "temporary files left"
    assert _folders(w) == folders, "folders left"
