"""Dataset versions: immutable directories of Parquet parts + manifest.json, published atomically.

    <root>/v1/part-00000.parquet ... manifest.json
    <root>/v2/...

A version is built in a staging directory beside the versions and renamed into place; a rename
never replaces an existing version (two builders racing get v3 and v4). The content hash covers
the rows (sorted by transaction id), not file layout or build time, so rebuilding the same inputs
gives the same hash.
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


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the rows sorted by transaction id, column names included."""
    ordered = frame.sort_values("transaction_id", ignore_index=True)
    digest = hashlib.sha256(json.dumps(list(ordered.columns)).encode())
    row_hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy(dtype=np.uint64)
    digest.update(row_hashes.tobytes())
    return digest.hexdigest()


def new_staging(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def summarize(frame: pd.DataFrame) -> dict[str, Any]:
    ts = frame["timestamp"] if len(frame) else pd.Series(dtype="datetime64[us, UTC]")
    frauds = int(frame["is_fraud"].sum()) if "is_fraud" in frame.columns else None
    return {
        "rows": len(frame),
        "frauds": frauds,
        "fraud_rate": (frauds / len(frame)) if frauds is not None and len(frame) else None,
        "time_range": {
            "start": ts.min().isoformat() if len(ts) else None,
            "end": ts.max().isoformat() if len(ts) else None,
        },
        "content_hash": content_hash(frame),
        "columns": list(frame.columns),
    }


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
