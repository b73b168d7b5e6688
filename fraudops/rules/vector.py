"""Vectorised compilation: the same conditions over whole columns (a dataset's rows), for the
backtest. Same semantics as fraudops.rules.closures, row by row:

- a value is an array plus a ``missing`` mask (NaN / None, a column the frame lacks, x / 0, and
  a NaN from arithmetic such as inf - inf);
- a condition is two masks, ``true`` and ``false``; rows in neither are unknown (Kleene logic);
- a rule fires where its condition is true.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    Name,
    Negate,
    Node,
    Not,
    Number,
    Or,
    String,
)

Lists = Mapping[str, frozenset[str]]
Value = tuple[np.ndarray, np.ndarray]  # values, missing
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


@dataclass
class Columns:
    """Rows as columns of rule names: numbers float64 (NaN missing), strings object (None
    missing). Built once per frame; every rule of the set reads the same arrays."""

    rows: int
    arrays: dict[str, np.ndarray]
    _missing: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Columns:
        """Columns of ``frame`` named like rule names (others ignored), typed by the contract."""
        arrays: dict[str, np.ndarray] = {}
        for name, kind in NAMES.items():
            if name not in frame.columns:
                continue
            col = frame[name]
            if kind == "number":
                arrays[name] = pd.to_numeric(col, errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
            else:
                values = col.to_numpy(dtype=object, copy=True)
                values[pd.isna(values)] = None
                arrays[name] = values
        return cls(len(frame), arrays)

    def value(self, name: str) -> Value:
        if name not in self.arrays:
            kind = NAMES[name]
            fill: np.ndarray = np.full(
                self.rows, np.nan if kind == "number" else None, dtype=_dtype(kind)
            )
            return fill, np.ones(self.rows, dtype=bool)
        if name not in self._missing:
            self._missing[name] = np.asarray(pd.isna(self.arrays[name]), dtype=bool)
        return self.arrays[name], self._missing[name]


def _dtype(kind: str) -> type:
    return np.float64 if kind == "number" else object


def evaluate(node: Node, cols: Columns, lists: Lists) -> Truth:
    """The (true, false) masks of a condition over every row."""
    n = cols.rows
    if isinstance(node, Compare):
        (a, ma), (b, mb) = _value(node.left, cols), _value(node.right, cols)
        known = ~(ma | mb)
        with np.errstate(invalid="ignore"):
            r = np.asarray(COMPARE[node.op](a, b), dtype=bool)
        return known & r, known & ~r
    if isinstance(node, In):
        a, ma = _value(node.value, cols)
        if isinstance(node.items, ListLiteral):
            items: list[float | str] = list(node.items.values)
        else:
            assert isinstance(node.items, ListRef)
            items = sorted(lists.get(node.items.name, frozenset()))
        if a.dtype == object:
            hit = pd.Series(a, dtype=object).isin(items).to_numpy(dtype=bool)
        else:
            hit = np.isin(a, np.asarray(items, dtype=np.float64))
        known = ~ma
        yes, no = known & hit, known & ~hit
        return (no, yes) if node.negated else (yes, no)
    if isinstance(node, And | Or):
        parts = [evaluate(o, cols, lists) for o in node.operands]
        t, f = parts[0]
        for pt, pf in parts[1:]:
            t, f = (t & pt, f | pf) if isinstance(node, And) else (t | pt, f & pf)
        return t, f
    if isinstance(node, Not):
        t, f = evaluate(node.operand, cols, lists)
        return f, t
    raise AssertionError(f"not a condition: {node!r} ({n} rows)")


def _value(node: Node, cols: Columns) -> Value:
    n = cols.rows
    if isinstance(node, Number):
        return np.full(n, node.value, dtype=np.float64), np.zeros(n, dtype=bool)
    if isinstance(node, String):
        return np.full(n, node.value, dtype=object), np.zeros(n, dtype=bool)
    if isinstance(node, Name):
        return cols.value(node.name)
    if isinstance(node, Negate):
        a, ma = _value(node.operand, cols)
        return -a, ma
    if isinstance(node, Arith):
        (a, ma), (b, mb) = _value(node.left, cols), _value(node.right, cols)
        with np.errstate(all="ignore"):
            r = ARITH[node.op](a, b)
        missing = ma | mb | np.isnan(r)
        if node.op == "/":
            missing |= b == 0
        return r, missing
    raise AssertionError(f"not a value: {node!r}")
