"""The canonical transaction: one validated shape shared by readers, pipelines and services."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from fraudops.iso_codes import COUNTRIES, CURRENCIES

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MCC_RE = re.compile(r"^[0-9]{4}$")
ID_MAX_LEN = 128
KNOWN_CHANNELS = frozenset({"card_present", "ecommerce", "atm", "moto", "contactless", "wallet"})
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

CANONICAL_COLUMNS = (
    "transaction_id",
    "timestamp",
    "customer_id",
    "terminal_id",
    "amount",
    "currency",
    "mcc",
    "country",
    "channel",
)
LABEL_COLUMNS = ("is_fraud", "fraud_scenario")
OPTIONAL_COLUMNS = ("currency", "mcc", "country", "channel")

# The Fraud Detection Handbook's names for the same fields.
HANDBOOK_TO_CANONICAL = {
    "TRANSACTION_ID": "transaction_id",
    "TX_DATETIME": "timestamp",
    "CUSTOMER_ID": "customer_id",
    "TERMINAL_ID": "terminal_id",
    "TX_AMOUNT": "amount",
    "TX_FRAUD": "is_fraud",
    "TX_FRAUD_SCENARIO": "fraud_scenario",
}
CANONICAL_TO_HANDBOOK = {v: k for k, v in HANDBOOK_TO_CANONICAL.items()}

# what the OpenAPI documents for ``amount``: a number or decimal string >= 0, <= 3 decimals (0 is
# real traffic: account-verification authorisations, and card testers' probes)
AMOUNT_STRING_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,3})?$", re.ASCII)
AMOUNT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1e9, "multipleOf": 0.001},
        {"type": "string", "pattern": AMOUNT_STRING_RE.pattern},
    ]
}
# RFC 3339 date-time (section 5.6; a space for the "T" as its note allows), checked before
# Python's fromisoformat, which also takes week dates, basic formats, "+0200" and a trailing NUL
RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)

# ids: no whitespace, control characters or invisible format characters (bidi overrides could
# disguise an id in a log line), spelled out, so the pattern means the same in Python, Rust and
# the ECMA-262 regexes of OpenAPI clients; lone surrogates (not text) refused too. No
# braces: ids sit inside Redis hash tags ("fo:c:{<id>}:x:<tx>"), and a "}" would let one
# entity's id spell another entity's key.
ID_FORBIDDEN = (
    r"\x00-\x20\x7f-\xa0\xad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000"
    r"\ufeff\ufff9-\uffff{}"
)
ID_PATTERN = rf"^[^{ID_FORBIDDEN}]+$"


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _listed(codes: frozenset[str], what: str) -> Any:
    def check(value: str | None) -> str | None:
        if value is not None and value not in codes:
            raise ValueError(f"{value!r} is not an {what} code")
        return value

    return check


def _enum(codes: frozenset[str]) -> dict[str, Any]:
    return {"enum": [*sorted(codes), None]}


Id = Annotated[
    str, Field(min_length=1, max_length=ID_MAX_LEN, pattern=ID_PATTERN), AfterValidator(_text)
]


def parse_timestamp(value: str | datetime) -> datetime:
    """RFC 3339 -> aware UTC datetime; a naive value is refused rather than guessed."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if not RFC3339_RE.match(text):
            raise ValueError("timestamp must be RFC 3339, e.g. 2018-04-01T10:00:00Z")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2018-04-01T10:00:00Z")
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise ValueError("timestamp is out of range once converted to UTC") from None


class Transaction(BaseModel):
    """A payment as the scoring API and the readers accept it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    transaction_id: Id
    timestamp: datetime
    customer_id: Id
    terminal_id: Id
    amount: Decimal = Field(
        ge=0,
        le=Decimal("1e9"),
        max_digits=15,
        decimal_places=3,
        json_schema_extra=AMOUNT_SCHEMA,
    )
    currency: Annotated[str | None, AfterValidator(_listed(CURRENCIES, "ISO 4217 currency"))] = (
        Field(default=None, pattern=CURRENCY_RE.pattern, json_schema_extra=_enum(CURRENCIES))
    )
    mcc: str | None = Field(default=None, pattern=MCC_RE.pattern)
    country: Annotated[str | None, AfterValidator(_listed(COUNTRIES, "ISO 3166-1 country"))] = (
        Field(default=None, pattern=COUNTRY_RE.pattern, json_schema_extra=_enum(COUNTRIES))
    )
    channel: str | None = Field(default=None, pattern=CHANNEL_RE.pattern)

    @field_validator("amount", mode="before")
    @classmethod
    def _binary_float_noise(cls, value: Any) -> Any:
        """A JSON number like 0.07100000000000001 is the amount 0.071 (float noise, not a
        fourth decimal); a real fourth decimal is still refused."""
        if isinstance(value, float) and math.isfinite(value):
            nearest = round(value, 3)
            if abs(value - nearest) <= 1e-9 * max(1.0, abs(value)):
                return Decimal(repr(nearest))
        if isinstance(value, str) and not AMOUNT_STRING_RE.match(value):
            # Decimal() would also read "1e2", " 5", "1_000" or other scripts' digits
            raise ValueError(
                'amount as a string must be digits with up to 3 decimals, e.g. "12.50"'
            )
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> datetime:
        if not isinstance(value, str | datetime):
            raise ValueError("timestamp must be an RFC 3339 string")
        return parse_timestamp(value)

    def to_txn(self) -> Txn:
        return Txn(
            transaction_id=self.transaction_id,
            ts=int(self.timestamp.timestamp()),
            customer_id=self.customer_id,
            terminal_id=self.terminal_id,
            amount=float(self.amount),
            currency=self.currency,
            mcc=self.mcc,
            country=self.country,
            channel=self.channel,
        )


@dataclass(frozen=True, slots=True)
class Txn:
    """The light, already-validated form the feature code works on (epoch seconds, float amount).

    Timestamps are whole UTC seconds: every window and bucket of the contract is defined on them.
    """

    transaction_id: str
    ts: int
    customer_id: str
    terminal_id: str
    amount: float
    currency: str | None = None
    mcc: str | None = None
    country: str | None = None
    channel: str | None = None

    amount_milli: int = field(init=False, repr=False, compare=False)
    """Amount in thousandths of the major unit: exact integer sums in Redis and offline."""

    def __post_init__(self) -> None:
        if not (self.amount >= 0 and math.isfinite(self.amount)):
            raise ValueError(f"amount must be a finite number >= 0, got {self.amount!r}")
        # 0 for a zero-amount payment: its count bucket then has no amount bucket (a field that
        # would hold 0 is deleted, see apply_update.lua)
        object.__setattr__(self, "amount_milli", round(self.amount * 1000))
