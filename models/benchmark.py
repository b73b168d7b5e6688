"""``fraudops benchmark handbook``: our features + CatBoost under the Handbook's two protocols.

Features are the project's own (fraudops.features), computed point-in-time with every fraud label
known exactly 7 days after its transaction, as the protocols assume. Hyper-parameters are chosen
as the Handbook's chapter 5 does: on validation folds that end where the test folds begin (mean
average precision decides; the number of trees comes from early stopping on those folds). The
chapter 3 split is then one train/test run and chapter 5 the mean and std over its 4 test folds.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier

from fraudops.features.offline import labelled_feature_frame
from fraudops.invalid_rows import InvalidPolicy, read_history_checked
from models import handbook
from models.metrics import day_index, evaluate
from models.training import pool, predict

GRID: dict[str, list[Any]] = {"depth": [4, 6], "auto_class_weights": [None, "SqrtBalanced"]}
BASE = {"learning_rate": 0.05, "l2_leaf_reg": 3.0, "loss_function": "Logloss"}
MAX_TREES = 1000


def features_for_protocol(
    path: str,
    say: Callable[[str], None],
    policy: InvalidPolicy | None = None,
    quarantine: Path | None = None,
) -> pd.DataFrame:
    started = time.perf_counter()
    history, quarantined, where = read_history_checked(path, policy or InvalidPolicy(), quarantine)
    if quarantined:
        say(f"{quarantined:,} invalid rows quarantined, with their reasons, in {where}")
    last_needed = handbook.CH5_TEST_STARTS[0] + timedelta(days=21)
    history = history.loc[history["timestamp"] < pd.Timestamp(last_needed, tz="UTC")]
    say(f"history: {len(history):,} transactions before {last_needed}")
    frame = labelled_feature_frame(history, delay_days=7)
    frame["day"] = day_index(frame["timestamp"])
    say(f"features: {len(frame):,} rows ({time.perf_counter() - started:.0f} s)")
    return frame


def _fit(
    train: pd.DataFrame,
    params: dict[str, Any],
    trees: int,
    seed: int,
    eval_frame: pd.DataFrame | None = None,
) -> CatBoostClassifier:
    clean = {k: v for k, v in params.items() if v is not None}
    model = CatBoostClassifier(
        iterations=trees,
        random_seed=seed,
        thread_count=2,
        verbose=False,
        allow_writing_files=False,
        **BASE,
        **clean,
    )
    if eval_frame is None:
        model.fit(pool(train))
    else:
        model.fit(
            pool(train), eval_set=pool(eval_frame), early_stopping_rounds=100, use_best_model=True
        )
    return model


def _scores(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    metrics = evaluate(test, scores)
    return {k: metrics[k] for k in handbook.METRICS}


def choose_params(frame: pd.DataFrame, seed: int, say: Callable[[str], None]) -> dict[str, Any]:
    splits = [handbook.train_test_split(frame, d) for d in handbook.CH5_VALIDATION_STARTS]
    best: dict[str, Any] | None = None
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        folds, trees = [], []
        for s in splits:
            model = _fit(s.train, params, MAX_TREES, seed, eval_frame=s.test)
            folds.append(_scores(s.test, predict(model, s.test)))
            trees.append((model.get_best_iteration() or 0) + 1)
        summary = handbook.mean_std(folds)
        say(
            f"validation {params}: AP {summary['average_precision']:.4f}, "
            f"AUC {summary['auc_roc']:.4f}, CP@100 {summary['card_precision_at_100']:.4f}"
        )
        if best is None or summary["average_precision"] > best["validation"]["average_precision"]:
            best = {"params": params, "trees": int(np.median(trees)), "validation": summary}
    assert best is not None
    return best


def run_protocols(
    frame: pd.DataFrame, seed: int = 0, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.perf_counter()
    chosen = choose_params(frame, seed, say)
    say(f"chosen on validation: {chosen['params']}, {chosen['trees']} trees")
    folds: dict[date, dict[str, float]] = {}
    for start in handbook.CH5_TEST_STARTS:
        s = handbook.train_test_split(frame, start)
        model = _fit(s.train, chosen["params"], chosen["trees"], seed)
        folds[start] = _scores(s.test, predict(model, s.test))
        say(f"test fold training from {start}: {_fmt(folds[start])}")
    ch3 = folds[handbook.CH3_TRAIN_START]  # the chapter 3 split is the oldest chapter 5 fold
    return {
        "ch3": ch3,
        "ch5": handbook.mean_std(list(folds.values())),
        "ch5_folds": {d.isoformat(): v for d, v in folds.items()},
        "chosen": chosen,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _fmt(m: dict[str, float]) -> str:
    return " / ".join(f"{m[k]:.3f}" for k in handbook.METRICS)


def table(result: dict[str, Any]) -> str:
    lines = ["protocol  model                       AUC ROC / AP / CP@100"]
    for chapter in ("ch3", "ch5"):
        ours = result[chapter]
        label = _fmt(ours)
        if chapter == "ch5":
            label += (
                "  (std " + " / ".join(f"{ours[k + '_std']:.3f}" for k in handbook.METRICS) + ")"
            )
        lines.append(f"{chapter:<9} {'fraudops CatBoost (ours)':<27} {label}")
        for name, m in handbook.PUBLISHED[chapter].items():
            lines.append(f"{chapter:<9} {name + ' (published)':<27} {_fmt(m)}")
    best = {k: handbook.best_published(k) for k in handbook.METRICS}
    beats = {ch: all(result[ch][k] > best[k] for k in handbook.METRICS) for ch in ("ch3", "ch5")}
    lines.append(f"beats the best published figure on every metric: {beats}")
    return "\n".join(lines)
