"""What tests/ops/test_k8s_manifests.py reads: the manifests under docker/k8s (the kustomization
rendered as `kubectl apply -k` would: its resources, namespace and images), the Job templates
under docker/k8s/jobs, the settings the code reads from the environment, and the README's
configuration table and required settings. No cluster and no kubectl: plain files and imports."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "docker" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole"}
Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return copy.deepcopy(_parsed(path))


@functools.cache
def _parsed(path: Path) -> list[Doc]:
    """Parsed once per test run (YAML parsing is most of these tests' time)."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifest_files() -> list[Path]:
    """Every manifest: the kustomization's directory and the Job templates."""
    files = sorted(K8S.glob("*.yaml")) + sorted((K8S / "jobs").glob("*.yaml"))
    return [f for f in files if f != KUSTOMIZATION]


def kustomization() -> Doc:
    doc = load(KUSTOMIZATION)[0]
    assert isinstance(doc, dict)
    return doc


def rendered() -> list[Doc]:
    """The kustomization's output: its resources with its namespace and image overrides."""
    kust = kustomization()
    images = {i["name"]: i for i in kust.get("images", [])}
    docs = []
    for name in kust["resources"]:
        for doc in load(K8S / name):
            doc = copy.deepcopy(doc)
            if doc["kind"] not in CLUSTER_SCOPED and "namespace" in kust:
                doc["metadata"]["namespace"] = kust["namespace"]
            for container in containers(doc):
                repo = container["image"].rsplit(":", 1)[0]
                if repo in images:
                    image = images[repo]
                    container["image"] = f"{image.get('newName', repo)}:{image['newTag']}"
            docs.append(doc)
    return docs


def job_templates() -> list[Doc]:
    return [d for f in sorted((K8S / "jobs").glob("*.yaml")) for d in load(f)]


def pod_spec(doc: Doc) -> Doc | None:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if doc["kind"] in ("Deployment", "Job", "CronJob"):
        return spec["template"]["spec"]
    return None


def workloads() -> Iterator[tuple[str, Doc]]:
    """(the workload's app.kubernetes.io/name, its pod spec) of every Deployment, CronJob, Job."""
    for doc in rendered() + job_templates():
        spec = pod_spec(doc)
        if spec is not None:
            yield doc["metadata"]["labels"]["app.kubernetes.io/name"], spec


def containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return list(spec["containers"]) if spec else []


def config_maps() -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: d.get("data", {}) for d in rendered() if d["kind"] == "ConfigMap"
    }


def env_of(container: Doc) -> dict[str, Doc]:
    """Every variable the container gets: name -> {"configMap": map} (envFrom) or its env entry."""
    maps = config_maps()
    out: dict[str, Doc] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        out.update({key: {"configMap": name} for key in maps[name]})
    out.update({e["name"]: e for e in container.get("env", [])})
    return out


# --- the settings the code reads ------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    from fraudops.settings import CoreSettings
    from models.settings import ModelSettings
    from services.alerts.settings import AlertsSettings
    from services.common.http_protocol import HttpSettings
    from services.feedback.settings import FeedbackSettings
    from services.scoring.settings import ScoringSettings

    classes: list[type[BaseSettings]] = [
        CoreSettings,
        ModelSettings,
        ScoringSettings,
        FeedbackSettings,
        AlertsSettings,
        HttpSettings,
    ]
    try:  # the graceful drain (issue 18, point 3) where it has landed
        from services.common.drain import DrainSettings

        classes.append(DrainSettings)
    except ImportError:
        pass
    return classes


def drain_defaults() -> tuple[float, float]:
    """(FRAUDOPS_DRAIN_S, FRAUDOPS_SHUTDOWN_GRACE_S) defaults: the drain's own where it has
    landed, else the values it is being built with (5 s, 30 s)."""
    try:
        from services.common.drain import DrainSettings
    except ImportError:
        return 5.0, 30.0
    fields = DrainSettings.model_fields
    return float(fields["drain_s"].default), float(fields["shutdown_grace_s"].default)


def env_names(cls: type[BaseSettings]) -> dict[str, bool]:
    """Every environment variable a settings class reads -> whether it holds a secret."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    out = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        is_secret = SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
        for env in names or [(prefix + name).upper()]:
            out[env] = is_secret
    return out


def known_settings() -> dict[str, bool]:
    """name -> secret: a SecretStr field, or a value that carries credentials (API key hashes,
    password hashes, URLs with a password in them)."""
    out: dict[str, bool] = {}
    for cls in settings_classes():
        out.update(env_names(cls))
    credentials = re.compile(r"(DATABASE_URL|REDIS_URL|_API_KEYS?|_ANALYSTS)$")
    return {name: secret or bool(credentials.search(name)) for name, secret in out.items()}


# --- the README ------------------------------------------------------------------------------


def readme_settings(known: set[str], alerts: set[str]) -> set[str]:
    """The names in the first column of the README's configuration table; ``PREFIX_SUFFIX``
    shorthands (`_WINDOW_S` after `FRAUDOPS_SCORING_RATE_LIMIT_PER_KEY`) expanded to the one
    known setting they can mean, ``FRAUDOPS_ALERTS_*`` to every alerts setting."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Configuration") :].split("\n\n")[1]
    names: set[str] = set()
    for row in table.splitlines()[2:]:
        cells = re.findall(r"`([A-Z_*]+)`", row.split("|")[1])
        for cell in cells:
            if cell == "FRAUDOPS_ALERTS_*":
                names |= alerts
            elif cell.startswith("_"):
                first = cells[0]
                stems = [first[:i] for i, ch in enumerate(first) if ch == "_"]
                meant = {stem + cell for stem in stems} & known
                assert len(meant) == 1, f"README: {cell} after {first} means {meant or 'nothing'}"
                names |= meant
            else:
                names.add(cell)
    return names


def readme_required() -> dict[str, set[str]]:
    """The README's "Required per service" list: service -> the settings it needs set."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("Required per service") :].split("\n\n")[1]
    out = {}
    for line in section.splitlines():
        m = re.match(r"- `(\w+)`: (.*)$", line)
        if m:
            out[m.group(1)] = set(re.findall(r"`([A-Z_]+)`", m.group(2)))
    return out


def placeholder(name: str) -> str:
    """A value of the right shape for a Secret's key (the real ones are the operator's)."""
    if name.endswith(("_API_KEYS", "_ANALYSTS")):
        return "[]"
    return {
        "DATABASE_URL": "postgresql://fraudops:pw@postgres:5432/fraudops",
        "REDIS_URL": "redis://redis-cluster-0:6379/0",
    }.get(name, "p" * 40)


def pod_environment(container: Doc) -> dict[str, str]:
    """The variables the container starts with: optional keys unset, Secrets' as placeholders."""
    maps, out = config_maps(), {}
    for name, entry in env_of(container).items():
        source = entry.get("valueFrom", {})
        if "configMap" in entry:
            out[name] = maps[entry["configMap"]][name]
        elif "value" in entry:
            out[name] = entry["value"]
        elif "secretKeyRef" in source and not source["secretKeyRef"].get("optional"):
            out[name] = placeholder(name)
        elif "configMapKeyRef" in source and source["configMapKeyRef"]["key"] in maps.get(
            source["configMapKeyRef"]["name"], {}
        ):
            out[name] = maps[source["configMapKeyRef"]["name"]][source["configMapKeyRef"]["key"]]
    return out
