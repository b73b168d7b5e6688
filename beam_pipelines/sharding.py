"""Stable sharding: the same key lands in the same shard in every process and on every run."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd


def shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def shard_column(values: pd.Series, shards: int) -> np.ndarray:
    return np.fromiter(
        (zlib.crc32(str(v).encode()) % shards for v in values), dtype=np.int64, count=len(values)
    )


def split_frame(frame: pd.DataFrame, column: str, shards: int) -> list[tuple[int, pd.DataFrame]]:
    """(shard, rows of that shard) for every non-empty shard of ``frame[column]``."""
    if frame.empty:
        return []
    keys = shard_column(frame[column], shards)
    return [(int(s), part) for s, part in frame.groupby(keys, sort=True)]
