"""An in-memory stand-in for ``fraudops.rules.registry.RuleRegistry`` (the interface of
services/alerts/rulesets.py) until the real one is on this branch: "compiles" a set by checking
that every rule line starts with an action, raising an error with line and column as the real
RuleError does."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

RULE = re.compile(r"^\s*(rule\s+[a-z_][a-z0-9_]*\s*:\s*)?(decline|review|allow)\s+if\s+\S")


class RuleError(ValueError):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line, self.column = line, column


class RuleRegistryDouble:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._texts: dict[str, str] = {}
        self._manifests: dict[str, dict[str, Any]] = {}
        self._active: str | None = None
        self._history: list[str] = []
        self._decisions: list[dict[str, Any]] = []

    def versions(self) -> list[str]:
        return sorted(self._texts, key=lambda v: int(v[1:]))

    def text(self, version: str) -> str:
        return self._texts[version]

    def manifest(self, version: str) -> dict[str, Any]:
        return self._manifests[version]

    def aliases(self) -> dict[str, Any]:
        return {"active": self._active, "active_history": list(self._history)}

    def publish(self, text: str, author: str, reason: str) -> str:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#") and not RULE.match(line):
                column = len(line) - len(line.lstrip()) + 1
                raise RuleError(n, column, "expected decline, review or allow if ...")
        version = f"r{len(self._texts) + 1}"
        created = f"2026-12-01T10:00:{len(self._texts):02d}Z"
        self._texts[version] = text
        lists = sorted(set(re.findall(r"@([a-z][a-z0-9_]*)", text)))
        self._manifests[version] = {"author": author, "reason": reason, "created_at": created,
                                    "lists": lists}  # fmt: skip
        return version

    def history(self) -> list[dict[str, Any]]:
        return list(self._decisions)

    def activate(self, version: str, who: str, why: str) -> None:
        if version not in self._texts:
            raise RuntimeError(f"no rule set {version}")
        self._history.append(version)
        self._active = version
        self._decisions.append({"action": "activate", "version": version, "by": who,
                                "reason": why})  # fmt: skip

    def rollback(self, who: str, why: str) -> tuple[str, str]:
        if len(self._history) < 2:
            raise RuntimeError("nothing to roll back to: no earlier active rule set")
        current = self._history.pop()
        self._active = self._history[-1]
        self._decisions.append({"action": "rollback", "version": self._active, "by": who,
                                "reason": why})  # fmt: skip
        return current, self._active

    def deactivate(self, who: str, why: str) -> None:
        self._active = None
        self._decisions.append({"action": "deactivate", "version": "", "by": who,
                                "reason": why})  # fmt: skip

    def diff(self, a: str, b: str) -> str:
        return "".join(
            difflib.unified_diff(
                self._texts[a].splitlines(True), self._texts[b].splitlines(True), a, b
            )
        )
