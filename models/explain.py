"""Fast exact scoring and SHAP reasons for CatBoost's oblivious trees, from leaf indexes.

CatBoost's own ``ShapValues`` costs about 12 ms for one row, far over a scoring budget. An
oblivious tree's output depends on a row only through which leaf it lands in, so each tree's
SHAP values (path-dependent TreeSHAP, leaf weights as cover, as CatBoost computes them) can be
tabulated per leaf when the model is trained. Scoring a row then is finding its leaf in every
tree (models.leaves: float splits compared directly, categorical ones cached) and two table
gathers: the raw score is the sum of the leaf values, the contributions the sum of the SHAP rows.

The players of a tree are its distinct split groups: a float feature, a categorical feature, or
a feature combination of a CTR split, whose share is divided equally among its features.
"""

from __future__ import annotations

import json
import tempfile
from itertools import combinations
from math import factorial
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoostClassifier

from models.leaves import LeafIndexer, leaf_plan


class ExplainerError(RuntimeError):
    pass


def _split_features(model_json: dict[str, Any]) -> dict[int, frozenset[int]]:
    """split_index -> the flat feature indexes it depends on (float borders, then CTR borders)."""
    info = model_json["features_info"]
    floats = info.get("float_features", [])
    cats = info.get("categorical_features", [])
    table: list[tuple[frozenset[int], float]] = []
    for f in floats:
        table += [(frozenset([f["flat_feature_index"]]), b) for b in f.get("borders") or []]
    for c in cats:  # one-hot values come between float borders and CTRs
        table += [(frozenset([c["flat_feature_index"]]), v) for v in c.get("values") or []]
    for ctr in info.get("ctrs", []):
        members = set()
        for e in ctr["elements"]:
            if "cat_feature_index" in e:
                members.add(cats[e["cat_feature_index"]]["flat_feature_index"])
            else:
                members.add(floats[e["float_feature_index"]]["flat_feature_index"])
        table += [(frozenset(members), b) for b in ctr.get("borders") or []]
    out: dict[int, frozenset[int]] = {}
    for tree in model_json["oblivious_trees"]:
        for s in tree["splits"]:
            kind = s["split_type"]
            if kind == "FloatFeature":
                feats = frozenset([floats[s["float_feature_index"]]["flat_feature_index"]])
            elif kind == "OneHotFeature":
                feats = frozenset([cats[s["cat_feature_index"]]["flat_feature_index"]])
            else:
                feats, border = table[s["split_index"]]
                if abs(border - s["border"]) > 1e-6 * max(1.0, abs(border)):
                    raise ExplainerError(f"cannot map split {s['split_index']} to its feature")
            out[s["split_index"]] = feats
    return out


def _expected_given(
    known: int, depth: int, values: np.ndarray, weights: np.ndarray, bits: np.ndarray
) -> np.ndarray:
    """E[tree | the levels in ``known`` follow each leaf pattern], path-dependent (per pattern).

    The traversal starts at the highest leaf-index bit (CatBoost's root) and, at a level whose
    feature is unknown, averages both subtrees by their training cover.
    """
    vals = np.broadcast_to(values, (len(bits), len(values))).copy()
    cover = weights.astype(float)
    for level in range(depth):  # bottom-up: after collapsing bits < level, bit ``level`` is last
        pairs = vals.reshape(len(bits), -1, 2)
        c = cover.reshape(-1, 2)
        if known >> level & 1:
            vals = np.where(bits[:, level, None], pairs[:, :, 1], pairs[:, :, 0])
        else:
            total = c.sum(axis=1)
            safe = np.where(total > 0, total, 1.0)
            mixed = (pairs[:, :, 0] * c[:, 0] + pairs[:, :, 1] * c[:, 1]) / safe
            vals = np.where(total > 0, mixed, pairs.mean(axis=2))
        cover = c.sum(axis=1)
    return vals[:, 0]


def _tree_tables(
    groups: list[frozenset[int]], values: np.ndarray, weights: np.ndarray, n_features: int
) -> tuple[np.ndarray, float]:
    """(per leaf: SHAP value of each feature, expected value) of one oblivious tree."""
    depth = len(groups)
    leaves = np.arange(1 << depth)
    bits = (leaves[:, None] >> np.arange(depth)) & 1
    players = sorted(set(groups), key=sorted)
    k = len(players)
    # which leaf-index bits (tree levels) each player decides
    level_masks = [sum(1 << lvl for lvl, g in enumerate(groups) if g == p) for p in players]
    expected = np.empty((1 << k, 1 << depth))
    for subset in range(1 << k):
        known = sum(level_masks[i] for i in range(k) if subset >> i & 1)
        expected[subset] = _expected_given(known, depth, values, weights, bits)
    weight = [factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)]
    table = np.zeros((1 << depth, n_features))
    for i, player in enumerate(players):
        phi = np.zeros(1 << depth)
        others = [j for j in range(k) if j != i]
        for size in range(k):
            for combo in combinations(others, size):
                s = sum(1 << j for j in combo)
                phi += weight[size] * (expected[s | 1 << i] - expected[s])
        for f in player:
            table[:, f] += phi / len(player)
    return table, float(expected[0, 0])


class TreeExplainer:
    """Probability and exact per-feature contributions (log-odds) of a binary CatBoost model.

    Building the tables takes seconds for a large model, so training stores them beside the
    model (``save``) and the scoring service only loads them (``load``).
    """

    def __init__(
        self,
        model: CatBoostClassifier,
        cat_indexes: list[int],
        arrays: dict[str, np.ndarray],
    ) -> None:
        self.model = model
        self.cat_indexes = cat_indexes
        self.values = arrays["values"]
        self.table = arrays["table"]
        self.offsets = arrays["offsets"]
        self.bias = float(arrays["bias"])
        self.expected_value = float(arrays["expected_value"])
        if len(self.offsets) != model.tree_count_:
            raise ExplainerError("explainer tables do not belong to this model")
        plan = {k[5:]: v for k, v in arrays.items() if k.startswith("plan_")}
        if any(f"c_mask_{i}" not in plan for i in cat_indexes):
            plan = {}  # tables from an older layout: CatBoost finds the leaves instead
        self.arrays = arrays
        self.leaves = LeafIndexer(model, cat_indexes, len(self.offsets), plan or None)

    @classmethod
    def build(
        cls, model: CatBoostClassifier, n_features: int, cat_indexes: list[int]
    ) -> TreeExplainer:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            model.save_model(str(path), format="json")
            data = json.loads(path.read_text())
        split_features = _split_features(data)
        scale, biases = data.get("scale_and_bias", [1.0, [0.0]])
        bias = float(biases[0] if isinstance(biases, list) else biases)
        values, tables, offsets = [], [], []
        base = 0.0
        offset = 0
        for tree in data["oblivious_trees"]:
            groups = [split_features[s["split_index"]] for s in tree["splits"]]
            v = np.asarray(tree["leaf_values"], dtype=float)
            w = np.asarray(tree["leaf_weights"], dtype=float)
            if len(v) != 1 << len(groups):
                raise ExplainerError("only single-dimension binary models are supported")
            table, expected = _tree_tables(groups, v, w, n_features)
            values.append(v)
            tables.append(table)
            offsets.append(offset)
            offset += len(v)
            base += expected
        arrays = {
            "values": np.concatenate(values) * float(scale),
            "table": np.concatenate(tables) * float(scale),
            "offsets": np.asarray(offsets, dtype=np.int64),
            "bias": np.asarray(bias),
            "expected_value": np.asarray(base * float(scale) + bias),
        }
        plan = leaf_plan(data, split_features, cat_indexes)
        for k, v in (plan or {}).items():
            arrays["plan_" + k] = v
        return cls(model, cat_indexes, arrays)

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, **self.arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle

    @classmethod
    def load(cls, model: CatBoostClassifier, cat_indexes: list[int], path: Path) -> TreeExplainer:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        return cls(model, cat_indexes, arrays)

    def _rows(self, rows: list[list[Any]]) -> np.ndarray:
        indexes: np.ndarray = self.leaves(rows) + self.offsets
        return indexes

    def probabilities(self, rows: list[list[Any]]) -> np.ndarray:
        """The same probabilities as ``explain``, without the contributions."""
        raw = self.values[self._rows(rows)].sum(axis=1) + self.bias
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-raw))
        return probs

    def explain(self, rows: list[list[Any]], chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, contributions of shape rows x features) for ``rows``."""
        probs, contribs = [], []
        for start in range(0, len(rows), chunk):
            idx = self._rows(rows[start : start + chunk])
            raw = self.values[idx].sum(axis=1) + self.bias
            probs.append(1.0 / (1.0 + np.exp(-raw)))
            contribs.append(self.table[idx].sum(axis=1))
        return np.concatenate(probs), np.concatenate(contribs)
