"""Training CatBoost on a dataset version: time-ordered split, imbalance chosen by validation.

The last ``holdout_days`` days are left out for the promotion gate; the ``validation_days`` before
them validate ("tune": early stopping, the imbalance choice, thresholds and the reported metrics);
the days before those train (see models/windows.py). The split is never random: a random split
would let the model see the future of the very customers and terminals it is validated on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool

from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES, FINGERPRINT
from models.config import Imbalance, TrainConfig
from models.metrics import average_precision, day_index, evaluate
from models.reference import numeric_reference, reference_for
from models.thresholds import choose_thresholds
from models.windows import bounds, describe

FEATURES = list(FEATURE_NAMES)


class TrainingError(ValueError):
    pass


def pool(frame: pd.DataFrame, with_label: bool = True) -> Pool:
    """Features in contract order; categorical ones used natively by CatBoost."""
    label = frame["is_fraud"].to_numpy() if with_label else None
    return Pool(frame[FEATURES], label=label, cat_features=list(CATEGORICAL_FEATURES))


def predict(model: CatBoostClassifier, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(pool(frame, False), prediction_type="Probability"))[:, 1]


def check_dataset_contract(manifest: dict[str, Any]) -> None:
    if manifest.get("feature_fingerprint") != FINGERPRINT:
        raise TrainingError(
            f"dataset {manifest.get('version')} was built with feature contract "
            f"{manifest.get('feature_fingerprint')}, this code has {FINGERPRINT}: rebuild it"
        )


def split_bounds(frame: pd.DataFrame, cfg: TrainConfig) -> dict[str, tuple[int, int]]:
    return bounds(frame, cfg.validation_days, cfg.gap_days, cfg.holdout_days)


def time_split(frame: pd.DataFrame, cfg: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation = the tune window); the gate window's rows are in neither."""
    days = day_index(frame["timestamp"])
    spans = split_bounds(frame, cfg)
    train = frame.loc[days <= spans["train"][1]]
    valid = frame.loc[(days >= spans["tune"][0]) & (days <= spans["tune"][1])]
    for name, part in (("training", train), ("validation", valid)):
        if part.empty or not part["is_fraud"].any() or part["is_fraud"].all():
            raise TrainingError(
                f"the {name} part ({len(part):,} rows) needs both frauds and legitimate "
                f"payments; the dataset spans {int(days.max() - days.min()) + 1} days, the gate "
                f"keeps the last {cfg.holdout_days}, validation the {cfg.validation_days} "
                f"before them (gap {cfg.gap_days})"
            )
    return train.reset_index(drop=True), valid.reset_index(drop=True)


@dataclass
class Candidate:
    imbalance: Imbalance
    model: CatBoostClassifier
    valid_scores: np.ndarray
    average_precision: float
    best_iteration: int
    seconds: float
    curves: dict[str, dict[str, list[float]]]


def fit_candidate(
    train: pd.DataFrame, valid: pd.DataFrame, cfg: TrainConfig, imbalance: Imbalance
) -> Candidate:
    started = time.perf_counter()
    model = CatBoostClassifier(**cfg.catboost_params(imbalance))
    model.fit(
        pool(train),
        eval_set=pool(valid),
        early_stopping_rounds=cfg.early_stopping_rounds,
        use_best_model=True,
        verbose=cfg.progress_every or False,
        log_cout=sys.stderr,
        log_cerr=sys.stderr,
    )
    scores = predict(model, valid)
    return Candidate(
        imbalance,
        model,
        scores,
        average_precision(valid["is_fraud"].to_numpy(), scores),
        int(model.get_best_iteration() or 0),
        time.perf_counter() - started,
        {
            side: {metric: [float(v) for v in values] for metric, values in by_metric.items()}
            for side, by_metric in model.get_evals_result().items()
        },
    )


@dataclass
class TrainResult:
    model: CatBoostClassifier
    imbalance: Imbalance
    train: pd.DataFrame
    valid: pd.DataFrame
    valid_scores: np.ndarray
    thresholds: dict[str, Any]
    metrics: dict[str, Any]
    candidates: list[dict[str, Any]]
    reference: dict[str, Any]
    seconds: float
    curves: dict[str, dict[str, list[float]]]  # the chosen candidate's, per iteration
    windows: dict[str, Any]  # train / tune / gate: first and last day, rows (models/windows.py)


def train_model(frame: pd.DataFrame, cfg: TrainConfig, log: Any = None) -> TrainResult:
    started = time.perf_counter()
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    train, valid = time_split(frame, cfg)
    say(
        f"train {len(train):,} rows ({int(train['is_fraud'].sum()):,} frauds), "
        f"validation {len(valid):,} rows ({int(valid['is_fraud'].sum()):,} frauds)"
    )
    candidates = []
    for i, imbalance in enumerate(cfg.imbalance_candidates, 1):
        say(f"[{i}/{len(cfg.imbalance_candidates)}] class weights {imbalance}")
        c = fit_candidate(train, valid, cfg, imbalance)
        say(
            f"    validation AP {c.average_precision:.4f}, best iteration {c.best_iteration}, "
            f"{c.seconds:.1f} s"
        )
        candidates.append(c)
    # highest validation AP wins; ties go to the earlier (simpler) candidate
    best = max(candidates, key=lambda c: (round(c.average_precision, 12), -candidates.index(c)))
    days = len(np.unique(day_index(valid["timestamp"])))
    thresholds = choose_thresholds(
        best.valid_scores,
        valid["is_fraud"].to_numpy(),
        days,
        cfg.review_budget_per_day,
        cfg.decline_precision,
        cfg.min_decline_support,
    )
    metrics = evaluate(valid, best.valid_scores, thresholds)
    reference = reference_for(train, FEATURES, set(CATEGORICAL_FEATURES))
    reference["__score__"] = numeric_reference(best.valid_scores, bins=20)
    return TrainResult(
        model=best.model,
        imbalance=best.imbalance,
        train=train,
        valid=valid,
        valid_scores=best.valid_scores,
        thresholds=thresholds,
        metrics=metrics,
        candidates=[
            {
                "imbalance": c.imbalance,
                "validation_average_precision": c.average_precision,
                "best_iteration": c.best_iteration,
                "seconds": round(c.seconds, 2),
            }
            for c in candidates
        ],
        reference=reference,
        seconds=time.perf_counter() - started,
        curves=best.curves,
        windows=describe(frame, split_bounds(frame, cfg)),
    )
