"""The pipelines as a user runs them: fraudops dataset build / backfill (real subprocesses,
DirectRunner on both cores, real Redis)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import redis

from fraudops import datasets
from fraudops.features import FEATURE_NAMES, FINGERPRINT
from fraudops.features.offline import fixed_delay_labels, fold_entities
from fraudops.profile_store.commands import StoreConfig
from fraudops.readers import iter_txns, validate_history
from fraudops.simulator import SimulationConfig, simulate
from tests.conftest import TEST_REDIS_URL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def fraudops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudops.cli", *args],
        capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})},
    )  # fmt: skip


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h") / "history.parquet"
    simulate(SimulationConfig(customers=120, terminals=240, days=25, seed=2)).to_parquet(path)
    return path


def test_dataset_versions_are_immutable_and_reproducible(
    history_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "datasets"
    first = fraudops("dataset", "build", "--history", str(history_file), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "v1"
    m = datasets.read_manifest(out, "v1")
    df = pd.read_parquet(history_file)
    assert m["rows"] == len(df) and m["frauds"] == int(df["is_fraud"].sum())
    assert m["features"] == list(FEATURE_NAMES) and m["feature_fingerprint"] == FINGERPRINT
    assert m["parent"] is None and m["feature_set_version"] == "1"
    assert m["time_range"]["start"].startswith("2018-04-01")
    assert "fraudops dataset build" in m["command"]
    rows = datasets.load_dataset(out, "v1")
    assert list(rows.columns[4 : 4 + len(FEATURE_NAMES)]) == list(FEATURE_NAMES)
    assert datasets.content_hash(rows) == m["content_hash"]
    before = tree_digest(out / "v1")

    again = fraudops("dataset", "build", "--history", str(history_file), "--out", str(out))
    assert again.returncode == 0 and again.stdout.strip() == "v1" and "unchanged" in again.stderr

    changed = tmp_path / "more.parquet"
    df.head(len(df) - 100).to_parquet(changed)
    second = fraudops("dataset", "build", "--history", str(changed), "--out", str(out), "--json")
    assert second.returncode == 0, second.stderr
    m2 = json.loads(second.stdout[: second.stdout.rindex("}") + 1])
    assert m2["version"] == "v2" and m2["parent"] == "v1" and m2["rows"] == len(df) - 100
    assert tree_digest(out / "v1") == before  # v1 untouched
    listing = fraudops("dataset", "list", "--out", str(out))
    assert "v1" in listing.stdout and "parent=v1" in listing.stdout
    assert not list(out.glob(".staging-*"))


def test_bad_rows_go_to_the_dead_letter_file(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "transaction_id,timestamp,customer_id,terminal_id,amount,is_fraud\n"
        "1,2018-04-01T00:00:00Z,c1,t1,10.5,0\n"
        "2,2018-04-01T00:01:00Z,c1,t1,abc,0\n"
        "3,2018-04-01T00:02:00Z,c2,t1,4,1\n"
    )
    dead = tmp_path / "dead"
    r = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                 "--dead-letter", str(dead), "--direct-workers", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert datasets.read_manifest(tmp_path / "ds", "v1")["rows"] == 2
    records = [
        json.loads(line)
        for f in tmp_path.glob("dead*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert [(r["row"], r["error"]) for r in records] == [("2", "amount: not a number")]


def test_publish_never_overwrites_a_version(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"transaction_id": ["a"], "timestamp": pd.to_datetime(["2018-04-01T00:00:00Z"])}
    )
    versions = []
    for _ in range(3):
        staging = datasets.new_staging(tmp_path)
        frame.to_parquet(staging / "part-00000.parquet")
        versions.append(datasets.publish(tmp_path, staging, {"rows": 1}))
    assert versions == ["v1", "v2", "v3"]
    (tmp_path / "v4").mkdir()  # somebody else claimed v4 meanwhile
    (tmp_path / "v4" / "manifest.json").write_text("{}")
    staging = datasets.new_staging(tmp_path)
    assert datasets.publish(tmp_path, staging, {"rows": 1}) == "v5"


def test_backfill_is_idempotent_and_equals_the_offline_fold(
    history_file: Path, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    as_of = "2018-04-20T12:00:00Z"
    env = {"REDIS_URL": TEST_REDIS_URL, "FRAUDOPS_KEY_PREFIX": store_config.prefix}

    def dump() -> dict[bytes, object]:
        out: dict[bytes, object] = {}
        for key in redis_client.scan_iter(match=f"{store_config.prefix}:*", count=1000):
            kind = redis_client.type(key)
            out[key] = redis_client.hgetall(key) if kind == b"hash" else redis_client.get(key)
        return out

    r = fraudops("backfill", "--history", str(history_file), "--as-of", as_of, env=env)
    assert r.returncode == 0, r.stderr
    first = dump()
    r = fraudops("backfill", "--history", str(history_file), "--as-of", as_of, env=env)
    assert r.returncode == 0, r.stderr
    assert dump() == first

    history, _ = validate_history(pd.read_parquet(history_file))
    cut = int(pd.Timestamp(as_of).timestamp())
    txns = list(iter_txns(history))
    labels = [e for e in fixed_delay_labels(history, 7) if e.arrival_ts < cut]
    for kind in ("customer", "terminal"):
        _, folds = fold_entities(kind, [*txns, *labels], as_of=cut, features=False)  # type: ignore[arg-type]
        for entity_id, fold in folds.items():
            key = f"{store_config.prefix}:{kind[0]}:{{{entity_id}}}".encode()
            stored = {k.decode(): int(v) for k, v in first.get(key, {}).items()}  # type: ignore[union-attr]
            assert stored == fold.state.to_hash(), (kind, entity_id)
    assert "customers and" in r.stdout
