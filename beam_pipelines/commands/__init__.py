"""CLI entry points of the pipelines (loaded lazily by fraudops.cli)."""

from __future__ import annotations

from datetime import UTC, datetime

from fraudops.erasure_ledger import erased_customers
from fraudops.pseudonyms import ErasedCustomers
from fraudops.schema import parse_timestamp


def epoch(text: str | None) -> int:
    """RFC 3339 -> epoch seconds; None -> now (the CLI is an edge: it may read the clock)."""
    if text is None:
        return int(datetime.now(UTC).timestamp())
    return int(parse_timestamp(text).timestamp())


def erasure_ledger(database_url: str | None) -> ErasedCustomers | None:
    """The customers a build must leave out (the feedback database's erasure ledger)."""
    return erased_customers(database_url)
