"""Assembling the ordered feature vector; the per-entity parts let Beam fold each entity alone."""

from __future__ import annotations

from fraudops.features.contract import (
    FEATURE_SET_VERSION,
    Entity,
    FeatureFn,
    FeatureSpec,
    Value,
    contract_fingerprint,
    registry,
)
from fraudops.features.formulas import formula_hashes, lua_hash
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn

SPECS: tuple[FeatureSpec, ...] = registry()
FEATURE_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(s.name for s in SPECS if s.kind == "categorical")
FINGERPRINT = contract_fingerprint(SPECS, formula_hashes(SPECS), lua_hash())

ENTITIES: tuple[Entity, ...] = ("transaction", "customer", "terminal")
PART_NAMES: dict[Entity, tuple[str, ...]] = {
    e: tuple(s.name for s in SPECS if s.entity == e) for e in ENTITIES
}
_FNS: dict[Entity, tuple[FeatureFn, ...]] = {
    e: tuple(s.fn for s in SPECS if s.entity == e) for e in ENTITIES
}
# position in the contract of each value of (transaction part + customer part + terminal part)
ORDER_INDEX = [
    [*PART_NAMES["transaction"], *PART_NAMES["customer"], *PART_NAMES["terminal"]].index(n)
    for n in FEATURE_NAMES
]
_EMPTY = EntityState()


def contract_fields() -> dict[str, object]:
    """The feature contract as dataset and model manifests record it (and loaders check it)."""
    return {
        "feature_set_version": FEATURE_SET_VERSION,
        "feature_fingerprint": FINGERPRINT,
        "features": list(FEATURE_NAMES),
        "categorical_features": list(CATEGORICAL_FEATURES),
        "feature_formulas": formula_hashes(SPECS),
        "profile_script_hash": lua_hash(),
    }


def part_values(
    entity: Entity, tx: Txn, state: EntityState | None = None, as_of: int | None = None
) -> list[Value]:
    """One entity's features in PART_NAMES[entity] order (the fast path for folds)."""
    at = tx.ts if as_of is None else as_of
    st = _EMPTY if state is None else state
    return [fn(tx, st, at) for fn in _FNS[entity]]


def feature_vector(
    tx: Txn, customer: EntityState, terminal: EntityState, as_of: int | None = None
) -> list[Value]:
    """The model's input for ``tx`` given both profiles as they were just before it."""
    values = [
        *part_values("transaction", tx),
        *part_values("customer", tx, customer, as_of),
        *part_values("terminal", tx, terminal, as_of),
    ]
    return [values[i] for i in ORDER_INDEX]
