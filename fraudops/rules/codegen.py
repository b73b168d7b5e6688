"""Per-payment compilation: a whole rule set becomes one Python function, built once per version.

Why one function: a scoring worker answers a payment between HTTP parsing, Redis and the model,
so the rules run on cold CPU caches. A tree of closures (three or four function objects per rule)
touched ~150 scattered objects per payment and cost 7-9x its warm-loop time there; one function
of straight-line code reads its values into local variables once and evaluates every rule in
one frame.

Safety: no rule text ever reaches Python's parser. The function is assembled as a Python syntax
tree (``ast`` nodes) from the checked rule tree: every name a rule reads becomes a local variable
chosen here (``v0``, ``v1``...), literals become constants, and the function's globals hold
no builtins.

The hot path's form reads the Txn's attributes, the feature vector by index and the named lists
bound once per lists version to a tuple (``CompiledRules.bind``): on cold caches every dict
probe and Python call a payment avoids is a microsecond or more.

Three-valued logic (SQL's), as fraudops.rules.vector computes it on columns: a missing value
(None, NaN, a name absent from the mapping, x / 0) makes a comparison or an ``in`` unknown;
``and``/``or``/``not`` follow Kleene's tables and a rule fires only when its condition is true.
Negations are pushed down to the leaves (``not (a and b)`` is true when ``a`` or ``b`` is false),
so each leaf is tested for being true, or for being false, and unknown is neither. A missing
number is NaN (arithmetic carries it, every order comparison with it is false), a missing string
None: most leaves need no test of their own for missing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from fraudops.features import FEATURE_NAMES
from fraudops.profile_store.layout import DAY, HOUR
from fraudops.rules.check import NAMES, SCORE, type_of
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
    shape,
)
from fraudops.rules.values import PAYMENT_ATTRIBUTES

Source = Literal["values", "payment"]
DECISIONS = ("approve", "review", "decline")  # index = code, as models.metrics.decide
# (the final decision, the names of the rules that fired, in order)
Verdict = tuple[str, list[str]]
FromValues = Callable[[Mapping[str, Any], Lists, str], Verdict]
Bound = tuple[frozenset[str], ...]  # the named lists a set reads, in CompiledRules.list_order
FromPayment = Callable[[Any, Sequence[Any], float, Bound, str], Verdict]
ARGUMENTS: dict[Source, tuple[str, ...]] = {
    "values": ("values", "lists", "model"),
    "payment": ("txn", "vector", "score", "bound", "model"),
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
NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
NAN = float("nan")
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _hour(ts: ast.expr) -> ast.expr:
    """fraudops.rules.values.hour_of, inline: (ts % DAY) // HOUR."""
    return ast.BinOp(
        ast.BinOp(ts, ast.Mod(), ast.Constant(DAY)), ast.FloorDiv(), ast.Constant(HOUR)
    )


def _weekday(ts: ast.expr) -> ast.expr:
    """fraudops.rules.values.weekday_of, inline: (ts // DAY + 3) % 7."""
    days = ast.BinOp(ts, ast.FloorDiv(), ast.Constant(DAY))
    return ast.BinOp(ast.BinOp(days, ast.Add(), ast.Constant(3)), ast.Mod(), ast.Constant(7))


TIMESTAMP_FIELDS: dict[str, Callable[[ast.expr], ast.expr]] = {"hour": _hour, "weekday": _weekday}
# what the payment form reads already as missing is written here (the Txn's strings or None, its
# validated amount, the model's float score): only the feature vector's values are converted
PAYMENT_NATIVE = {*PAYMENT_ATTRIBUTES, *TIMESTAMP_FIELDS, SCORE}


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


def _set(values: Sequence[float | str]) -> ast.Constant:
    return ast.Constant(frozenset(values))  # type: ignore[arg-type]  # a valid constant


def _and(parts: list[ast.expr]) -> ast.expr:
    return parts[0] if len(parts) == 1 else ast.BoolOp(ast.And(), parts)


class _Builder:
    """One function's locals: a variable per name read, a temporary per value read twice."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.variables: dict[str, str] = {}
        self.temps = 0
        self.lists: dict[str, int] = {}  # named list -> its place in the bound tuple
        self.shared: set[tuple[object, ...]] = set()  # conditions met more than once
        self.hoisted: dict[tuple[object, ...], tuple[str, ast.expr]] = {}

    def share(self, rules: Sequence[Rule]) -> None:
        """Find the conditions the set tests more than once (the same country list, channel,
        threshold): each is evaluated once, before the rules, into a local. On values of the
        contract's types (what the hot path reads) every condition is pure and cannot raise, so
        evaluating it early changes no answer."""
        seen: set[tuple[object, ...]] = set()
        todo = [(rule.condition, True) for rule in rules]
        while todo:
            node, want = todo.pop()
            if isinstance(node, Not):
                todo.append((node.operand, not want))
                continue
            key = (want, shape(node))
            if key in seen:
                self.shared.add(key)  # not its parts: they come with it
                continue
            seen.add(key)
            if isinstance(node, And | Or):
                todo.extend((n, want) for n in node.operands)

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
            return ast.Attribute(_load("txn"), name, ast.Load())
        if name in TIMESTAMP_FIELDS:
            ts = ast.Attribute(_load("txn"), "ts", ast.Load())
            return TIMESTAMP_FIELDS[name](ts)
        if name == SCORE:
            return _load("score")
        return ast.Subscript(_load("vector"), ast.Constant(_FEATURE_INDEX[name]), ast.Load())

    def named_list(self, name: str) -> ast.expr:
        """A named list's values: from the bound tuple, or (mapping form) the lists mapping; a
        list not in the snapshot is empty."""
        index = self.lists.setdefault(name, len(self.lists))
        if self.source == "payment":
            return ast.Subscript(_load("bound"), ast.Constant(index), ast.Load())
        return ast.Call(_load("_list"), [ast.Constant(name), _set(())], [])

    def temp(self, expr: ast.expr) -> tuple[ast.expr, ast.expr]:
        """A value read twice: (its first use, assigning a temporary; the later uses)."""
        if isinstance(expr, ast.Name | ast.Constant):
            return expr, expr
        name = f"t{self.temps}"
        self.temps += 1
        return ast.NamedExpr(_store(name), expr), _load(name)

    def value(self, node: Node) -> ast.expr:
        """A number (NaN when missing: arithmetic carries it) or a string (None when missing)."""
        if isinstance(node, Number | String):
            return ast.Constant(node.value)
        if isinstance(node, Name):
            return _load(self.variable(node.name))
        if isinstance(node, Negate):
            return ast.UnaryOp(ast.USub(), self.value(node.operand))
        if isinstance(node, Arith):
            left, right = self.value(node.left), self.value(node.right)
            if node.op != "/":
                return ast.BinOp(left, ARITH[node.op](), right)
            first, again = self.temp(right)  # x / 0 is missing, not infinite nor an error
            nonzero = ast.Compare(first, [ast.NotEq()], [ast.Constant(0)])
            return ast.IfExp(nonzero, ast.BinOp(left, ast.Div(), again), ast.Constant(NAN))
        raise AssertionError(f"not a value: {node!r}")  # the checker refused it already

    def known(self, first: ast.expr, again: ast.expr, kind: str) -> ast.expr | None:
        """A test that the value is not missing (None: a constant, always known)."""
        if isinstance(first, ast.Constant):
            return None
        if kind == "number":
            return ast.Compare(first, [ast.Eq()], [again])  # NaN != NaN
        return ast.Compare(first, [ast.IsNot()], [ast.Constant(None)])

    def truth(self, node: Node, want: bool) -> ast.expr:
        """An expression true exactly when the condition is ``want`` (not unknown)."""
        if isinstance(node, Not):
            return self.truth(node.operand, not want)
        key = (want, shape(node))
        if key not in self.shared:
            return self.test(node, want)
        if key not in self.hoisted:
            expr = self.test(node, want)  # first: the shared parts inside it come before it
            self.hoisted[key] = (f"c{len(self.hoisted)}", expr)
        return _load(self.hoisted[key][0])

    def test(self, node: Node, want: bool) -> ast.expr:
        if isinstance(node, And | Or):
            all_of = isinstance(node, And) == want  # de Morgan for the false side
            parts = [self.truth(n, want) for n in node.operands]
            return ast.BoolOp(ast.And() if all_of else ast.Or(), parts)
        if isinstance(node, Compare):
            return self.compare(node, want)
        if isinstance(node, In):
            kind = type_of(node.value)
            value = self.value(node.value)
            items: ast.expr
            if isinstance(node.items, ListLiteral):
                items = _set(node.items.values)
            else:
                assert isinstance(node.items, ListRef)
                items = self.named_list(node.items.name)
            if want != node.negated:  # NaN and None are in no list
                return ast.Compare(value, [ast.In()], [items])
            first, again = self.temp(value)
            guard = self.known(first, again, kind)
            member = ast.Compare(again, [ast.NotIn()], [items])
            return member if guard is None else _and([guard, member])
        raise AssertionError(f"not a condition: {node!r}")

    def compare(self, node: Compare, want: bool) -> ast.expr:
        """Numbers: an order comparison with NaN is false, so ``<`` ... ``==`` test true as
        they are, false as their complement, and ``!=`` as ``<`` or ``>``. Strings (== and !=):
        None equals no constant; two names both given are compared."""
        op = node.op if want else NEGATED[node.op]
        left, right = self.value(node.left), self.value(node.right)
        if type_of(node.left) == "number":
            if op != "!=":
                return ast.Compare(left, [COMPARE[op]()], [right])
            (left, left_again), (right, right_again) = self.temp(left), self.temp(right)
            below = ast.Compare(left, [ast.Lt()], [right])
            return ast.BoolOp(ast.Or(), [below, ast.Compare(left_again, [ast.Gt()], [right_again])])
        test = ast.Compare(left, [COMPARE[op]()], [right])
        if op == "==" and (isinstance(left, ast.Constant) or isinstance(right, ast.Constant)):
            return test
        sides = (self.known(left, left, "string"), self.known(right, right, "string"))
        guards = [g for g in sides if g is not None]
        return _and([*guards, test])

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
        if self.lists and self.source == "values":
            out.append(
                ast.Assign([_store("_list")], ast.Attribute(_load("lists"), "get", ast.Load()))
            )
        for name, var in self.variables.items():
            out.append(ast.Assign([_store(var)], self.read(name)))
            if self.source == "payment" and name in PAYMENT_NATIVE:
                continue
            if NAMES[name] == "number":  # missing numbers are NaN
                test = ast.Compare(_load(var), [ast.Is()], [ast.Constant(None)])
                missing = ast.Constant(NAN)
            else:  # missing strings are None
                test = ast.Compare(_load(var), [ast.NotEq()], [_load(var)])
                missing = ast.Constant(None)
            out.append(ast.If(test, [ast.Assign([_store(var)], missing)], []))
        out.extend(ast.Assign([_store(name)], expr) for name, expr in self.hoisted.values())
        out.append(ast.Assign([_store("fired")], ast.List([], ast.Load())))
        out.append(ast.Assign([_store("allow")], ast.Constant(False)))
        # the model's decision is the level the rules start from (its thresholds: the last rules)
        level: ast.expr = ast.Constant(0)
        for code in (1, 2):
            is_it = ast.Compare(_load("model"), [ast.Eq()], [ast.Constant(DECISIONS[code])])
            level = ast.IfExp(is_it, ast.Constant(code), level)
        out.append(ast.Assign([_store("level")], level))
        return out


def generate(
    rules: Sequence[Rule], source: Source
) -> tuple[Callable[..., Verdict], tuple[str, ...]]:
    """The rule set as one function of ``ARGUMENTS[source]`` returning a ``Verdict`` (``model``:
    the decision of the model's thresholds), and the named lists it reads in the order of the
    ``bound`` tuple. Precedence (fraudops.rules.ruleset): an allow that fired approves, else the
    most severe of the model's decision and the rules that fired."""
    builder = _Builder(source)
    builder.share(rules)
    body = [builder.rule(rule) for rule in rules]  # first: the prologue reads what they use
    decision = ast.IfExp(
        _load("allow"),
        ast.Constant(DECISIONS[0]),
        ast.Subscript(ast.Constant(DECISIONS), _load("level"), ast.Load()),  # type: ignore[arg-type]
    )
    result = ast.Tuple([decision, _load("fired")], ast.Load())
    function = ast.FunctionDef(
        name="decide",
        args=ast.arguments([], [ast.arg(a) for a in ARGUMENTS[source]], None, [], [], None, []),
        body=[*builder.prologue(), *body, ast.Return(result)],
        decorator_list=[],
        returns=None,
    )
    module = ast.fix_missing_locations(ast.Module([function], []))
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile(module, "<rule set>", "exec"), namespace)
    fn: Callable[..., Verdict] = namespace["decide"]
    return fn, tuple(builder.lists)
