"""Safe reading and extraction of untrusted zip archives (CVAT exports).

Every member is checked *before* anything is read or written, and one bad member refuses the whole
archive: absolute paths (``/x``, ``C:\\x``, ``\\\\server\\x``), ``..`` components, symbolic links and
other non-regular entries, duplicate names, more than ``max_members`` entries, a declared
(uncompressed) size over ``max_member_bytes`` or a total over ``max_total_bytes``, and a compression
ratio over ``max_ratio`` (zip bombs). While reading, no more than the declared size is accepted, so
an archive that lies about its sizes cannot write more than the limits either.

Example:
    >>> names = check_zip("task.zip")                        # doctest: +SKIP
    >>> xml_bytes = read_member("task.zip", "annotations.xml")  # doctest: +SKIP
    >>> safe_extract("task.zip", "out/")                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hmtools.errors import HMError


class ArchiveError(HMError):
    """An archive is unreadable or hostile (path escape, link, bomb); nothing was extracted."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits applied to an untrusted archive (defaults suit CVAT task exports)."""

    max_members: int = 200_000
    max_member_bytes: int = 512 * 1024 ** 2
    max_total_bytes: int = 8 * 1024 ** 3
    max_ratio: float = 200.0
    # Tiny members compress badly or absurdly well; the ratio check starts above this size.
    ratio_min_bytes: int = 1024 * 1024


DEFAULT_LIMITS = ArchiveLimits()


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if not name or "\x00" in name:
        return "empty or NUL-containing name"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        return "absolute path"
    if any(part == ".." for part in PurePosixPath(unified).parts):
        return "path escapes the target folder ('..')"
    # Unix type bits live in the high word; zips made elsewhere leave them 0 (a regular file).
    kind = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file or folder"
    return None


def check_zip(path: str | Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """Validate every member of a zip archive; return the regular-file members.

    Raises:
        ArchiveError: naming the archive, the first bad member and why.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile) as err:
        raise ArchiveError(f"{path}: not a readable zip archive ({err})") from None
    if len(infos) > limits.max_members:
        raise ArchiveError(f"{path}: {len(infos)} members, more than the limit of {limits.max_members}")
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        problem = _member_problem(info)
        if problem:
            raise ArchiveError(f"{path}: member {info.filename[:200]!r} refused: {problem}")
        norm = str(PurePosixPath(info.filename.replace("\\", "/")))
        if norm in seen:
            raise ArchiveError(f"{path}: member {info.filename[:200]!r} appears twice")
        seen.add(norm)
        if info.is_dir():
            continue
        if info.file_size > limits.max_member_bytes:
            raise ArchiveError(f"{path}: member {info.filename[:200]!r} declares {info.file_size} bytes, "
                               f"over the limit of {limits.max_member_bytes}")
        if (info.file_size > limits.ratio_min_bytes
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            raise ArchiveError(f"{path}: member {info.filename[:200]!r} expands {info.file_size} / "
                               f"{max(info.compress_size, 1)} times (compression bomb)")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(f"{path}: members declare more than {limits.max_total_bytes} bytes in all")
        files.append(info)
    return files


def _copy_limited(src, dst, limit: int, label: str) -> None:
    copied = 0
    while True:
        chunk = src.read(1024 * 1024)
        if not chunk:
            return
        copied += len(chunk)
        if copied > limit:
            raise ArchiveError(f"{label}: more data than declared")
        dst.write(chunk)


def read_member(path: str | Path, name: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> bytes:
    """Bytes of one member, after the whole archive passed :func:`check_zip`.

    Raises:
        ArchiveError: the archive is hostile or ``name`` is not in it.
    """
    infos = {i.filename.replace("\\", "/"): i for i in check_zip(path, limits)}
    info = infos.get(name)
    if info is None:
        raise ArchiveError(f"{path}: no member {name!r}")
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as src:
            data = src.read(info.file_size + 1)
    except (OSError, zipfile.BadZipFile, RuntimeError) as err:
        raise ArchiveError(f"{path}: cannot read member {name!r} ({err})") from None
    if len(data) > info.file_size:
        raise ArchiveError(f"{path}: member {name!r} holds more data than declared")
    return data


def member_names(path: str | Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Names (``/``-separated) of the regular files of a checked archive."""
    return [i.filename.replace("\\", "/") for i in check_zip(path, limits)]


def safe_extract(path: str | Path, dest: str | Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[Path]:
    """Extract a checked archive into ``dest``; all or nothing.

    Members are written into a temporary folder beside ``dest`` and moved in only when every one
    extracted within its declared size, so a refused archive leaves ``dest`` untouched.

    Returns:
        the extracted file paths under ``dest``.

    Raises:
        ArchiveError: the archive is hostile or unreadable, or a target file already exists.
    """
    path, dest = Path(path), Path(dest)
    files = check_zip(path, limits)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    out: list[Path] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in files:
                rel = PurePosixPath(info.filename.replace("\\", "/"))
                target = (staging / rel).resolve()
                if staging.resolve() not in target.parents:
                    raise ArchiveError(f"{path}: member {info.filename!r} refused: path escapes the target folder")
                if (root / rel).exists():
                    raise ArchiveError(f"{path}: {root / rel} already exists; extract into an empty folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as dst:
                    _copy_limited(src, dst, info.file_size, f"{path}: member {info.filename!r}")
                out.append(rel)
        moved = []
        for rel in out:
            final = root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
            moved.append(final)
        return moved
    except (OSError, zipfile.BadZipFile, RuntimeError) as err:
        raise ArchiveError(f"{path}: extraction failed ({err})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
