"""The model registry: immutable model versions, the production/candidate/challenger aliases, a
decision log.

    <root>/m1/model.cbm  explainer.npz  manifest.json  validation.parquet
    <root>/aliases.json     {"production": "m2", "candidate": "m3", "challenger": "m3",
                             "production_history": [...]}

``challenger`` is the model the scoring workers shadow-score every payment with (never the
answer); promoting it to production clears the alias.
    <root>/decisions.jsonl  one JSON line per register / promote / refuse / rollback

Versions are published like datasets (staging + rename, see fraudops.versioned). Alias changes
happen under an exclusive file lock and replace ``aliases.json`` atomically, so a reader (the
scoring service watching for hot-swap) sees either the old or the new aliases, never a mix.
"""

from __future__ import annotations

import getpass
import json
import subprocess
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudops import versioned
from fraudops.features import FEATURE_NAMES, FINGERPRINT, SPECS
from fraudops.features.formulas import formula_changes
from models.settings import ModelSettings

PREFIX = "m"
MODEL_FILE = "model.cbm"
EXPLAINER_FILE = "explainer.npz"
VALIDATION_FILE = "validation.parquet"
MODEL_CARD = "MODEL_CARD.md"
ALIASES = "aliases.json"
DECISIONS = "decisions.jsonl"
ALIAS_NAMES = ("production", "candidate", "challenger")


class RegistryError(RuntimeError):
    pass


class ContractMismatch(RegistryError):
    """The model was trained on a different feature contract than the running code computes."""


def code_commit() -> str:
    env = ModelSettings().commit
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def check_contract(manifest: dict[str, Any]) -> None:
    """Refuse a model of another feature contract, naming the features whose formula changed."""
    names = manifest.get("features")
    changes = formula_changes(manifest, SPECS)
    if (
        manifest.get("feature_fingerprint") != FINGERPRINT
        or names != list(FEATURE_NAMES)
        or changes
    ):
        why = f": {'; '.join(changes)}" if changes else ""
        raise ContractMismatch(
            f"model {manifest.get('version')} expects feature contract "
            f"{manifest.get('feature_fingerprint')} (set {manifest.get('feature_set_version')}, "
            f"{len(names or [])} features); the running code computes {FINGERPRINT} "
            f"({len(FEATURE_NAMES)} features){why}"
        )


@dataclass
class Registry:
    root: Path = field(default_factory=lambda: ModelSettings().model_dir)

    # --- versions ---------------------------------------------------------------------------
    def versions(self) -> list[str]:
        return [p.name for _, p in versioned.version_dirs(self.root, PREFIX)]

    def manifest(self, version: str) -> dict[str, Any]:
        try:
            return versioned.read_manifest(self.root, version, "model version")
        except versioned.VersionError as exc:
            raise RegistryError(str(exc)) from None

    def path(self, version: str) -> Path:
        self.manifest(version)
        return self.root / version

    def resolve(self, ref: str) -> str:
        """A version name or an alias (``production``, ``candidate``, ``challenger``) -> version."""
        if ref in ALIAS_NAMES:
            version = self.aliases().get(ref)
            if not version:
                raise RegistryError(f"no {ref} model yet")
            return str(version)
        self.manifest(ref)
        return ref

    def register(self, staging: Path, manifest: dict[str, Any]) -> str:
        """Publish a fully written staging directory as the next version; it becomes candidate."""
        version = versioned.publish(self.root, staging, manifest, PREFIX)
        with self._locked():
            aliases = self.aliases()
            aliases["candidate"] = version
            self._write_aliases(aliases)
            self._record("register", version, reason="trained", metrics=manifest.get("metrics"))
        return version

    # --- aliases ----------------------------------------------------------------------------
    def aliases(self) -> dict[str, Any]:
        path = self.root / ALIASES
        if not path.exists():
            return {"production": None, "candidate": None, "production_history": []}
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def set_production(
        self, version: str, reason: str, metrics: dict[str, Any] | None = None
    ) -> None:
        with self._locked():
            aliases = self.aliases()
            previous = aliases.get("production")
            if previous != version:
                aliases["production"] = version
                aliases["production_history"] = [*aliases.get("production_history", []), version]
            for alias in ("candidate", "challenger"):  # promoted: no longer a contender
                if aliases.get(alias) == version:
                    aliases[alias] = None
            self._write_aliases(aliases)
            self._record("promote", version, previous=previous, reason=reason, metrics=metrics)

    def set_challenger(self, version: str | None, reason: str = "challenger") -> None:
        """Point ``challenger`` at a version (None clears it): the scoring workers pick it up."""
        with self._locked():
            aliases = self.aliases()
            if version is not None:
                self.manifest(version)
                if aliases.get("production") == version:
                    raise RegistryError(f"{version} is production: it cannot challenge itself")
            previous = aliases.get("challenger")
            aliases["challenger"] = version
            self._write_aliases(aliases)
            self._record("challenger", version or "-", previous=previous, reason=reason)

    def refuse(self, version: str, reason: str, metrics: dict[str, Any] | None = None) -> None:
        with self._locked():
            previous = self.aliases().get("production")
            self._record("refuse", version, previous=previous, reason=reason, metrics=metrics)

    def rollback(self, reason: str = "manual rollback") -> tuple[str, str]:
        """Production goes back to the version before it; returns (from, to)."""
        with self._locked():
            aliases = self.aliases()
            history = list(aliases.get("production_history", []))
            current = aliases.get("production")
            if not current or len(history) < 2:
                raise RegistryError("nothing to roll back to: no earlier production model")
            history.pop()
            target = history[-1]
            aliases["production"] = target
            aliases["production_history"] = history
            self._write_aliases(aliases)
            self._record("rollback", target, previous=current, reason=reason)
        return current, target

    def decisions(self) -> list[dict[str, Any]]:
        path = self.root / DECISIONS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # --- internals --------------------------------------------------------------------------
    def _locked(self) -> AbstractContextManager[None]:
        return versioned.locked(self.root)

    def _write_aliases(self, aliases: dict[str, Any]) -> None:
        aliases["updated_at"] = _now()
        versioned.write_json_atomic(self.root / ALIASES, aliases)

    def _record(self, action: str, version: str, **details: Any) -> None:
        entry = {
            "at": _now(),
            "action": action,
            "version": version,
            "by": ModelSettings().actor or _user(),
            **details,
        }
        versioned.append_jsonl(self.root / DECISIONS, entry)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
