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


BAD_CSV = (
    "transaction_id,timestamp,customer_id,terminal_id,amount,is_fraud\n"
    "1,2018-04-01T00:00:00Z,c1,t1,10.5,0\n"
    "2,2018-04-01T00:01:00Z,c1,t1,abc,0\n"
    "3,2018-04-01T00:02:00Z,c2,t1,4,1\n"
    "4,2018-04-01T00:03:00Z,c2,t2,0.00,0\n"  # a $0 verification: valid
    "5,2018-04-01T00:04:00Z,c3,t2,-1,0\n"
)


def test_invalid_rows_refuse_by_default_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(BAD_CSV)
    r = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                 "--direct-workers", "1")  # fmt: skip
    assert r.returncode == 1
    assert "2 of 5 rows invalid (40.00%)" in r.stderr
    assert "row 2, field 'amount': not a number (got 'abc')" in r.stderr
    assert "row 5, field 'amount': must be >= 0 (got '-1')" in r.stderr
    assert "--on-invalid quarantine" in r.stderr
    assert "apitools" not in r.stderr
    assert not list((tmp_path / "ds").iterdir())  # no version, no staging left
    # quarantine, but more than the share allows: refused all the same
    r = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                 "--direct-workers", "1", "--on-invalid", "quarantine")  # fmt: skip
    assert r.returncode == 1 and "more than --max-invalid-share 0.01" in r.stderr
    assert not list((tmp_path / "ds").iterdir())


def test_quarantine_keeps_the_good_rows_and_the_bad_ones_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(BAD_CSV)
    dead = tmp_path / "dead"
    r = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                 "--dead-letter", str(dead), "--direct-workers", "1",
                 "--on-invalid", "quarantine", "--max-invalid-share", "0.4")  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = datasets.read_manifest(tmp_path / "ds", "v1")
    assert m["rows"] == 3 and m["invalid_rows"]["history"] == 2
    assert m["invalid_rows"]["quarantine"] == "quarantine.parquet"
    rows = datasets.load_dataset(tmp_path / "ds", "v1")
    assert sorted(rows["transaction_id"]) == ["1", "3", "4"]
    assert rows.set_index("transaction_id").loc["4", "tx_amount"] == 0.0
    q = pd.read_parquet(tmp_path / "ds" / "v1" / "quarantine.parquet")
    assert q[["row", "transaction_id", "amount", "error"]].values.tolist() == [
        [2, "2", "abc", "amount: not a number"],
        [5, "5", "-1", "amount: must be >= 0"],
    ]
    assert set(q["source"]) == {str(path)} and (q["kind"] == "history").all()
    # the raw dead-letter output (--dead-letter) has the same rows, as JSON lines
    records = [
        json.loads(line)
        for f in tmp_path.glob("dead*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert sorted((r["row"], r["error"]) for r in records) == [
        ("2", "amount: not a number"),
        ("5", "amount: must be >= 0"),
    ]
    # the same good rows again with other bad rows: a new version (its quarantine differs)
    path.write_text(BAD_CSV.replace(",-1,", ",-2,"))
    r = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                 "--direct-workers", "1", "--on-invalid", "quarantine",
                 "--max-invalid-share", "0.4")  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "v2", r.stderr
    again = fraudops("dataset", "build", "--history", str(path), "--out", str(tmp_path / "ds"),
                     "--direct-workers", "1", "--on-invalid", "quarantine",
                     "--max-invalid-share", "0.4")  # fmt: skip
    assert again.stdout.strip() == "v2" and "unchanged" in again.stderr


def test_backfill_refuses_before_writing_or_quarantines(
    tmp_path: Path, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(BAD_CSV)
    env = {"REDIS_URL": TEST_REDIS_URL, "FRAUDOPS_KEY_PREFIX": store_config.prefix}
    common = ("backfill", "--history", str(path), "--as-of", "2018-04-02T00:00:00Z",
              "--direct-workers", "1")  # fmt: skip
    r = fraudops(*common, env=env)
    assert r.returncode == 1 and "2 of 5 rows invalid" in r.stderr
    assert "apitools" not in r.stderr
    assert not list(redis_client.scan_iter(match=f"{store_config.prefix}:*"))  # nothing written
    r = fraudops(*common, "--on-invalid", "quarantine", "--max-invalid-share", "0.3", env=env)
    assert r.returncode == 1 and "more than --max-invalid-share 0.3" in r.stderr
    assert not list(redis_client.scan_iter(match=f"{store_config.prefix}:*"))
    q = tmp_path / "rejected.parquet"
    r = fraudops(*common, "--on-invalid", "quarantine", "--max-invalid-share", "0.4",
                 "--quarantine", str(q), env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 invalid rows quarantined" in r.stdout
    assert pd.read_parquet(q)["row"].tolist() == [2, 5]
    c2 = redis_client.hgetall(f"{store_config.prefix}:c:{{c2}}")
    day = 1522540800 // 86400
    assert int(c2[f"d:{day}:n".encode()]) == 2 and int(c2[f"d:{day}:a".encode()]) == 4000
    assert not list(tmp_path.glob("*.quarantine.parquet"))  # --quarantine said where
    # a glob has no one place beside it: --quarantine is asked for
    r = fraudops("backfill", "--history", str(tmp_path / "*.csv"), "--on-invalid", "quarantine",
                 env=env)  # fmt: skip
    assert r.returncode == 2 and "give --quarantine PATH" in r.stderr


def test_beam_commands_do_not_print_the_apitools_notice(tmp_path: Path) -> None:
    """apache_beam logs "apitools not found ..." without its [gcp] extra: filtered, exactly."""
    code = (
        "import logging, sys\n"
        "from fraudops.cli import main\n"
        f"rc = main(['dataset', 'list', '--out', {str(tmp_path)!r}])\n"
        "assert 'apache_beam.io.gcp' in sys.modules, 'Beam (and its gcp io) was not imported'\n"
        "logging.warning('another warning')\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "apitools" not in r.stderr
    assert "another warning" in r.stderr  # other warnings still shown


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
