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

CACHE_SIZE = 100_000


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
    plan = {
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
        if plan is not None:
            used = np.unique(plan["f_feature"])
            self.float_columns = used  # flat indexes of the float features the trees use
            self.f_pos = np.searchsorted(used, plan["f_feature"])
            self.f_weight = np.left_shift(1, plan["f_shift"]).astype(np.float64)

    def catboost(self, rows: list[list[Any]]) -> np.ndarray:
        """CatBoost's own leaf indexes, on this thread: its default thread pool costs ~4 ms a call
        to start (0.03 ms with one thread), and a worker process scores one batch at a time."""
        pool = Pool(rows, cat_features=self.cat_indexes)
        return np.asarray(self.model.calc_leaf_indexes(pool, thread_count=1), dtype=np.int64)

    def _learn_values(self, rows: list[list[Any]]) -> None:
        """Bits of every categorical value of ``rows`` not cached yet, in one CatBoost call."""
        assert self.plan is not None
        missing = list(dict.fromkeys(
            (i, r[i]) for r in rows for i in self.cat_indexes if (i, r[i]) not in self._cats
        ))  # fmt: skip
        if not missing:
            return
        width = len(rows[0])
        probes = []
        for i, value in missing:
            probe: list[Any] = [0.0] * width
            for j in self.cat_indexes:
                probe[j] = value if j == i else "UNK"
            probes.append(probe)
        for (i, value), leaves in zip(missing, self.catboost(probes), strict=True):
            self._cats[(i, value)] = leaves & self.plan[f"c_mask_{i}"]
        while len(self._cats) > CACHE_SIZE:
            self._cats.popitem(last=False)

    def _cat_bits(self, row: list[Any]) -> np.ndarray:
        bits = np.zeros(self.n_trees, dtype=np.int64)
        for i in self.cat_indexes:
            bits |= self._cats[(i, row[i])]
        return bits

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
            self._learn_values(rows)
            leaves |= np.stack([self._cat_bits(r) for r in rows])
        return leaves
