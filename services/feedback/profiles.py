"""Effective labels -> the Redis profile store, at the time each label ARRIVED.

A label is stored in SQL first (that is the record); the profile store then hears the effective
label (``ProfileStore.apply_label``: a relabel subtracts the old one). ``labels.profile_label``
says what Redis has; rows where it differs from the label are pending, retried by the sync loop,
so a Redis outage delays risk features but loses no label.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from fraudops.profile_store.client import ProfileStore
from fraudops.redis_clients import UNAVAILABLE
from services.feedback import store
from services.feedback.db import EffectiveLabel
from services.feedback.metrics import BACKGROUND_ERRORS, PROFILE_APPLIED, PROFILE_PENDING

log = logging.getLogger("fraudops.feedback")


class ProfileLabelSync:
    def __init__(self, profiles: ProfileStore, sessions: sessionmaker[Session]) -> None:
        self.profiles, self.sessions = profiles, sessions

    def run_once(self, limit: int = 500, patience_s: float | None = None) -> int:
        """Tell the profiles the pending labels (up to ``limit``); ``patience_s``: how long a
        Redis Cluster master away is waited for (None: a failover's length)."""
        with self.sessions() as session:
            pending = store.pending_profile_labels(session, limit)
        applied = 0
        for label, tx in pending:
            try:
                self.profiles.apply_label(
                    tx.transaction_id,
                    tx.customer_id,
                    tx.terminal_id,
                    int(label.arrived_at.timestamp()),
                    label.label == "fraud",
                    patience_s,
                )
            except UNAVAILABLE as exc:
                BACKGROUND_ERRORS.labels("profile_sync").inc()
                log.warning("profile store unavailable (%s): %d label(s) pending",
                            type(exc).__name__, len(pending) - applied)  # fmt: skip
                break
            with self.sessions.begin() as session:  # only if nobody relabelled meanwhile
                session.execute(
                    update(EffectiveLabel)
                    .where(EffectiveLabel.transaction_id == label.transaction_id)
                    .where(EffectiveLabel.label == label.label)
                    .where(EffectiveLabel.event_id == label.event_id)
                    .values(profile_label=label.label)
                )
            applied += 1
        if applied:
            PROFILE_APPLIED.inc(applied)
        self._gauge()
        return applied

    def _gauge(self) -> None:
        with self.sessions() as session:
            n = session.scalar(
                select(func.count())
                .select_from(EffectiveLabel)
                .where(
                    EffectiveLabel.profile_label.is_(None)
                    | (EffectiveLabel.profile_label != EffectiveLabel.label)
                )
            )
        PROFILE_PENDING.set(int(n or 0))
