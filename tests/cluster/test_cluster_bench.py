"""``fraudops bench cluster --json --quick``: its own cluster, a master killed mid-run, the
fields the capacity notes are built from, and no error and no lost log entry."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.cli import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow, pytest.mark.extended]

FIELDS = ("payments", "errors", "degraded", "lost_log_entries", "failover_s", "rps_flat_out",
          "p99_ms", "single_node_rps", "log_bytes_per_entry", "bytes_per_customer_profile",
          "redis_masters_cpu_us_per_payment", "scoring_cpu_ms_per_payment")  # fmt: skip


@pytest.mark.timeout(600)
def test_bench_cluster_quick_fails_over_with_no_error_and_nothing_lost() -> None:
    assert shutil.which("wrk"), "the bench needs wrk"
    r = run_cli("bench", "cluster", "--json", "--quick", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert [f for f in FIELDS if f not in out] == []
    why = {k: out[k] for k in ("errors_wrk", "probe_statuses", "lost_log_entries")}
    assert out["errors"] == 0 and out["lost_log_entries"] == 0, why
    assert out["doubled_log_entries"] == 0, out
    assert out["degraded"] > 0 and out["failover_s"] is not None  # the kill was felt
    assert out["failover_s"] <= 10, out  # node timeout 2 s, then the promotion and a new map
    assert out["payments"] > 1000 and out["rps_flat_out"] > 0 and out["single_node_rps"] > 0
