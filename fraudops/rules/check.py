"""Type checking against the feature contract: every name known, every operator on its types.

The names a rule may read are the payment's fields, the features of the running contract and
``score``. A feature and a field of the same name (``mcc``, ``country``, ``channel``) are one
string value: the payment's, missing when the payment did not give it.
"""

from __future__ import annotations

import difflib
from typing import Literal

from fraudops.features import SPECS
from fraudops.rules.nodes import (
    And,
    Arith,
    Compare,
    In,
    ListLiteral,
    ListRef,
    Name,
    Negate,
    Node,
    Not,
    Number,
    Or,
    Rule,
    RuleError,
    String,
    depth,
)

Kind = Literal["number", "string"]
Type = Literal["number", "string", "condition", "list of numbers", "list of strings", "list"]

PAYMENT_FIELDS: dict[str, Kind] = {
    "amount": "number",
    "customer_id": "string",
    "terminal_id": "string",
    "currency": "string",
    "mcc": "string",
    "country": "string",
    "channel": "string",
    "hour": "number",  # UTC hour of the timestamp, 0-23
    "weekday": "number",  # UTC day of the week, 0 = Monday
}
SCORE = "score"
# nesting the checker and the per-payment compiler recurse through: far beyond any real rule,
# far below Python's recursion limit even when the scoring worker's own stack is deep
MAX_DEPTH = 100
NAMES: dict[str, Kind] = {
    **{s.name: ("string" if s.kind == "categorical" else "number") for s in SPECS},
    **PAYMENT_FIELDS,
    SCORE: "number",
}


def check_rules(rules: list[Rule]) -> None:
    """Refuse the first problem: a duplicate name or a condition that is not well typed."""
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.name in seen:
            raise RuleError(
                rule.line, 1, f"rule name {rule.name!r} is already used on line {seen[rule.name]}"
            )
        seen[rule.name] = rule.line
        levels = depth(rule.condition)
        if levels > MAX_DEPTH:
            raise RuleError(
                rule.line,
                rule.condition.column,
                f"the rule nests {levels} deep; at most {MAX_DEPTH}",
            )
        kind = type_of(rule.condition)
        if kind != "condition":
            raise RuleError(
                rule.line,
                rule.condition.column,
                f"the condition must be true or false (e.g. amount > 100), not {_a(kind)}",
            )


def _a(kind: str) -> str:
    return f"a {kind}" if not kind.startswith("list") else kind


def _describe(node: Node, kind: str) -> str:
    if isinstance(node, Name):
        return f"{node.name} ({_a(kind)})"
    if isinstance(node, String):
        return f'"{node.value}" ({_a(kind)})'
    if isinstance(node, Number):
        return f"{node.value:g} ({_a(kind)})"
    return _a(kind)


def _value(node: Node) -> Type:
    """The type of a node that must be a single value (a number or a string)."""
    kind = type_of(node)
    if kind.startswith("list"):
        raise RuleError(node.line, node.column, "a list can only follow 'in' or 'not in'")
    if kind == "condition":
        raise RuleError(
            node.line, node.column, "a condition is not a value (compare values, not conditions)"
        )
    return kind


def type_of(node: Node) -> Type:
    if isinstance(node, Number):
        return "number"
    if isinstance(node, String):
        return "string"
    if isinstance(node, Name):
        if node.name not in NAMES:
            close = difflib.get_close_matches(node.name, NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RuleError(
                node.line,
                node.column,
                f"unknown name {node.name!r} (not a payment field, a feature of the contract "
                f"or score){hint}",
            )
        return NAMES[node.name]
    if isinstance(node, ListRef):
        return "list of strings"
    if isinstance(node, ListLiteral):
        kinds = {"number" if isinstance(v, float) else "string" for v in node.values}
        if len(kinds) > 1:
            raise RuleError(node.line, node.column, "a list mixes numbers and strings")
        return "list of numbers" if kinds == {"number"} else "list of strings"
    if isinstance(node, Negate):
        if _value(node.operand) != "number":
            raise RuleError(node.line, node.column, "'-' needs a number")
        return "number"
    if isinstance(node, Arith):
        for side in (node.left, node.right):
            kind = _value(side)
            if kind != "number":
                raise RuleError(
                    side.line,
                    side.column,
                    f"'{node.op}' needs numbers; {_describe(side, kind)} is not one",
                )
        return "number"
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, In):
        return _in(node)
    if isinstance(node, And | Or | Not):
        word = "not" if isinstance(node, Not) else ("and" if isinstance(node, And) else "or")
        operands = (node.operand,) if isinstance(node, Not) else node.operands
        for operand in operands:
            kind = type_of(operand)
            if kind != "condition":
                raise RuleError(
                    operand.line,
                    operand.column,
                    f"'{word}' needs conditions; {_describe(operand, kind)} is not one "
                    "(compare it, e.g. amount > 100)",
                )
        return "condition"
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _compare(node: Compare) -> Type:
    left, right = _value(node.left), _value(node.right)
    if left != right:
        raise RuleError(
            node.line,
            node.column,
            f"cannot compare {_describe(node.left, left)} with {_describe(node.right, right)}",
        )
    if left == "string" and node.op not in ("==", "!="):
        raise RuleError(
            node.line, node.column, f"strings compare only with == and !=, not {node.op}"
        )
    return "condition"


def _in(node: In) -> Type:
    value = _value(node.value)
    if not isinstance(node.items, ListRef | ListLiteral):
        raise RuleError(node.items.line, node.items.column, "'in' needs a list: @name or (a, b)")
    items = type_of(node.items)
    if items != f"list of {value}s":
        what = (
            f"@{node.items.name} (named lists hold strings)"
            if isinstance(node.items, ListRef)
            else f"a {items}"
        )
        raise RuleError(
            node.line, node.column, f"{_describe(node.value, value)} cannot be looked up in {what}"
        )
    return "condition"
