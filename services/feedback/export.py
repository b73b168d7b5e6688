"""The feedback database as dataset inputs: scored transactions and effective-label events.

A dataset version must be rebuildable, so the export is itself immutable: two Parquet files in
``<datasets>/inputs/<digest>/`` named by the hash of their rows (the same database state and
cut-off give the same directory, written once: staging + rename).

Label events are the CHANGES of the effective label (precedence of services.feedback.store) at
the time each change arrived: the dataset pipeline's "latest arrival wins" then reproduces the
precedence exactly, point in time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from services.feedback import store
from services.feedback.db import LabelEvent, ScoredTransaction, make_engine, session_factory

HISTORY_COLUMNS = ["transaction_id", "timestamp", "customer_id", "terminal_id", "amount",
                   "currency", "mcc", "country", "channel"]  # fmt: skip


@dataclass(frozen=True)
class FeedbackExport:
    history: Path
    labels: Path
    transactions: int
    label_changes: int
    new_label_events: int  # label events that arrived after ``since`` (the parent's cut-off)


def _label_changes(events: list[LabelEvent]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    by_tx: dict[str, list[LabelEvent]] = {}
    for e in events:
        by_tx.setdefault(e.transaction_id, []).append(e)
    for tx_id, evs in by_tx.items():
        seen: list[LabelEvent] = []
        current = None
        for e in sorted(evs, key=lambda e: (e.arrived_at, e.id)):
            seen.append(e)
            winner = store.effective_of(seen)
            if winner is not None and winner.label != current:
                current = winner.label
                out.append({"transaction_id": tx_id, "label": current, "source": winner.source,
                            "arrived_at": e.arrived_at})  # fmt: skip
    return out


def _digest(*frames: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(",".join(f.columns).encode())
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()[:20]


def export_inputs(
    database_url: str, root: Path, cutoff: datetime, since: datetime | None
) -> FeedbackExport:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            scored = session.execute(
                select(*(getattr(ScoredTransaction, c) for c in HISTORY_COLUMNS))
                .where(ScoredTransaction.scored_at <= cutoff)
                .order_by(ScoredTransaction.transaction_id)
            ).all()
            events = list(
                session.scalars(select(LabelEvent).where(LabelEvent.arrived_at <= cutoff))
            )
    finally:
        engine.dispose()
    history = pd.DataFrame([tuple(r) for r in scored], columns=HISTORY_COLUMNS)
    history["amount"] = history["amount"].astype(float)
    history["timestamp"] = pd.to_datetime(history["timestamp"], utc=True)
    labels = pd.DataFrame(_label_changes(events),
                          columns=["transaction_id", "label", "source", "arrived_at"])  # fmt: skip
    labels["arrived_at"] = pd.to_datetime(labels["arrived_at"], utc=True)
    labels = labels.sort_values(["arrived_at", "transaction_id"], ignore_index=True)
    new = sum(1 for e in events if since is None or e.arrived_at > since)

    root.mkdir(parents=True, exist_ok=True)
    final = root / _digest(history, labels)
    if not final.exists():
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        try:
            history.to_parquet(staging / "scoring-log.parquet", index=False)
            labels.to_parquet(staging / "labels.parquet", index=False)
            os.rename(staging, final)
        except OSError:
            if not final.exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return FeedbackExport(final / "scoring-log.parquet", final / "labels.parquet", len(history),
                          len(labels), new)  # fmt: skip
