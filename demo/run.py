"""The whole loop on one machine, as a newcomer meets it (``fraudops demo``).

simulate -> Beam backfill + dataset v1 -> train + report, and a challenger -> scoring, feedback and
alerts services -> replay the first half of the next days over HTTP (shadow-scored) -> in-app
answers and chargebacks over HTTP -> the fraud team lists the terminals where several card holders
were defrauded and activates a rule declining there (demo.analyst) -> the second half, its answers
and chargebacks -> shadow report -> dataset v2 -> retrain -> gate -> promote -> hot-swap ->
summary. Secrets (API keys, the token secret, the analyst password) are made for this run and
never written to the repository. The phases live in
demo.phases (offline) and demo.live (services up); this module is the loop and the clean-up.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd

from demo import analyst, live, phases
from demo.config import DemoConfig
from demo.processes import EmbeddedRedis, Service
from demo.summary import print_summary, rules_result, summarise

__all__ = ["DemoConfig", "run_demo"]


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every phase, print and write the summary; the processes started stop at the end
    (or when a phase fails)."""
    started = time.monotonic()
    work = phases.setup(cfg.workdir)
    embedded: EmbeddedRedis | None = None
    services: list[Service] = []
    try:
        embedded = phases.start_redis(work)
        payments, split = phases.simulate_history(work, cfg)
        v1, rows = phases.build_data(work, split)
        first, report = phases.train_first(work, v1, rows)
        challenger = phases.train_challenger(work, v1)

        creds = live.Credentials.make()
        services = live.define_services(work, creds)
        live.start_services(services)
        scoring, feedback, alerts = services

        # the first half of the live days; the fraud team acts on its labels; the second half
        mid = split + pd.Timedelta(days=cfg.replay_days / 2)
        first_half = live.replay(scoring, creds, payments[payments.timestamp < mid], cfg,
                                 "the first half: ")  # fmt: skip
        plan, statuses = live.send_labels(feedback, creds, first_half, cfg)
        live.wait_ingested(work.db_url, len(first_half))
        since = max(split, mid - pd.Timedelta(days=2)).to_pydatetime()
        activation = analyst.act(work, scoring, alerts, creds, since)
        second_half = live.replay(scoring, creds, payments[payments.timestamp >= mid], cfg,
                                  "the second half: ")  # fmt: skip
        more_plan, more_statuses = live.send_labels(feedback, creds, second_half, cfg)
        answers = pd.concat([first_half, second_half], ignore_index=True)
        plan = pd.concat([plan, more_plan], ignore_index=True)
        statuses = pd.concat([statuses, more_statuses], ignore_index=True)
        live.wait_ingested(work.db_url, len(answers))
        review_at = phases.review_thresholds(work, set(second_half["model_version"].dropna()))
        hits = analyst.metric_hits(scoring.url)
        rules = rules_result(first_half, second_half, activation, hits, review_at)
        shadow = live.shadow_result(work, challenger)

        run, production = phases.retrain(work)
        serving = live.wait_serving(scoring.url, production)
        candidate = (run.get("candidate") or {}).get("version")
        models = [first, *([candidate] if candidate else [])]
        backtest = phases.backtest_models(work, models, run["dataset"]["version"], split)

        summary = summarise(answers, statuses, plan, first, run, serving, report,
                            f"{alerts.url}/console", time.monotonic() - started)  # fmt: skip
        summary["backtest"] = backtest
        summary["shadow"] = shadow
        summary["rules"] = rules
        print_summary(summary, creds.password, creds.admin_password)
        (work.root / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        if cfg.keep_running:
            live.serve_until_interrupted()
        return summary
    finally:
        for s in services:
            s.stop()
        if embedded is not None:
            embedded.stop()
