import pytest

from hmtools.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "doc.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "néw")
    assert target.read_text(encoding="utf-8") == "néw"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and _leftovers(tmp_path) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".last.pt.") and tmp.exists()
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous" and _leftovers(tmp_path) == []


def test_writers_may_create_the_temporary_themselves(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"payload")
    with atomic_path(dst) as tmp:
        tmp.unlink()
        tmp.hardlink_to(src)
    assert dst.read_bytes() == b"payload" and _leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_mode_and_a_replaced_one_keeps_its_own(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    fresh = atomic_write_text(tmp_path / "report.csv", "a,b\n")
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0o600
    fresh.chmod(0o640)
    atomic_write_text(fresh, "c,d\n")
    assert fresh.stat().st_mode & 0o777 == 0o640


def test_streamed_files_figures_and_file_sets_are_all_or_nothing(tmp_path):
    from hmtools.atomic import atomic_open, atomic_savefig, removed_on_error

    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "queue.csv", "w") as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []

    class Figure:  # what atomic_savefig needs of a matplotlib figure
        def savefig(self, path, format):
            assert format == "png"
            open(path, "wb").write(b"\x89PNG")

    assert atomic_savefig(Figure(), tmp_path / "fig.png").read_bytes() == b"\x89PNG"
    (tmp_path / "fig.png").unlink()

    with pytest.raises(OSError):
        with removed_on_error() as created:
            for name in ("a.png", "b.png"):
                created.append(tmp_path / name)
                (tmp_path / name).write_bytes(b"x")
            raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_writer_removes_the_folders_it_made_and_no_other(tmp_path):
    from hmtools.atomic import make_dirs, new_folder_removed_on_error, removed_on_error

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "theirs.txt").write_text("x")
    with pytest.raises(KeyboardInterrupt):
        with removed_on_error() as created:
            folder = make_dirs(tmp_path / "out" / "a" / "b", created)
            created.append(folder / "m.png")
            (folder / "m.png").write_bytes(b"x")
            make_dirs(tmp_path / "out", created)  # existed: not recorded
            raise KeyboardInterrupt
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["theirs.txt"]

    # A folder the writer made but somebody else filled in the meantime stays.
    with pytest.raises(OSError):
        with removed_on_error() as created:
            make_dirs(tmp_path / "shared", created)
            (tmp_path / "shared" / "other.txt").write_text("x")
            raise OSError(28, "No space left on device")
    assert (tmp_path / "shared" / "other.txt").exists()

    for keep, left in ((False, False), (True, True)):
        with pytest.raises(RuntimeError):
            with new_folder_removed_on_error(tmp_path / "new" / "store", keep=lambda: keep):
                (tmp_path / "new" / "store" / "videos").mkdir(parents=True)
                raise RuntimeError("checkpoint")
        assert (tmp_path / "new").exists() == left
    with pytest.raises(RuntimeError):  # a folder that existed before is never removed
        with new_folder_removed_on_error(tmp_path / "out"):
            raise RuntimeError("checkpoint")
    assert (tmp_path / "out" / "theirs.txt").exists()
