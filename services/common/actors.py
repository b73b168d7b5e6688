"""The one rule for the names of people who act (console analysts, the actor a label records):
the ``fraudops keys analyst`` command, the alerts service's analyst list and the feedback
service's ``X-Fraudops-Actor`` check all apply it, so a name accepted at creation is accepted at
labelling. Letters of any alphabet (``josé``), digits and ``. _ @ -``; no spaces (an invisible
trailing space would make two analysts of one). Names are compared in Unicode NFC form. On the
wire (an HTTP header carries ASCII only) the name is percent-encoded UTF-8."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

RULE = "1-64 letters (any alphabet), digits or . _ @ - (no spaces)"
MAX_LENGTH = 64
_PUNCTUATION = frozenset("._@-")


def valid_name(name: str) -> str | None:
    """The name in NFC form if it follows the rule, else None."""
    name = unicodedata.normalize("NFC", name)
    if not 1 <= len(name) <= MAX_LENGTH:
        return None
    return name if all(c.isalnum() or c in _PUNCTUATION for c in name) else None


def check_name(name: str, what: str = "name") -> str:
    """The name in NFC form; ValueError naming it and the rule if it breaks the rule."""
    valid = valid_name(name)
    if valid is None:
        raise ValueError(f"{what} {name!r}: {RULE}")
    return valid


def to_header(name: str) -> str:
    """The name as an ASCII header value: percent-encoded UTF-8 (a valid ASCII name is
    unchanged, so older feedback services read it as before)."""
    return quote(name, safe="@")


def from_header(value: str) -> str | None:
    """The name a header value carries, or None if it does not decode to a valid name."""
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None
    return valid_name(decoded)
