"""Assembling the ordered feature vector; the per-entity parts let Beam fold each entity alone."""

from __future__ import annotations

from fraudops.features.contract import FeatureSpec, Value, contract_fingerprint, registry
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn

SPECS: tuple[FeatureSpec, ...] = registry()
FEATURE_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(s.name for s in SPECS if s.kind == "categorical")
FINGERPRINT = contract_fingerprint(SPECS)

_BY_ENTITY = {
    entity: tuple(s for s in SPECS if s.entity == entity)
    for entity in ("transaction", "customer", "terminal")
}
_EMPTY = EntityState()


def transaction_part(tx: Txn) -> dict[str, Value]:
    return {s.name: s.fn(tx, _EMPTY, tx.ts) for s in _BY_ENTITY["transaction"]}


def customer_part(tx: Txn, customer: EntityState, as_of: int | None = None) -> dict[str, Value]:
    at = tx.ts if as_of is None else as_of
    return {s.name: s.fn(tx, customer, at) for s in _BY_ENTITY["customer"]}


def terminal_part(tx: Txn, terminal: EntityState, as_of: int | None = None) -> dict[str, Value]:
    at = tx.ts if as_of is None else as_of
    return {s.name: s.fn(tx, terminal, at) for s in _BY_ENTITY["terminal"]}


def assemble(*parts: dict[str, Value]) -> list[Value]:
    merged: dict[str, Value] = {}
    for part in parts:
        merged.update(part)
    return [merged[name] for name in FEATURE_NAMES]


def feature_vector(
    tx: Txn, customer: EntityState, terminal: EntityState, as_of: int | None = None
) -> list[Value]:
    """The model's input for ``tx`` given both profiles as they were just before it."""
    return assemble(
        transaction_part(tx), customer_part(tx, customer, as_of), terminal_part(tx, terminal, as_of)
    )
