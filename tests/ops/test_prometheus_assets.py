"""The Prometheus, Alertmanager and Grafana assets in docker/, checked without Docker.

promtool (Debian package `prometheus`) validates the Prometheus config and the rules and runs the
rule unit tests in docker/prometheus/alerts.rules.test.yml; amtool (`prometheus-alertmanager`)
validates the Alertmanager config and its routing. A missing tool fails the test with the package
to install (scripts/ensure_services.sh installs both). The rest is pure Python: the dashboard's
shape, and that every metric a rule or a panel reads is one the services export.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
PROMETHEUS_DIR = DOCKER / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
RULES_YML = PROMETHEUS_DIR / "alerts.rules.yml"
RULES_TEST_YML = PROMETHEUS_DIR / "alerts.rules.test.yml"
ALERTMANAGER_YML = DOCKER / "alertmanager" / "alertmanager.yml"
DASHBOARD_JSON = DOCKER / "grafana" / "dashboards" / "fraudops.json"
GRAFANA_DATASOURCES = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS = DOCKER / "grafana" / "provisioning" / "dashboards" / "fraudops.yml"

RECEIVER = "fraudops-alerts"
WEBHOOK_URL = "http://alerts:8002/v1/alertmanager"
SERVICES = {"scoring": "scoring:8000", "feedback": "feedback:8001", "alerts": "alerts:8002"}
SEVERITIES = {"page", "ticket"}

# every series a rule or a panel may read; a name outside this list (or the recording rules) is
# a typo or a metric nobody exports, and the alert/panel would silently show nothing
KNOWN_METRICS = {
    "fraudops_scoring_request_seconds_bucket",
    "fraudops_scoring_request_seconds_count",
    "fraudops_scoring_request_seconds_sum",
    "fraudops_scoring_errors_total",
    "fraudops_scoring_degraded_total",
    "fraudops_scoring_decisions_total",
    "fraudops_scoring_rule_hits_total",
    "fraudops_model_feature_psi",
    "fraudops_model_score_psi",
    "fraudops_model_live_fraud_rate",
    "fraudops_model_live_precision",
    "fraudops_model_live_recall",
    "fraudops_feedback_labels_total",
    "fraudops_feedback_scoring_log_backlog",
    "fraudops_feedback_profile_labels_pending",
    "fraudops_feedback_background_errors_total",
    "fraudops_stream_groups_recreated_total",
    "up",
}

_PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH: install the Debian package `{package}` "
            f"(apt-get install -y {package}; scripts/ensure_services.sh does it)"
        )
    return path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )


def _load_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES_YML)["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD_JSON.read_text())
    return data


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for name, call in re.findall(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?", s):
        if not call and name.lower() not in _PROMQL_KEYWORDS:
            names.add(name)
    return names


# --- Prometheus -----------------------------------------------------------------------------------


def test_promtool_check_config() -> None:
    """The config is valid, and so are the rule files it names (check config loads them)."""
    promtool = _tool("promtool", "prometheus")
    proc = _run([promtool, "check", "config", PROMETHEUS_YML.name], cwd=PROMETHEUS_DIR)
    _assert_ok(proc)
    assert "1 rule files found" in proc.stdout + proc.stderr


def test_prometheus_config_scrapes_the_services_and_alerts_alertmanager() -> None:
    config = _load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    for name, target in SERVICES.items():
        job = jobs[name]
        assert job["metrics_path"] == "/metrics"
        assert job["scrape_interval"] == "15s"
        static = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        # the scoring replicas: every address Docker's DNS has for the service's name
        found = [f"{n}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
        assert static + found == [target]
    assert config["rule_files"] == [RULES_YML.name]
    targets = [
        t
        for am in config["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["alertmanager:9093"]


def test_promtool_check_rules() -> None:
    promtool = _tool("promtool", "prometheus")
    proc = _run([promtool, "check", "rules", RULES_YML.name], cwd=PROMETHEUS_DIR)
    _assert_ok(proc)
    assert f"{len(_rules())} rules found" in proc.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = _tool("promtool", "prometheus")
    proc = _run([promtool, "test", "rules", RULES_TEST_YML.name], cwd=PROMETHEUS_DIR)
    _assert_ok(proc)
    assert "SUCCESS" in proc.stdout


def test_every_alert_is_labelled_and_described() -> None:
    alerts = _alerts()
    assert set(alerts) == {
        "ScoringLatencyP99High",
        "ScoringErrorRateHigh",
        "ScoringDegradedRatioHigh",
        "FeatureDriftHigh",
        "ScoreDriftHigh",
        "FraudLabelRateSpike",
        "LivePrecisionLow",
        "LiveRecallLow",
        "ScoringLogBacklog",
        "ProfileLabelsPending",
        "FeedbackBackgroundWorkFailing",
        "StreamGroupRecreated",
        "ServiceDown",
    }
    for name, rule in alerts.items():
        assert rule.get("for"), f"{name} has no `for:`"
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["labels"]["service"], name
        assert rule["annotations"]["summary"], name
        assert "$value" in rule["annotations"]["description"], f"{name}: description without $value"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [
        case
        for test in _load_yaml(RULES_TEST_YML)["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    alerts = _alerts()
    unknown = {case["alertname"] for case in cases} - set(alerts)
    assert not unknown, f"unit tests for alerts that do not exist: {unknown}"
    for name in alerts:
        mine = [case for case in cases if case["alertname"] == name]
        firing = [case for case in mine if case.get("exp_alerts")]
        assert firing, f"{name}: no unit test where it fires"
        assert any(not case.get("exp_alerts") for case in mine), (
            f"{name}: no unit test where it is quiet"
        )
        for case in firing:
            for exp in case["exp_alerts"]:
                assert exp.get("exp_labels") and exp.get("exp_annotations"), name


# --- Alertmanager ---------------------------------------------------------------------------------


def test_amtool_check_config() -> None:
    amtool = _tool("amtool", "prometheus-alertmanager")
    proc = _run([amtool, "check-config", ALERTMANAGER_YML.name], cwd=ALERTMANAGER_YML.parent)
    _assert_ok(proc)
    assert "SUCCESS" in proc.stdout


def test_alertmanager_sends_everything_to_the_alerts_service() -> None:
    config = _load_yaml(ALERTMANAGER_YML)
    route = config["route"]
    assert route["receiver"] == RECEIVER
    assert set(route["group_by"]) == {"alertname", "service"}
    assert [r["name"] for r in config["receivers"]] == [RECEIVER]
    (hook,) = config["receivers"][0]["webhook_configs"]
    assert hook["url"] == WEBHOOK_URL
    assert hook["send_resolved"] is True


@pytest.mark.parametrize("alertname", sorted(_alerts()))
def test_amtool_routes_each_alert(alertname: str) -> None:
    """Every alert reaches the webhook, through the route of its severity."""
    amtool = _tool("amtool", "prometheus-alertmanager")
    labels = _alerts()[alertname]["labels"]
    severity = labels["severity"]
    service = "scoring" if "{{" in labels["service"] else labels["service"]
    proc = _run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_YML.name}",
            f"--verify.receivers={RECEIVER}",
            "--tree",
            f"alertname={alertname}",
            f"severity={severity}",
            f"service={service}",
        ],
        cwd=ALERTMANAGER_YML.parent,
    )
    _assert_ok(proc)
    assert f'{{severity="{severity}"}}' in proc.stdout, proc.stdout


# --- Grafana --------------------------------------------------------------------------------------


def test_grafana_dashboard_panels() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    assert len(panels) >= 10
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    datasource_uid = _load_yaml(GRAFANA_DATASOURCES)["datasources"][0]["uid"]
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource_uid}, title
        assert panel["targets"], f"{title}: no targets"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"{title}: target {target['refId']} without expr"


def test_grafana_dashboard_shows_rule_hits_per_rule() -> None:
    """The fraud team's rules (docs/rules.md): one series per rule, the rate of its hits."""
    targets = [
        (panel["title"], target)
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
        if "fraudops_scoring_rule_hits_total" in metric_names(target["expr"])
    ]
    assert len(targets) == 1, targets
    title, target = targets[0]
    expr = re.sub(r"\s+", " ", target["expr"])
    assert expr.startswith("sum by (rule) (rate(fraudops_scoring_rule_hits_total["), title
    assert "{{rule}}" in target["legendFormat"], title


def test_grafana_provisioning() -> None:
    (datasource,) = _load_yaml(GRAFANA_DATASOURCES)["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = _load_yaml(GRAFANA_DASHBOARDS)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


# --- metric names ---------------------------------------------------------------------------------


def test_metric_name_extraction() -> None:
    """The checker below sees metric names, and only them."""
    expr = (
        "histogram_quantile(0.99, sum by (le) ("
        'rate(fraudops_scoring_request_seconds_bucket{endpoint="score"}[5m]))) > 0.025'
        " and on () sum(rate(fraudops_scoring_errors_totl[$__rate_interval] offset 1d)) > 1e3"
    )
    assert metric_names(expr) == {
        "fraudops_scoring_request_seconds_bucket",
        "fraudops_scoring_errors_totl",
    }
    assert metric_names("max by (feature) (fraudops_model_feature_psi) > 0.25") == {
        "fraudops_model_feature_psi"
    }
    assert metric_names('up{job=~"scoring|feedback"} == 0') == {"up"}
    assert metric_names("fraudops:scoring_errors:rate5m / fraudops:scoring_requests:rate5m") == {
        "fraudops:scoring_errors:rate5m",
        "fraudops:scoring_requests:rate5m",
    }


def test_every_metric_used_is_known() -> None:
    rules = _rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    assert recorded, "no recording rules"
    known = KNOWN_METRICS | recorded
    exprs = [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules]
    exprs += [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
    ]
    unknown = []
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        unknown += [f"{where}: {name}" for name in sorted(names - known)]
    assert not unknown, "unknown metric names:\n" + "\n".join(unknown)


def test_service_metrics_used_are_declared_by_the_services() -> None:
    """Every fraudops metric the rules and the dashboard rely on is declared by a service."""
    declared = "\n".join(p.read_text() for p in (REPO / "services").rglob("*.py"))
    for name in sorted(KNOWN_METRICS):
        if not name.startswith("fraudops_"):
            continue
        base = re.sub(r"_(bucket|count|sum)$", "", name) if "_seconds_" in name else name
        assert f'"{base}"' in declared, f"{name} is not declared in services/*/metrics.py"
