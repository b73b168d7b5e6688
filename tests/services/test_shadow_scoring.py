"""Shadow scoring (issue 19, item 2): the registry's challenger scores every payment after its
answer, never changing it; its verdicts reach the scoring log and the feedback database; past
its CPU budget a counted share is skipped; promotion of the challenger clears the alias."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from sqlalchemy import select

from fraudops.profile_store.commands import StoreConfig
from models.registry import Registry, RegistryError
from services.common import scoring_log
from services.feedback.db import ScoredTransaction, make_engine, session_factory, upgrade
from services.feedback.ingest import ScoringLogIngestor
from tests.services.conftest import PAYMENT, Server, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
N = 60


def add_challenger(root: Path, version: str = "m2", review: float = 0.0) -> None:
    """A copy of m1 with other thresholds: its decisions differ from production's."""
    shutil.copytree(root / "m1", root / version)
    manifest_path = root / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = version
    manifest["thresholds"] = {**manifest["thresholds"], "review": review, "decline": None}
    manifest_path.write_text(json.dumps(manifest))


def payments() -> list[dict[str, str]]:
    return [{**PAYMENT, "transaction_id": f"shadow-{i}", "customer_id": f"sc{i % 7}",
             "amount": f"{20 + i * 37 % 3000}.00",
             "timestamp": f"2026-11-26T11:{i // 60:02d}:{i % 60:02d}Z"}
            for i in range(N)]  # fmt: skip


def run(env: dict[str, str], key: str) -> tuple[list[bytes], str, str]:
    """Raw answers, the /metrics text and the server's output."""
    server = Server(env)
    try:
        with httpx.Client(base_url=server.url, headers=auth(key)) as client:
            bodies = []
            for tx in payments():
                r = client.post("/v1/score", json=tx)
                assert r.status_code == 200, r.text
                bodies.append(r.content)
            time.sleep(0.3)  # the writer's flush (2 ms behind the last answer) counts the shadow
            metrics = client.get("/metrics").text
    finally:
        out = server.stop()  # its last flush writes every entry
    assert "Traceback" not in out, out[-3000:]
    return bodies, metrics, out


def entries(client: redis.Redis, prefix: str) -> dict[str, dict[str, object]]:
    stream = scoring_log.stream_key(prefix)
    return {d["transaction_id"]: d for _, f in client.xrange(stream)
            if (d := orjson.loads(f[scoring_log.FIELD]))}  # fmt: skip


def counter(metrics: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))  # fmt: skip


@pytest.fixture
def other_prefix(redis_client: redis.Redis) -> object:
    prefix = f"test{uuid.uuid4().hex[:10]}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


def test_challenger_never_changes_a_decision_and_its_scores_are_logged(
    scoring_env: dict[str, str], keys: dict[str, str], redis_client: redis.Redis,
    store_config: StoreConfig, other_prefix: str, registry_dir: Path, tmp_path: Path,
) -> None:  # fmt: skip
    without, _, _ = run(scoring_env, keys["score"])
    add_challenger(registry_dir)
    Registry(registry_dir).set_challenger("m2")
    env = {**scoring_env, "FRAUDOPS_KEY_PREFIX": other_prefix}
    with_challenger, metrics, _ = run(env, keys["score"])
    assert with_challenger == without  # byte for byte

    plain, shadowed = (
        entries(redis_client, store_config.prefix),
        entries(redis_client, other_prefix),
    )
    assert len(plain) == len(shadowed) == N
    assert all("shadow" not in d for d in plain.values())
    for tx_id, d in shadowed.items():
        assert d["decision"] == plain[tx_id]["decision"] and d["model_version"] == "m1"
        shadow = d["shadow"]
        assert isinstance(shadow, dict) and shadow["model_version"] == "m2"
        assert shadow["score"] == pytest.approx(d["score"])  # same trees on the same features
        assert shadow["decision"] == "review"  # m2's threshold, never the answer's
    assert any(d["decision"] == "approve" for d in shadowed.values())
    assert counter(metrics, "fraudops_scoring_shadow_scored_total") == N
    assert counter(metrics, "fraudops_scoring_shadow_skipped_total") == 0

    engine = make_engine(f"sqlite:///{tmp_path}/feedback.db")
    upgrade(engine)
    sessions = session_factory(engine)
    ingestor = ScoringLogIngestor(redis_client, sessions, other_prefix, "feedback", "t")
    assert ingestor.drain() == N
    with sessions() as s:
        rows = list(s.scalars(select(ScoredTransaction)))
    assert {r.shadow_model_version for r in rows} == {"m2"}
    for r in rows:
        assert r.shadow_decision == "review"
        assert r.shadow_score == pytest.approx(r.score)
    engine.dispose()


def test_a_tiny_budget_skips_a_counted_share_and_a_foreign_contract_is_refused(
    scoring_env: dict[str, str], keys: dict[str, str], redis_client: redis.Redis,
    store_config: StoreConfig, registry_dir: Path,
) -> None:  # fmt: skip
    add_challenger(registry_dir)
    Registry(registry_dir).set_challenger("m2")
    env = {**scoring_env, "FRAUDOPS_SCORING_SHADOW_MAX_SHARE": "0.000001"}
    _, metrics, _ = run(env, keys["score"])
    scored = counter(metrics, "fraudops_scoring_shadow_scored_total")
    skipped = counter(metrics, "fraudops_scoring_shadow_skipped_total")
    logged = entries(redis_client, store_config.prefix)
    assert scored + skipped == N and skipped >= N - 2 and scored >= 1
    assert sum("shadow" in d for d in logged.values()) == scored

    add_challenger(registry_dir, "m3")
    manifest_path = registry_dir / "m3" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["feature_fingerprint"] = "another-contract"
    manifest_path.write_text(json.dumps(manifest))
    Registry(registry_dir).set_challenger("m3")
    for k in list(redis_client.scan_iter(match=f"{store_config.prefix}:*", count=1000)):
        redis_client.delete(k)
    _, metrics, out = run(scoring_env, keys["score"])
    assert "challenger model load failed" in out and "m3 expects feature contract" in out
    assert counter(metrics, "fraudops_scoring_shadow_scored_total") == 0
    assert all("shadow" not in d for d in entries(redis_client, store_config.prefix).values())


def test_promoting_the_challenger_clears_the_alias(registry_dir: Path) -> None:
    add_challenger(registry_dir)
    reg = Registry(registry_dir)
    with pytest.raises(RegistryError, match="m1 is production"):
        reg.set_challenger("m1")
    reg.set_challenger("m2")
    assert reg.resolve("challenger") == "m2"
    reg.set_production("m2", "shadow gate")
    assert reg.aliases()["challenger"] is None and reg.aliases()["production"] == "m2"
    assert [d["action"] for d in reg.decisions()][-2:] == ["challenger", "promote"]
