"""Publishing the dead-letter outbox to the Redis stream ``<prefix>:alerts:dead``.

A dead letter is written to the ``alert_outbox`` table in the transaction that records its
delivery as dead, so it survives Redis being away; this publisher (a worker thread) moves the rows
to the stream and deletes them. At least once, made exactly once by a dedup key: one Lua script
sets ``{<prefix>:alerts:dead}:published:<uid>`` (NX, kept ``OUTBOX_DEDUP_TTL_S``; the hash tag
is the stream's whole name, so on a Redis Cluster both keys are in the stream's slot) and adds the
entry only if that key was new, atomically; a row published but not deleted (the process killed, the
database away at that moment) is published again later and added nothing. The entry carries the
row's ``uid`` as its ``outbox_id`` field.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import SyncClient
from services.alerts.db import Outbox
from services.alerts.metrics import OUTBOX
from services.alerts.settings import AlertsSettings

_PUBLISH = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
  return 1
end
return 0
"""
MAXLEN = 100_000


def dead_letter_key(prefix: str) -> str:
    return f"{prefix}:alerts:dead"


def published_key(stream: str, uid: str) -> str:
    """The dedup key of one outbox row, in the slot of ``stream`` (which has no hash tag, so
    its slot is its whole name's)."""
    return f"{{{stream}}}:published:{uid}"


class OutboxPublisher:
    def __init__(
        self,
        client: SyncClient,
        sessions: sessionmaker[Session],
        prefix: str,
        settings: AlertsSettings,
        batch: int = 100,
    ) -> None:
        self.sessions, self.batch = sessions, batch
        self.stream = dead_letter_key(prefix)
        self.ttl_s = settings.outbox_dedup_ttl_s
        self._script = client.register_script(_PUBLISH)

    def backlog(self) -> int:
        with self.sessions() as s:
            n = int(s.scalar(select(func.count(Outbox.id))) or 0)
        OUTBOX.set(n)
        return n

    def publish(self) -> int:
        """A worker's turn: every outbox row to the stream, oldest first; returns how many were
        new to it. Redis away: raises after deleting what was published; the rest waits."""
        added = 0
        while self.backlog():
            with self.sessions() as s:
                rows = s.execute(
                    select(Outbox.id, Outbox.uid, Outbox.fields).order_by(Outbox.id)
                    .limit(self.batch)
                ).all()  # fmt: skip
            done: list[int] = []
            try:
                for row in rows:
                    fields = {**json.loads(row.fields), "outbox_id": row.uid}
                    args = [self.ttl_s, MAXLEN, *(x for kv in fields.items() for x in kv)]
                    keys = [self.stream, published_key(self.stream, row.uid)]
                    added += int(self._script(keys=keys, args=args))
                    done.append(row.id)
            finally:
                if done:
                    with self.sessions.begin() as s:
                        s.execute(delete(Outbox).where(Outbox.id.in_(done)))
        return added
