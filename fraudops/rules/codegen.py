"""Per-payment compilation: a whole rule set becomes one Python function, built once per version.

Why one function: a scoring worker answers a payment between HTTP parsing, Redis and the model,
so the rules run on cold CPU caches. A tree of closures (three or four function objects per rule)
touched ~150 scattered objects per payment and cost 7-9x its warm-loop time there; one function
of straight-line code reads its values into local variables once and evaluates every rule in
one frame.

Safety: no rule text ever reaches Python's parser. The function is assembled as a Python syntax
tree (``ast`` nodes) from the checked rule tree: every name a rule reads becomes a local variable
chosen here (``v0``, ``v1``...), literals become constants, and the function's globals hold no
builtins, only the field getters of fraudops.rules.values.

Three-valued logic (SQL's), as fraudops.rules.vector computes it on columns: a missing value
(None, NaN, a name absent from the mapping, x / 0) makes a comparison or an ``in`` unknown;
``and``/``or``/``not`` follow Kleene's tables and a rule fires only when its condition is true.
Negations are pushed down to the leaves (``not (a and b)`` is true when ``a`` or ``b`` is false),
so each leaf is tested for being true, or for being false, and unknown is neither.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from fraudops.features import FEATURE_NAMES
from fraudops.rules.check import SCORE
from fraudops.rules.nodes import (
    And,
    Arith,
    Compare,
    In,
    ListLiteral,
    ListRef,
    Lists,
    Name,
    Negate,
    Node,
    Not,
    Number,
    Or,
    Rule,
    String,
)
from fraudops.rules.values import PAYMENT_ATTRIBUTES, PAYMENT_GETTERS

Source = Literal["values", "payment"]
# (allow fired, the most severe level, the names of the rules that fired, in order)
Verdict = tuple[bool, int, list[str]]
FromValues = Callable[[Mapping[str, Any], Lists, int], Verdict]
FromPayment = Callable[[Any, Sequence[Any], float, Lists, int], Verdict]
ARGUMENTS: dict[Source, tuple[str, ...]] = {
    "values": ("values", "lists", "level"),
    "payment": ("txn", "vector", "score", "lists", "level"),
}
COMPARE: dict[str, type[ast.cmpop]] = {
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
    "==": ast.Eq,
    "!=": ast.NotEq,
}
ARITH: dict[str, type[ast.operator]] = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div}
ACTION_CODE = {"allow": -1, "review": 1, "decline": 2}
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


def _and(parts: list[ast.expr]) -> ast.expr:
    return parts[0] if len(parts) == 1 else ast.BoolOp(ast.And(), parts)


class _Builder:
    """One function's locals: a variable per name read, a temporary per arithmetic result."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.variables: dict[str, str] = {}
        self.temps = 0
        self.uses_lists = False

    def variable(self, name: str) -> str:
        if name not in self.variables:
            self.variables[name] = f"v{len(self.variables)}"
        return self.variables[name]

    def read(self, name: str) -> ast.expr:
        """Where a name's value comes from, before the missing check."""
        if self.source == "values":
            return ast.Call(
                ast.Attribute(_load("values"), "get", ast.Load()), [ast.Constant(name)], []
            )
        if name in PAYMENT_ATTRIBUTES:
            return ast.Attribute(_load("txn"), PAYMENT_ATTRIBUTES[name], ast.Load())
        if name in PAYMENT_GETTERS:
            return ast.Call(_load(f"_{name}"), [_load("txn")], [])
        if name == SCORE:
            return _load("score")
        return ast.Subscript(_load("vector"), ast.Constant(_FEATURE_INDEX[name]), ast.Load())

    def value(self, node: Node) -> tuple[ast.expr, list[ast.expr]]:
        """The value's expression and the guards that must all hold for it to be known; the
        guards run first (they also assign the temporaries the expression reads)."""
        if isinstance(node, Number | String):
            return ast.Constant(node.value), []
        if isinstance(node, Name):
            var = self.variable(node.name)
            return _load(var), [ast.Compare(_load(var), [ast.IsNot()], [ast.Constant(None)])]
        if isinstance(node, Negate):
            inner, guards = self.value(node.operand)
            return ast.UnaryOp(ast.USub(), inner), guards
        if isinstance(node, Arith):
            left, left_guards = self.value(node.left)
            right, right_guards = self.value(node.right)
            guards = left_guards + right_guards
            if node.op == "/":  # x / 0 is missing, not infinite
                guards.append(ast.Compare(right, [ast.NotEq()], [ast.Constant(0)]))
            temp = f"t{self.temps}"
            self.temps += 1
            result = ast.NamedExpr(_store(temp), ast.BinOp(left, ARITH[node.op](), right))
            guards.append(ast.Compare(result, [ast.Eq()], [_load(temp)]))  # inf - inf: missing
            return _load(temp), guards
        raise AssertionError(f"not a value: {node!r}")  # the checker refused it already

    def truth(self, node: Node, want: bool) -> ast.expr:
        """An expression true exactly when the condition is ``want`` (not unknown)."""
        if isinstance(node, And | Or):
            all_of = isinstance(node, And) == want  # de Morgan for the false side
            parts = [self.truth(n, want) for n in node.operands]
            return ast.BoolOp(ast.And() if all_of else ast.Or(), parts)
        if isinstance(node, Not):
            return self.truth(node.operand, not want)
        if isinstance(node, Compare):
            left, left_guards = self.value(node.left)
            right, right_guards = self.value(node.right)
            test: ast.expr = ast.Compare(left, [COMPARE[node.op]()], [right])
            if not want:
                test = ast.UnaryOp(ast.Not(), test)
            return _and([*left_guards, *right_guards, test])
        if isinstance(node, In):
            value, guards = self.value(node.value)
            items: ast.expr
            if isinstance(node.items, ListLiteral):
                items = ast.Constant(frozenset(node.items.values))
            else:
                assert isinstance(node.items, ListRef)
                self.uses_lists = True  # a named list not in the snapshot is empty
                items = ast.Call(
                    _load("_list"), [ast.Constant(node.items.name), ast.Constant(frozenset())], []
                )
            member = ast.In() if want != node.negated else ast.NotIn()
            return _and([*guards, ast.Compare(value, [member], [items])])
        raise AssertionError(f"not a condition: {node!r}")

    def rule(self, rule: Rule) -> ast.stmt:
        code = ACTION_CODE[rule.action]
        append = ast.Call(
            ast.Attribute(_load("fired"), "append", ast.Load()), [ast.Constant(rule.name)], []
        )
        then: list[ast.stmt] = [ast.Expr(append)]
        if code < 0:
            then.append(ast.Assign([_store("allow")], ast.Constant(True)))
        else:
            then.append(ast.If(
                ast.Compare(_load("level"), [ast.Lt()], [ast.Constant(code)]),
                [ast.Assign([_store("level")], ast.Constant(code))],
                [],
            ))  # fmt: skip
        return ast.If(self.truth(rule.condition, True), then, [])

    def prologue(self) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        if self.uses_lists:
            out.append(
                ast.Assign([_store("_list")], ast.Attribute(_load("lists"), "get", ast.Load()))
            )
        for name, var in self.variables.items():
            out.append(ast.Assign([_store(var)], self.read(name)))
            nan = ast.Compare(_load(var), [ast.NotEq()], [_load(var)])  # NaN: missing
            out.append(ast.If(nan, [ast.Assign([_store(var)], ast.Constant(None))], []))
        out.append(ast.Assign([_store("fired")], ast.List([], ast.Load())))
        out.append(ast.Assign([_store("allow")], ast.Constant(False)))
        return out


def generate(rules: Sequence[Rule], source: Source) -> Callable[..., Verdict]:
    """The rule set as one function of ``ARGUMENTS[source]`` returning a ``Verdict``; ``level``:
    the model's decision code (0 approve, 1 review, 2 decline)."""
    builder = _Builder(source)
    body = [builder.rule(rule) for rule in rules]  # first: the prologue reads what they use
    result = ast.Tuple([_load("allow"), _load("level"), _load("fired")], ast.Load())
    function = ast.FunctionDef(
        name="decide",
        args=ast.arguments([], [ast.arg(a) for a in ARGUMENTS[source]], None, [], [], None, []),
        body=[*builder.prologue(), *body, ast.Return(result)],
        decorator_list=[],
        returns=None,
    )
    module = ast.fix_missing_locations(ast.Module([function], []))
    namespace: dict[str, Any] = {"__builtins__": {}}
    namespace |= {f"_{name}": getter for name, getter in PAYMENT_GETTERS.items()}
    exec(compile(module, "<rule set>", "exec"), namespace)  # noqa: S102 -- a tree built here
    fn: Callable[..., Verdict] = namespace["decide"]
    return fn
