"""Bar and line charts drawn as SVG on the server: axes, ticks, units, a tooltip per mark.

No charting library and nothing fetched by the browser: the page works offline and the numbers a
chart shows are the ones its panel's JSON endpoint returns. Every text is escaped; colours are
SVG presentation attributes, which the page's Content-Security-Policy allows (no inline styles).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = int | float | Decimal

WIDTH = 640
PLOT_HEIGHT = 200
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 12, 44
ROW_HEIGHT = 24
LABEL_WIDTH = 190
LABEL_CHARS = 28
AXIS = "#5f6b7a"
GRID = "#e3e7ec"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number]
    color: str


def nice_ticks(maximum: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least `maximum` (steps of 1, 2, 2.5 or 5 times 10^n)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(f * magnitude for f in factors if f * magnitude >= raw)
    if integer:
        step = max(1.0, float(round(step)))
    steps = math.ceil(maximum / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def compact(value: Number) -> str:
    """A short axis label: 1.2M, 34.5k, 12, 0.5."""
    number = float(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            return f"{number / limit:.3g}{suffix}"
    return f"{number:.3g}" if number != int(number) else str(int(number))


def full(value: Number) -> str:
    """A number for people: thousands separators; decimals (money) always with their cents."""
    if isinstance(value, Decimal) or (isinstance(value, float) and not value.is_integer()):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "middle", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}{extra}>{escape(text)}</text>'


def _line(x1: float, x2: float, y1: float, y2: float, color: str) -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{color}"/>'


def _rect(x: float, y: float, width: float, height: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _value_axis(ticks: list[float], unit: str) -> list[str]:
    """Horizontal grid lines with tick labels on the left, and the unit written along the axis."""
    scale = PLOT_HEIGHT / ticks[-1]
    parts = []
    for tick in ticks:
        y = MARGIN_TOP + PLOT_HEIGHT - tick * scale
        parts.append(_line(MARGIN_LEFT, WIDTH - MARGIN_RIGHT, y, y, GRID))
        parts.append(_text(MARGIN_LEFT - 6, y + 4, compact(tick), anchor="end", cls="tick"))
    middle = MARGIN_TOP + PLOT_HEIGHT / 2
    parts.append(_text(14, middle, unit, cls="unit", extra=f' transform="rotate(-90 14 {middle:.1f})"'))
    bottom = MARGIN_TOP + PLOT_HEIGHT
    parts.append(_line(MARGIN_LEFT, MARGIN_LEFT, MARGIN_TOP, bottom, AXIS))
    parts.append(_line(MARGIN_LEFT, WIDTH - MARGIN_RIGHT, bottom, bottom, AXIS))
    return parts


def _category_labels(labels: Sequence[str], slot: float, x_title: str, every: int) -> list[str]:
    bottom = MARGIN_TOP + PLOT_HEIGHT
    parts = [
        _text(MARGIN_LEFT + slot * (i + 0.5), bottom + 14, label, cls="tick")
        for i, label in enumerate(labels)
        if (len(labels) - 1 - i) % every == 0  # counted from the last: the latest is always named
    ]
    parts.append(
        _text(MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2, bottom + 36, x_title, cls="unit")
    )
    return parts


def _every(count: int, room: int) -> int:
    return max(1, math.ceil(count / room))


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    unit: str,
    x_title: str,
    tooltips: Sequence[str] | None = None,
    integer: bool = True,
) -> str:
    """Vertical bars, one slot per label, the series stacked bottom-up."""
    totals = [sum(float(s.values[i]) for s in series) for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0), integer=integer)
    scale = PLOT_HEIGHT / ticks[-1]
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(len(labels), 1)
    body = _value_axis(ticks, unit)
    for i, label in enumerate(labels):
        base = MARGIN_TOP + PLOT_HEIGHT
        for s in series:
            value = float(s.values[i])
            if value <= 0:
                continue
            height = value * scale
            base -= height
            tip = f"{tooltips[i] if tooltips else label}: {s.name} {full(s.values[i])}"
            body.append(_rect(MARGIN_LEFT + slot * (i + 0.15), base, slot * 0.7, height, s.color, tip))
    body += _category_labels(labels, slot, x_title, _every(len(labels), 8))
    return _svg(WIDTH, MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM, title, body)


def line_chart(
    labels: Sequence[str], values: Sequence[Number], *, title: str, unit: str, x_title: str, color: str
) -> str:
    """One line with a point per label (a point carries its value as a tooltip)."""
    ticks = nice_ticks(max((float(v) for v in values), default=0))
    scale = PLOT_HEIGHT / ticks[-1]
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(len(labels), 1)
    points = [
        (MARGIN_LEFT + slot * (i + 0.5), MARGIN_TOP + PLOT_HEIGHT - float(v) * scale)
        for i, v in enumerate(values)
    ]
    body = _value_axis(ticks, unit)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(label)}: '
            f"{escape(full(value))}</title></circle>"
        )
    body += _category_labels(labels, slot, x_title, _every(len(labels), 8))
    return _svg(WIDTH, MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM, title, body)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    title: str,
    unit: str,
    colors: Sequence[str],
    notes: Sequence[str] | None = None,
    integer: bool = False,
) -> str:
    """Horizontal bars, one row per label; signed values grow left and right of a zero line."""
    ticks = nice_ticks(max((abs(float(v)) for v in values), default=0), integer=integer)
    signed = any(float(v) < 0 for v in values)
    domain = (-ticks[-1], ticks[-1]) if signed else (0.0, ticks[-1])
    notes = notes or [full(v) for v in values]
    # Room on the right for the longest note (about 6.5 px a character at the chart's font size).
    plot = WIDTH - LABEL_WIDTH - MARGIN_RIGHT - min(240, 12 + int(6.5 * max(map(len, notes), default=0)))

    def x_of(value: float) -> float:
        return LABEL_WIDTH + plot * (value - domain[0]) / (domain[1] - domain[0])

    bottom = MARGIN_TOP + ROW_HEIGHT * len(labels)
    body = _bottom_axis([*(-t for t in reversed(ticks[1:]) if signed), *ticks], x_of, bottom, unit)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + ROW_HEIGHT * i
        start, end = sorted((x_of(0.0), x_of(float(value))))
        note = notes[i]
        body.append(_text(LABEL_WIDTH - 8, y + 16, _short(label), anchor="end", cls="label"))
        color = colors[i % len(colors)]
        body.append(_rect(start, y + 4, max(end - start, 1), ROW_HEIGHT - 8, color, f"{label}: {note}"))
        body.append(_text(max(end, x_of(0.0)) + 6, y + 16, note, anchor="start", cls="value"))
    return _svg(WIDTH, bottom + 44, title, body)


def _bottom_axis(
    ticks: Sequence[float], x_of: Callable[[float], float], bottom: float, unit: str
) -> list[str]:
    """Vertical grid lines with tick labels below the rows, the zero line darker, the unit under."""
    parts = []
    for tick in ticks:
        x = x_of(tick)
        color = AXIS if tick == 0 else GRID
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{bottom:.1f}" stroke="{color}"/>'
        )
        parts.append(_text(x, bottom + 14, compact(tick), cls="tick"))
    parts.append(_text((x_of(ticks[0]) + x_of(ticks[-1])) / 2, bottom + 36, unit, cls="unit"))
    return parts
