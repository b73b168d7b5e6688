"""Per-payment compilation: each condition becomes a tree of Python closures, built once per
rule-set version, evaluated on a mapping of names -> values and a snapshot of the named lists.

Three-valued logic (SQL's): a missing value (None, NaN, or a name absent from the mapping) makes
a comparison or an ``in`` unknown (None); ``and``/``or``/``not`` follow Kleene's tables; a rule
fires only when its condition is true. A condition returns None, or something true or false (a
numpy bool when the mapping holds numpy numbers): callers test truth, never ``is True``.
fraudops.rules.vector computes the same on columns.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

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
    String,
)

Values = Mapping[str, Any]
Lists = Mapping[str, frozenset[str]]
Fn = Callable[[Values, Lists], Any]

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
EMPTY: frozenset[str] = frozenset()


def compile_condition(node: Node) -> Fn:
    """A closure returning True, False or None (unknown) for one payment."""
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, In):
        return _in(node)
    if isinstance(node, And):
        return _and(tuple(compile_condition(n) for n in node.operands))
    if isinstance(node, Or):
        return _or(tuple(compile_condition(n) for n in node.operands))
    if isinstance(node, Not):
        inner = compile_condition(node.operand)

        def not_(v: Values, ls: Lists) -> bool | None:
            r = inner(v, ls)
            return None if r is None else not r

        return not_
    raise AssertionError(f"not a condition: {node!r}")  # the checker refused it already


def _value(node: Node) -> Fn:
    """A closure returning the value, or None when missing (NaN and absent names too)."""
    if isinstance(node, Number | String):
        const = node.value
        return lambda v, ls: const
    if isinstance(node, Name):
        name = node.name

        def get(v: Values, ls: Lists) -> Any:
            x = v.get(name)
            return None if x is None or x != x else x

        return get
    if isinstance(node, Negate):
        inner = _value(node.operand)

        def neg(v: Values, ls: Lists) -> Any:
            x = inner(v, ls)
            return None if x is None else -x

        return neg
    if isinstance(node, Arith):
        return _arith(node)
    raise AssertionError(f"not a value: {node!r}")


def _arith(node: Arith) -> Fn:
    left, right = _value(node.left), _value(node.right)
    if node.op == "/":

        def div(v: Values, ls: Lists) -> Any:
            a = left(v, ls)
            if a is None:
                return None
            b = right(v, ls)
            if b is None or b == 0:
                return None  # x / 0 is missing, not infinite
            r = a / b
            return None if r != r else r

        return div
    op = ARITH[node.op]

    def arith(v: Values, ls: Lists) -> Any:
        a = left(v, ls)
        if a is None:
            return None
        b = right(v, ls)
        if b is None:
            return None
        r = op(a, b)
        return None if r != r else r  # inf - inf: missing

    return arith


def _compare(node: Compare) -> Fn:
    if isinstance(node.left, Name) and isinstance(node.right, Number | String):
        return _field_const(node.op, node.left.name, node.right.value)  # the common case
    op = COMPARE[node.op]
    left, right = _value(node.left), _value(node.right)

    def compare(v: Values, ls: Lists) -> bool | None:
        a = left(v, ls)
        if a is None:
            return None
        b = right(v, ls)
        if b is None:
            return None
        return op(a, b)

    return compare


def _field_const(op: str, name: str, c: float | str) -> Fn:
    """``name <op> constant`` with the operator inline: no call but the mapping's get."""

    def lt(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x < c

    def le(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x <= c

    def gt(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x > c

    def ge(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x >= c

    def eq(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x == c

    def ne(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else x != c

    fns: dict[str, Fn] = {"<": lt, "<=": le, ">": gt, ">=": ge, "==": eq, "!=": ne}
    return fns[op]


def _in(node: In) -> Fn:
    if isinstance(node.value, Name):
        return _in_field(node.value.name, node)  # the common case, one call less
    value, negated = _value(node.value), node.negated
    if isinstance(node.items, ListLiteral):
        items = frozenset(node.items.values)

        def in_literal(v: Values, ls: Lists) -> bool | None:
            x = value(v, ls)
            return None if x is None else (x in items) is not negated

        return in_literal
    assert isinstance(node.items, ListRef)
    list_name = node.items.name

    def in_named(v: Values, ls: Lists) -> bool | None:
        x = value(v, ls)
        return None if x is None else (x in ls.get(list_name, EMPTY)) is not negated

    return in_named


def _in_field(name: str, node: In) -> Fn:
    """``name in list``; a named list not in the snapshot is empty."""
    negated = node.negated
    if isinstance(node.items, ListLiteral):
        items = frozenset(node.items.values)

        def field_in_literal(v: Values, ls: Lists) -> bool | None:
            x = v.get(name)
            return None if x is None or x != x else (x in items) is not negated

        return field_in_literal
    assert isinstance(node.items, ListRef)
    list_name = node.items.name

    def field_in_named(v: Values, ls: Lists) -> bool | None:
        x = v.get(name)
        return None if x is None or x != x else (x in ls.get(list_name, EMPTY)) is not negated

    return field_in_named


def _and(operands: tuple[Fn, ...]) -> Fn:
    if len(operands) == 2:  # the common case, unrolled
        first, second = operands

        def and2(v: Values, ls: Lists) -> Any:
            a = first(v, ls)
            if a is None:
                b = second(v, ls)
                return None if b is None or b else False
            if not a:
                return False
            return second(v, ls)

        return and2

    def and_(v: Values, ls: Lists) -> bool | None:
        unknown = False
        for f in operands:
            r = f(v, ls)
            if r is None:
                unknown = True
            elif not r:
                return False
        return None if unknown else True

    return and_


def _or(operands: tuple[Fn, ...]) -> Fn:
    def or_(v: Values, ls: Lists) -> bool | None:
        unknown = False
        for f in operands:
            r = f(v, ls)
            if r is None:
                unknown = True
            elif r:
                return True
        return None if unknown else False

    return or_
