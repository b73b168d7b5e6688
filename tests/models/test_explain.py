"""Fast scoring + reasons from leaf indexes equal CatBoost's own probabilities and SHAP values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from catboost import CatBoostClassifier, Pool

from fraudops.features import FEATURE_NAMES
from models import artifact
from models.registry import Registry
from models.runtime import CAT_INDEXES, load_scoring_model, reasons

pytestmark = pytest.mark.slow


def test_scores_and_contributions_equal_catboosts(trained: dict[str, Path]) -> None:
    reg = Registry(trained["registry"])
    valid = artifact.validation_frame(reg, "m1")
    rows = valid[list(FEATURE_NAMES)].head(400).to_numpy(dtype=object).tolist()
    runtime = load_scoring_model(reg, "m1")  # tables stored at training time
    probs, contrib = runtime.score(rows)
    booster: CatBoostClassifier = artifact.load(reg, "m1").model
    pool = Pool(rows, cat_features=CAT_INDEXES)
    np.testing.assert_allclose(probs, booster.predict_proba(pool)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(runtime.probabilities(rows), probs)  # the shadow's path
    shap = booster.get_feature_importance(pool, type="ShapValues")
    np.testing.assert_allclose(contrib, shap[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(runtime.explainer.expected_value, shap[0, -1], atol=1e-9)


def test_leaf_indexes_match_catboost_for_unseen_categories(trained: dict[str, Path]) -> None:
    reg = Registry(trained["registry"])
    runtime = load_scoring_model(reg, "m1")
    assert runtime.explainer.leaves.plan is not None  # the fast path is in use
    valid = artifact.validation_frame(reg, "m1").head(200)
    rows = valid[list(FEATURE_NAMES)].to_numpy(dtype=object).tolist()
    names = list(FEATURE_NAMES)
    for k, row in enumerate(rows):  # categories the model never saw, and mixes of them
        if k % 3 == 0:
            row[names.index("mcc")] = f"{9000 + k:04d}"
        if k % 4 == 0:
            row[names.index("country")] = "ZZ"
        if k % 5 == 0:
            row[names.index("channel")] = "UNK"
    leaves = runtime.explainer.leaves
    np.testing.assert_array_equal(leaves(rows), leaves.catboost(rows))


def test_combination_splits_keep_the_sum_exact(model_frame) -> None:  # type: ignore[no-untyped-def]
    # with feature combinations (CatBoost's default) each combination's share is split equally
    from models.explain import TreeExplainer

    rows = model_frame[list(FEATURE_NAMES)].to_numpy(dtype=object).tolist()
    model = CatBoostClassifier(iterations=60, depth=5, random_seed=1, verbose=False,
                               max_ctr_complexity=3, allow_writing_files=False)  # fmt: skip
    model.fit(Pool(rows, model_frame["is_fraud"], cat_features=CAT_INDEXES))
    explainer = TreeExplainer.build(model, len(FEATURE_NAMES), CAT_INDEXES)
    probs, contrib = explainer.explain(rows[:300])
    raw = np.log(probs / (1 - probs))
    np.testing.assert_allclose(contrib.sum(axis=1) + explainer.expected_value, raw, atol=1e-9)
    np.testing.assert_allclose(
        probs, model.predict_proba(Pool(rows[:300], cat_features=CAT_INDEXES))[:, 1], atol=1e-12
    )


def test_decision_rule_and_reasons(trained: dict[str, Path]) -> None:
    runtime = load_scoring_model(Registry(trained["registry"]), "m1")
    runtime.review, runtime.decline = 0.3, 0.8
    assert runtime.decide(0.1) == "approve"
    assert runtime.decide(0.3) == "review"
    assert runtime.decide(0.8) == "decline"
    assert runtime.decide(0.99, degraded=True) == "review"  # degraded never auto-declines
    runtime.decline = None
    assert runtime.decide(0.99) == "review"
    row = list(range(len(FEATURE_NAMES)))
    contrib = np.zeros(len(FEATURE_NAMES))
    contrib[[4, 9, 2]] = [0.5, 2.0, 1.0]
    top = reasons(row, contrib)
    assert [r.feature for r in top] == [FEATURE_NAMES[9], FEATURE_NAMES[2], FEATURE_NAMES[4]]
    assert [r.value for r in top] == [9, 2, 4] and top[0].contribution == 2.0


def test_category_cache_is_bounded_and_keeps_values_in_use(trained: dict[str, Path]) -> None:
    # channel is free text: a client can send a new value with every payment
    from models.leaves import CACHE_BYTES

    reg = Registry(trained["registry"])
    leaves = load_scoring_model(reg, "m1").explainer.leaves
    valid = artifact.validation_frame(reg, "m1").head(50)
    rows = valid[list(FEATURE_NAMES)].to_numpy(dtype=object).tolist()
    channel = list(FEATURE_NAMES).index("channel")
    flood = [list(rows[k % len(rows)]) for k in range(leaves.cache_entries + 500)]
    for k, row in enumerate(flood):
        row[channel] = f"new-{k}"
    # one batch with more new values than the cache holds: every row still gets its leaves
    np.testing.assert_array_equal(leaves(flood), leaves.catboost(flood))
    assert len(leaves._cats) == leaves.cache_entries
    assert sum(a.nbytes for a in leaves._cats.values()) <= CACHE_BYTES

    leaves.cache_entries = 8
    hot = rows[0]
    mcc = list(FEATURE_NAMES).index("mcc")
    for k in range(40):  # a hot value used between new ones is not evicted
        row = list(hot)
        row[channel] = f"other-{k}"
        np.testing.assert_array_equal(leaves([hot, row]), leaves.catboost([hot, row]))
        assert (mcc, hot[mcc]) in leaves._cats
    assert len(leaves._cats) <= 8
