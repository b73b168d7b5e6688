"""One retraining run: triggers -> dataset N+1 (Beam) -> train -> promotion gate -> record.

A run happens when asked (on demand) or when an automatic trigger fires. Whatever happens (skipped,
promoted, refused, failed) is appended to ``<registry>/retrain-runs.jsonl`` with the trigger
results, the versions involved and the gate's numbers. Training leaves the new dataset's last
``holdout_days`` out of both its train and tune windows, and the gate judges on exactly those days,
so the candidate is compared with production on payments it never saw. Runs are serialised by a
lock file, so a scheduler and a person cannot train over each other. The scoring services pick a
promoted model up by themselves (they watch the registry's production alias).
"""

from __future__ import annotations

import fcntl
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.dataset import run_dataset
from fraudops import versioned
from models import data_gate, triggers
from models.gate import promote
from models.registry import Registry
from models.trainer import train_version
from retraining.config import RetrainConfig
from retraining.inputs import gather
from retraining.next_dataset import next_version_job

RUNS = "retrain-runs.jsonl"
LOCK = "retrain.lock"


class RunInProgress(RuntimeError):
    pass


@dataclass(frozen=True)
class Paths:
    datasets: Path
    registry: Path
    database_url: str


@contextmanager
def _exclusive(registry: Path) -> Iterator[None]:
    registry.mkdir(parents=True, exist_ok=True)
    with open(registry / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress("another retraining run holds the lock") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def notify_fraud_team(title: str, body: str, run_id: str) -> dict[str, str]:
    """Tell the fraud team through the alerts service's channels (its FRAUDOPS_ALERTS_* settings:
    webhook, email); without a channel configured the run record and the log say it."""
    from services.alerts.channels import Message, channels_from, deliver
    from services.alerts.settings import AlertsSettings

    s = AlertsSettings()
    message = Message(f"retrain:{run_id}", title, tuple(body.splitlines()), "ticket")
    return {ch.name: "sent" if deliver(ch, message, s.max_attempts, s.backoff_s,
                                       s.backoff_max_s)[0] else "failed"
            for ch in channels_from(s)}  # fmt: skip


def record_run(registry: Path, record: dict[str, Any]) -> None:
    versioned.append_jsonl(registry / RUNS, record)


def runs(registry: Path) -> list[dict[str, Any]]:
    return versioned.read_jsonl(registry / RUNS)


def retrain(
    requested: str,
    paths: Paths,
    cfg: RetrainConfig,
    now: datetime,
    options: PipelineOptions,
    command: str = "",
    say: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run once; returns the run record (also appended to the runs log)."""
    registry = Registry(paths.registry)
    record: dict[str, Any] = {"run": uuid.uuid4().hex[:12], "requested": requested,
                              "started_at": now.isoformat(), "command": command}  # fmt: skip
    started = time.monotonic()
    with _exclusive(paths.registry):
        try:
            _run(requested, paths, cfg, now, options, command, say, registry, record)
        except Exception as exc:  # recorded, then re-raised for the caller's exit code
            record.update(outcome="failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(limit=5))  # fmt: skip
            raise
        finally:
            record["seconds"] = round(time.monotonic() - started, 1)
            record_run(paths.registry, record)
    return record


def _run(
    requested: str,
    paths: Paths,
    cfg: RetrainConfig,
    now: datetime,
    options: PipelineOptions,
    command: str,
    say: Callable[[str], None],
    registry: Registry,
    record: dict[str, Any],
) -> None:
    inputs = gather(registry, paths.datasets, paths.database_url, cfg, now)
    production = inputs.production
    results = triggers.evaluate(
        requested,  # type: ignore[arg-type]
        production=production,
        now=now,
        new_label_count=inputs.new_label_count,
        reference=production.get("reference") if production else None,
        recent=inputs.recent if len(inputs.recent) else None,
        decisions=inputs.decisions if len(inputs.decisions) else None,
        cfg=cfg.triggers,
    )
    record["triggers"] = [r.as_dict() for r in results]
    record["production_before"] = production["version"] if production else None
    for r in results:
        say(f"trigger {r.name}: {'FIRED' if r.fired else 'no'} - {r.detail}")
    if not triggers.should_run(results):
        record["outcome"] = "skipped"
        return
    job = next_version_job(paths.datasets, None, paths.database_url, int(now.timestamp()), 8,
                           command or "fraudops retrain")  # fmt: skip
    say("building the next dataset version (Beam)")
    dataset, manifest, created = run_dataset(job, options)
    record["dataset"] = {"version": dataset, "created": created, "parent": manifest.get("parent"),
                         "rows": manifest["rows"], "frauds": manifest["frauds"],
                         "feedback": manifest.get("feedback")}  # fmt: skip
    report = data_gate.validate_version(
        paths.datasets, dataset, data_gate.load_expectations(cfg.expectations)
    )
    record["validation"] = {
        "valid": report["valid"],
        "failed": [c for c in report["checks"] if not c["passed"]],
    }
    if not report["valid"]:
        record["outcome"] = "blocked"
        say(data_gate.explain(report))
        notify_fraud_team(
            f"dataset {dataset} failed validation: retraining stopped",
            data_gate.explain(report),
            record["run"],
        )
        return
    say(f"dataset {dataset} ({manifest['rows']:,} rows) valid; training")
    candidate, result = train_version(paths.datasets, dataset, cfg.train_config(), registry,
                                      command or "fraudops retrain", say)  # fmt: skip
    record["candidate"] = {"version": candidate, "validation": result.metrics,
                           "windows": result.windows}  # fmt: skip
    fired = ", ".join(r.name for r in results if r.fired)
    gate = promote(registry, candidate, paths.datasets, cfg.tolerance, cfg.holdout_days,
                   dataset, reason=f"retrain ({fired})", max_segment_gap=cfg.max_segment_gap,
                   min_segment_frauds=cfg.min_segment_frauds)  # fmt: skip
    record["gate"] = {"promoted": gate.promoted, "reason": gate.reason, "metrics": gate.metrics}
    record["outcome"] = "promoted" if gate.promoted else "refused"
    record["production_after"] = registry.aliases().get("production")
    say(f"{candidate}: {record['outcome']} - {gate.reason}")
