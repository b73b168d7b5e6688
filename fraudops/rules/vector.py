"""Vectorised compilation: the same conditions over whole columns (a dataset's rows), for the
backtest. Same semantics as fraudops.rules.codegen, row by row:

- a number is a float64 array plus a ``missing`` mask (NaN, a column the frame lacks, x / 0,
  and a NaN from arithmetic such as inf - inf);
- a string column is factorised once (codes into its distinct values, -1 missing): ``==`` and
  ``in`` compare small integers, never the strings of every row;
- a condition is two masks, ``true`` and ``false``; rows in neither are unknown (Kleene logic);
- a rule fires where its condition is true.
Constants are broadcast views (no copy per row); nothing is written in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudops.rules.check import NAMES
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
    String,
)

Num = tuple[np.ndarray, np.ndarray]  # values, missing
Truth = tuple[np.ndarray, np.ndarray]  # true, false

COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}


@dataclass(frozen=True)
class Strings:
    """A string column as codes into ``values`` (its distinct strings); -1 is missing."""

    codes: np.ndarray
    values: pd.Index

    def translated(self, other: pd.Index) -> np.ndarray:
        """These codes as codes into ``other``: -2 where the string is not in it, -1 missing."""
        where = np.asarray(other.get_indexer(self.values))
        table = np.append(np.where(where < 0, -2, where), -1)  # code -1 (missing) stays -1
        result: np.ndarray = table[self.codes]
        return result


class Columns:
    """Rows as columns of rule names, converted on first use (a backtest reads only the columns
    its rules name). ``unknown``: a column's stand-in text for missing (a dataset's "UNK")."""

    def __init__(
        self,
        rows: int,
        sources: Mapping[str, Callable[[], Any]],
        unknown: Mapping[str, str] | None = None,
    ) -> None:
        self.rows = rows
        self._sources = sources
        self._unknown = unknown or {}
        self._cache: dict[str, Num | Strings] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, unknown: Mapping[str, str] | None = None) -> Columns:
        """Columns of ``frame`` named like rule names (others ignored), typed by the contract."""
        sources = {n: column_getter(frame, n) for n in NAMES if n in frame.columns}
        return cls(len(frame), sources, unknown)

    def number(self, name: str) -> Num:
        if name not in self._cache:
            if name in self._sources:
                raw = self._sources[name]()
                values = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
                self._cache[name] = (values, np.isnan(values))
            else:
                self._cache[name] = (_const(np.nan, self.rows), _const(True, self.rows))
        cached = self._cache[name]
        assert isinstance(cached, tuple)
        return cached

    def strings(self, name: str) -> Strings:
        if name not in self._cache:
            if name in self._sources:
                raw = pd.Series(self._sources[name]())
                if not isinstance(raw.dtype, pd.StringDtype | pd.ArrowDtype):
                    raw = raw.astype(object)  # (string columns factorise natively: faster)
                codes, uniques = pd.factorize(raw, use_na_sentinel=True)
                values = pd.Index(uniques, dtype=object)
                stand_in = self._unknown.get(name)
                if stand_in is not None and stand_in in values:
                    codes = np.where(codes == values.get_loc(stand_in), -1, codes)
                self._cache[name] = Strings(np.asarray(codes, dtype=np.int64), values)
            else:
                self._cache[name] = Strings(_const(-1, self.rows), pd.Index([], dtype=object))
        cached = self._cache[name]
        assert isinstance(cached, Strings)
        return cached


def column_getter(frame: pd.DataFrame, name: str) -> Callable[[], Any]:
    return lambda: frame[name]


def _const(value: Any, rows: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value), (rows,))


def evaluate(node: Node, cols: Columns, lists: Lists) -> Truth:
    """The (true, false) masks of a condition over every row."""
    if isinstance(node, Compare):
        if _is_string(node.left):
            return _compare_strings(node, cols)
        (a, ma), (b, mb) = _number(node.left, cols), _number(node.right, cols)
        known = ~(ma | mb)
        with np.errstate(invalid="ignore"):
            r = np.asarray(COMPARE[node.op](a, b), dtype=bool)
        return known & r, known & ~r
    if isinstance(node, In):
        return _in(node, cols, lists)
    if isinstance(node, And | Or):
        parts = [evaluate(o, cols, lists) for o in node.operands]
        t, f = parts[0]
        for pt, pf in parts[1:]:
            t, f = (t & pt, f | pf) if isinstance(node, And) else (t | pt, f & pf)
        return t, f
    if isinstance(node, Not):
        t, f = evaluate(node.operand, cols, lists)
        return f, t
    raise AssertionError(f"not a condition: {node!r}")


def _is_string(node: Node) -> bool:
    """String values are names of string type or literals (there is no string arithmetic)."""
    return isinstance(node, String) or (isinstance(node, Name) and NAMES[node.name] == "string")


def _strings(node: Node, cols: Columns) -> Strings:
    if isinstance(node, String):
        return Strings(_const(0, cols.rows), pd.Index([node.value], dtype=object))
    assert isinstance(node, Name)
    return cols.strings(node.name)


def _compare_strings(node: Compare, cols: Columns) -> Truth:
    left, right = _strings(node.left, cols), _strings(node.right, cols)
    known = (left.codes >= 0) & (right.codes >= 0)
    equal = left.codes == right.translated(left.values)
    r = equal if node.op == "==" else ~equal
    return known & r, known & ~r


def _in(node: In, cols: Columns, lists: Lists) -> Truth:
    if isinstance(node.items, ListLiteral):
        items: list[Any] = list(node.items.values)
    else:
        assert isinstance(node.items, ListRef)
        items = sorted(lists.get(node.items.name, frozenset()))
    if _is_string(node.value):
        s = _strings(node.value, cols)
        table = np.zeros(len(s.values) + 1, dtype=bool)  # the last slot: missing (code -1)
        found = np.asarray(pd.Index(items, dtype=object).get_indexer(s.values)) >= 0
        table[: len(s.values)] = found
        hit, known = table[s.codes], s.codes >= 0
    else:
        a, ma = _number(node.value, cols)
        hit, known = np.isin(a, np.asarray(items, dtype=np.float64)), ~ma
    yes, no = known & hit, known & ~hit
    return (no, yes) if node.negated else (yes, no)


def _number(node: Node, cols: Columns) -> Num:
    n = cols.rows
    if isinstance(node, Number):
        return _const(np.float64(node.value), n), _const(False, n)
    if isinstance(node, Name):
        return cols.number(node.name)
    if isinstance(node, Negate):
        a, ma = _number(node.operand, cols)
        return -a, ma
    if isinstance(node, Arith):
        (a, ma), (b, mb) = _number(node.left, cols), _number(node.right, cols)
        with np.errstate(all="ignore"):
            r = ARITH[node.op](a, b)
        missing = ma | mb | np.isnan(r)
        if node.op == "/":
            missing |= b == 0
        return r, missing
    raise AssertionError(f"not a number: {node!r}")
