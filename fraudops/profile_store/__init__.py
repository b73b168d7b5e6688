"""The Redis profile store: layout, in-memory state, and sync/async clients."""

from fraudops.profile_store.layout import (
    EntityKind,
    PruneBounds,
    Update,
    entity_key,
    label_update,
    transaction_update,
)
from fraudops.profile_store.state import EntityState

__all__ = [
    "EntityKind",
    "EntityState",
    "PruneBounds",
    "Update",
    "entity_key",
    "label_update",
    "transaction_update",
]
