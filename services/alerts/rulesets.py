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
    def deactivate(self, who: str, why: str, /) -> object: ...
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


# what the registry raises for a refusal (RuleError is a ValueError; RuleRegistryError, e.g. an
# unknown version or nothing to roll back to, a RuntimeError): shown to the analyst, not a 500
REFUSALS = (ValueError, LookupError, RuntimeError)


def refusal(exc: BaseException) -> str:
    """The error's message, with ``line L, column C: `` first when it carries a position that
    the message does not already start with (fraudops.rules.RuleError)."""
    message = str(exc)
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if line is None or message.startswith(f"line {line}"):
        return message
    return f"line {line}" + (f", column {column}" if column is not None else "") + f": {message}"


def decisions(registry: RuleSets, limit: int = 20) -> list[Mapping[str, Any]]:
    """The registry's publish / activate / rollback log, newest first, when it keeps one
    (``history()``: who, why, when); else the active alias's history of versions."""
    own = getattr(registry, "history", None)
    if callable(own):
        return list(reversed(own()))[:limit]
    versions = registry.aliases().get("active_history") or []
    out: list[Mapping[str, Any]] = [{"version": v} for v in reversed(versions)]
    return out[:limit]
