"""The feature contract: version, ordered names, and how each feature is registered."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn

FEATURE_SET_VERSION = "1"

Entity = Literal["transaction", "customer", "terminal"]
Kind = Literal["numeric", "categorical"]
Value = float | str
FeatureFn = Callable[[Txn, EntityState, int], Value]


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: where its state comes from, what it means, its window and its default."""

    name: str
    entity: Entity
    kind: Kind
    window: str
    default: str
    doc: str
    fn: FeatureFn


_REGISTRY: list[FeatureSpec] = []


def feature(
    name: str,
    entity: Entity,
    *,
    window: str = "-",
    default: str = "-",
    kind: Kind = "numeric",
) -> Callable[[FeatureFn], FeatureFn]:
    """Register ``fn(tx, entity_state, as_of) -> value`` under ``name`` (order = contract order)."""

    def register(fn: FeatureFn) -> FeatureFn:
        if any(spec.name == name for spec in _REGISTRY):
            raise ValueError(f"feature {name!r} defined twice")
        doc = " ".join((fn.__doc__ or "").split())
        _REGISTRY.append(FeatureSpec(name, entity, kind, window, default, doc, fn))
        return fn

    return register


def registry() -> tuple[FeatureSpec, ...]:
    from fraudops.features import definitions  # noqa: F401  (registers on import)

    return tuple(_REGISTRY)


def contract_fingerprint(
    specs: tuple[FeatureSpec, ...], formulas: dict[str, str], script: str
) -> str:
    """Stable hash of version + ordered names/kinds + formula hashes (fraudops.features.formulas)
    + the profile script's hash: models and datasets refuse to load against another one."""
    payload = {
        "version": FEATURE_SET_VERSION,
        "features": [[s.name, s.kind, s.entity, s.window, formulas[s.name]] for s in specs],
        "profile_script": script,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
