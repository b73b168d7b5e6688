"""The per-payment compiler (fraudops.rules.codegen): what the generated function may contain,
whatever the rule text says, and the hot path's form (the Txn, its feature vector, the score)
deciding as the mapping form does."""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudops.features import FEATURE_NAMES
from fraudops.rules import DECISIONS, codegen, load_rules, payment_values
from fraudops.rules.check import MAX_DEPTH
from fraudops.rules.values import PAYMENT_ATTRIBUTES
from fraudops.schema import Txn
from tests.rules.test_parity import LISTS, number_values, row, rule_sets

HOSTILE = """
rule x: review if mcc == "__import__('os').system('touch /tmp/pwned')" or country in (");", "'")
rule y: decline if customer_id in @__builtins__ and not terminal_id != '"'
rule z: allow if amount / (customer_nb_tx_1day - 1) > -2 * hour and weekday + score != 1e308
rule w: review if country in (");", "'") and mcc == "__import__('os').system('touch /tmp/pwned')"
"""


def _trees(monkeypatch: pytest.MonkeyPatch, text: str) -> list[ast.AST]:
    trees: list[ast.AST] = []
    real = compile

    def spy(source: Any, *args: Any, **kwargs: Any) -> Any:
        assert isinstance(source, ast.Module), "only a tree built by codegen is compiled"
        trees.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(codegen, "compile", spy, raising=False)
    load_rules(text)
    return trees


def test_the_generated_function_reads_only_its_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    trees = _trees(monkeypatch, HOSTILE)
    assert len(trees) == 2  # the mapping form and the payment form
    own = {
        "values",
        "txn",
        "vector",
        "score",
        "lists",
        "bound",
        "model",
        "level",
        "fired",
        "allow",
        "_list",
    }
    attributes = {"get", "append", "ts", *PAYMENT_ATTRIBUTES}
    for tree in trees:
        (function,) = tree.body  # type: ignore[attr-defined]
        assert isinstance(function, ast.FunctionDef)
        for node in ast.walk(function):
            assert not isinstance(node, ast.Import | ast.ImportFrom | ast.Lambda | ast.Global)
            if isinstance(node, ast.Name):
                assert node.id in own or re.fullmatch(r"[vtc]\d+", node.id), node.id
            if isinstance(node, ast.Attribute):
                assert node.attr in attributes, node.attr
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id == "_list"
    hoisted = {n.id for t in trees for n in ast.walk(t) if isinstance(n, ast.Name)}
    assert {"c0", "c1"} <= hoisted  # rules x and w share their two conditions
    strings = {n.value for t in trees for n in ast.walk(t) if isinstance(n, ast.Constant)}
    assert "__import__('os').system('touch /tmp/pwned')" in strings  # a constant, never code


def test_hostile_text_is_data() -> None:
    rules = load_rules(HOSTILE)
    evil = "__import__('os').system('touch /tmp/pwned')"
    base = {"customer_nb_tx_1day": 1.0, "amount": 5.0, "hour": 1.0, "weekday": 0.0, "score": 0.5}
    assert rules.fired({"mcc": evil}) == ["x"]
    assert rules.fired({"country": "'"}) == ["x"]
    assert rules.fired({"country": "'", "mcc": evil}) == ["x", "w"]
    assert rules.fired(
        {"customer_id": "c", "terminal_id": '"'}, {"__builtins__": frozenset("c")}
    ) == ["y"]
    assert rules.fired(base) == []  # 5 / 0: missing, so z is unknown, not an error
    assert rules.fired({**base, "customer_nb_tx_1day": 2.0}) == ["z"]
    assert rules.decide_payment.__globals__["__builtins__"] == {}


def test_the_deepest_allowed_rule_and_a_large_set_compile() -> None:
    deep = (
        "rule deep: review if " + "not (" * (MAX_DEPTH - 2) + "amount > 1" + ")" * (MAX_DEPTH - 2)
    )
    assert load_rules(deep).fired({"amount": 2.0}) == (["deep"] if MAX_DEPTH % 2 == 0 else [])
    many = "\n".join(f"rule r{i}: review if amount > {i} and score < 0.5" for i in range(3000))
    assert load_rules(many).fired({"amount": 2.5, "score": 0.15}) == ["r0", "r1", "r2"]


payments = st.builds(
    Txn,
    transaction_id=st.just("tx"),
    ts=st.integers(0, 4_000_000_000),
    customer_id=st.sampled_from(["FR", "x", "c1"]),
    terminal_id=st.sampled_from(["t1", "x"]),
    amount=st.floats(0, 1e6),
    currency=st.one_of(st.none(), st.just("EUR")),
    mcc=st.one_of(st.none(), st.just("5411")),
    country=st.one_of(st.none(), st.sampled_from(["FR", "DE", "x", ""])),
    channel=st.one_of(st.none(), st.sampled_from(["FR", "x", ""])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rule_sets, txn=payments, data=st.data())
def test_the_hot_path_form_decides_as_the_mapping_form(
    text: str, txn: Txn, data: st.DataObject
) -> None:
    compiled = load_rules(text)
    vector = [data.draw(number_values) for _ in FEATURE_NAMES]
    score = data.draw(st.one_of(st.just(math.nan), st.floats(0, 1)))
    model = data.draw(st.sampled_from(DECISIONS))
    outcome = compiled.decide(payment_values(txn, vector, score), LISTS, model)
    decision, fired = compiled.decide_payment(txn, vector, score, compiled.bind(LISTS), model)
    assert (decision, fired) == (outcome.decision, list(outcome.fired)), (text, txn, vector)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rule_sets, rows=st.lists(row, min_size=1, max_size=10))
def test_conditions_tested_twice_are_evaluated_once_and_decide_the_same(
    text: str, rows: list[dict[str, Any]]
) -> None:
    """The set, its negation and itself again: every condition is shared, so hoisted before the
    rules (codegen._Builder.share); the answers are still the vectorised evaluation's."""
    conditions = [line.split(" if ", 1)[1] for line in text.splitlines()]
    negated = [f"review if not ({c})" for c in conditions]
    doubled = "\n".join([text, *negated, *(f"decline if {c}" for c in conditions)])
    compiled = load_rules(doubled)
    builder = codegen._Builder("values")
    builder.share(compiled.ruleset.rules)
    assert builder.shared  # each condition is met at least twice
    fired = compiled.fired_frame(pd.DataFrame(rows), LISTS)
    for i, values in enumerate(rows):
        expected = [n for j, n in enumerate(compiled.names) if fired[i, j]]
        assert compiled.fired(values, LISTS) == expected, (doubled, values)
