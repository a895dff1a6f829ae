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
