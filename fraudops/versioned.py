"""Immutable numbered versions (``v1``, ``m1``, ...): a staging directory renamed into place.

Used for dataset versions and model versions alike. A version is written completely in a staging
directory beside the versions, its manifest last (temp + rename), and then the directory is
renamed to the next free name. The rename never replaces an existing version: the name is claimed
with ``mkdir`` first, so two writers racing get different numbers.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class VersionError(RuntimeError):
    pass


def version_dirs(root: Path, prefix: str = "v") -> list[tuple[int, Path]]:
    """Published versions under ``root`` in number order (a directory without manifest is not)."""
    if not root.exists():
        return []
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    found = []
    for child in root.iterdir():
        m = pattern.match(child.name)
        if m and (child / MANIFEST).exists():
            found.append((int(m.group(1)), child))
    return sorted(found)


def read_manifest(root: Path, version: str, what: str = "version") -> dict[str, Any]:
    path = root / version / MANIFEST
    if not path.exists():
        raise VersionError(f"{what} {version!r} not found under {root}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def new_staging(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish(root: Path, staging: Path, manifest: dict[str, Any], prefix: str = "v") -> str:
    """Write the manifest into ``staging`` and rename it to the next free name; returns it."""
    manifest = {**manifest, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    for _attempt in range(100):
        dirs = version_dirs(root, prefix)
        version = f"{prefix}{dirs[-1][0] + 1 if dirs else 1}"
        manifest["version"] = version
        write_json_atomic(staging / MANIFEST, manifest)
        target = root / version
        try:
            target.mkdir()  # claim the name; fails if a racing writer took it
        except FileExistsError:
            continue
        try:
            os.rename(staging, target)  # onto our own empty directory: atomic on POSIX
        except OSError:
            target.rmdir()
            raise
        return version
    raise VersionError(f"could not find a free version name under {root}")


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def append_jsonl(path: Path, entry: Any) -> None:
    """One JSON line appended and fsynced (O_APPEND: concurrent writers never interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on ``root/.lock``: registries change their aliases under it."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
