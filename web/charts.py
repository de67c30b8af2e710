"""Server-rendered charts: grouped vertical bars over periods (SVG) and horizontal bars per
category (HTML). Every bar is a link to the instances behind it; every bar has its number
written beside it, so the chart reads at a glance and prints without JavaScript.

On a phone an SVG scaled down to the screen writes its text at 5-8 px and a label beside its
bar is cut to fit. So horizontal bars are HTML (each label on its own line above its bar, at
the page's font size, wrapping where it must), and a period chart carries the same bars in
that form beside its SVG; the style sheet shows one of the two by the width of the screen
(``.chart-wide`` / ``.chart-narrow`` in web/static/app.css)."""

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
    parts = [f'<svg class="chart-wide" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}">',
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
    narrow = _hbars([(label, [(name, bars[gi], COLORS[si % len(COLORS)]) for si, (name, bars) in enumerate(series)])
                     for gi, label in enumerate(labels)],
                    title=title, peak=peak, extra_class="chart-narrow")
    return Markup("".join(parts)) + narrow


def _hbars(groups: Sequence[tuple[str, Sequence[tuple[str, Bar, str]]]], *, title: str, peak: float,
           extra_class: str = "") -> Markup:
    """Horizontal bars as HTML: per group its label on a line of its own, then one bar per
    (series name, bar, colour), its length a share of ``peak``, its number after it; where a
    group has several bars each is preceded by its series' name (no legend to look up)."""
    out = [f'<div class="{escape(("hbars " + extra_class).strip())}" role="group" aria-label="{escape(title)}">'
           f'<p class="hbars-title">{escape(title)}</p>']
    for label, bars in groups:
        out.append(f'<div class="hbars-group"><div class="hbars-label">{escape(label)}</div>')
        for name, bar, color in bars:
            text = bar.text if bar.text is not None else _num(bar.value)
            share = max(0.0, min(100.0, 100 * bar.value / peak)) if peak else 0.0
            tip = f"{label} {name}: {text}" if name else f"{label}: {text}"
            body = (f'<span class="hbar-name">{escape(name)}</span>' if len(bars) > 1 else "") + (
                f'<span class="hbar-track"><span class="hbar-fill" style="width:{share:.1f}%;background:{color}">'
                f'</span></span><span class="hbar-value">{escape(text)}</span>')
            out.append(f'<a class="hbar" href="{escape(bar.href)}" title="{escape(tip)}">{body}</a>' if bar.href
                       else f'<span class="hbar" title="{escape(tip)}">{body}</span>')
        out.append("</div>")
    if not groups:
        out.append('<p class="muted">—</p>')
    out.append("</div>")
    return Markup("".join(out))


def rows(items: Sequence[tuple[str, Bar]], *, title: str, max_value: float | None = None,
         color: str = COLORS[0]) -> Markup:
    """Horizontal bars, one per labelled item (categories, steps, survey items), each label
    whole on its own line above its bar."""
    peak = max_value or max([b.value for _l, b in items] + [1])
    return _hbars([(label, [("", bar, color)]) for label, bar in items], title=title, peak=peak)
