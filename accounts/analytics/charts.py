"""The charts of the admin's analytics pages: plain SVG drawn on the server, no script."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import mark_safe

from .tables import cell

COLORS = ("#3b82f6", "#f59e0b", "#ef4444", "#7c3aed", "#10b981", "#6b7280")


def svg_bars(labels: list[str], series: list[tuple[str, list[float]]], *, title: str, width=760, height=220):
    """Stacked bars, one stack per label, with a legend; plain SVG, no script. Text is escaped, numbers are ours."""
    top = max([sum(values[i] or 0 for _, values in series) for i in range(len(labels))] or [0]) or 1
    left, bottom, plot_h = 56, 28, height - 48
    step = (width - left - 8) / max(len(labels), 1)
    parts = []
    for k, ((name, _), color) in enumerate(zip(series, COLORS)):
        parts.append(f'<rect x="{left + k * 140}" y="4" width="10" height="10" fill="{color}"/>'
                     f'<text x="{left + k * 140 + 14}" y="13" font-size="11">{escape(name)}</text>')
    for f in (0, 0.5, 1):
        parts.append(f'<text x="{left - 4}" y="{height - bottom - plot_h * f + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{escape(cell(round(top * f, 2)))}</text>')
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        y = height - bottom
        for (name, values), color in zip(series, COLORS):
            value = values[i] or 0
            h = plot_h * value / top
            if h > 0:
                y -= h
                parts.append(f'<rect x="{left + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                             f'fill="{color}"><title>{escape(label)} {escape(name)}: {escape(cell(value))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{height - 10}" font-size="10" '
                         f'text-anchor="middle">{escape(label)}</text>')
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="vh-chart">{"".join(parts)}</svg>'
    )
