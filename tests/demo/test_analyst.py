"""The demo's fraud team (demo/analyst.py) on a real feedback database (SQLite and PostgreSQL):
which terminals the analyst lists, and the summary's rules numbers. The whole phase against the
running services is in test_demo.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from demo.analyst import LIST, RULE, Activation, suspect_terminals, workers_applying
from demo.summary import rules_line, rules_result
from services.feedback.db import (
    EffectiveLabel,
    ScoredTransaction,
    make_engine,
    session_factory,
    upgrade,
)
from tests.feedback.conftest import database_url  # noqa: F401 (the fixture: both databases)

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def store(db_url: str, rows: list[tuple[str, str, str, int, str | None]]) -> None:
    """(transaction, customer, terminal, hours before NOW, label or None) into the scoring log
    and the labels, as the feedback service keeps them."""
    engine = make_engine(db_url)
    upgrade(engine)
    with session_factory(engine)() as s:
        for tx, customer, terminal, hours, _ in rows:
            at = NOW - timedelta(hours=hours)
            s.add(ScoredTransaction(
                transaction_id=tx, timestamp=at, customer_id=customer, terminal_id=terminal,
                amount=10, currency="EUR", mcc=None, country=None, channel=None, score=0.1,
                decision="approve", model_version="m1", degraded=False, features="[]",
                scored_at=at,
            ))  # fmt: skip
        s.flush()  # the labels refer to the scoring log's rows
        for i, (tx, _, _, _, label) in enumerate(rows):
            if label is not None:
                s.add(EffectiveLabel(transaction_id=tx, label=label, source="chargeback",
                                     event_id=i + 1, arrived_at=NOW))  # fmt: skip
        s.commit()
    engine.dispose()


def test_the_analyst_lists_terminals_where_several_card_holders_were_defrauded(
    database_url: str,  # noqa: F811
) -> None:
    since = NOW - timedelta(days=2)
    store(database_url, [
        # T1: three card holders defrauded there; T2: two; T3: one card tested many times
        *[(f"a{i}", f"C{i}", "T1", 3, "fraud") for i in range(3)],
        *[(f"b{i}", f"C{i}", "T2", 5, "fraud") for i in range(2)],
        *[(f"c{i}", "C9", "T3", 1, "fraud") for i in range(6)],
        # T4: four card holders, but before the window; T5: legit labels and unlabelled payments
        *[(f"d{i}", f"C{i}", "T4", 72, "fraud") for i in range(4)],
        *[(f"e{i}", f"C{i}", "T5", 2, "legit") for i in range(4)],
        *[(f"f{i}", f"C{i}", "T5", 2, None) for i in range(4)],
    ])  # fmt: skip
    assert suspect_terminals(database_url, since) == {"T1": 3, "T2": 2}
    # none shared by card holders: the single worst one; nothing confirmed: nobody to list
    assert suspect_terminals(database_url, NOW - timedelta(hours=2)) == {"T3": 1}
    assert suspect_terminals(database_url, NOW + timedelta(hours=1)) == {}


def test_workers_applying_counts_each_live_workers_active_version() -> None:
    metrics = "\n".join([
        "# TYPE fraudops_scoring_rules_info gauge",
        'fraudops_scoring_rules_info{pid="11",version="r1"} 0.0',
        'fraudops_scoring_rules_info{pid="11",version="r2"} 1.0',
        'fraudops_scoring_rules_info{pid="12",version="r2"} 1.0',
        'fraudops_scoring_rules_info{pid="13",version="r12"} 1.0',
    ])  # fmt: skip
    assert workers_applying(metrics, "r2") == 2
    assert workers_applying(metrics, "r1") == 0


Row = tuple[str, int, float, list[str], float, str]  # terminal, fraud, amount, rules, score, m


def answers(rows: list[Row]) -> pd.DataFrame:
    columns = ["terminal_id", "is_fraud", "amount", "rules", "score", "model_version"]
    return pd.DataFrame(rows, columns=columns)


def test_the_rules_line_counts_hits_frauds_caught_and_legit_held() -> None:
    before = answers([("T1", 1, 50.0, [], 0.9, "m1"), ("T2", 0, 5.0, [], 0.1, "m1")])
    after = answers([
        ("T1", 1, 50.0, [RULE], 0.9, "m1"),  # the model held it too (review at 0.5)
        ("T1", 1, 20.5, [RULE], 0.2, "m1"),  # the model alone would have approved it
        ("T1", 0, 7.0, [RULE], 0.1, "m1"),  # a legitimate payment held by the rule
        ("T2", 1, 99.0, [], 0.3, "m1"), ("T3", 0, 1.0, [], 0.1, "m1"),
    ])  # fmt: skip
    # a payment answered with an error: no rules, no score, no model
    after.loc[len(after)] = ["T3", 0, 1.0, float("nan"), float("nan"), float("nan")]
    activation = Activation({"T1": 3}, list_version=2, version="r1")
    r = rules_result(before, after, activation, {RULE: 3.0}, {"m1": 0.5})
    assert r["version"] == "r1" and r["list"] == LIST and r["activated_after"] == 2
    assert r["hits"] == {RULE: 3} and r["metric_hits"] == {RULE: 3} and r["hits_before"] == 0
    assert r["listed_payments_after"] == 3
    assert (r["frauds_caught"], r["fraud_amount_caught"], r["legit_held"]) == (2, 70.5, 1)
    assert r["frauds_only_the_rule_caught"] == 1
    assert rules_line(r) == (
        f"r1 after 2 payments (@{LIST}: 1 terminals): {RULE} 3 hits; caught 2 frauds "
        "(70.50; 1 of them the model alone would have approved), held 1 legit"
    )
    none = rules_result(before, after, None, {}, {})
    assert rules_line(none) == "none: no fraud confirmed in the first 2 payments"
