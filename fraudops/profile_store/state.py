"""An entity profile in memory: parsed from a Redis hash, updated exactly as the Lua script does.

The offline path (Beam) folds events through :meth:`EntityState.apply`; the online path lets
Redis run ``apply_update.lua``. The parity test holds the two to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fraudops.profile_store.layout import (
    LAST_FIELD,
    PAIR_PREFIX,
    PRUNED_FIELD,
    PruneBounds,
    Update,
)

Raw = bytes | str


def _text(value: Raw) -> str:
    return value.decode() if isinstance(value, bytes) else value


class EntityState:
    """Time-bucketed aggregates of one customer or terminal.

    ``series["dn"]`` maps a day bucket to a count, ``series["ma"]`` a minute bucket to an amount
    in milli-units, and so on (granularity letter + metric letter).
    """

    __slots__ = ("_sums", "last_ts", "pairs", "pruned_day", "series")

    def __init__(self) -> None:
        self.series: dict[str, dict[int, int]] = {}
        self.last_ts: int | None = None
        self.pairs: dict[str, int] = {}
        self.pruned_day: int | None = None  # stale fields are dropped once per event day
        # features ask for the same windows several times; cleared by every change
        self._sums: dict[tuple[str, int, int], int] = {}

    # --- reading -----------------------------------------------------------------------------
    @classmethod
    def from_hash(cls, mapping: Mapping[Raw, Raw] | Iterable[tuple[Raw, Raw]]) -> EntityState:
        """Parse an HGETALL answer (dict, or the flat pairs a Lua script returns)."""
        state = cls()
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        for raw_field, raw_value in items:
            state._set_field(_text(raw_field), int(raw_value))
        return state

    @classmethod
    def from_flat(cls, flat: list[Raw]) -> EntityState:
        return cls.from_hash(zip(flat[0::2], flat[1::2], strict=True))

    def _set_field(self, field: str, value: int) -> None:
        if field == LAST_FIELD:
            self.last_ts = value
        elif field == PRUNED_FIELD:
            self.pruned_day = value
        elif field.startswith(PAIR_PREFIX):
            self.pairs[field[len(PAIR_PREFIX) :]] = value
        else:
            gran, bucket, metric = field.split(":", 2)
            self.series.setdefault(gran + metric, {})[int(bucket)] = value

    def to_hash(self) -> dict[str, int]:
        """The Redis hash this state is stored as."""
        out: dict[str, int] = {}
        for key, buckets in self.series.items():
            gran, metric = key[0], key[1:]
            for bucket, value in buckets.items():
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
        cached = self._sums.get(key)
        if cached is not None:
            return cached
        buckets = self.series.get(series)
        total = sum(v for b, v in buckets.items() if first <= b <= last) if buckets else 0
        self._sums[key] = total
        return total

    # --- writing (mirror of apply_update.lua) ------------------------------------------------
    def apply(self, update: Update) -> None:
        self._sums.clear()
        day = update.prune.day
        if self.pruned_day is None or day > self.pruned_day:
            self.prune(update.prune)
            self.pruned_day = day
        for field, delta in update.incr:
            gran, bucket, metric = field.split(":", 2)
            buckets = self.series.setdefault(gran + metric, {})
            b = int(bucket)
            value = buckets.get(b, 0) + delta
            if value == 0:
                buckets.pop(b, None)  # the script deletes a field that falls to 0, so do we
            else:
                buckets[b] = value
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
        for key, buckets in self.series.items():
            floor = floors[key[0]]
            stale = [b for b in buckets if b < floor]
            for b in stale:
                del buckets[b]
        stale_pairs = [t for t, ts in self.pairs.items() if ts < bounds.min_pair_ts]
        for t in stale_pairs:
            del self.pairs[t]
