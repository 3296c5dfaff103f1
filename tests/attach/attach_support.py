"""What the attach tests share besides fixtures: the data directory and map reading."""

from __future__ import annotations

import struct
from pathlib import Path

DATA = Path(__file__).parent / "data"


def read_u64(kmap, key: int) -> int:
    """One u64 value of an array map."""
    return struct.unpack("<Q", kmap.lookup(struct.pack("<I", key))[:8])[0]
