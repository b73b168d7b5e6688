"""Which decisions become alerts, with which tags and severity."""

from __future__ import annotations

from services.alerts.rules import judge
from services.alerts.settings import AlertsSettings

S = AlertsSettings(min_score=0.3, min_amount=10, high_score=0.9, large_amount=1000, burst_count=3)


def test_only_flagged_decisions_above_the_floors_alert() -> None:
    assert not judge("approve", 0.99, 5000, 0, 0, S).alert
    assert not judge("review", 0.2, 500, 0, 0, S).alert  # score below min_score
    assert not judge("review", 0.5, 5, 0, 0, S).alert  # amount below min_amount
    v = judge("review", 0.5, 50, 0, 0, S)
    assert v.alert and v.tags == ("review",) and v.severity == "ticket"


def test_tags_and_severity() -> None:
    assert judge("decline", 0.5, 50, 0, 0, S).severity == "page"
    v = judge("review", 0.95, 2000, 0, 0, S)
    assert v.tags == ("review", "high_score", "large_amount") and v.severity == "page"
    # the third alert of a customer within the window is a burst; of a terminal, it pages
    assert "burst_customer" not in judge("review", 0.5, 50, 1, 0, S).tags
    v = judge("review", 0.5, 50, 2, 0, S)
    assert "burst_customer" in v.tags and v.severity == "ticket"
    v = judge("review", 0.5, 50, 0, 2, S)
    assert "burst_terminal" in v.tags and v.severity == "page"
