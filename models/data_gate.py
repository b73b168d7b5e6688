"""The data validation gate: a dataset version is checked before any model learns from it.

Expectations are versioned configuration (``models/expectations.toml``): schema and types (pandera,
from the feature contract), value ranges, null rates, duplicate ids, volume against the parent,
the fraud-rate band, label-delay statistics, and per-feature drift (PSI) against the parent. The
verdict is written beside the immutable version as ``validation.json`` (the manifest itself never
changes); training and retraining refuse a version whose verdict is invalid.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from fraudops import datasets, versioned
from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from fraudops.readers import read_labels
from models.reference import proportions, psi, reference_for

EXPECTATIONS = Path(__file__).with_name("expectations.toml")
REPORT = "validation.json"
DAY_S = 86_400


def load_expectations(path: Path | None = None) -> dict[str, Any]:
    return tomllib.loads((path or EXPECTATIONS).read_text())


def _range(name: str, exp: dict[str, Any]) -> list[pa.Check]:
    for rule in exp.get("ranges", []):
        if fnmatch.fnmatch(name, rule["pattern"]):
            checks = []
            if "min" in rule:
                checks.append(pa.Check.ge(rule["min"]))
            if "max" in rule:
                checks.append(pa.Check.le(rule["max"]))
            return checks
    return []


def schema(exp: dict[str, Any]) -> pa.DataFrameSchema:
    """The contract as a pandera schema: ids unique and present, types, ranges."""
    nullable = exp["rows"]["max_null_rate"] > 0
    cols: dict[str, pa.Column] = {
        "transaction_id": pa.Column(str, unique=True, nullable=False),
        "timestamp": pa.Column("datetime64[us, UTC]", nullable=False, coerce=True),
        "customer_id": pa.Column(str, nullable=False),
        "terminal_id": pa.Column(str, nullable=False),
        "is_fraud": pa.Column(int, pa.Check.isin([0, 1]), nullable=False, coerce=True),
    }
    for name in FEATURE_NAMES:
        if name in CATEGORICAL_FEATURES:
            cols[name] = pa.Column(str, nullable=nullable, coerce=True)
        else:
            cols[name] = pa.Column(float, _range(name, exp), nullable=nullable, coerce=True)
    return pa.DataFrameSchema(cols, strict=False)


def _check(name: str, passed: bool, detail: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail, **extra}


def _schema_check(frame: pd.DataFrame, exp: dict[str, Any]) -> dict[str, Any]:
    try:
        schema(exp).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        summary = (cases.groupby(["column", "check"], dropna=False).size()
                   .sort_values(ascending=False).head(10))  # fmt: skip
        lines = [f"{col}: {check} ({n} rows)" for (col, check), n in summary.items()]
        return _check("schema", False, "; ".join(lines), failures=len(cases))
    return _check("schema", True, f"{len(frame.columns)} columns, types, ranges and unique ids ok")


def _null_check(frame: pd.DataFrame, exp: dict[str, Any]) -> dict[str, Any]:
    limit = exp["rows"]["max_null_rate"]
    cols = ["transaction_id", "timestamp", "customer_id", "terminal_id", "is_fraud",
            *FEATURE_NAMES]  # fmt: skip
    rates = frame.reindex(columns=cols).isna().mean()
    bad = rates[rates > limit]
    detail = ", ".join(f"{c} {r:.2%}" for c, r in bad.items()) or f"all <= {limit:.2%}"
    return _check("null_rates", bad.empty, detail)


def _volume_check(rows: int, parent: dict[str, Any] | None, exp: dict[str, Any]) -> dict[str, Any]:
    if parent is None:
        return _check("volume", rows > 0, f"{rows:,} rows (no parent)")
    ratio = rows / max(parent["rows"], 1)
    need = exp["rows"]["min_volume_ratio"]
    return _check("volume", ratio >= need, f"{rows:,} rows = {ratio:.2f} x parent's "
                  f"{parent['rows']:,} (>= {need} needed)", ratio=ratio)  # fmt: skip


def _fraud_rate_check(frame: pd.DataFrame, exp: dict[str, Any]) -> dict[str, Any]:
    lo, hi = exp["rows"]["fraud_rate"]
    rate = float(frame["is_fraud"].mean()) if len(frame) else 0.0
    return _check("fraud_rate", lo <= rate <= hi, f"{rate:.4%} (band {lo:.2%}..{hi:.2%})",
                  value=rate)  # fmt: skip


def _label_delay_check(frame: pd.DataFrame, manifest: dict[str, Any],
                       exp: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    files = (manifest.get("inputs") or {}).get("labels") or []
    if not files:
        delay = (manifest.get("inputs") or {}).get("label_delay_days")
        return _check("label_delay", True, f"labels from the history, known {delay} days later")
    events = pd.concat([read_labels(f) for f in files], ignore_index=True)
    ts = frame.set_index("transaction_id")["timestamp"]
    joined = events[events["transaction_id"].isin(ts.index)]
    if joined.empty:
        return _check("label_delay", True, "no label events for this version's payments")
    delay = (joined["arrived_at"] - joined["transaction_id"].map(ts)).dt.total_seconds() / DAY_S
    median, p95, early = float(delay.median()), float(delay.quantile(0.95)), int((delay < 0).sum())
    lim = exp["labels"]
    ok = early == 0 and median <= lim["max_median_delay_days"] and p95 <= lim["max_p95_delay_days"]
    return _check("label_delay", ok, f"median {median:.1f} d, p95 {p95:.1f} d, {early} before "
                  f"their payment (limits {lim['max_median_delay_days']} / "
                  f"{lim['max_p95_delay_days']} d, none early)", median_days=median,
                  p95_days=p95, early=early)  # fmt: skip


def _drift_check(frame: pd.DataFrame, parent: pd.DataFrame | None,
                 exp: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    if parent is None or parent.empty:
        return _check("drift", True, "no parent to compare with")
    limit = exp["drift"]["max_feature_psi"]
    ref = reference_for(parent, list(FEATURE_NAMES), set(CATEGORICAL_FEATURES))
    psis = {c: psi(_props(ref[c]), proportions(ref[c], frame[c])) for c in FEATURE_NAMES}
    bad = {c: v for c, v in psis.items() if v > limit}
    worst = max(psis, key=lambda c: psis[c])
    detail = (", ".join(f"{c} {v:.3f}" for c, v in sorted(bad.items(), key=lambda kv: -kv[1]))
              if bad else f"max PSI {psis[worst]:.3f} ({worst}) <= {limit}")  # fmt: skip
    return _check("drift", not bad, detail, psi={c: round(v, 4) for c, v in psis.items()})


def _props(ref: dict[str, Any]) -> list[float]:
    p = ref["proportions"]
    return [float(x) for x in (p.values() if isinstance(p, dict) else p)]


def validate_version(root: Path, version: str, exp: dict[str, Any] | None = None,
                     write: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run every expectation on ``version``; write ``validation.json`` beside it."""
    exp = exp or load_expectations()
    manifest = datasets.read_manifest(root, version)
    frame = datasets.load_dataset(root, version)
    parent_id = manifest.get("parent")
    parent_m = datasets.read_manifest(root, parent_id) if parent_id else None
    parent = datasets.load_dataset(root, parent_id) if parent_id else None
    checks = [
        _schema_check(frame, exp), _null_check(frame, exp),
        _volume_check(len(frame), parent_m, exp), _fraud_rate_check(frame, exp),
        _label_delay_check(frame, manifest, exp), _drift_check(frame, parent, exp),
    ]  # fmt: skip
    report = {"version": version, "valid": all(c["passed"] for c in checks),
              "expectations_version": exp.get("version"), "parent": parent_id,
              "checked_at": datetime.now(UTC).isoformat(), "checks": checks}  # fmt: skip
    if write:
        versioned.write_json_atomic(root / version / REPORT, report)
    return report


def verdict(root: Path, version: str) -> dict[str, Any] | None:
    """The stored validation report of a version, if it was validated."""
    path = root / version / REPORT
    return json.loads(path.read_text()) if path.exists() else None


def explain(report: dict[str, Any]) -> str:
    """The report as lines a person reads."""
    head = f"dataset {report['version']}: {'VALID' if report['valid'] else 'INVALID'}"
    lines = [f"  {'ok ' if c['passed'] else 'FAIL'} {c['name']:<12} {c['detail']}"
             for c in report["checks"]]  # fmt: skip
    return "\n".join([head, *lines])
