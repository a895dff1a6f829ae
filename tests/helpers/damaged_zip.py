"""Damage one tensor record of a ``torch.save`` zip archive in place, leaving the archive readable."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path


def flip_tensor_byte(path: Path, record: str = "data/0", at: int = 0) -> None:
    """XOR byte ``at`` of the stored bytes of ``record`` (a tensor's storage) with 0xFF.

    The central directory and every header stay intact, so torch.load reads the file, only with a
    changed weight; the record's CRC-32 no longer matches its bytes.
    """
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/" + record))
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    raw[info.header_offset + 30 + name_len + extra_len + at] ^= 0xFF
    path.write_bytes(bytes(raw))
