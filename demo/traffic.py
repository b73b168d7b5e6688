"""Traffic of the demo over HTTP: payments replayed through ``/v1/score``, then the card holders'
in-app answers for held payments and the banks' late chargebacks through ``/v1/feedback``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from services.feedback import tokens

FLAGGED = ("review", "decline")


def payment(row: Any) -> dict[str, Any]:
    return {
        "transaction_id": row.transaction_id,
        "timestamp": row.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer_id": row.customer_id,
        "terminal_id": row.terminal_id,
        "amount": f"{row.amount:.2f}",
        **{
            k: getattr(row, k)
            for k in ("currency", "mcc", "country", "channel")
            if isinstance(getattr(row, k, None), str)
        },
    }


async def _gather(
    calls: list[Callable[[httpx.AsyncClient], Any]],
    concurrency: int,
    progress: Callable[[int], None],
) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(call: Callable[[httpx.AsyncClient], Any]) -> Any:
            async with sem:
                out = await call(client)
                progress(1)
                return out

        return await asyncio.gather(*(one(c) for c in calls))


def replay(
    url: str, key: str, txs: pd.DataFrame, concurrency: int, progress: Callable[[int], None]
) -> pd.DataFrame:
    """Score every payment in time order (``concurrency`` in flight); answers + client latency."""
    headers = {"Authorization": f"Bearer {key}"}

    def call(body: dict[str, Any]) -> Callable[[httpx.AsyncClient], Any]:
        async def go(client: httpx.AsyncClient) -> dict[str, Any]:
            started = time.perf_counter()
            r = await client.post(f"{url}/v1/score", json=body, headers=headers)
            ms = (time.perf_counter() - started) * 1000
            if r.status_code != 200:
                return {
                    "transaction_id": body["transaction_id"],
                    "error": r.status_code,
                    "latency_ms": ms,
                }
            a = r.json()
            return {
                "transaction_id": a["transaction_id"],
                "decision": a["decision"],
                "score": a["score"],
                "degraded": a["degraded"],
                "model_version": a["model_version"],
                "rules": a.get("rules", []),
                "latency_ms": ms,
            }

        return go

    ordered = txs.sort_values(["timestamp", "transaction_id"])
    answers = asyncio.run(
        _gather([call(payment(r)) for r in ordered.itertuples()], concurrency, progress)
    )
    return pd.DataFrame(answers).merge(
        ordered[["transaction_id", "amount", "is_fraud", "customer_id", "terminal_id"]],
        on="transaction_id",
    )


def feedback_plan(answers: pd.DataFrame, answer_rate: float, seed: int) -> pd.DataFrame:
    """Who says what: held payments' card holders answer in-app (most of them), the truth;
    frauds that went through come back later as chargebacks."""
    rng = np.random.default_rng(seed)
    flagged = answers[answers["decision"].isin(FLAGGED)]
    answered = flagged[rng.random(len(flagged)) < answer_rate]
    in_app = answered.assign(
        source="in_app", label=np.where(answered["is_fraud"] == 1, "fraud", "legit")
    )
    missed = answers[(answers["is_fraud"] == 1) & ~answers["decision"].isin(FLAGGED)]
    chargebacks = missed.assign(source="chargeback", label="fraud")
    return pd.concat([in_app, chargebacks], ignore_index=True)


def send_feedback(
    url: str,
    plan: pd.DataFrame,
    secret: str,
    chargeback_key: str,
    concurrency: int,
    progress: Callable[[int], None],
) -> pd.Series:
    """Post every planned label; returns the HTTP status per label."""
    now = datetime.now(UTC)

    def call(row: Any) -> Callable[[httpx.AsyncClient], Any]:
        async def go(client: httpx.AsyncClient) -> int:
            if row.source == "in_app":
                token = tokens.issue(secret, row.customer_id, now, timedelta(minutes=10))
            else:
                token = chargeback_key
            body = {"transaction_id": row.transaction_id, "label": row.label, "source": row.source}
            for _attempt in range(5):  # a 503 (database busy) says: retry
                r = await client.post(
                    f"{url}/v1/feedback", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code != 503:
                    return r.status_code
                await asyncio.sleep(0.2)
            return r.status_code

        return go

    return pd.Series(
        asyncio.run(_gather([call(r) for r in plan.itertuples()], concurrency, progress))
    )
