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
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v(\d+)$")


class DatasetError(RuntimeError):
    pass


def version_dirs(root: Path) -> list[tuple[int, Path]]:
    if not root.exists():
        return []
    found = []
    for child in root.iterdir():
        m = VERSION_RE.match(child.name)
        if m and (child / MANIFEST).exists():
            found.append((int(m.group(1)), child))
    return sorted(found)


def read_manifest(root: Path, version: str) -> dict[str, Any]:
    path = root / version / MANIFEST
    if not path.exists():
        raise DatasetError(f"dataset version {version!r} not found under {root}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def latest_version(root: Path) -> str | None:
    dirs = version_dirs(root)
    return dirs[-1][1].name if dirs else None


def load_dataset(root: Path, version: str) -> pd.DataFrame:
    manifest = read_manifest(root, version)
    parts = [root / version / f for f in manifest["files"]]
    frames = [pd.read_parquet(p) for p in parts]
    if not frames:
        return pd.DataFrame(columns=manifest["columns"])
    return pd.concat(frames, ignore_index=True).sort_values("transaction_id", ignore_index=True)


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


def new_staging(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def publish(root: Path, staging: Path, manifest: dict[str, Any]) -> str:
    """Write the manifest into ``staging`` and rename it to the next free ``vN``; returns vN."""
    files = sorted(p.name for p in staging.glob("part-*.parquet"))
    manifest = {
        **manifest,
        "files": files,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for _attempt in range(100):
        dirs = version_dirs(root)
        number = dirs[-1][0] + 1 if dirs else 1
        version = f"v{number}"
        manifest["version"] = version
        tmp = staging / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, staging / MANIFEST)
        target = root / version
        try:
            target.mkdir()  # claim the name; fails if a racing builder took it
        except FileExistsError:
            continue
        try:
            os.rename(staging, target)  # onto our own empty directory: atomic on POSIX
        except OSError:
            target.rmdir()
            raise
        return version
    raise DatasetError(f"could not find a free version name under {root}")


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def find_by_hash(root: Path, digest: str, fingerprint: str) -> str | None:
    for _, path in version_dirs(root):
        m = json.loads((path / MANIFEST).read_text())
        if m.get("content_hash") == digest and m.get("feature_fingerprint") == fingerprint:
            return str(path.name)
    return None
