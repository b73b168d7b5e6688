"""An entity profile in memory: parsed from a Redis hash, updated exactly as the Lua script does.

The offline path (Beam) folds events through :meth:`EntityState.apply`; the online path lets
Redis run ``apply_update.lua``. The parity test holds the two to the same bytes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping

from fraudops.profile_store.layout import (
    LAST_FIELD,
    PAIR_PREFIX,
    PRUNED_FIELD,
    PruneBounds,
    Update,
)

Raw = bytes | str
# b"d:" + b":n" -> "dn": the series a bucket field belongs to, looked up from its ends
_BUCKET_KEYS = {f"{g}::{m}".encode(): g + m for g in "mhd" for m in "naf"}


class Series:
    """Bucket -> value, kept sorted: a window sum is two bisections and one C-level slice sum.

    Events mostly arrive in time order, so an update is almost always "add to the last bucket" or
    "append a new one".
    """

    __slots__ = ("keys", "vals")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.vals: list[int] = []

    def add(self, bucket: int, delta: int) -> None:
        if delta == 0:  # a zero-amount payment: the script's HINCRBY 0 leaves no field either
            return
        keys = self.keys
        if keys and keys[-1] == bucket:
            i = len(keys) - 1
        elif not keys or keys[-1] < bucket:
            keys.append(bucket)
            self.vals.append(delta)
            return
        else:
            i = bisect_left(keys, bucket)
            if i == len(keys) or keys[i] != bucket:
                insort(keys, bucket)
                self.vals.insert(i, delta)
                return
        value = self.vals[i] + delta
        if value == 0:  # the script deletes a field that falls to 0, so do we
            del keys[i]
            del self.vals[i]
        else:
            self.vals[i] = value

    def sum(self, first: int, last: int) -> int:
        keys = self.keys
        return sum(self.vals[bisect_left(keys, first) : bisect_right(keys, last)])

    def drop_before(self, floor: int) -> None:
        i = bisect_left(self.keys, floor)
        if i:
            del self.keys[:i]
            del self.vals[:i]

    def items(self) -> Iterator[tuple[int, int]]:
        return zip(self.keys, self.vals, strict=True)

    def as_dict(self) -> dict[int, int]:
        return dict(self.items())

    def __len__(self) -> int:
        return len(self.keys)


class EntityState:
    """Time-bucketed aggregates of one customer or terminal.

    ``series["dn"]`` holds counts per day bucket, ``series["ma"]`` amounts (milli-units) per
    minute bucket, and so on (granularity letter + metric letter).
    """

    __slots__ = ("_sums", "last_ts", "pairs", "pruned_day", "series")

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.last_ts: int | None = None
        self.pairs: dict[str, int] = {}
        self.pruned_day: int | None = None  # stale fields are dropped once per event day
        self._sums: dict[tuple[str, int, int], int] = {}  # features share windows; reset on change

    # --- reading -----------------------------------------------------------------------------
    @classmethod
    def from_hash(cls, mapping: Mapping[Raw, Raw] | Iterable[tuple[Raw, Raw]]) -> EntityState:
        """Parse an HGETALL answer (dict, or pairs)."""
        state = cls()
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        buckets: dict[str, list[tuple[int, int]]] = {}
        # the hot path of every score: a bucket field is b"<g>:<bucket>:<m>" with one-letter
        # granularity and metric, parsed from the bytes by position (no decode, no split)
        for raw_field, raw_value in items:
            if isinstance(raw_field, bytes):
                key = _BUCKET_KEYS.get(raw_field[:2] + raw_field[-2:])
                if key is not None:
                    entry = (int(raw_field[2:-2]), int(raw_value))
                    found = buckets.get(key)
                    if found is None:
                        buckets[key] = [entry]
                    else:
                        found.append(entry)
                    continue
                field = raw_field.decode()
            else:
                field = raw_field
            value = int(raw_value)
            if field == LAST_FIELD:
                state.last_ts = value
            elif field == PRUNED_FIELD:
                state.pruned_day = value
            elif field.startswith(PAIR_PREFIX):
                state.pairs[field[len(PAIR_PREFIX) :]] = value
            else:
                gran, bucket, metric = field.split(":", 2)
                buckets.setdefault(gran + metric, []).append((int(bucket), value))
        for key, pairs in buckets.items():
            pairs.sort()
            series = state.series[key] = Series()
            series.keys = [b for b, _ in pairs]
            series.vals = [v for _, v in pairs]
        return state

    @classmethod
    def from_flat(cls, flat: list[Raw]) -> EntityState:
        return cls.from_hash(zip(flat[0::2], flat[1::2], strict=True))

    def to_hash(self) -> dict[str, int]:
        """The Redis hash this state is stored as."""
        out: dict[str, int] = {}
        for key, series in self.series.items():
            gran, metric = key[0], key[1:]
            for bucket, value in series.items():
                out[f"{gran}:{bucket}:{metric}"] = value
        if self.last_ts is not None:
            out[LAST_FIELD] = self.last_ts
        for terminal_id, ts in self.pairs.items():
            out[PAIR_PREFIX + terminal_id] = ts
        if self.pruned_day is not None:
            out[PRUNED_FIELD] = self.pruned_day
        return out

    def window_sum(self, series: str, first: int, last: int) -> int:
        """Sum of one series over buckets first..last inclusive."""
        key = (series, first, last)
        total = self._sums.get(key)
        if total is None:
            s = self.series.get(series)
            total = self._sums[key] = s.sum(first, last) if s is not None else 0
        return total

    def pair_ts(self, terminal_id: str) -> int | None:
        """The latest transaction of this customer at ``terminal_id`` still kept, if any."""
        return self.pairs.get(terminal_id)

    def terminals_since(self, since: int, current: str) -> int:
        """Distinct terminals used after ``since`` (epoch seconds), ``current`` included."""
        recent = {t for t, ts in self.pairs.items() if ts > since}
        recent.add(current)
        return len(recent)

    # --- writing (mirror of apply_update.lua) ------------------------------------------------
    def apply(self, update: Update) -> None:
        self._sums.clear()
        day = update.prune.day
        if self.pruned_day is None or day > self.pruned_day:
            self.prune(update.prune)
            self.pruned_day = day
        for gran, bucket, metric, delta in update.incr:
            key = gran + metric
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = Series()
            series.add(bucket, delta)
        for field, value in update.maxset:
            if field == LAST_FIELD:
                if self.last_ts is None or value > self.last_ts:
                    self.last_ts = value
            else:
                terminal_id = field[len(PAIR_PREFIX) :]
                if value > self.pairs.get(terminal_id, value - 1):
                    self.pairs[terminal_id] = value

    def prune(self, bounds: PruneBounds) -> None:
        self._sums.clear()
        floors = {"m": bounds.min_minute, "h": bounds.min_hour, "d": bounds.min_day}
        for key, series in self.series.items():
            series.drop_before(floors[key[0]])
        stale_pairs = [t for t, ts in self.pairs.items() if ts < bounds.min_pair_ts]
        for t in stale_pairs:
            del self.pairs[t]
