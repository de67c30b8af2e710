"""Server-rendered SVG charts: grouped vertical bars over periods and horizontal bars per
category. Every bar is a link to the instances behind it; every bar has its number written
on it, so the chart reads at a glance and prints without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

COLORS = ("#1769aa", "#2e7d32", "#b26a00", "#c62828", "#6a1b9a", "#00838f")


@dataclass(frozen=True)
class Bar:
    value: float
    href: str | None = None
    text: str | None = None  # written on the bar; the value by default


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _bar(x: float, y: float, w: float, h: float, color: str, bar: Bar, title: str) -> str:
    rect = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{max(h, 0.5):.1f}" fill="{color}">'
            f"<title>{escape(title)}</title></rect>")
    label = (f'<text x="{x + w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">'
             f"{escape(bar.text if bar.text is not None else _num(bar.value))}</text>")
    body = rect + label
    return f'<a href="{escape(bar.href)}">{body}</a>' if bar.href else body


def columns(labels: Sequence[str], series: Sequence[tuple[str, Sequence[Bar]]], *,
            title: str, height: int = 220, max_value: float | None = None) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series."""
    width = max(420, 60 + len(labels) * (14 * len(series) + 18))
    top, bottom, left = 44, 24, 36
    plot_h = height - top - bottom
    peak = max_value or max([b.value for _n, bars in series for b in bars] + [1])
    group_w = (width - left - 10) / max(len(labels), 1)
    bar_w = min(28.0, (group_w - 8) / max(len(series), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    for i, (name, _bars) in enumerate(series):  # the legend, on its own line under the title
        x = left + i * 110
        parts.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
                     f'<text x="{x + 14}" y="31" font-size="11">{escape(name)}</text>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#9aa5b1"/>')
    for gi, label in enumerate(labels):
        gx = left + gi * group_w + 4
        for si, (name, bars) in enumerate(series):
            bar = bars[gi]
            h = plot_h * (bar.value / peak) if peak else 0
            parts.append(_bar(gx + si * bar_w, base - h, bar_w - 2, h, COLORS[si % len(COLORS)], bar,
                              f"{label} {name}: {_num(bar.value)}"))
        parts.append(f'<text x="{gx + len(series) * bar_w / 2:.1f}" y="{base + 14}" text-anchor="middle" font-size="10">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rows(items: Sequence[tuple[str, Bar]], *, title: str, max_value: float | None = None,
         color: str = COLORS[0]) -> Markup:
    """Horizontal bars, one per labelled item (categories, steps, survey items)."""
    width, row_h, left, top = 520, 22, 150, 26
    height = top + row_h * max(len(items), 1) + 8
    peak = max_value or max([b.value for _l, b in items] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    for i, (label, bar) in enumerate(items):
        y = top + i * row_h
        w = (width - left - 50) * (bar.value / peak) if peak else 0
        rect = (f'<rect x="{left}" y="{y}" width="{max(w, 0.5):.1f}" height="{row_h - 6}" fill="{color}">'
                f"<title>{escape(label)}: {escape(bar.text or _num(bar.value))}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + row_h - 10}" font-size="11">{escape(bar.text or _num(bar.value))}</text>')
        if bar.href:
            rect = f'<a href="{escape(bar.href)}">{rect}</a>'
        parts.append(f'<text x="{left - 6}" y="{y + row_h - 10}" text-anchor="end" font-size="11">{escape(label[:22])}</text>{rect}')
    if not items:
        parts.append(f'<text x="{left}" y="{top + 14}" font-size="11" fill="#616e7c">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
