"""The rule language's syntax tree: what the parser builds and both compilers walk.

Every node carries the line and column of its first character so the type checker can point at
the very place a rule goes wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

Action = Literal["allow", "decline", "review"]
ACTIONS: tuple[Action, ...] = ("allow", "decline", "review")
CompareOp = Literal["<", "<=", ">", ">=", "==", "!="]
ArithOp = Literal["+", "-", "*", "/"]
Lists = Mapping[str, frozenset[str]]  # the named lists' values, as read at one version


class RuleError(ValueError):
    """A rule set refused at load: the message names line, column and what is wrong."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.reason = message


@dataclass(frozen=True)
class Node:
    line: int
    column: int


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    """A payment field, a feature of the contract or ``score``."""

    name: str


@dataclass(frozen=True)
class ListRef(Node):
    """``@name``: a named list, looked up in the lists snapshot when evaluated."""

    name: str


@dataclass(frozen=True)
class ListLiteral(Node):
    """``("FR", "DE")``: literal values (numbers or strings)."""

    values: tuple[float | str, ...]


@dataclass(frozen=True)
class Negate(Node):
    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    op: ArithOp
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: CompareOp
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    value: Node
    items: Node  # ListRef or ListLiteral once type-checked
    negated: bool


@dataclass(frozen=True)
class And(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Rule:
    name: str
    action: Action
    condition: Node
    line: int
    text: str


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Arith | Compare):
        return (node.left, node.right)
    if isinstance(node, In):
        return (node.value, node.items)
    if isinstance(node, And | Or):
        return node.operands
    if isinstance(node, Negate | Not):
        return (node.operand,)
    return ()


def walk(node: Node) -> list[Node]:
    """The node and every node below it (iterative: any depth)."""
    out, todo = [], [node]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children(current))
    return out


def depth(node: Node) -> int:
    """How deeply the tree nests (iterative: any depth)."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        current, level = todo.pop()
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children(current))
    return deepest


def list_names(node: Node) -> set[str]:
    """The named lists a condition reads (the backtest warns about those it was not given)."""
    return {n.name for n in walk(node) if isinstance(n, ListRef)}


def names_used(node: Node) -> set[str]:
    """The fields/features a condition reads."""
    return {n.name for n in walk(node) if isinstance(n, Name)}


def shape(node: Node) -> tuple[object, ...]:
    """The node without its positions: equal for the same expression written anywhere."""
    parts: list[object] = [type(node).__name__]
    for f in fields(node):
        if f.name not in ("line", "column"):
            value = getattr(node, f.name)
            if isinstance(value, tuple):
                value = tuple(shape(v) if isinstance(v, Node) else v for v in value)
            parts.append(shape(value) if isinstance(value, Node) else value)
    return tuple(parts)
