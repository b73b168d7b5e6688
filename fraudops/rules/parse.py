"""Text -> syntax tree: a lark LALR grammar, one rule per line, errors with line and column.

Each line is parsed on its own (a rule never spans lines), so a mistake on one line is reported
at its own place and the line number is the file's. Nothing is ever evaluated here.
"""

from __future__ import annotations

from typing import cast

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from fraudops.rules.nodes import (
    ACTIONS,
    Action,
    And,
    Arith,
    ArithOp,
    Compare,
    CompareOp,
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
)

GRAMMAR = r"""
start: rule?
rule: (_RULE NAME ":")? ACTION _IF expr

?expr: and_expr
     | and_expr (_OR and_expr)+ -> or_
?and_expr: not_expr
         | not_expr (_AND not_expr)+ -> and_
?not_expr: _NOT not_expr -> not_
         | comparison
?comparison: sum
           | sum COMPOP sum -> compare
           | sum _IN list -> in_
           | sum _NOT _IN list -> not_in
?sum: product
    | sum ADDOP product -> arith
?product: unary
        | product MULOP unary -> arith
?unary: atom
      | "-" unary -> negate
?atom: NUMBER -> number
     | STRING -> string
     | NAME -> name
     | LISTNAME -> listref
     | "(" expr ")"
?list: LISTNAME -> listref
     | "(" literal ("," literal)* ","? ")" -> listlit
literal: NUMBER -> number
       | "-" NUMBER -> negnum
       | STRING -> string

_RULE.2: /rule\b/
_IF.2: /if\b/
_AND.2: /and\b/
_OR.2: /or\b/
_NOT.2: /not\b/
_IN.2: /in\b/
ACTION.2: /(decline|review|allow)\b/
COMPOP: "<=" | ">=" | "==" | "!=" | "<" | ">"
ADDOP: "+" | "-"
MULOP: "*" | "/"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
LISTNAME: /@[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/
STRING: /"[^"\n\\]*"/ | /'[^'\n\\]*'/
COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\r]+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

FRIENDLY = {
    "_RULE": "'rule'", "_IF": "'if'", "_AND": "'and'", "_OR": "'or'", "_NOT": "'not'",
    "_IN": "'in'", "ACTION": "an action (decline, review, allow)",
    "COMPOP": "a comparison (< <= > >= == !=)", "ADDOP": "+ or -", "MULOP": "* or /",
    "NAME": "a name", "LISTNAME": "a list (@name)", "NUMBER": "a number",
    "STRING": 'a string ("...")', "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "COLON": "':'", "MINUS": "'-'", "$END": "the end of the line",
}  # fmt: skip


def parse_rules(text: str) -> list[Rule]:
    """Every rule of ``text`` in order; blank and comment-only lines are skipped."""
    rules: list[Rule] = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            tree = _PARSER.parse(line)
            if not tree.children:
                continue
            rules.append(_rule(cast(Tree[Token], tree.children[0]), number, line.strip()))
        except UnexpectedInput as exc:
            raise _syntax_error(number, line, exc) from None
        except RecursionError:
            raise RuleError(number, 1, "the rule nests too deeply") from None
    return rules


def _syntax_error(number: int, line: str, exc: UnexpectedInput) -> RuleError:
    column = exc.column if isinstance(exc.column, int) and exc.column > 0 else len(line) + 1
    if isinstance(exc, UnexpectedCharacters):
        return RuleError(number, column, f"unexpected character {line[column - 1]!r}")
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        expected = set(exc.expected)
    wanted = ", ".join(sorted({FRIENDLY.get(e, e) for e in expected}))
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        what = f"unexpected {str(exc.token)!r}"
    else:
        what, column = "the rule ends too early", len(line.rstrip()) + 1
    return RuleError(number, column, f"{what}; expected {wanted}" if wanted else what)


def _rule(tree: Tree[Token], number: int, text: str) -> Rule:
    parts = tree.children
    if len(parts) == 3:
        name_tok, action_tok, cond = parts
        name = str(name_tok)
    else:
        action_tok, cond = parts
        name = f"line_{number}"
    action = cast(Action, str(action_tok))
    assert action in ACTIONS
    return Rule(name, action, _node(cond, number), number, text)


def _node(item: Tree[Token] | Token, line: int) -> Node:
    if isinstance(item, Token):
        return _token(item, line)
    col = item.meta.column if not item.meta.empty else 1
    kids = item.children
    kind = item.data
    if kind in ("or_", "and_"):
        ops = tuple(_node(k, line) for k in kids)
        return Or(line, col, ops) if kind == "or_" else And(line, col, ops)
    if kind == "not_":
        return Not(line, col, _node(kids[0], line))
    if kind == "negate":
        operand = _node(kids[0], line)
        if isinstance(operand, Number):
            return Number(line, col, -operand.value)
        return Negate(line, col, operand)
    if kind in ("compare", "arith"):
        left, op, right = kids
        if kind == "compare":
            return Compare(
                line, col, cast(CompareOp, str(op)), _node(left, line), _node(right, line)
            )
        return Arith(line, col, cast(ArithOp, str(op)), _node(left, line), _node(right, line))
    if kind in ("in_", "not_in"):
        return In(line, col, _node(kids[0], line), _node(kids[1], line), kind == "not_in")
    if kind == "listlit":
        values = tuple(_literal(k) for k in kids)
        return ListLiteral(line, col, values)
    if kind in ("number", "string", "name", "listref", "negnum"):
        node = _token(cast(Token, kids[0]), line)
        if kind == "negnum" and isinstance(node, Number):
            return Number(line, col, -node.value)
        return node
    raise AssertionError(f"unknown tree {kind}")  # pragma: no cover


def _literal(item: Tree[Token] | Token) -> float | str:
    node = _node(item, 0)
    if isinstance(node, Number | String):
        return node.value
    raise AssertionError("a list literal holds numbers and strings only")  # pragma: no cover


def _token(tok: Token, line: int) -> Node:
    col = tok.column or 1
    text = str(tok)
    if tok.type == "NUMBER":
        return Number(line, col, float(text))
    if tok.type == "STRING":
        return String(line, col, text[1:-1])
    if tok.type == "LISTNAME":
        return ListRef(line, col, text[1:])
    if tok.type == "NAME":
        return Name(line, col, text)
    raise AssertionError(f"unexpected token {tok.type}")  # pragma: no cover
