"""Keyed pseudonyms of customer ids: how an erased customer stays excluded without being named.

After an erasure nothing may hold the customer's id, yet every later dataset build and backfill
must still drop their rows from the raw histories it reads. The erasure ledger therefore keeps
``HMAC-SHA256(key, id)``: without the key (``FRAUDOPS_ERASURE_KEY``, from the environment) a
pseudonym cannot be tested against a guessed id, as a plain hash of a short id could.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

MIN_KEY_BYTES = 32


class PseudonymKeyError(ValueError):
    """No usable key: erasures cannot be recorded or honoured."""


def pseudonym(key: bytes, customer_id: str) -> str:
    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()


def check_key(key: str | None) -> bytes:
    if not key:
        raise PseudonymKeyError("FRAUDOPS_ERASURE_KEY is not set")
    raw = key.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"FRAUDOPS_ERASURE_KEY must be at least {MIN_KEY_BYTES} bytes")
    return raw


class ErasedCustomers:
    """The erased customers as a membership test over ids (picklable: Beam ships it to workers)."""

    def __init__(self, key: bytes, pseudonyms: Iterable[str]) -> None:
        self.key = key
        self.pseudonyms = frozenset(pseudonyms)

    def __len__(self) -> int:
        return len(self.pseudonyms)

    def __contains__(self, customer_id: object) -> bool:
        return isinstance(customer_id, str) and pseudonym(self.key, customer_id) in self.pseudonyms

    def mask(self, customer_ids: pd.Series) -> pd.Series:
        """True where the row's customer was erased (one HMAC per distinct id)."""
        if not self.pseudonyms or customer_ids.empty:
            return pd.Series(False, index=customer_ids.index)
        erased = {c for c in customer_ids.unique() if c in self}
        return customer_ids.isin(erased)
