"""Stable sharding: the same key lands in the same shard in every process and on every run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

# keys with (almost) no repeats: hashing each value beats factorising first (same hashes)
UNIQUE_KEYS = frozenset({"transaction_id"})


def shard_column(values: pd.Series, shards: int, unique: bool = False) -> np.ndarray:
    """Vectorised: pandas' object hash uses a fixed key, so it is stable across processes."""
    strings = values.astype(str).to_numpy(dtype=object)
    hashed = pd.util.hash_array(strings, categorize=not unique)
    return (hashed % np.uint64(shards)).astype(np.int64)


def split_frame(frame: pd.DataFrame, column: str, shards: int) -> list[tuple[int, pd.DataFrame]]:
    """(shard, rows of that shard) for every non-empty shard of ``frame[column]``."""
    if frame.empty:
        return []
    keys = shard_column(frame[column], shards, unique=column in UNIQUE_KEYS)
    # one array of keys, so each group's key is one shard number (the stubs read an array as
    # several key columns, i.e. tuple keys)
    groups: Iterable[tuple[Any, pd.DataFrame]] = frame.groupby(keys, sort=True)
    return [(int(s), part) for s, part in groups]
