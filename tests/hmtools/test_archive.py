"""Hostile zip archives are refused before anything is read or written."""

import stat
import zipfile

import pytest

from hmtools.archive import ArchiveError, ArchiveLimits, check_zip, read_member, safe_extract


def _zip(path, members):
    """members: list of (ZipInfo-or-name, bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _symlink_info(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("bad_member, error", [
    ("../x.txt", r"escapes the target folder"),
    ("a/../../x.txt", r"escapes the target folder"),
    ("/etc/x.txt", r"absolute path"),
    ("C:/x.txt", r"absolute path"),
    ("..\\x.txt", r"escapes the target folder"),
])
def test_path_escapes_refused_nothing_extracted(tmp_path, bad_member, error):
    z = _zip(tmp_path / "a.zip", [("annotations.xml", b"<annotations/>"), (bad_member, b"evil")])
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match=error):
        safe_extract(z, dest)
    assert not dest.exists() or _listing(dest) == []
    assert not (tmp_path / "x.txt").exists()
    with pytest.raises(ArchiveError, match=error):
        read_member(z, "annotations.xml")


def test_symlink_refused(tmp_path):
    z = _zip(tmp_path / "a.zip", [("ok.txt", b"fine"), (_symlink_info("link"), b"/etc/passwd")])
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="symbolic link"):
        safe_extract(z, dest)
    assert _listing(dest) == [] if dest.exists() else True


def test_huge_declared_size_and_bomb_refused(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("annotations.xml", b"<a/>"), ("zeros.bin", b"\0" * 3_000_000)])
    with pytest.raises(ArchiveError, match="compression bomb"):
        check_zip(z, ArchiveLimits(ratio_min_bytes=1_000_000))
    with pytest.raises(ArchiveError, match="declares 3000000 bytes, over the limit"):
        check_zip(z, ArchiveLimits(max_member_bytes=1_000_000, max_ratio=1e9))
    with pytest.raises(ArchiveError, match="more than 1000 bytes in all"):
        check_zip(z, ArchiveLimits(max_total_bytes=1000, max_ratio=1e9))
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError):
        safe_extract(z, dest, ArchiveLimits(max_member_bytes=1_000_000))
    assert not dest.exists() or _listing(dest) == []


def test_lying_declared_size_refused_while_reading(tmp_path):
    z = _zip(tmp_path / "a.zip", [("annotations.xml", b"x" * 5000)])
    # Rewrite the central directory's declared size to 10 bytes.
    raw = bytearray(z.read_bytes())
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError):
        read_member(z, "annotations.xml")


def test_duplicates_and_too_many_members_refused(tmp_path):
    with pytest.warns(UserWarning):
        z = _zip(tmp_path / "dup.zip", [("a.txt", b"1"), ("a.txt", b"2")])
    with pytest.raises(ArchiveError, match="appears twice"):
        check_zip(z)
    z2 = _zip(tmp_path / "many.zip", [(f"{i}.txt", b"1") for i in range(5)])
    with pytest.raises(ArchiveError, match="5 members"):
        check_zip(z2, ArchiveLimits(max_members=4))


def test_not_a_zip(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        check_zip(p)


def test_good_archive_extracts(tmp_path):
    z = _zip(tmp_path / "ok.zip", [("annotations.xml", b"<annotations/>"), ("images/v1/00001.jpg", b"jpg")])
    out = safe_extract(z, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in out) == [
        "annotations.xml", "images/v1/00001.jpg"]
    assert (tmp_path / "out" / "images" / "v1" / "00001.jpg").read_bytes() == b"jpg"
    assert read_member(z, "annotations.xml") == b"<annotations/>"
    assert _listing(tmp_path / "out") == ["annotations.xml", "images", "images/v1", "images/v1/00001.jpg"]
