"""The demo's offline phases: setup, Redis, the simulated history, the Beam pipelines, the first
model and the retraining (the live ones, with the services up, are in demo.live). Each phase says
what it does on the console and hands the next one what it needs; the heavy imports (Beam,
CatBoost) are made by the phase that uses them, so ``fraudops --help`` stays fast."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from apache_beam.options.pipeline_options import PipelineOptions

from demo.config import DemoConfig
from demo.processes import EmbeddedRedis
from demo.ui import console, step
from fraudops.settings import CoreSettings

TRAIN = {
    "iterations": 400,
    "learning_rate": 0.1,
    "depth": 6,
    "progress_every": 0,
    "imbalance_candidates": ["none", "SqrtBalanced"],
    "review_budget_per_day": 150,
}


@dataclass
class Workspace:
    """Where this run's data, models and logs live, and the Redis it uses."""

    root: Path
    prefix: str = field(default_factory=lambda: f"demo{secrets.token_hex(3)}")  # Redis keys
    redis_url: str = ""
    options: PipelineOptions = field(
        default_factory=lambda: PipelineOptions(["--runner=DirectRunner"], save_main_session=False)
    )

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'fraudops.db'}"


def setup(workdir: Path) -> Workspace:
    work = Workspace(workdir.resolve())
    work.root.mkdir(parents=True, exist_ok=True)
    return work


def start_redis(work: Workspace) -> EmbeddedRedis | None:
    """REDIS_URL if given, else an embedded real Redis; the services inherit REDIS_URL."""
    embedded = None
    core = CoreSettings()
    redis_url = core.redis_url if "redis_url" in core.model_fields_set else None
    if redis_url is None:
        with step("starting an embedded Redis (no REDIS_URL given)"):
            embedded = EmbeddedRedis(work.root / "redis").start()
            redis_url = embedded.url
    os.environ["REDIS_URL"] = work.redis_url = redis_url
    return embedded


def simulate_history(work: Workspace, cfg: DemoConfig) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The past (history.parquet) and the payments to replay live; returns (live, split)."""
    from fraudops.simulator import SimulationConfig, simulate

    days = cfg.history_days + cfg.replay_days
    with step(f"simulating {days} days of payments"):
        start = date.today() - timedelta(days=days)
        history = simulate(
            SimulationConfig(
                customers=cfg.customers,
                terminals=cfg.terminals,
                days=days,
                start_date=start,
                seed=cfg.seed,
            )
        )
        split = pd.Timestamp(start + timedelta(days=cfg.history_days), tz="UTC")
        past, live = history[history.timestamp < split], history[history.timestamp >= split]
        live = live[live.timestamp <= pd.Timestamp.now(tz="UTC")]
        past.to_parquet(work.root / "history.parquet", index=False)
        console.print(
            f"    {len(past):,} past payments, {len(live):,} to replay, "
            f"{history.is_fraud.mean():.2%} fraud"
        )
    return live, split


def build_data(work: Workspace, split: pd.Timestamp) -> tuple[str, int]:
    """Beam: the profiles as of the split into Redis, and dataset v1; returns (version, rows)."""
    from beam_pipelines.backfill import BackfillJob, run_backfill
    from beam_pipelines.dataset import DatasetJob, run_dataset
    from fraudops.profile_store.commands import StoreConfig

    history = str(work.root / "history.parquet")
    with step("Beam backfill: profiles as of the split into Redis"):
        job = BackfillJob(history, work.redis_url, StoreConfig(prefix=work.prefix),
                          int(split.timestamp()))  # fmt: skip
        run_backfill(job, work.options)
    with step("Beam dataset build: point-in-time features, version v1"):
        v1, manifest, _ = run_dataset(
            DatasetJob(history, work.datasets, command="fraudops demo"), work.options
        )
    return v1, int(manifest["rows"])


def train_first(work: Workspace, dataset: str, rows: int) -> tuple[str, Path]:
    """Train on the first dataset and make it production; returns (version, report)."""
    from models.config import TrainConfig
    from models.registry import Registry
    from models.report import write_report
    from models.trainer import train_version

    registry = Registry(work.models)
    with step(f"training CatBoost on {dataset} ({rows:,} rows) and promoting it"):
        first, result = train_version(work.datasets, dataset, TrainConfig.model_validate(TRAIN),
                                      registry, "fraudops demo")  # fmt: skip
        registry.set_production(first, "demo: first model")
        report = write_report(registry, first, work.root / "reports" / first)
        console.print(
            f"    {first}: validation AP {result.metrics['average_precision']:.3f}, "
            f"AUC {result.metrics['auc_roc']:.3f}"
        )
    return first, report


CHALLENGER = {**TRAIN, "iterations": 100, "depth": 4, "imbalance_candidates": ["none"]}


def train_challenger(work: Workspace, dataset: str) -> str:
    """A second, smaller model on the same dataset as the ``challenger`` alias, set before the
    services start so every replayed payment is shadow-scored; returns its version."""
    from models.config import TrainConfig
    from models.registry import Registry
    from models.trainer import train_version

    registry = Registry(work.models)
    with step(f"training a challenger on {dataset} (100 trees, depth 4) for shadow scoring"):
        version, _ = train_version(work.datasets, dataset, TrainConfig.model_validate(CHALLENGER),
                                   registry, "fraudops demo: challenger")  # fmt: skip
        registry.set_challenger(version, "demo: shadow-scored during the replay")
    return version


def review_thresholds(work: Workspace, versions: set[str]) -> dict[str, float]:
    """Each model version's review threshold (what the model alone would have held)."""
    from models.registry import Registry

    registry = Registry(work.models)
    return {v: float(registry.manifest(v)["thresholds"]["review"]) for v in versions}


def retrain(work: Workspace) -> tuple[dict[str, Any], str | None]:
    """Dataset v2 from the feedback database, train, gate, promote or refuse; returns the run's
    record and the production version after it."""
    from models.registry import Registry
    from retraining.config import RetrainConfig
    from retraining.run import Paths
    from retraining.run import retrain as retrain_run

    with step("retraining: dataset v2 (Beam), train, gate, promote or refuse"):
        run = retrain_run("on-demand", Paths(work.datasets, work.models, work.db_url),
                          RetrainConfig(train=TRAIN), datetime.now(UTC), work.options,
                          "fraudops demo")  # fmt: skip
        if run["outcome"] == "blocked":
            console.print("    dataset v2 failed the data validation gate: no training")
        else:
            console.print(
                f"    {run['candidate']['version']}: {run['outcome']} — {run['gate']['reason']}"
            )
    return run, Registry(work.models).aliases().get("production")


def backtest_models(
    work: Workspace, models: list[str], dataset: str, split: pd.Timestamp
) -> dict[str, Any]:
    """Each model's backtest totals on the live days of ``dataset`` (the same payments for all);
    a model that cannot be replayed gets its reason instead of numbers."""
    from models.backtest import run_backtest
    from models.registry import Registry, RegistryError

    registry, start = Registry(work.models), split.date().isoformat()
    out: dict[str, Any] = {"dataset": dataset, "from": start, "models": {}}
    with step(f"backtest of {', '.join(models)} on the live days of {dataset} (from {start})"):
        for version in models:
            try:
                result = run_backtest(registry, version, work.datasets, dataset, start)
                out["models"][version] = {
                    **result["totals"],
                    "from": result["from"],
                    "to": result["to"],
                    "seen_by_model": result["seen_by_model"],
                }
            except RegistryError as exc:
                out["models"][version] = {"error": str(exc)}
    return out
