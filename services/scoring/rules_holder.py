"""The fraud team's active rule set and named lists, as every scoring worker applies them.

Rule set: the rule registry's ``active`` alias is polled like the model's (``watch``); a new
version is compiled once, in a thread, then swapped in, so it reaches every worker within a poll
interval. A version that does not compile any more (a feature renamed since) is refused, logged,
and the previous one stays.

Lists: a set that names lists reads the lists' version key in the payment's own Redis round trip
(``version_command``); when it moved, the lists are read again (one script, in a thread) before
the answer, so a list changed through the API applies from the next payment on. Redis away: the
last lists read stay in use.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudops.rules import CompiledRules
from fraudops.rules.lists import ListCache, ListStore
from fraudops.rules.nodes import Lists
from fraudops.rules.registry import ALIASES, RuleRegistry
from services.scoring.metrics import RULE_HITS, RULES_INFO, RULES_SWAPS
from services.scoring.model_holder import stamp_of

log = logging.getLogger("fraudops.scoring")


@dataclass(frozen=True)
class ActiveRules:
    """One answer's view: the compiled set and the lists as read at one version."""

    version: str
    compiled: CompiledRules
    lists: Lists
    # the rules that fired per payment, not yet in the Prometheus counter: the holder's list,
    # counted once per poll (RulesHolder.flush_hits)
    hits: list[list[str]]
    bound: tuple[frozenset[str], ...] = field(init=False)  # the lists as the hot path reads them

    def __post_init__(self) -> None:
        object.__setattr__(self, "bound", self.compiled.bind(self.lists))

    @property
    def names_lists(self) -> bool:
        """The set names lists (it reads their version per round trip)."""
        return bool(self.compiled.list_order)


class RulesHolder:
    def __init__(self, root: Path, lists: ListStore | None) -> None:
        self.registry = RuleRegistry(root)
        # a sync client's lists: read in a thread, only when their version moves
        self.cache = ListCache(lists) if lists is not None else None
        self.current: ActiveRules | None = None
        self._seen: tuple[float, int] | None = None
        self._lock = asyncio.Lock()
        self.hits: list[list[str]] = []

    @property
    def uses_lists(self) -> bool:
        cur = self.current
        return cur is not None and self.cache is not None and cur.names_lists

    def version_command(self) -> list[Any]:
        assert self.cache is not None
        return ["GET", self.cache.store.version_key]

    async def refresh(self) -> bool:
        """Compile and swap in the active version if it moved; True when swapped."""
        stamp = stamp_of(self.registry.root / ALIASES)
        if stamp == self._seen:
            return False
        self._seen = stamp
        wanted = self.registry.active() if stamp else None
        if wanted == (self.current.version if self.current else None):
            return False
        if wanted is None:
            self._swap(None)
            return True
        try:
            compiled = await asyncio.to_thread(self.registry.load, wanted)
        except Exception as exc:  # a set this code cannot compile: keep the one in use
            log.error("rule set %s refused: %s", wanted, exc)
            return False
        held = self.cache.lists if self.cache is not None else {}
        self._swap(ActiveRules(wanted, compiled, held, self.hits))
        if self.uses_lists and self.cache is not None and self.cache.version < 0:
            await self.lists_moved(None)  # the first set naming lists: read them before use
        return True

    def _swap(self, rules: ActiveRules | None) -> None:
        old = self.current
        self.current = rules
        if old is not None:
            RULES_INFO.labels(old.version).set(0)
        if rules is not None:
            RULES_INFO.labels(rules.version).set(1)
        RULES_SWAPS.inc()
        log.info("rule set %s active (was %s)", rules.version if rules else None,
                 old.version if old else None)  # fmt: skip

    async def lists_moved(self, seen: Any) -> None:
        """Read the lists again when the version seen in a round trip (a GET's reply; None: no
        list was ever made) is not the one held."""
        if self.cache is None:
            return
        version = int(seen) if seen is not None else 0
        if version == self.cache.version:
            return
        async with self._lock:  # one reader at a time; the others then find it current
            if version == self.cache.version:
                return
            try:
                lists = await asyncio.to_thread(self.cache.at, version)
            except Exception as exc:  # Redis away: the lists held stay in use
                log.warning("lists not read (%s): the previous ones stay", type(exc).__name__)
                return
            cur = self.current
            if cur is not None:
                self.current = ActiveRules(cur.version, cur.compiled, lists, self.hits)

    def flush_hits(self) -> None:
        """Add the hits counted since the last flush to the Prometheus counter. Why not on every
        payment: a multiprocess counter's inc is a lock and an mmap write, ~1 us warm and ~20 us
        on a payment's cold caches, for every rule that fired; Prometheus reads it every 15 s."""
        pending = collections.Counter(name for names in self.hits for name in names)
        self.hits.clear()
        for name, n in pending.items():
            RULE_HITS.labels(name).inc(n)

    async def watch(self, poll_s: float) -> None:
        while True:
            await asyncio.sleep(poll_s)
            try:
                self.flush_hits()
                await self.refresh()
            except Exception as exc:  # never let the watcher die
                log.error("rule set refresh failed: %s", exc)
