"""The rule language: what it accepts, what it refuses (with line and column), precedence and
missing values, on the per-payment function (fraudops.rules.codegen)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from fraudops.rules import RuleError, RuleSet, load_rules

SET = """
# the fraud team's rules
rule big_new_card: review if amount > 2000 and customer_nb_tx_1day >= 5
decline if terminal_id in @compromised_terminals   # unnamed: line_4
rule vip: allow if customer_id in @vip and score < 0.9
rule geo: review if country in ("NG", "RU") or (channel == "ecommerce" and hour <= 5)
"""
LISTS = {"compromised_terminals": frozenset({"t9"}), "vip": frozenset({"c1"})}


def payment(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "amount": 10.0, "customer_nb_tx_1day": 1.0, "terminal_id": "t1", "customer_id": "c0",
        "score": 0.1, "country": "FR", "channel": "card_present", "hour": 12.0,
    }  # fmt: skip
    return {**base, **values}


def test_a_set_parses_with_names_comments_and_blank_lines() -> None:
    ruleset = RuleSet.parse(SET)
    assert ruleset.names == ("big_new_card", "line_4", "vip", "geo")
    assert [r.action for r in ruleset.rules] == ["review", "decline", "allow", "review"]
    assert ruleset.list_names() == {"compromised_terminals", "vip"}


@pytest.mark.parametrize(
    ("values", "fired", "decision"),
    [
        ({}, [], "approve"),
        ({"amount": 2500.0, "customer_nb_tx_1day": 5.0}, ["big_new_card"], "review"),
        ({"terminal_id": "t9"}, ["line_4"], "decline"),
        ({"country": "NG"}, ["geo"], "review"),
        ({"channel": "ecommerce", "hour": 3.0}, ["geo"], "review"),
        # decline beats review
        ({"terminal_id": "t9", "country": "RU"}, ["line_4", "geo"], "decline"),
        # allow beats every other rule
        ({"customer_id": "c1", "terminal_id": "t9"}, ["line_4", "vip"], "approve"),
    ],
)
def test_rules_fire_and_decide(values: dict[str, object], fired: list[str], decision: str) -> None:
    outcome = load_rules(SET).decide(payment(**values), LISTS)
    assert outcome.decision == decision
    assert list(outcome.fired) == fired


@pytest.mark.parametrize(
    ("values", "model", "decision"),
    [
        ({}, "review", "review"),  # no rule fired: the model's thresholds decide (the last rule)
        ({}, "decline", "decline"),
        ({"country": "NG"}, "decline", "decline"),  # a review rule never softens a model decline
        ({"terminal_id": "t9"}, "review", "decline"),  # a decline rule hardens a model review
        ({"customer_id": "c1", "score": 0.5}, "decline", "approve"),  # allow beats the model
    ],
)
def test_the_model_decision_is_the_last_rule(
    values: dict[str, object], model: str, decision: str
) -> None:
    assert load_rules(SET).decide(payment(**values), LISTS, model).decision == decision


BASE = {"amount": 10.0, "customer_nb_tx_1day": 1.0, "country": "FR", "terminal_id": "t1"}


@pytest.mark.parametrize(
    ("rule", "values", "fires"),
    [
        ('review if country == "FR"', {"country": None}, False),
        ('review if country != "FR"', {"country": None}, False),
        ('review if not country == "FR"', {"country": None}, False),
        ('review if country == "FR" or amount > 5', {"country": None}, True),
        ('review if country == "FR" and amount > 50', {"country": None}, False),
        ('review if not (country == "FR" and amount > 50)', {"country": None}, True),
        ('review if country not in ("FR",)', {"country": None}, False),
        ("review if amount > 5", {"amount": math.nan}, False),
        ("review if amount > 5", {"amount": None}, False),
        ("review if customer_amount_24h > 5", {}, False),  # an absent name is missing too
        ("review if amount / customer_nb_tx_1day > 1", {"customer_nb_tx_1day": 0.0}, False),
        ("review if not amount / customer_nb_tx_1day > 1", {"customer_nb_tx_1day": 0.0}, False),
        ("review if terminal_id not in @unknown_list", {}, True),  # a list not given: empty
        ("review if terminal_id in @unknown_list", {}, False),
    ],
)
def test_missing_values_make_a_condition_unknown(
    rule: str, values: dict[str, object], fires: bool
) -> None:
    assert bool(load_rules(rule).fired({**BASE, **values}, LISTS)) is fires


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("review if amount >", 1, 19, "ends too early"),
        ("\nreview if amount = 3", 2, 18, "unexpected character '='"),
        ("review iff amount > 3", 1, 8, "unexpected 'iff'; expected 'if'"),
        ("block if amount > 3", 1, 1, "an action (decline, review, allow)"),
        ("review if amout > 3", 1, 11, "unknown name 'amout'"),
        ("review if amout > 3", 1, 11, "did you mean 'amount'?"),
        ("review if notional > 3 and android > 1", 1, 11, "unknown name 'notional'"),
        ("rule big review if amount > 3", 1, 10, "unexpected 'review'; expected ':'"),
        ('review if amount > "big"', 1, 11, 'cannot compare amount (a number) with "big"'),
        ('review if country > "F"', 1, 11, "strings compare only with == and !="),
        ("review if amount in @vip", 1, 11, "cannot be looked up in @vip"),
        ('review if amount in ("a", "b")', 1, 11, "cannot be looked up in a list of strings"),
        ('review if country in (1, "a")', 1, 22, "a list mixes numbers and strings"),
        ('review if @vip == "a"', 1, 11, "a list can only follow 'in' or 'not in'"),
        ("review if amount", 1, 11, "the condition must be true or false"),
        ("review if amount > 1 and country", 1, 26, "'and' needs conditions; country"),
        ("review if country + 1 > 2", 1, 11, "'+' needs numbers; country (a string)"),
        ("review if (amount > 1) == (amount > 2)", 1, 12, "a condition is not a value"),
        ("rule a: review if amount > 1\n\nrule a: allow if amount < 1", 3, 1, "already used"),
        ('review if country == "FR\n', 1, 22, "unexpected character"),
        ("review if " + "not " * 150 + "amount > 1", 1, 11, "the rule nests 152 deep; at most 100"),
        ("review if amount" + " + 1" * 5000 + " > 1", 1, 1, "the rule nests too deeply"),
    ],
)
def test_refused_with_line_column_and_message(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(RuleError) as err:
        load_rules(text)
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert message in str(err.value)
    assert str(err.value).startswith(f"line {line}, column {column}: ")


def test_every_contract_feature_and_payment_field_is_a_name() -> None:
    from fraudops.features import FEATURE_NAMES, SPECS

    numeric = [s.name for s in SPECS if s.kind == "numeric"]
    text = "\n".join(f"review if {n} > 1" for n in numeric)
    text += "\n" + "\n".join(
        f'review if {n} == "x"' for n in ("customer_id", "terminal_id", "currency", "mcc")
    )
    text += "\nreview if weekday == 5 and hour < 6 and score >= 0.5 and amount > 1"
    assert len(load_rules(text).names) == len(numeric) + 5
    assert "customer_seconds_since_prev_tx" in FEATURE_NAMES


def test_arithmetic_precedence_and_negative_numbers() -> None:
    rules = load_rules("review if amount - 2 * customer_nb_tx_1day / 4 == -(-9)")
    assert rules.fired({"amount": 10.0, "customer_nb_tx_1day": 2.0})  # 10 - 1 == 9
    assert not rules.fired({"amount": 10.0, "customer_nb_tx_1day": 4.0})


def test_no_eval_or_exec_in_the_rules_package_but_the_compiler_of_built_trees() -> None:
    """Rule text never reaches Python: the one compile/exec is codegen's, of an ast.Module it
    assembled itself (tests/rules/test_codegen.py checks what that tree may contain)."""
    package = Path(__file__).resolve().parents[2] / "fraudops" / "rules"
    banned = {"eval", "exec", "compile", "__import__", "literal_eval", "parse"}
    allowed = {("codegen.py", "exec"): 1, ("codegen.py", "compile"): 1}
    seen: dict[tuple[str, str], int] = {}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else None
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    name = func.attr if func.value.id in ("ast", "builtins") else None
                if name in banned:
                    key = (path.name, name)
                    seen[key] = seen.get(key, 0) + 1
                    assert key in allowed, f"{path.name}:{node.lineno} calls {name}"
    assert seen == allowed


def test_the_rules_load_without_the_model_stack() -> None:
    """The scoring hot path and ``fraudops rules check`` need neither CatBoost nor sklearn."""
    import subprocess
    import sys

    heavy = ("catboost", "sklearn", "apache_beam", "fastapi")
    code = (
        "import sys, fraudops.rules, models.commands.rules; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
