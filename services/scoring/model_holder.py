"""Holds the serving model and swaps it when the registry's alias moves (hot-swap).

A request takes ``holder.current`` once and uses that model to the end, so a swap never mixes
two models in one answer. The new model is loaded in a thread (CatBoost load + stored explainer
tables: tens of milliseconds) and warmed up with one prediction before it is swapped in.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import HTTPException

from models.registry import ALIAS_NAMES, ALIASES, Registry, RegistryError
from models.runtime import ScoringModel, load_scoring_model
from services.scoring.metrics import MODEL_INFO, MODEL_SWAPS

log = logging.getLogger("fraudops.scoring")


def stamp_of(path: Path) -> tuple[float, int] | None:
    """(mtime, size) of an alias file, None when absent: a registry is polled by this, cheaply,
    and only read when it moved."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime, st.st_size)


class ModelHolder:
    def __init__(self, root: Path, alias: str = "production", *, serving: bool = True) -> None:
        self.registry = Registry(root)
        self.alias = alias
        self.serving = serving  # False: the shadow challenger (no serving gauge; may go away)
        self.current: ScoringModel | None = None
        self.error: str | None = None
        self._seen: tuple[float, int] | None = None

    def unavailable(self) -> HTTPException:
        """The 503 for a request that finds no model: why (no paths), and when to retry."""
        return HTTPException(503, self.error or "no model loaded yet", {"Retry-After": "5"})

    def _wanted(self) -> str | None:
        if self.alias not in ALIAS_NAMES:
            return self.alias  # pinned version
        return self.registry.aliases().get(self.alias)

    def _load(self, version: str) -> ScoringModel:
        model = load_scoring_model(self.registry, version)
        row = [0.0] * len(model.manifest["features"])
        for i in model.explainer.cat_indexes:
            row[i] = "UNK"  # type: ignore[call-overload]
        model.score([row])  # warm-up: first predictions allocate
        return model

    async def refresh(self) -> bool:
        """Load the aliased version if it changed; True when a new model was swapped in."""
        stamp = stamp_of(self.registry.root / ALIASES)
        if stamp == self._seen and (self.current is not None or not self.serving):
            return False
        try:
            wanted = await asyncio.to_thread(self._wanted)
            if wanted is None:
                self.error = f"no {self.alias} model in the registry"
                if not self.serving and self.current is not None:  # the alias was cleared
                    log.info("no %s model any more (was %s)", self.alias, self.current.version)
                    self.current = None
                self._seen = stamp
                return False
            if self.current is not None and self.current.version == wanted:
                self._seen = stamp
                return False
            model = await asyncio.to_thread(self._load, wanted)
        except (RegistryError, OSError, ValueError) as exc:
            # callers see no paths; the log has the details
            self.error = f"cannot load the {self.alias} model ({type(exc).__name__})"
            log.error("%s model load failed: %s", self.alias, exc)
            if not self.serving:  # a refused challenger is not shadowed, nor is its predecessor
                self.current, self._seen = None, stamp
            return False  # keep serving the model we have
        old = self.current
        self.current, self.error, self._seen = model, None, stamp
        if not self.serving:
            log.info("%s model %s (was %s)", self.alias, model.version, old and old.version)
            return True
        if old is not None:
            MODEL_INFO.labels(old.version).set(0)
            MODEL_SWAPS.inc()
        MODEL_INFO.labels(model.version).set(1)
        log.info("serving model %s (was %s)", model.version, old.version if old else None)
        return True

    async def watch(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.refresh()
