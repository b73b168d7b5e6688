"""The gate records whether production saw the holdout days (then it looks better than it is)."""

from __future__ import annotations

import json
from pathlib import Path

from models.gate import production_view
from models.registry import Registry
from models.windows import day_number


def registry_with(tmp_path: Path, windows: dict[str, object] | None) -> Registry:
    (tmp_path / "m1").mkdir()
    manifest: dict[str, object] = {"version": "m1"}
    if windows is not None:
        manifest["windows"] = windows
    (tmp_path / "m1" / "manifest.json").write_text(json.dumps(manifest))
    return Registry(tmp_path)


def span(first: str, last: str) -> dict[str, str]:
    return {"first_day": first, "last_day": last}


def test_production_trained_on_the_holdout_days_is_named(tmp_path: Path) -> None:
    reg = registry_with(tmp_path, {"dataset": "v2", "train": span("2018-04-01", "2018-05-10"),
                                   "tune": span("2018-05-12", "2018-05-18"),
                                   "gate": span("2018-05-19", "2018-05-25")})  # fmt: skip
    first, last = day_number("2018-05-08"), day_number("2018-05-14")
    seen = production_view(reg, "m1", "v3", first, last)
    assert "m1's train window (v2 2018-04-01..2018-05-10) on 2018-05-08..2018-05-10" in seen
    assert "tune window (v2 2018-05-12..2018-05-18) on 2018-05-12..2018-05-14" in seen
    later = production_view(reg, "m1", "v3", day_number("2018-05-19"), day_number("2018-05-25"))
    assert later == "unseen"


def test_a_production_model_without_windows_is_unknown(tmp_path: Path) -> None:
    reg = registry_with(tmp_path, None)
    assert production_view(reg, "m1", "v1", 1, 7) == "unknown"
