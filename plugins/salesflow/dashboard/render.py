"""Each panel's HTML fragment, drawn from the same record its JSON endpoint returns.

The markup is ``templates/panels.html``, one macro per panel, rendered by Jinja2 with autoescape
on: every value from data (keys anyone uploading can choose, reasons, names, run ids) is escaped
by construction. This module builds each panel's charts (``charts``: SVG, its texts escaped there)
and hands them to the panel's macro as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from salesflow.dashboard import panels as p
from salesflow.dashboard import sales_panels as sp
from salesflow.dashboard.charts import Series, bar_chart, full, hbar_chart, line_chart
from salesflow.dashboard.sources import Sources

GREEN, RED, GREY, ORANGE, BLUE = "#2e7d32", "#c62828", "#8d99ae", "#ef6c00", "#1565c0"
STATUS_COLORS = {
    "LOADED": GREEN,
    "QUARANTINED": RED,
    "DUPLICATE": GREY,
    "FAILED": ORANGE,
    "SUPERSEDED": BLUE,
    "GONE": "#795548",
}
PALETTE = (BLUE, GREEN, ORANGE, "#6a1b9a", "#00838f", RED, GREY, "#795548", "#ad1457", "#558b2f")
NO_ANALYTICS = "No data yet: the analytics tables hold no rows until a run computes them."


def age(seconds: int | None) -> str:
    """A duration for people: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def moment(value: datetime | date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo else "")
    return value.isoformat()


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    extensions=["jinja2.ext.do"],
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    full=full, age=age, moment=moment, seconds=lambda value: age(None if value is None else round(value))
)


def _macro(name: str) -> Callable[..., str]:
    return getattr(TEMPLATES.get_template("panels.html").module, name)


def freshness(data: p.Freshness) -> str:
    return _macro("freshness")(data)


def outcomes(data: p.Outcomes) -> str:
    series = [Series(status, counts, STATUS_COLORS[status]) for status, counts in data.files.items()]
    chart = bar_chart(
        [d.strftime("%m-%d") for d in data.days],
        series,
        title=f"Files per day and outcome, last {len(data.days)} days",
        unit="files",
        x_title="day (month-day) the file reached its outcome",
        tooltips=[d.isoformat() for d in data.days],
    )
    return _macro("outcomes")(data, [(s.name, s.color) for s in series], Markup(chart))


def runs(data: p.Runs) -> str:
    shown = data.runs
    chart = (
        bar_chart(
            [r.last_change.strftime("%m-%d %H:%M") for r in shown],
            [
                Series("loaded", [r.rows_loaded for r in shown], GREEN),
                Series("rejected", [r.rows_rejected for r in shown], RED),
            ],
            title=f"Rows loaded and rejected, latest {len(shown)} runs",
            unit="rows",
            x_title="run (its last ledger change, month-day hour:minute)",
            tooltips=[r.run_id for r in shown],
        )
        if shown
        else ""
    )
    return _macro("runs")(data, Markup(chart), {"green": GREEN, "red": RED})


def rejects(data: p.Rejects) -> str:
    chart = (
        hbar_chart(
            [r.reason_code for r in data.reasons],
            [r.rows for r in data.reasons],
            title=f"Rejected rows per reason since {data.since.isoformat()}",
            unit="rows rejected",
            colors=[RED],
            integer=True,
            notes=[f"{full(r.rows)} rows, {full(r.files)} files" for r in data.reasons],
        )
        if data.reasons
        else ""
    )
    return _macro("rejects")(data, Markup(chart))


def quarantined(data: p.Quarantined) -> str:
    return _macro("quarantined")(data)


def in_flight(data: p.InFlight) -> str:
    return _macro("in_flight")(data)


def revenue(data: sp.Revenue) -> str:
    chart = (
        line_chart(
            [m.month for m in data.months],
            [m.revenue for m in data.months],
            title=f"Revenue per month, {data.months[0].month} to {data.latest_month}",
            unit="revenue (sum of total_cost)",
            x_title="sales month",
            color=BLUE,
        )
        if data.months
        else ""
    )
    return _macro("revenue")(data, Markup(chart))


def top_sellers(data: sp.TopSellers) -> str:
    chart = (
        hbar_chart(
            [f"{s.full_name} (store {s.store_id})" for s in data.sellers],
            [s.total_sales for s in data.sellers],
            title=f"Top sales people of {data.month}",
            unit=f"total sales in {data.month} (sum of total_cost)",
            colors=[BLUE],
            notes=[f"{full(s.total_sales)}, incentive {full(s.incentive)}" for s in data.sellers],
        )
        if data.sellers
        else ""
    )
    return _macro("top_sellers")(data, Markup(chart))


def segments(data: sp.Segments) -> str:
    chart = (
        hbar_chart(
            [s.segment for s in data.segments],
            [s.customers for s in data.segments],
            title=f"Customers per segment, snapshot {data.snapshot_month}",
            unit="customers",
            colors=PALETTE,
            integer=True,
        )
        if data.segments
        else ""
    )
    return _macro("segments")(data, Markup(chart), NO_ANALYTICS)


def movers(data: sp.Movers) -> str:
    charts = []
    for level in ("product", "store", "sales_person"):
        found = [m for m in data.movers if m.level == level]
        if found:
            chart = hbar_chart(
                [m.entity_name or f"#{m.entity_id}" for m in found],
                [m.mom_change for m in found],
                title=f"Biggest month-over-month changes by {level}, {data.month}",
                unit="change in total sales from the month before",
                colors=[GREEN if m.mom_change >= 0 else RED for m in found],
                notes=[_change(m) for m in found],
            )
            charts.append((level, Markup(chart)))
    return _macro("movers")(data, charts, NO_ANALYTICS)


def _change(mover: sp.Mover) -> str:
    sign = "+" if mover.mom_change >= 0 else ""
    pct = f" ({sign}{mover.mom_change_pct}%)" if mover.mom_change_pct is not None else ""
    return f"{sign}{full(mover.mom_change)}{pct}"


class Panel(NamedTuple):
    """One panel of the page: its record (also the ``/api/<name>`` JSON) and that record's HTML."""

    read: Callable[[Sources], Any]
    html: Callable[[Any], str]


# The page's panels, in the page's order.
PANELS: dict[str, Panel] = {
    "freshness": Panel(p.freshness, freshness),
    "outcomes": Panel(p.outcomes, outcomes),
    "runs": Panel(p.runs, runs),
    "rejects": Panel(p.rejects, rejects),
    "quarantined": Panel(p.quarantined, quarantined),
    "in_flight": Panel(p.in_flight, in_flight),
    "revenue": Panel(sp.revenue, revenue),
    "top_sellers": Panel(sp.top_sellers, top_sellers),
    "segments": Panel(sp.segments, segments),
    "movers": Panel(sp.movers, movers),
}
