"""Dataset versions: immutable directories of Parquet parts + manifest.json, published atomically.

    <root>/v1/part-00000.parquet ... manifest.json
    <root>/v2/...

A version is built in a staging directory beside the versions and renamed into place; a rename
never replaces an existing version (two builders racing get v3 and v4). The content hash covers
the rows only (row hashes combined by sum and xor), not their order, file layout or build time, so
rebuilding the same inputs gives the same hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudops import versioned


class DatasetError(RuntimeError):
    pass


def version_dirs(root: Path) -> list[tuple[int, Path]]:
    return versioned.version_dirs(root, "v")


def read_manifest(root: Path, version: str) -> dict[str, Any]:
    try:
        return versioned.read_manifest(root, version, "dataset version")
    except versioned.VersionError as exc:
        raise DatasetError(str(exc)) from None


def latest_version(root: Path) -> str | None:
    dirs = version_dirs(root)
    return dirs[-1][1].name if dirs else None


def load_dataset(
    root: Path, version: str, columns: list[str] | None = None, ordered: bool = True
) -> pd.DataFrame:
    """All rows in transaction id order (in part order if not ``ordered``: faster); only
    ``columns`` (+ the id) when given."""
    manifest = read_manifest(root, version)
    parts = [root / version / f for f in manifest["files"]]
    wanted = None if columns is None else list(dict.fromkeys(["transaction_id", *columns]))
    frames = [pd.read_parquet(p, columns=wanted) for p in parts]
    if not frames:
        return pd.DataFrame(columns=wanted or manifest["columns"])
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values("transaction_id", ignore_index=True) if ordered else frame


def part_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """What a dataset part contributes to the manifest; computed where the part is written.

    Row hashes are combined by sum and xor (mod 2^64), so the content hash depends on the rows
    only, not on how they were split into parts or ordered.
    """
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    ts = frame["timestamp"]
    return {
        "columns": list(frame.columns),
        "rows": len(frame),
        "frauds": int(frame["is_fraud"].sum()) if "is_fraud" in frame.columns else None,
        "start": ts.min().isoformat() if len(frame) else None,
        "end": ts.max().isoformat() if len(frame) else None,
        "hash_sum": int(hashes.sum(dtype=np.uint64)),
        "hash_xor": int(np.bitwise_xor.reduce(hashes)) if len(hashes) else 0,
    }


def combine_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    columns = parts[0]["columns"] if parts else []
    rows = sum(p["rows"] for p in parts)
    fraud_parts = [p["frauds"] for p in parts if p["frauds"] is not None]
    frauds = sum(fraud_parts) if fraud_parts else None
    mask = (1 << 64) - 1
    total = sum(p["hash_sum"] for p in parts) & mask
    xor = 0
    for p in parts:
        xor ^= p["hash_xor"]
    digest = hashlib.sha256(json.dumps([columns, rows, total, xor]).encode()).hexdigest()
    starts = [p["start"] for p in parts if p["start"]]
    ends = [p["end"] for p in parts if p["end"]]
    return {
        "rows": rows,
        "frauds": frauds,
        "fraud_rate": frauds / rows if frauds is not None and rows else None,
        "time_range": {
            "start": min(starts) if starts else None,
            "end": max(ends) if ends else None,
        },
        "content_hash": digest,
        "columns": columns,
    }


def content_hash(frame: pd.DataFrame) -> str:
    """The content hash of a whole dataset frame (same value as its parts combined)."""
    return str(combine_summaries([part_summary(frame)])["content_hash"])


new_staging = versioned.new_staging
discard = versioned.discard


def publish(root: Path, staging: Path, manifest: dict[str, Any]) -> str:
    """Publish ``staging`` as the next ``vN`` (see fraudops.versioned); returns vN."""
    files = sorted(p.name for p in staging.glob("part-*.parquet"))
    try:
        return versioned.publish(root, staging, {**manifest, "files": files}, "v")
    except versioned.VersionError as exc:
        raise DatasetError(str(exc)) from None


def find_by_hash(
    root: Path, digest: str, fingerprint: str, invalid_digest: str | None = None
) -> str | None:
    """The version with these rows and this contract that quarantined the same invalid input
    rows (``invalid_rows.digest`` in its manifest; None: none), if one exists."""
    for _, path in version_dirs(root):
        m = json.loads((path / versioned.MANIFEST).read_text())
        quarantined = (m.get("invalid_rows") or {}).get("digest")
        if (m.get("content_hash"), m.get("feature_fingerprint"), quarantined) == (
            digest,
            fingerprint,
            invalid_digest,
        ):
            return str(path.name)
    return None
