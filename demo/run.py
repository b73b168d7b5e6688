"""The whole loop on one machine, as a newcomer meets it (``fraudops demo``).

simulate -> Beam backfill + dataset v1 -> train + report -> scoring, feedback and alerts services
-> replay the next days over HTTP -> in-app answers and chargebacks over HTTP -> dataset v2 ->
retrain -> gate -> promote -> hot-swap -> summary. Secrets (API keys, the token secret, the
analyst password) are made for this run and never written to the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from apache_beam.options.pipeline_options import PipelineOptions
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from demo import traffic
from demo.processes import EmbeddedRedis, Service, free_port

console = Console(stderr=True)


@dataclass
class DemoConfig:
    workdir: Path
    customers: int = 1000
    terminals: int = 2000
    history_days: int = 90
    replay_days: int = 7
    seed: int = 0
    concurrency: int = 4
    answer_rate: float = 0.9
    keep_running: bool = False


def _step(title: str) -> Any:
    class Step:
        def __enter__(self) -> None:
            self.started = time.monotonic()
            console.print(f"[bold cyan]▶[/] {title} …")

        def __exit__(self, *exc: object) -> None:
            if exc[0] is None:
                console.print(
                    f"  [green]✓[/] {title} [dim]({time.monotonic() - self.started:.1f} s)[/]"
                )

    return Step()


def _bar(label: str, total: int) -> Progress:
    p = Progress(
        TextColumn(f"  {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    p.add_task(label, total=total)
    return p


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    from beam_pipelines.backfill import BackfillJob, run_backfill
    from beam_pipelines.dataset import DatasetJob, run_dataset
    from fraudops.profile_store.commands import StoreConfig
    from fraudops.simulator import SimulationConfig, simulate
    from models.config import TrainConfig
    from models.registry import Registry
    from models.report import write_report
    from models.trainer import train_version
    from retraining.config import RetrainConfig
    from retraining.run import Paths, retrain
    from services.alerts.analysts import hash_password
    from services.common.auth import new_key

    started = time.monotonic()
    work = cfg.workdir.resolve()
    datasets, registry_dir = work / "datasets", work / "models"
    db_url = f"sqlite:///{work / 'fraudops.db'}"
    work.mkdir(parents=True, exist_ok=True)
    options = PipelineOptions(["--runner=DirectRunner"], save_main_session=False)
    train_cfg = {
        "iterations": 400,
        "learning_rate": 0.1,
        "depth": 6,
        "progress_every": 0,
        "imbalance_candidates": ["none", "SqrtBalanced"],
        "review_budget_per_day": 150,
    }
    embedded: EmbeddedRedis | None = None
    services: list[Service] = []
    redis_url = os.environ.get("REDIS_URL")
    prefix = f"demo{secrets.token_hex(3)}"
    try:
        if redis_url is None:
            with _step("starting an embedded Redis (no REDIS_URL given)"):
                embedded = EmbeddedRedis(work / "redis").start()
                redis_url = embedded.url
        os.environ["REDIS_URL"] = redis_url

        with _step(f"simulating {cfg.history_days + cfg.replay_days} days of payments"):
            start = date.today() - timedelta(days=cfg.history_days + cfg.replay_days)
            history = simulate(
                SimulationConfig(
                    customers=cfg.customers,
                    terminals=cfg.terminals,
                    days=cfg.history_days + cfg.replay_days,
                    start_date=start,
                    seed=cfg.seed,
                )
            )
            split = pd.Timestamp(start + timedelta(days=cfg.history_days), tz="UTC")
            past, live = history[history.timestamp < split], history[history.timestamp >= split]
            live = live[live.timestamp <= pd.Timestamp.now(tz="UTC")]
            past.to_parquet(work / "history.parquet", index=False)
            console.print(
                f"    {len(past):,} past payments, {len(live):,} to replay, "
                f"{history.is_fraud.mean():.2%} fraud"
            )

        store = StoreConfig(prefix=prefix)
        with _step("Beam backfill: profiles as of the split into Redis"):
            run_backfill(
                BackfillJob(
                    str(work / "history.parquet"), redis_url, store, int(split.timestamp())
                ),
                options,
            )
        with _step("Beam dataset build: point-in-time features, version v1"):
            v1, m1, _ = run_dataset(
                DatasetJob(str(work / "history.parquet"), datasets, command="fraudops demo"),
                options,
            )
        registry = Registry(registry_dir)
        with _step(f"training CatBoost on {v1} ({m1['rows']:,} rows) and promoting it"):
            first, result = train_version(
                datasets, v1, TrainConfig.model_validate(train_cfg), registry, "fraudops demo"
            )
            registry.set_production(first, "demo: first model")
            report = write_report(registry, first, work / "reports" / first)
            console.print(
                f"    {first}: validation AP {result.metrics['average_precision']:.3f}, "
                f"AUC {result.metrics['auc_roc']:.3f}"
            )

        score_key, score_entry = new_key("demo-psp", ["score"])
        cb_key, cb_entry = new_key("demo-chargebacks", ["label:chargeback"])
        console_key, console_entry = new_key(
            "demo-console", ["label:analyst", "label:on-behalf", "monitoring"]
        )
        token_secret = secrets.token_urlsafe(32)
        password = secrets.token_urlsafe(12)
        common = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": db_url,
            "FRAUDOPS_KEY_PREFIX": prefix,
            "FRAUDOPS_MODEL_DIR": str(registry_dir),
        }
        ports = {name: free_port() for name in ("scoring", "feedback", "alerts")}
        with _step("starting the scoring, feedback and alerts services"):
            services = [
                Service(
                    "scoring",
                    ports["scoring"],
                    {
                        **common,
                        "FRAUDOPS_API_KEYS": json.dumps([score_entry]),
                        "FRAUDOPS_SCORING_MODEL_POLL_S": "0.5",
                    },
                    work / "scoring.log",
                    workers=2,
                ),
                Service(
                    "feedback",
                    ports["feedback"],
                    {
                        **common,
                        "FRAUDOPS_FEEDBACK_API_KEYS": json.dumps([cb_entry, console_entry]),
                        "FRAUDOPS_FEEDBACK_TOKEN_SECRET": token_secret,
                    },
                    work / "feedback.log",
                ),
                Service(
                    "alerts",
                    ports["alerts"],
                    {
                        **common,
                        "FRAUDOPS_ALERTS_SESSION_SECRET": secrets.token_urlsafe(32),
                        "FRAUDOPS_ALERTS_ANALYSTS": json.dumps(
                            [{"username": "analyst", "password_hash": hash_password(password)}]
                        ),
                        "FRAUDOPS_ALERTS_FEEDBACK_URL": f"http://127.0.0.1:{ports['feedback']}",
                        "FRAUDOPS_ALERTS_FEEDBACK_API_KEY": console_key,
                        "FRAUDOPS_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{ports['alerts']}",
                    },
                    work / "alerts.log",
                ),
            ]
            for s in services:
                s.start()
        scoring, feedback, alerts = services

        with (
            _step(f"replaying {len(live):,} payments through POST /v1/score"),
            _bar("scored", len(live)) as bar,
        ):
            answers = traffic.replay(
                scoring.url,
                score_key,
                live,
                cfg.concurrency,
                lambda n: bar.advance(bar.task_ids[0], n),
            )
        plan = traffic.feedback_plan(answers, cfg.answer_rate, cfg.seed)
        with (
            _step(f"{len(plan):,} in-app answers and chargebacks through POST /v1/feedback"),
            _bar("labels", len(plan)) as bar,
        ):
            statuses = traffic.send_feedback(
                feedback.url,
                plan,
                token_secret,
                cb_key,
                cfg.concurrency,
                lambda n: bar.advance(bar.task_ids[0], n),
            )
        _wait_ingested(db_url, len(answers))

        with _step("retraining: dataset v2 (Beam), train, gate, promote or refuse"):
            run = retrain(
                "on-demand",
                Paths(datasets, registry_dir, db_url),
                RetrainConfig(train=train_cfg),
                datetime.now(UTC),
                options,
                "fraudops demo",
            )
            if run["outcome"] == "blocked":
                console.print("    dataset v2 failed the data validation gate: no training")
            else:
                console.print(
                    f"    {run['candidate']['version']}: {run['outcome']} — {run['gate']['reason']}"
                )
        serving = _wait_serving(scoring.url, registry.aliases().get("production"))

        summary = _summary(
            answers,
            statuses,
            plan,
            first,
            run,
            serving,
            report,
            f"{alerts.url}/console",
            time.monotonic() - started,
        )
        _print(summary, password)
        (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        if cfg.keep_running:
            console.print("[bold]services are up; Ctrl-C stops them[/]")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return summary
    finally:
        for s in services:
            s.stop()
        if embedded is not None:
            embedded.stop()


def _wait_ingested(db_url: str, expected: int, timeout_s: float = 60) -> None:
    from sqlalchemy import func, select

    from services.feedback.db import ScoredTransaction, make_engine, session_factory

    engine = make_engine(db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with session_factory(engine)() as s:
                if s.scalar(select(func.count()).select_from(ScoredTransaction)) >= expected:
                    return
            time.sleep(0.3)
        raise RuntimeError("the feedback service did not take the whole scoring log")
    finally:
        engine.dispose()


def _wait_serving(url: str, version: str | None, timeout_s: float = 30) -> str | None:
    deadline = time.monotonic() + timeout_s
    current = None
    while time.monotonic() < deadline:
        current = httpx.get(url + "/readyz", timeout=5).json().get("model_version")
        if current == version:
            break
        time.sleep(0.3)
    return current


def _summary(
    answers: pd.DataFrame,
    statuses: pd.Series,
    plan: pd.DataFrame,
    first: str,
    run: dict[str, Any],
    serving: str | None,
    report: Path,
    console_url: str,
    seconds: float,
) -> dict[str, Any]:
    ok = answers[answers.get("error", pd.Series(index=answers.index)).isna()]
    flagged = ok["decision"].isin(traffic.FLAGGED)
    fraud = ok["is_fraud"] == 1
    lat = ok["latency_ms"]
    return {
        "transactions": len(answers),
        "errors": int(len(answers) - len(ok)),
        "decisions": ok["decision"].value_counts().to_dict(),
        "frauds": int(fraud.sum()),
        "frauds_caught": int((flagged & fraud).sum()),
        "fraud_amount": round(float(ok.loc[fraud, "amount"].sum()), 2),
        "money_saved": round(float(ok.loc[flagged & fraud, "amount"].sum()), 2),
        "legit_held": int((flagged & ~fraud).sum()),
        "p50_ms": round(float(lat.quantile(0.5)), 2),
        "p99_ms": round(float(lat.quantile(0.99)), 2),
        "labels_sent": len(plan),
        "labels_accepted": int(statuses.isin([200, 201]).sum()),
        "models": {
            "first": first,
            "candidate": (run.get("candidate") or {}).get("version"),
            "outcome": run["outcome"],
            "serving": serving,
        },
        "datasets": [run["dataset"]["parent"], run["dataset"]["version"]],
        "report": str(report),
        "console": console_url,
        "seconds": round(seconds, 1),
    }


def _print(s: dict[str, Any], password: str) -> None:
    t = Table(title="fraudops demo", show_header=False)
    d = s["decisions"]
    rows = [
        ("payments replayed", f"{s['transactions']:,} ({s['errors']} errors)"),
        ("decisions", ", ".join(f"{k} {d.get(k, 0):,}" for k in ("approve", "review", "decline"))),
        ("frauds caught", f"{s['frauds_caught']:,} of {s['frauds']:,}"),
        ("money saved", f"{s['money_saved']:,.2f} of {s['fraud_amount']:,.2f} fraud amount"),
        ("legitimate payments held", f"{s['legit_held']:,}"),
        ("latency (client side)", f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"),
        ("labels", f"{s['labels_accepted']:,} of {s['labels_sent']:,} accepted"),
        (
            "models",
            f"{s['models']['first']} -> {s['models']['candidate']} "
            f"({s['models']['outcome']}); serving {s['models']['serving']}",
        ),
        ("datasets", " -> ".join(str(v) for v in s["datasets"])),
        ("report", s["report"]),
        ("console", f"{s['console']} (user analyst, password {password}; while running)"),
        ("wall time", f"{s['seconds']:.0f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)
