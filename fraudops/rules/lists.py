"""Named lists for the rules (``terminal_id in @compromised_terminals``), kept in Redis so the
scoring hot path reads them without a database: one set per list, one hash of the lists' metadata,
a version counter and one audit stream per list, all under ONE hash tag (``<prefix>:{lists}:``) so
that every list key sits in one cluster slot and a change is one atomic Lua script (the change, the
version bump and its audit entry, or nothing). The hot path GETs the version per payment (one
cheap read) and takes a new :meth:`ListStore.snapshot` only when it moved.

Kinds: ``customer``, ``terminal`` (ids as the payment schema accepts them), ``country`` (ISO
3166-1 alpha-2), ``mcc`` (4 digits) and ``bin_range`` (``400000-400099``, 6-8 digit BINs; payments
carry no card BIN today, so no rule can use such a list yet). Times come from the Redis server
(``TIME`` in the script, the audit entries' stream ids): no process clock."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import TypeAdapter, ValidationError

from fraudops.iso_codes import COUNTRIES
from fraudops.schema import MCC_RE, Id

KINDS = ("customer", "terminal", "country", "mcc", "bin_range")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
NAME_RULE = "a lower-case letter, then up to 62 lower-case letters, digits or _"
MAX_VALUES = 10_000  # per change
MAX_REASON = 500
MAX_WHO = 128
_BIN_RANGE = re.compile(r"^([0-9]{6,8})-([0-9]{6,8})$")
_ID = TypeAdapter(Id)
ID_RULE = "1-128 characters without spaces, control or invisible characters or braces"

# KEYS: set, meta, version, audit. ARGV: action, name, who, reason, kind, values...
# answers {status, version, changed values...}: 1 done, 0 nothing changed, -1 the list exists,
# -2 no such list, -3 the list's kind is not the one the values were checked for
_CHANGE = """
local action, name, who, reason, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local meta = redis.call('HGET', KEYS[2], name)
local changed, count = {}, 0
if action == 'create' then
  if meta then return {-1, 0} end
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], name,
    cjson.encode({kind = kind, created_by = who, created_at_ms = ms}))
else
  if not meta then return {-2, 0} end
  if cjson.decode(meta)['kind'] ~= kind then return {-3, 0} end
  if action == 'delete' then
    count = redis.call('SCARD', KEYS[1])
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], name)
  else
    local op = action == 'add' and 'SADD' or 'SREM'
    for i = 6, #ARGV do
      if redis.call(op, KEYS[1], ARGV[i]) == 1 then changed[#changed + 1] = ARGV[i] end
    end
    if #changed == 0 then return {0, tonumber(redis.call('GET', KEYS[3]) or '0')} end
    count = #changed
  end
end
local version = redis.call('INCR', KEYS[3])
local values = '[]'
if #changed > 0 then values = cjson.encode(changed) end
redis.call('XADD', KEYS[4], '*', 'who', who, 'action', action, 'values', values,
  'reason', reason, 'count', count, 'version', version)
local out = {1, version}
for i = 1, #changed do out[#out + 1] = changed[i] end
return out
"""

# KEYS: version, meta, the sets of the names in ARGV (as read before): {version, members...} or
# false when the lists' names changed meanwhile
_SNAPSHOT = """
if redis.call('HLEN', KEYS[2]) ~= #ARGV then return false end
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then return false end
end
local out = {redis.call('GET', KEYS[1]) or '0'}
for i = 3, #KEYS do out[#out + 1] = redis.call('SMEMBERS', KEYS[i]) end
return out
"""


class ListError(ValueError):
    """A change refused; ``status`` is the HTTP status it answers."""

    status = 422


class NoSuchList(ListError):
    status = 404


class ListExists(ListError):
    status = 409


@dataclass(frozen=True)
class ListInfo:
    name: str
    kind: str
    size: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: str
    when: datetime
    who: str
    action: str  # create, add, remove, delete
    values: tuple[str, ...]  # the values that changed (add, remove)
    reason: str
    count: int  # values changed (add, remove) or dropped with the list (delete)
    version: int  # the lists' version after the change


@dataclass(frozen=True)
class Change:
    """What a change did: the lists' version after it and the values that changed (an add of
    values already there changes nothing and bumps nothing)."""

    version: int
    changed: tuple[str, ...]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ListError(f"list name {str(name)[:80]!r}: {NAME_RULE}")
    return name


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ListError(f"list kind {str(kind)[:40]!r}: one of {', '.join(KINDS)}")
    return kind


def _value(kind: str, raw: str) -> str:
    """One value in its stored form; ValueError saying why it is refused."""
    value = raw.strip()
    if kind in ("customer", "terminal"):
        try:
            return str(_ID.validate_python(value))
        except ValidationError:
            raise ValueError(f"not a {kind} id: {ID_RULE}") from None
    if kind == "country":
        if value.upper() not in COUNTRIES:
            raise ValueError("not an ISO 3166-1 alpha-2 country code")
        return value.upper()
    if kind == "mcc":
        if not MCC_RE.match(value):
            raise ValueError("an MCC is 4 digits")
        return value
    found = _BIN_RANGE.match(value)
    if not found or len(found[1]) != len(found[2]) or found[1] > found[2]:
        raise ValueError("a BIN range is FIRST-LAST: 6-8 digit BINs of one length, FIRST <= LAST")
    return value


def normalise(kind: str, values: Iterable[Any]) -> list[str]:
    """The values in stored form, duplicates dropped, order kept; ListError naming the first
    refused value and why."""
    check_kind(kind)
    out: dict[str, None] = {}
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            raise ListError(f"value {i} ({str(raw)[:80]!r}): must be a string")
        try:
            out[_value(kind, raw)] = None
        except ValueError as exc:
            raise ListError(f"value {i} {raw[:80]!r}: {exc}") from None
        if len(out) > MAX_VALUES:
            raise ListError(f"at most {MAX_VALUES} values per change")
    if not out:
        raise ListError("no values given")
    return list(out)


def _text(value: str, what: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise ListError(f"{what} is required")
    if len(value) > limit:
        raise ListError(f"{what} has at most {limit} characters")
    return value


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _info(name: str, meta: dict[str, Any], size: int) -> ListInfo:
    when = _when(int(meta["created_at_ms"]))
    return ListInfo(name, meta["kind"], int(size), meta["created_by"], when)


def _entry(entry_id: str, raw: Any) -> AuditEntry:
    """An audit stream entry; its id's milliseconds are when (the Redis server's clock)."""
    f = {_s(k): _s(v) for k, v in raw.items()}
    values = tuple(json.loads(f["values"]))
    when = _when(int(entry_id.split("-")[0]))
    return AuditEntry(entry_id, when, f["who"], f["action"], values, f["reason"],
                      int(f["count"]), int(f["version"]))  # fmt: skip


class ListStore:
    """The named lists under ``<prefix>:{lists}:`` (see the module's docstring)."""

    def __init__(self, client: redis.Redis | redis.RedisCluster, prefix: str) -> None:
        self.client = client
        self.base = f"{prefix}:{{lists}}"
        self._change = client.register_script(_CHANGE)
        self._snapshot = client.register_script(_SNAPSHOT)

    def _set(self, name: str) -> str:
        return f"{self.base}:set:{name}"

    @property
    def _meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def version_key(self) -> str:
        """The version counter's key: a hot path may GET it in the pipeline it already sends."""
        return f"{self.base}:version"

    _version = version_key

    def _audit(self, name: str) -> str:
        return f"{self.base}:audit:{name}"

    def _run(self, action: str, name: str, who: str, reason: str, kind: str,
             values: Sequence[str] = ()) -> Change:  # fmt: skip
        who = _text(who, "who", MAX_WHO)
        reason = _text(reason, "a reason", MAX_REASON)
        keys = [self._set(name), self._meta, self._version, self._audit(name)]
        out = self._change(keys=keys, args=[action, name, who, reason, kind, *values])
        status, version = int(out[0]), int(out[1])
        if status == -1:
            raise ListExists(f"list {name!r} exists")
        if status == -2:
            raise NoSuchList(f"no list {name!r}")
        if status == -3:
            raise ListError(f"list {name!r} was replaced meanwhile: try again")
        return Change(version, tuple(_s(v) for v in out[2:]))

    def info(self, name: str) -> ListInfo:
        """The list's metadata and size; NoSuchList when there is none of that name."""
        check_name(name)
        pipe = self.client.pipeline(transaction=True)
        pipe.hget(self._meta, name)
        pipe.scard(self._set(name))
        raw, size = pipe.execute()
        if raw is None:
            raise NoSuchList(f"no list {name!r}")
        return _info(name, json.loads(raw), size)

    def lists(self) -> list[ListInfo]:
        """Every list, by name."""
        metas = {_s(k): json.loads(v) for k, v in self.client.hgetall(self._meta).items()}
        names = sorted(metas)
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.scard(self._set(name))
        sizes = pipe.execute()
        return [_info(n, metas[n], s) for n, s in zip(names, sizes, strict=True)]

    def create(self, name: str, kind: str, who: str, reason: str) -> Change:
        return self._run("create", check_name(name), who, reason, check_kind(kind))

    def delete(self, name: str, who: str, reason: str) -> Change:
        """The list and its values go; its audit trail stays (under its name)."""
        return self._run("delete", name, who, reason, self.info(name).kind)

    def add(self, name: str, values: Iterable[Any], who: str, reason: str) -> Change:
        """Values checked against the list's kind (ListError naming the first refused one)."""
        kind = self.info(name).kind
        return self._run("add", name, who, reason, kind, normalise(kind, values))

    def remove(self, name: str, values: Iterable[Any], who: str, reason: str) -> Change:
        kind = self.info(name).kind
        return self._run("remove", name, who, reason, kind, normalise(kind, values))

    def members(self, name: str) -> frozenset[str]:
        self.info(name)
        return frozenset(_s(v) for v in self.client.smembers(self._set(name)))

    def version(self) -> int:
        """The lists' version: bumped by every change, one GET (the hot path's staleness check)."""
        raw = self.client.get(self._version)
        return int(raw) if raw is not None else 0

    def snapshot(self) -> tuple[int, Mapping[str, frozenset[str]]]:
        """Every list's values at one version: one script over the version, the metadata and
        the sets of the names read just before (taken again if a list came or went between)."""
        for _ in range(20):
            names = sorted(_s(n) for n in self.client.hkeys(self._meta))
            keys = [self._version, self._meta, *(self._set(n) for n in names)]
            out = self._snapshot(keys=keys, args=names)
            if out:
                sets = [frozenset(_s(v) for v in members) for members in out[1:]]
                return int(out[0]), dict(zip(names, sets, strict=True))
        raise ListError("lists kept being created or deleted while read: try again")

    def audit(self, name: str, limit: int = 100) -> list[AuditEntry]:
        """The list's changes, newest first (kept after the list is deleted)."""
        check_name(name)
        rows = self.client.xrevrange(self._audit(name), count=max(1, min(limit, 10_000)))
        return [_entry(_s(entry_id or ""), raw) for entry_id, raw in rows or []]


class ListCache:
    """A scoring worker's copy of the lists: ``at(version)`` with the version read for this
    payment (``ListStore.version()`` or a GET of ``version_key`` in the payment's own pipeline)
    answers the cached snapshot, and takes a new one only when the version moved; so a change
    made through the API or the console is used from the next payment on."""

    def __init__(self, store: ListStore) -> None:
        self.store = store
        self.version = -1
        self.lists: Mapping[str, frozenset[str]] = {}

    def at(self, version: int) -> Mapping[str, frozenset[str]]:
        if version != self.version:
            self.version, self.lists = self.store.snapshot()
        return self.lists
