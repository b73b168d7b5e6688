"""Alert rules: which decisions become alerts, with which tags and severity. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from services.alerts.settings import AlertsSettings

FLAGGED = ("review", "decline")


@dataclass(frozen=True)
class Verdict:
    alert: bool
    tags: tuple[str, ...]
    severity: str  # page | ticket


def judge(
    decision: str,
    score: float,
    amount: float,
    recent_customer: int,
    recent_terminal: int,
    s: AlertsSettings,
) -> Verdict:
    """``recent_*``: alerts of the same customer / terminal within the burst window before this
    one (so a third alert with burst_count 3 makes a burst)."""
    if decision not in FLAGGED or score < s.min_score or amount < s.min_amount:
        return Verdict(False, (), "")
    tags = [decision]
    if score >= s.high_score:
        tags.append("high_score")
    if amount >= s.large_amount:
        tags.append("large_amount")
    if recent_customer + 1 >= s.burst_count:
        tags.append("burst_customer")
    if recent_terminal + 1 >= s.burst_count:
        tags.append("burst_terminal")
    page = decision == "decline" or "high_score" in tags or "burst_terminal" in tags
    return Verdict(True, tuple(tags), "page" if page else "ticket")
