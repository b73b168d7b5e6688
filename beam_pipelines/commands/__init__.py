"""CLI entry points of the pipelines (loaded lazily by fraudops.cli)."""

from __future__ import annotations

from datetime import UTC, datetime

from fraudops.pseudonyms import ErasedCustomers
from fraudops.schema import parse_timestamp
from fraudops.settings import CoreSettings, secret


def epoch(text: str | None) -> int:
    """RFC 3339 -> epoch seconds; None -> now (the CLI is an edge: it may read the clock)."""
    if text is None:
        return int(datetime.now(UTC).timestamp())
    return int(parse_timestamp(text).timestamp())


def erasure_ledger(database_url: str | None) -> ErasedCustomers | None:
    """The customers a build must leave out (the feedback database's erasure ledger)."""
    from services.compliance.erasure import ledger_for_build

    core = CoreSettings()
    return ledger_for_build(database_url or core.database_url, secret(core.erasure_key))
