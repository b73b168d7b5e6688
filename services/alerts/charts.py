"""Small inline SVG charts for the console (no JavaScript, no external assets). Values are
numbers and labels are escaped, so the markup is safe to embed."""

from __future__ import annotations

from html import escape
from typing import Any

W, H, PAD = 460, 180, 28
COLORS = {"approve": "#7fb685", "review": "#e9a23b", "decline": "#d33"}


def _frame(body: str, title: str) -> str:
    return (
        f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def stacked_bars(rows: list[dict[str, Any]], keys: tuple[str, ...], title: str) -> str:
    if not rows:
        return "<p>No data in the window.</p>"
    top = max(sum(r.get(k, 0) for k in keys) for r in rows) or 1
    bw = (W - 2 * PAD) / len(rows)
    parts = []
    for i, r in enumerate(rows):
        y = H - PAD
        for k in keys:
            h = (H - 2 * PAD) * r.get(k, 0) / top
            y -= h
            parts.append(
                f'<rect x="{PAD + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLORS.get(k, "#888")}"><title>'
                f"{escape(str(r.get('hour', '')))} {k}: {r.get(k, 0)}</title></rect>"
            )
    legend = "".join(
        f'<text x="{PAD + 90 * j}" y="14" font-size="11" fill="{COLORS.get(k, "#888")}">'
        f"■ {k}</text>"
        for j, k in enumerate(keys)
    )
    axis = f'<text x="2" y="{PAD}" font-size="10">{top}</text>'
    return _frame("".join(parts) + legend + axis, title)


def line(values: list[float], title: str, lo: float = 0.0, hi: float = 1.0) -> str:
    if not values:
        return "<p>No data in the window.</p>"
    span = (hi - lo) or 1
    step = (W - 2 * PAD) / max(len(values) - 1, 1)
    pts = " ".join(
        f"{PAD + i * step:.1f},{H - PAD - (H - 2 * PAD) * (v - lo) / span:.1f}"
        for i, v in enumerate(values)
    )
    axis = (
        f'<text x="2" y="{PAD}" font-size="10">{hi:g}</text>'
        f'<text x="2" y="{H - PAD}" font-size="10">{lo:g}</text>'
    )
    return _frame(
        f'<polyline points="{pts}" fill="none" stroke="#3b6fd6" stroke-width="2"/>' + axis, title
    )


def hbars(values: dict[str, float], title: str, limit: float) -> str:
    if not values:
        return "<p>No reference distributions or no data: drift not measured.</p>"
    items = sorted(values.items(), key=lambda kv: -kv[1])
    row_h = 16
    height = row_h * len(items) + 20
    top = max(max(values.values()), limit) or 1
    x0, width = 190, 250
    parts = []
    for i, (name, v) in enumerate(items):
        y = 10 + i * row_h
        color = "#d33" if v > limit else "#3b6fd6"
        parts.append(
            f'<text x="{x0 - 6}" y="{y + 11}" font-size="11" text-anchor="end">'
            f'{escape(name)}</text><rect x="{x0}" y="{y + 2}" width="{width * v / top:.1f}" '
            f'height="{row_h - 4}" fill="{color}"><title>{escape(name)}: {v:.3f}</title></rect>'
        )
    lx = x0 + width * limit / top
    parts.append(
        f'<line x1="{lx:.1f}" x2="{lx:.1f}" y1="4" y2="{height - 4}" stroke="#222" '
        f'stroke-dasharray="3,3"/>'
    )
    return (
        f'<svg viewBox="0 0 {W} {height}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
