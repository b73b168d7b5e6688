"""The console's inline SVG charts draw what they are given, and escape names."""

from __future__ import annotations

from services.alerts import charts


def test_stacked_bars_line_and_hbars() -> None:
    rows = [
        {"hour": "h1", "approve": 5, "review": 2, "decline": 1},
        {"hour": "h2", "approve": 3, "review": 0, "decline": 0},
    ]
    svg = charts.stacked_bars(rows, ("approve", "review", "decline"), "decisions")
    assert svg.startswith("<svg") and svg.count("<rect") == 6
    assert ">8</text>" in svg  # the axis top is the tallest bar
    assert charts.line([0.1, 0.5, 0.2], "score").count(",") == 3
    bars = charts.hbars({"<b>x</b>": 0.5, "tx_amount": 0.1}, "psi", 0.25)
    assert "&lt;b&gt;x&lt;/b&gt;" in bars and "<b>" not in bars
    assert bars.count('fill="#d33"') == 1  # only the feature above the limit is red
    assert "No data" in charts.stacked_bars([], ("approve",), "d")
