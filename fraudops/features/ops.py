"""The few operations feature formulas use, for one transaction or for a column of them.

Every feature in :mod:`fraudops.features.definitions` is written once. Called with Python scalars
(the scoring service and the event-by-event fold) these helpers are the plain operations; called
with numpy columns (the columnar fold of :mod:`fraudops.features.columnar`) they are their
element-wise forms, giving the same float64 bits: integer sums stay exact integers and every
division is the correctly rounded quotient of the same integers, as Python's ``int / int`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
Array = npt.NDArray[Any]
_EXACT = 2**53  # integers below this convert to float64 exactly


class Known:
    """A column of optional integers (``None`` in the scalar form): values + a mask."""

    __slots__ = ("known", "values")

    def __init__(self, values: Array, known: Array) -> None:
        self.values = np.where(known, values, 0)  # never garbage: formulas run on every row
        self.known = known


@overload
def as_float(x: float) -> float: ...
@overload
def as_float(x: Array) -> Array: ...
def as_float(x: Any) -> Any:
    """``float(x)``."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    return float(x)


@overload
def flag(cond: bool) -> float: ...
@overload
def flag(cond: Array) -> Array: ...
def flag(cond: Any) -> Any:
    """``1.0 if cond else 0.0``."""
    if isinstance(cond, np.ndarray):
        return cond.astype(np.float64)
    return 1.0 if cond else 0.0


@overload
def maximum(a: int, b: int) -> int: ...
@overload
def maximum(a: int | Array, b: Array) -> Array: ...
@overload
def maximum(a: Array, b: int | Array) -> Array: ...
def maximum(a: Any, b: Any) -> Any:
    """``max(a, b)``."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return max(a, b)


def _divide(num: Array, den: Array) -> Array:
    """Element-wise ``num / den`` with Python's rounding for integers of any size."""
    out: Array = np.true_divide(num, den, dtype=np.float64)
    if num.dtype.kind in "iu" and den.dtype.kind in "iu":
        big = (np.abs(num) >= _EXACT) | (np.abs(den) >= _EXACT)
        if big.any():  # float64 would round the operands first: divide the exact integers
            out[big] = [int(a) / int(b) for a, b in zip(num[big], den[big], strict=True)]
    return out


@overload
def divide(num: int, den: int) -> float: ...
@overload
def divide(num: int | Array, den: Array) -> Array: ...
@overload
def divide(num: Array, den: int | Array) -> Array: ...
def divide(num: Any, den: Any) -> Any:
    """``num / den`` (true division)."""
    if isinstance(num, np.ndarray) or isinstance(den, np.ndarray):
        n, d = np.broadcast_arrays(np.asarray(num), np.asarray(den))
        return _divide(n, d)
    return num / den


@overload
def ratio_or(num: int, den: int, ok: bool, default: float) -> float: ...
@overload
def ratio_or(num: Array, den: Array, ok: Array, default: float) -> Array: ...
def ratio_or(num: Any, den: Any, ok: Any, default: float) -> Any:
    """``num / den if ok else default`` (``den`` is only divided by where ``ok``)."""
    if isinstance(ok, np.ndarray):
        out = np.full(ok.shape, default, dtype=np.float64)
        n, d = np.broadcast_arrays(np.asarray(num), np.asarray(den))
        out[ok] = _divide(n[ok], d[ok])
        return out
    return num / den if ok else default


@overload
def if_known(value: int | None, fn: Callable[[int], float], default: float) -> float: ...
@overload
def if_known(value: Known, fn: Callable[[Array], Array], default: float) -> Array: ...
def if_known(value: Any, fn: Callable[[Any], Any], default: float) -> Any:
    """``default if value is None else fn(value)``."""
    if isinstance(value, Known):
        return np.where(value.known, fn(value.values), default)
    return default if value is None else fn(value)


@overload
def or_default(value: str | None, default: str) -> str: ...
@overload
def or_default(value: Array, default: str) -> Array: ...
def or_default(value: Any, default: str) -> Any:
    """``value or default`` (a missing or empty value becomes ``default``)."""
    if isinstance(value, np.ndarray):
        return np.array([v or default for v in value], dtype=object)
    return value or default
