"""CLI entry points of the pipelines (loaded lazily by fraudops.cli)."""

from __future__ import annotations

from datetime import UTC, datetime

from fraudops.schema import parse_timestamp


def epoch(text: str | None) -> int:
    """RFC 3339 -> epoch seconds; None -> now (the CLI is an edge: it may read the clock)."""
    if text is None:
        return int(datetime.now(UTC).timestamp())
    return int(parse_timestamp(text).timestamp())
