"""What the console needs of the rule-set registry (``fraudops.rules.registry.RuleRegistry``,
versions r1, r2.. on disk under ``FRAUDOPS_RULES_DIR``): the interface the pages are written
against, how the registry is opened, and a version's stored backtest. Written against the
interface, so a test double or the real registry slot in alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

BACKTEST_FILE = "backtest.json"  # `fraudops rules backtest rN --json` saved beside the version


class RuleSets(Protocol):
    """The rule-set registry's interface (positional arguments: names may differ)."""

    def versions(self, /) -> list[str]: ...
    def text(self, version: str, /) -> str: ...
    def manifest(self, version: str, /) -> Mapping[str, Any]: ...
    def aliases(self, /) -> Mapping[str, Any]: ...
    def publish(self, text: str, author: str, reason: str, /) -> str: ...
    def activate(self, version: str, who: str, why: str, /) -> object: ...
    def rollback(self, who: str, why: str, /) -> object: ...
    def diff(self, a: str, b: str, /) -> str: ...


def open_registry(root: Path) -> RuleSets | None:
    """The real registry under ``root``; None while ``fraudops.rules.registry`` is absent (the
    rules pages then say so with a 503)."""
    try:
        from fraudops.rules.registry import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
            RuleRegistry,
        )
    except ImportError:
        return None
    registry: RuleSets = RuleRegistry(root)
    return registry


def backtest(registry: RuleSets, root: Path, version: str) -> Any | None:
    """The backtest result stored with a version: the registry's own ``backtest(version)`` if
    it has one, else ``<root>/<version>/backtest.json``; None when there is none."""
    own = getattr(registry, "backtest", None)
    if callable(own):
        return own(version)
    path = root / version / BACKTEST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"{path.name} unreadable: {type(exc).__name__}"}


def position(exc: BaseException) -> str:
    """``line L, column C: `` of a rule error that carries them (fraudops.rules.RuleError)."""
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if line is None:
        return ""
    return f"line {line}" + (f", column {column}" if column is not None else "") + ": "
