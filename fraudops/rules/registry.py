"""Rule-set versions, like the model registry: immutable versions, an ``active`` alias with its
history, a decision log (who, why, when).

    <root>/r1/rules.txt  manifest.json      (staging + rename, fraudops.versioned)
    <root>/aliases.json    {"active": "r2", "active_history": ["r1", "r2"], "updated_at": ...}
    <root>/decisions.jsonl one JSON line per publish / activate / rollback

A set is parsed, type-checked and compiled before it is stored: a version always loads. Alias
changes happen under an exclusive file lock and replace ``aliases.json`` atomically, so a
scoring worker watching it sees the old or the new active version, never a mix.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudops import versioned
from fraudops.features import FINGERPRINT
from fraudops.rules.ruleset import CompiledRules, RuleSet

PREFIX = "r"
VERSION = re.compile(r"r[1-9][0-9]{0,8}")  # a version name, never a path (the API passes them)
RULES_FILE = "rules.txt"
ALIASES = "aliases.json"
DECISIONS = "decisions.jsonl"


class RuleRegistryError(RuntimeError):
    """An unknown version, nothing to roll back to, a missing reason: the message says which."""


@dataclass
class RuleRegistry:
    root: Path

    def versions(self) -> list[str]:
        return [p.name for _, p in versioned.version_dirs(self.root, PREFIX)]

    def manifest(self, version: str) -> dict[str, Any]:
        if not VERSION.fullmatch(version):
            raise RuleRegistryError(f"rule set {version!r} not found: versions are r1, r2, ...")
        try:
            return versioned.read_manifest(self.root, version, "rule set")
        except versioned.VersionError as exc:
            raise RuleRegistryError(str(exc)) from None

    def text(self, version: str) -> str:
        self.manifest(version)
        return (self.root / version / RULES_FILE).read_text()

    def load(self, version: str) -> CompiledRules:
        """A stored version, compiled (once per version: the caller keeps it)."""
        return RuleSet.parse(self.text(version)).compile()

    def load_active(self) -> tuple[str, CompiledRules] | None:
        """The active version and its compiled set (None: no active set yet)."""
        version = self.active()
        return (version, self.load(version)) if version else None

    def publish(self, text: str, author: str, reason: str) -> str:
        """Validate and store ``text`` as the next version (RuleError if it does not compile)."""
        _required(author=author, reason=reason)
        ruleset = RuleSet.parse(text)
        ruleset.compile()
        staging = versioned.new_staging(self.root)
        try:
            (staging / RULES_FILE).write_text(text)
            manifest = {
                "author": author,
                "reason": reason,
                "rules": [
                    {"name": r.name, "action": r.action, "line": r.line} for r in ruleset.rules
                ],
                "lists": sorted(ruleset.list_names()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "feature_fingerprint": FINGERPRINT,
            }
            version = versioned.publish(self.root, staging, manifest, PREFIX)
        except BaseException:
            versioned.discard(staging)
            raise
        with versioned.locked(self.root):
            self._record("publish", version, author, reason)
        return version

    # --- the active alias ----------------------------------------------------------------------
    def aliases(self) -> dict[str, Any]:
        path = self.root / ALIASES
        if not path.exists():
            return {"active": None, "active_history": []}
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def active(self) -> str | None:
        value = self.aliases().get("active")
        return str(value) if value else None

    def resolve(self, ref: str) -> str:
        """A version name or ``active`` -> a version."""
        if ref == "active":
            active = self.active()
            if active is None:
                raise RuleRegistryError("no active rule set yet")
            return active
        self.manifest(ref)
        return ref

    def activate(self, version: str, who: str, why: str) -> None:
        _required(who=who, why=why)
        with versioned.locked(self.root):
            self.manifest(version)
            aliases = self.aliases()
            previous = aliases.get("active")
            if previous != version:
                aliases["active"] = version
                aliases["active_history"] = [*aliases.get("active_history", []), version]
                self._write(aliases)
            self._record("activate", version, who, why, previous=previous)

    def rollback(self, who: str, why: str) -> tuple[str, str]:
        """``active`` back to the version active before it; returns (from, to)."""
        _required(who=who, why=why)
        with versioned.locked(self.root):
            aliases = self.aliases()
            history = list(aliases.get("active_history", []))
            current = aliases.get("active")
            if not current or len(history) < 2:
                raise RuleRegistryError("nothing to roll back to: no earlier active rule set")
            history.pop()
            target = history[-1]
            aliases["active"], aliases["active_history"] = target, history
            self._write(aliases)
            self._record("rollback", target, who, why, previous=current)
        return current, target

    def deactivate(self, who: str, why: str) -> None:
        """No rule set active: the model alone decides (the emergency switch); ``activate``
        brings one back."""
        _required(who=who, why=why)
        with versioned.locked(self.root):
            aliases = self.aliases()
            previous = aliases.get("active")
            if previous:
                aliases["active"] = None
                self._write(aliases)
            self._record("deactivate", previous or "", who, why, previous=previous)

    def diff(self, a: str, b: str) -> str:
        """Unified diff of two versions' texts."""
        lines = difflib.unified_diff(
            self.text(a).splitlines(keepends=True),
            self.text(b).splitlines(keepends=True),
            fromfile=f"{a}/{RULES_FILE}",
            tofile=f"{b}/{RULES_FILE}",
        )
        return "".join(lines)

    def history(self) -> list[dict[str, Any]]:
        """Every publish / activate / rollback, oldest first, with who, why and when."""
        result: list[dict[str, Any]] = versioned.read_jsonl(self.root / DECISIONS)
        return result

    # --- internals -----------------------------------------------------------------------------
    def _write(self, aliases: dict[str, Any]) -> None:
        aliases["updated_at"] = _now()
        versioned.write_json_atomic(self.root / ALIASES, aliases)

    def _record(self, action: str, version: str, who: str, why: str, **more: Any) -> None:
        entry = {"at": _now(), "action": action, "version": version, "by": who, "reason": why}
        versioned.append_jsonl(self.root / DECISIONS, {**entry, **more})


def _required(**values: str) -> None:
    for key, value in values.items():
        if not value or not value.strip():
            raise RuleRegistryError(f"{key} is required (who and why go into the decision log)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
