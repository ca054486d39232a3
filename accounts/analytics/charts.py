"""The charts of the admin's analytics pages: plain SVG drawn on the server, no script.

Two kinds: `svg_bars`, stacked bars over time (a dated axis, round ticks on the
value axis: whole numbers for counts), and `svg_ranking`, one horizontal bar per
name with the name written out in full above it (organizations, voices, funnel
steps). The studio's usage page draws its own chart with `nice_ticks` too.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from django.utils.html import escape
from django.utils.safestring import mark_safe

from .tables import cell

COLORS = ("#3b82f6", "#b45309", "#dc2626", "#7c3aed", "#047857", "#4b5563")


def nice_ticks(top: float, *, count: int = 4, integer: bool = True) -> list[float]:
    """Round ticks from 0 up to at least `top`: steps of 1, 2 or 5 times a power of ten (whole for counts)."""
    if not top or top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, round(step))
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def tick_label(value: float) -> str:
    """A tick as printed: 500, 1,500, 2.5; never 562.00 for a count."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.10g}"


def date_label(key: str, bucket: str = "day") -> str:
    """A bucket key ('YYYY-MM-DD', 'YYYY-MM-DD HH', a week's Monday, a month's first day) as an axis shows it."""
    try:
        if bucket == "hour" or len(key) == 13:
            moment = datetime.strptime(key, "%Y-%m-%d %H")
            return f"{moment:%b} {moment.day}, {moment:%H}:00"
        day = date.fromisoformat(key[:10])
    except ValueError:
        return key
    if bucket == "month":
        return f"{day:%b %Y}"
    return f"{day:%b} {day.day}"


def _is_integer(series) -> bool:
    return all(float(v or 0).is_integer() for _, values in series for v in values)


def svg_bars(
    labels: list[str],
    series: list[tuple[str, list[float]]],
    *,
    title: str,
    bucket: str = "day",
    unit: str = "",
    width=760,
    height=240,
):
    """Stacked bars over time, one stack per bucket key in `labels`, with a legend, a dated x axis and round
    y ticks (whole numbers when every value is whole). Plain SVG, no script; text is escaped, numbers are ours."""
    top = max([sum(values[i] or 0 for _, values in series) for i in range(len(labels))] or [0])
    ticks = nice_ticks(top, integer=_is_integer(series))
    scale = ticks[-1] or 1
    left, right, legend, bottom = 64, 12, 32, 46
    plot_h = height - legend - bottom
    base = height - bottom
    step = (width - left - right) / max(len(labels), 1)
    parts = []
    for k, ((name, _), color) in enumerate(zip(series, COLORS)):
        parts.append(
            f'<rect x="{left + k * 150}" y="10" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + k * 150 + 14}" y="19" font-size="11">{escape(name)}</text>'
        )
    for tick in ticks:
        y = base - plot_h * tick / scale
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="vh-grid" stroke="#e5e7eb"/>'
            f'<text class="y-tick" x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(tick_label(tick))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 7))
    for i, label in enumerate(labels):
        y = base
        for (name, values), color in zip(series, COLORS):
            value = values[i] or 0
            h = plot_h * value / scale
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{left + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                    f'fill="{color}"><title>{escape(date_label(label, bucket))} {escape(name)}: '
                    f"{escape(cell(value))}</title></rect>"
                )
        if i % every == 0:
            x = left + i * step + step / 2
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" class="vh-axis" stroke="#6b7280"/>'
                f'<text class="x-tick" x="{x:.1f}" y="{base + 16}" font-size="10" text-anchor="middle">'
                f"{escape(date_label(label, bucket))}</text>"
            )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" class="vh-axis" stroke="#6b7280"/>')
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" font-size="10" text-anchor="middle">'
        f"{escape(_axis_title(bucket, unit))}</text>"
    )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="vh-chart">{"".join(parts)}</svg>'
    )


def _axis_title(bucket: str, unit: str) -> str:
    """What the bars are and the time they span: "requests per day (UTC)"; weeks start on Monday."""
    per = {"hour": "hour (UTC)", "week": "week (UTC, from Monday)", "month": "month (UTC)"}.get(bucket, "day (UTC)")
    return f"{unit} per {per}" if unit else per


def svg_ranking(names: list[str], values: list[float], *, title: str, measure: str, width=760):
    """One horizontal bar per name, biggest first as given, each name in full above its bar and the value beside it."""
    row, bar = 40, 14  # room for the name above its bar at a phone's larger label size
    height = max(len(names), 1) * row + 12
    top = max([v or 0 for v in values] or [0]) or 1
    label_room = 90
    parts = []
    for i, (name, value) in enumerate(zip(names, values)):
        y = 8 + i * row
        w = (width - label_room) * (value or 0) / top
        parts.append(
            f'<text class="name" x="0" y="{y + 12}" font-size="11">{escape(name)}</text>'
            f'<rect x="0" y="{y + 19}" width="{max(w, 1):.1f}" height="{bar}" fill="{COLORS[0]}">'
            f"<title>{escape(name)}: {escape(tick_label(value or 0))} {escape(measure)}</title></rect>"
            f'<text x="{max(w, 1) + 6:.1f}" y="{y + 30}" font-size="10">{escape(tick_label(value or 0))}</text>'
        )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="vh-chart vh-ranking">{"".join(parts)}</svg>'
    )
