"""Leaf indexes of a CatBoost model without building a CatBoost Pool per request.

Float splits are evaluated directly (CatBoost compares ``float32(value) > border``). A CTR or
one-hot split of a single categorical feature depends only on that feature's value, so the bits
of one feature's splits are computed once per distinct value (by CatBoost itself, on a probe
row) and cached; a row's categorical bits are the OR of its features' cached bits. Models whose
CTRs combine features fall back to CatBoost.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, Pool

CACHE_BYTES = 16 << 20  # per model; about 22,000 values with 500 trees of depth <= 8


def leaf_plan(
    model_json: dict[str, Any], split_features: dict[int, frozenset[int]], cat_indexes: list[int]
) -> dict[str, np.ndarray] | None:
    """Arrays describing every float split and where categorical splits sit; None if not fast."""
    floats = model_json["features_info"].get("float_features", [])
    f_tree, f_shift, f_feature, f_border = [], [], [], []
    trees = model_json["oblivious_trees"]
    masks = {i: np.zeros(len(trees), dtype=np.int64) for i in cat_indexes}
    for t, tree in enumerate(trees):
        for level, s in enumerate(tree["splits"]):
            if s["split_type"] == "FloatFeature":
                f_tree.append(t)
                f_shift.append(level)
                f_feature.append(floats[s["float_feature_index"]]["flat_feature_index"])
                f_border.append(s["border"])
            else:
                feats = split_features[s["split_index"]]
                if len(feats) != 1 or not feats <= masks.keys():
                    return None  # a combination: its bit depends on more than one value
                masks[next(iter(feats))][t] |= 1 << level
    plan: dict[str, np.ndarray] = {
        "f_tree": np.asarray(f_tree, dtype=np.int64),
        "f_shift": np.asarray(f_shift, dtype=np.int64),
        "f_feature": np.asarray(f_feature, dtype=np.int64),
        "f_border": np.asarray(f_border, dtype=np.float32),
    }
    for i, mask in masks.items():  # the tree levels each categorical feature decides
        plan[f"c_mask_{i}"] = mask
    return plan


class LeafIndexer:
    def __init__(
        self,
        model: CatBoostClassifier,
        cat_indexes: list[int],
        n_trees: int,
        plan: dict[str, np.ndarray] | None,
    ) -> None:
        self.model = model
        self.cat_indexes = cat_indexes
        self.n_trees = n_trees
        self.plan = plan
        self._cats: OrderedDict[tuple[int, Any], np.ndarray] = OrderedDict()
        self.cache_entries = 0
        if plan is not None:
            levels = [int(plan["f_shift"].max(initial=-1)) + 1]
            levels += [int(plan[f"c_mask_{i}"].max(initial=0)).bit_length() for i in cat_indexes]
            self.bits_dtype = np.dtype(np.uint8 if max(levels) <= 8 else np.uint16)
            # each entry: its array (header + one bit pattern per tree) and its key in the dict
            per_entry = n_trees * self.bits_dtype.itemsize + 250
            self.cache_entries = max(1024, CACHE_BYTES // per_entry)
            used = np.unique(plan["f_feature"])
            self.float_columns = used  # flat indexes of the float features the trees use
            self.f_pos = np.searchsorted(used, plan["f_feature"])
            self.f_weight = np.left_shift(1, plan["f_shift"]).astype(np.float64)

    def catboost(self, rows: list[list[Any]]) -> np.ndarray:
        """CatBoost's own leaf indexes, on this thread: its default thread pool costs ~4 ms a call
        to start (0.03 ms with one thread), and a worker process scores one batch at a time."""
        pool = Pool(rows, cat_features=self.cat_indexes)
        return np.asarray(self.model.calc_leaf_indexes(pool, thread_count=1), dtype=np.int64)

    def _known_bits(self, rows: list[list[Any]]) -> dict[tuple[int, Any], np.ndarray]:
        """Bits of every categorical value of ``rows``: cached ones (marked recently used) and the
        unseen ones, learnt in one CatBoost call. Returned, not read back from the cache, which
        may already have evicted some of them for a large batch of new values."""
        assert self.plan is not None
        cache = self._cats
        known: dict[tuple[int, Any], np.ndarray] = {}
        missing: dict[tuple[int, Any], None] = {}  # in order of first use
        for r in rows:
            for i in self.cat_indexes:
                key = (i, r[i])
                if key in known or key in missing:
                    continue
                found = cache.get(key)
                if found is None:
                    missing[key] = None
                else:
                    cache.move_to_end(key)
                    known[key] = found
        if missing:
            width = len(rows[0])
            probes = []
            for i, value in missing:
                probe: list[Any] = [0.0] * width
                for j in self.cat_indexes:
                    probe[j] = value if j == i else "UNK"
                probes.append(probe)
            for key, leaves in zip(missing, self.catboost(probes), strict=True):
                bits = (leaves & self.plan[f"c_mask_{key[0]}"]).astype(self.bits_dtype)
                known[key] = cache[key] = bits
            while len(cache) > self.cache_entries:
                cache.popitem(last=False)
        return known

    def __call__(self, rows: list[list[Any]]) -> np.ndarray:
        """Leaf index of every row in every tree, shape (rows, trees)."""
        if self.plan is None:
            return self.catboost(rows)
        cols = self.float_columns
        x = np.asarray([[r[i] for i in cols] for r in rows], dtype=np.float64)
        if not np.isfinite(x).all():
            return self.catboost(rows)  # missing-value handling is CatBoost's business
        bits = x.astype(np.float32)[:, self.f_pos] > self.plan["f_border"]
        n = len(rows)
        slots = (np.arange(n)[:, None] * self.n_trees + self.plan["f_tree"]).ravel()
        floats = np.bincount(
            slots, weights=(bits * self.f_weight).ravel(), minlength=n * self.n_trees
        )
        leaves = floats.reshape(n, self.n_trees).astype(np.int64)
        if self.cat_indexes:
            known = self._known_bits(rows)
            cat_bits = np.zeros((n, self.n_trees), dtype=self.bits_dtype)
            for k, r in enumerate(rows):
                for i in self.cat_indexes:
                    cat_bits[k] |= known[(i, r[i])]
            leaves |= cat_bits
        return leaves
