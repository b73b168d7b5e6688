"""Segment metrics by country and channel, the model card, and the gate refusing a candidate
whose recall differs too much between segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.registry import Registry
from models.segments import largest_gap, segment_metrics
from tests.models.test_registry_gate import promote, train, workspace  # noqa: F401


def test_segment_metrics_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "country": ["FR", "FR", "FR", "FR", "DE", "DE", "DE", "DE"],
            "channel": ["ecommerce"] * 8,
            "is_fraud": [1, 1, 0, 0, 1, 1, 0, 0],
        }
    )
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.1, 0.1])
    seg = segment_metrics(frame, scores, {"review": 0.5, "decline": None})
    fr, de = seg["country"]["FR"], seg["country"]["DE"]
    assert (fr["flagged"], fr["precision"], fr["recall"]) == (3, 2 / 3, 1.0)
    assert (de["flagged"], de["precision"], de["recall"]) == (1, 1.0, 0.5)
    gap, pair = largest_gap(seg, "recall", min_frauds=2)
    assert gap == 0.5 and "country=FR 1.000 vs country=DE 0.500" in pair
    assert largest_gap(seg, "recall", min_frauds=3) == (0.0, "no segment pair with enough frauds")


@pytest.mark.slow
def test_model_card_and_the_gate_refuses_a_segment_gap(
    workspace: dict[str, Path],  # noqa: F811
    fast_config_file: Path,
) -> None:
    card = (workspace["registry"] / "m1" / "MODEL_CARD.md").read_text()
    for part in (
        "## Intended use",
        "## Data",
        "## Metrics",
        "| country=",
        "| channel=",
        "## Limits",
    ):
        assert part in card, part
    assert "segments" in Registry(workspace["registry"]).manifest("m1")
    assert promote(workspace, "m1")[0] == 0
    second = train(workspace, "v1", fast_config_file)
    code, refused = promote(
        workspace, second, "--max-segment-gap", "0", "--min-segment-frauds", "1"
    )
    assert code == 1 and not refused["promoted"]
    assert refused["reason"].startswith("segment gap: recall ")
    assert refused["metrics"]["segments"]["max_recall_gap"] > 0
    assert Registry(workspace["registry"]).aliases()["production"] == "m1"
    code, ok = promote(workspace, second, "--max-segment-gap", "1")
    assert code == 0 and ok["promoted"], ok
