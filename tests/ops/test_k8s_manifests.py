"""The Kubernetes manifests (docker/k8s), checked without a cluster: every manifest against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict: an unknown or misspelt field fails),
the kustomization's resource list, and their agreement with the code: the settings the pods get
are ones the code reads, every README setting is wired, credentials come only from Secrets, the
probes hit routes the apps serve on the ports they listen on, and every container's command
parses with the fraudops command line."""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from starlette.testclient import TestClient

from tests.ops.k8s import (
    K8S,
    REPO,
    Doc,
    config_maps,
    containers,
    drain_defaults,
    env_names,
    env_of,
    job_templates,
    known_settings,
    kustomization,
    load,
    manifest_files,
    pod_environment,
    pod_spec,
    readme_required,
    readme_settings,
    rendered,
    workloads,
)

# the oldest Kubernetes the manifests are for (CronJob timeZone: GA in 1.27) and the newest
# schemas kubernetes-validate ships
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SERVICES = {"scoring": 8000, "feedback": 8001, "alerts": 8002}
IMAGES = {
    "fraudops-scoring": "scoring",
    "fraudops-feedback": "feedback",
    "fraudops-alerts": "alerts",
    "fraudops-jobs": "beam",
}
PLATFORM_ENV = {"HOME"}  # not a fraudops setting: where libraries put caches (read-only root)
PRESTOP_S = 10


def docs_of(kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in rendered() if d["kind"] == kind}


def deployment(service: str) -> Doc:
    return docs_of("Deployment")[f"fraudops-{service}"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path, version: str) -> None:
    errors = []
    for doc in load(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            name = doc["metadata"].get("name") or doc["metadata"]["generateName"]
            errors.append(f"{doc['kind']} {name}: {where}: {exc.message}")
    assert not errors, f"{path.name} (Kubernetes {version}):\n" + "\n".join(errors)


def test_a_misspelt_or_mistyped_field_is_refused() -> None:
    """The validation above is not vacuous: strict schemas refuse what a cluster would."""
    good = deployment("scoring")
    kubernetes_validate.validate(good, VERSIONS[-1], strict=True)
    for field, value in (
        ("readinesProbe", {"httpGet": {"path": "/readyz", "port": 8000}}),
        ("ports", [{"containerPort": "8000"}]),
    ):
        bad = copy.deepcopy(good)
        bad["spec"]["template"]["spec"]["containers"][0][field] = value
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_the_kustomization_lists_every_manifest_and_the_templates_are_apart() -> None:
    listed = kustomization()["resources"]
    assert all((K8S / name).is_file() for name in listed), listed
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk, f"not listed: {on_disk - set(listed)}"
    assert not [d for d in rendered() + job_templates() if d["kind"] == "Secret"], (
        "Secrets are created by the operator (docs/kubernetes.md), never committed"
    )
    for job in job_templates():  # `kubectl create -f`: a new Job each time, in the namespace
        assert job["kind"] == "Job" and "name" not in job["metadata"], job["metadata"]
        assert job["metadata"]["generateName"] and job["metadata"]["namespace"] == "fraudops"
    tags = {i["name"]: i["newTag"] for i in kustomization()["images"]}
    for doc in rendered() + job_templates():
        for c in containers(doc):
            assert c["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1] in IMAGES, c["image"]
    for job in job_templates():  # the templates are not rendered: same tag by hand
        image = containers(job)[0]["image"]
        assert image == f"fraudops-jobs:{tags['fraudops-jobs']}", image


def test_the_workloads_the_issue_asks_for() -> None:
    deployments, services = docs_of("Deployment"), docs_of("Service")
    for name, port in SERVICES.items():
        pods = deployments[f"fraudops-{name}"]["spec"]["template"]["metadata"]["labels"]
        svc = services[f"fraudops-{name}"]["spec"]
        assert svc["selector"].items() <= pods.items() and svc["ports"][0]["port"] == port
        pdbs = [
            p
            for p in docs_of("PodDisruptionBudget").values()
            if p["spec"]["selector"]["matchLabels"].items() <= pods.items()
        ]
        assert len(pdbs) == 1, f"{name}: one PodDisruptionBudget"
    (hpa,) = docs_of("HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraudops-scoring",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in deployments["fraudops-scoring"]["spec"], "the HPA owns the count"
    (cron,) = docs_of("CronJob").values()
    assert containers(cron)[0]["args"] == ["scheduler", "--once"]
    commands = {tuple(containers(j)[0]["args"][:2]) for j in job_templates()}
    assert {("retrain", "--trigger"), ("backfill", "--history"), ("dataset", "build")} <= commands
    pvc = docs_of("PersistentVolumeClaim")["fraudops-models"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    core = config_maps()["fraudops-core"]
    assert core["REDIS_CLUSTER"] == "true", "REDIS_URL names a Redis Cluster seed"
    for app, spec in workloads():  # the registry volume at FRAUDOPS_MODEL_DIR
        mounts = {m["mountPath"]: m for m in spec["containers"][0].get("volumeMounts", [])}
        if app != "alerts":
            model_dir = mounts[core["FRAUDOPS_MODEL_DIR"]]
            assert model_dir.get("readOnly", False) == (app in SERVICES), app


@pytest.mark.parametrize("service", SERVICES)
def test_deployments_drain_spread_and_are_locked_down(service: str) -> None:
    spec = deployment(service)["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= c["resources"][kind].keys(), kind
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRESTOP_S)]
    assert spec["terminationGracePeriodSeconds"] > PRESTOP_S + sum(drain_defaults())
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, "writable /tmp (metrics files)"
    labels = deployment(service)["spec"]["template"]["metadata"]["labels"]
    keys = {
        t["topologyKey"]
        for t in spec["topologySpreadConstraints"]
        if t["labelSelector"]["matchLabels"].items() <= labels.items()
    }
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    """The namespace enforces `restricted`: a pod short of it would be refused at creation."""
    (ns,) = docs_of("Namespace").values()
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for app, spec in workloads():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, app
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, app
        assert spec["automountServiceAccountToken"] is False, app
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, app
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}, app
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, app
        kinds = {next(k for k in v if k != "name") for v in spec.get("volumes", [])}
        assert kinds <= {"persistentVolumeClaim", "emptyDir", "configMap", "secret"}, app


def test_every_variable_is_a_setting_and_every_readme_setting_is_wired() -> None:
    known = known_settings()
    from services.alerts.settings import AlertsSettings

    table = readme_settings(set(known), set(env_names(AlertsSettings)))
    maps = config_maps()
    wired: dict[str, set[str]] = {}
    given: dict[str, set[str]] = {}  # with a value (optional keys unset)
    for app, spec in workloads():
        env = env_of(spec["containers"][0])
        sources = {s["configMapRef"]["name"] for s in spec["containers"][0]["envFrom"]}
        assert "fraudops-core" in sources, f"{app}: the settings every service must share"
        unknown = set(env) - set(known) - PLATFORM_ENV
        assert not unknown, f"{app}: not settings the code reads: {sorted(unknown)}"
        for name, entry in env.items():
            ref = entry.get("valueFrom", {}).get("configMapKeyRef")
            if ref:  # optional keys are documented (commented out) in the ConfigMap's file
                present = ref["key"] in maps[ref["name"]]
                assert present or (
                    ref.get("optional") and f"# {ref['key']}:" in (K8S / "config.yaml").read_text()
                ), f"{app}: {name}"
        wired.setdefault(app, set()).update(env)
        given.setdefault(app, set()).update(pod_environment(spec["containers"][0]))
    everywhere = set().union(*wired.values())
    assert not table - everywhere, f"README settings not wired: {sorted(table - everywhere)}"
    required = readme_required()
    assert set(required) == {*SERVICES, "jobs"}, required
    jobs = {"scheduler", "retrain", "backfill", "dataset-build"}
    for service, names in required.items():
        for app in jobs if service == "jobs" else {service}:
            assert not names - given[app], f"{app}: required, not set: {names - given[app]}"


def test_credentials_come_only_from_secrets_and_every_secret_is_documented() -> None:
    secrets = {name for name, secret in known_settings().items() if secret}
    leaked = {k for data in config_maps().values() for k in data} & secrets
    assert not leaked, f"credentials in a ConfigMap: {leaked}"
    guide = (REPO / "docs" / "kubernetes.md").read_text()
    for app, spec in workloads():
        for e in spec["containers"][0].get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if e["name"] in secrets:
                assert ref and set(e) == {"name", "valueFrom"}, f"{app}: {e['name']}: secretKeyRef"
            if ref:
                command = guide.split(f"create secret generic {ref['name']} ")
                assert len(command) > 1, f"docs/kubernetes.md: create {ref['name']}"
                assert f"{ref['key']}=" in command[1].split("\n\n")[0], (ref, "undocumented")


def command_line(container: Doc) -> list[str]:
    """The image's ENTRYPOINT (its Dockerfile) + the container's args, without `fraudops`."""
    name = container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]
    text = (REPO / "docker" / f"{IMAGES[name]}.Dockerfile").read_text()
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (\[.*\])$", text, re.M)[-1])
    assert entrypoint[0] == "fraudops"
    return [*entrypoint[1:], *container.get("args", [])]


def parse(argv: list[str]) -> argparse.Namespace:
    """As `fraudops` parses it; unknown flags refused even where Beam would take them."""
    from fraudops.cli import COMMANDS

    module = importlib.import_module(COMMANDS[argv[0]][0])
    parser = argparse.ArgumentParser(prog=f"fraudops {argv[0]}", exit_on_error=False)
    module.add_arguments(parser)
    ns, extra = parser.parse_known_args(argv[1:])
    assert not extra, f"fraudops {argv[0]}: unknown arguments {extra}"
    return ns


@pytest.mark.parametrize("service", SERVICES)
def test_probes_hit_routes_the_app_serves_on_its_port(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.commands.serve import APPS

    (c,) = deployment(service)["spec"]["template"]["spec"]["containers"]
    args = parse(command_line(c))
    assert args.service == service and args.host == "0.0.0.0"
    assert args.port == SERVICES[service] == c["ports"][0]["containerPort"]
    for name in known_settings():
        monkeypatch.delenv(name, raising=False)
    for name, value in pod_environment(c).items():
        monkeypatch.setenv(name, value)
    module, factory = APPS[service].split(":")
    app: Any = getattr(importlib.import_module(module), factory)()  # the pod's settings validate
    # no lifespan (no Redis, no model): a probe's route answers, if only 500 for missing state
    client = TestClient(app, raise_server_exceptions=False)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        status = client.get(get["path"]).status_code
        assert status not in (404, 405), f"{service} {probe}: {get['path']} is not served"
        assert get["port"] in (c["ports"][0]["name"], args.port), f"{service} {probe}: port"


def test_job_commands_parse_and_their_settings_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from fraudops.settings import CoreSettings
    from models.settings import ModelSettings

    for doc in [d for d in rendered() if d["kind"] == "CronJob"] + job_templates():
        (c,) = pod_spec(doc)["containers"]  # type: ignore[index]
        parse(command_line(c))
        for name in known_settings():
            monkeypatch.delenv(name, raising=False)
        for name, value in pod_environment(c).items():
            monkeypatch.setenv(name, value)
        CoreSettings()
        ModelSettings()
