"""Each panel's HTML fragment, drawn from the same record its JSON endpoint returns.

Every value that comes from data (keys, reasons, names, run ids) goes through ``escape``: object
keys are chosen by whoever uploads a file. Headline figures carry ``data-figure`` so tests and
people can find them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

from salesflow.dashboard import panels as p
from salesflow.dashboard import sales_panels as sp
from salesflow.dashboard.charts import Number, Series, bar_chart, full, hbar_chart, line_chart

GREEN, RED, GREY, ORANGE, BLUE = "#2e7d32", "#c62828", "#8d99ae", "#ef6c00", "#1565c0"
STATUS_COLORS = {"LOADED": GREEN, "QUARANTINED": RED, "DUPLICATE": GREY, "FAILED": ORANGE, "SUPERSEDED": BLUE}
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


def figure(name: str, label: str, value: Number | str, *, stale: bool = False, note: str = "") -> str:
    shown = value if isinstance(value, str) else full(value)
    state = " stale" if stale else ""
    extra = f'<span class="note">{escape(note)}</span>' if note else ""
    return (
        f'<div class="figure{state}"><span class="label">{escape(label)}</span>'
        f'<b data-figure="{escape(name)}">{escape(shown)}</b>{extra}</div>'
    )


def figures(*items: str) -> str:
    return f'<div class="figures">{"".join(items)}</div>'


def legend(items: Sequence[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span class="key"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{color}"/></svg>{escape(name)}</span>'
        for name, color in items
    )
    return f'<div class="legend">{keys}</div>'


def empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, flagged: Sequence[bool] = ()) -> str:
    """A table of already-escaped cells; a flagged row is shown red."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    marks = [' class="stale"' if i < len(flagged) and flagged[i] else "" for i in range(len(rows))]
    body = "".join(
        f"<tr{mark}>{''.join(f'<td>{cell}</td>' for cell in row)}</tr>"
        for mark, row in zip(marks, rows, strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def freshness(data: p.Freshness) -> str:
    run, source = data.last_good_run, data.source
    run_figure = (
        figure(
            "last_good_run", "Last good run", f"{age(run.age_seconds)} ago", stale=run.stale, note=run.run_id
        )
        if run
        else figure("last_good_run", "Last good run", "none yet", stale=True)
    )
    return (
        figures(
            run_figure,
            figure("latest_sales_date", "Latest sales date loaded", moment(data.latest_sales_date)),
            figure("last_loaded_at", "Last file loaded", moment(data.last_loaded_at)),
            _waiting(source),
            _oldest_waiting(source),
        )
        + f'<p class="note">Red: older than {data.stale_after_hours} h.</p>'
    )


def _waiting(source: p.SourcePrefix) -> str:
    where = f"Files waiting in s3://{source.bucket}/{source.prefix}"
    if source.error:
        return figure("files_waiting", where, "S3 did not answer", stale=True, note=source.error)
    shown = f"{source.files}+" if source.capped else str(source.files)
    note = f"listing capped at {source.files} keys" if source.capped else ""
    return figure("files_waiting", where, shown, note=note)


def _oldest_waiting(source: p.SourcePrefix) -> str:
    if source.oldest_key is None:
        return figure("oldest_waiting", "Oldest waiting file", "-")
    note = source.oldest_key + (" (of the keys listed)" if source.capped else "")
    return figure(
        "oldest_waiting",
        "Oldest waiting file",
        f"{age(source.oldest_age_seconds)}",
        stale=source.stale,
        note=note,
    )


def outcomes(data: p.Outcomes) -> str:
    totals = figures(
        *(figure(f"files_{s.lower()}", f"Files {s.lower()}", n) for s, n in data.totals.items()),
        figure("rows_loaded", "Rows loaded", data.rows_loaded),
        figure("rows_rejected", "Rows rejected", data.rows_rejected),
    )
    series = [Series(status, counts, STATUS_COLORS[status]) for status, counts in data.files.items()]
    chart = bar_chart(
        [d.strftime("%m-%d") for d in data.days],
        series,
        title=f"Files per day and outcome, last {len(data.days)} days",
        unit="files",
        x_title="day (month-day) the file reached its outcome",
        tooltips=[d.isoformat() for d in data.days],
    )
    return totals + legend([(s.name, s.color) for s in series]) + chart


def runs(data: p.Runs) -> str:
    if not data.runs:
        return empty("No run has claimed a file yet.")
    shown = data.runs
    chart = bar_chart(
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
    latest = [
        [escape(r.run_id), full(r.files), full(r.rows_read), full(r.rows_loaded), full(r.rows_rejected)]
        for r in reversed(shown[-5:])
    ]
    rows_table = table(["run", "files", "rows read", "loaded", "rejected"], latest)
    return legend([("rows loaded", GREEN), ("rows rejected", RED)]) + chart + rows_table


def rejects(data: p.Rejects) -> str:
    if not data.reasons:
        return empty(f"No rejected rows since {data.since.isoformat()}.")
    chart = hbar_chart(
        [r.reason_code for r in data.reasons],
        [r.rows for r in data.reasons],
        title=f"Rejected rows per reason since {data.since.isoformat()}",
        unit="rows rejected",
        colors=[RED],
        integer=True,
        notes=[f"{full(r.rows)} rows, {full(r.files)} files" for r in data.reasons],
    )
    return f'<p class="note">Files changed since {data.since.isoformat()}.</p>' + chart


def quarantined(data: p.Quarantined) -> str:
    if not data.files:
        return empty("No file has been quarantined.")
    rows = [
        [
            escape(moment(f.quarantined_at)),
            f"<code>{escape(f.object_key)}</code>",
            escape(f.reason or "-"),
            f"<code>{escape(f's3://{data.bucket}/{f.error_key}')}</code>" if f.error_key else "-",
        ]
        for f in data.files
    ]
    return table(["quarantined", "key", "reason", "now at"], rows)


def in_flight(data: p.InFlight) -> str:
    head = figures(figure("files_in_flight", "Files in flight (CLAIMED or VALIDATED)", data.total))
    if not data.files:
        return head + empty("No file is in flight.")
    rows = [
        [
            f"<code>{escape(f.object_key)}</code>",
            escape(f.status),
            escape(f.run_id),
            full(f.attempts),
            escape(age(f.unchanged_seconds)),
        ]
        for f in data.files
    ]
    note = f'<p class="note">Red: unchanged for more than {data.stuck_after_minutes} min.</p>'
    table_html = table(
        ["key", "status", "run", "attempts", "unchanged for"], rows, flagged=[f.stuck for f in data.files]
    )
    return head + note + table_html


def revenue(data: sp.Revenue) -> str:
    if not data.months or data.latest_month is None or data.latest_revenue is None:
        return empty("No sales loaded yet.")
    head = figures(figure("latest_revenue", f"Revenue {data.latest_month}", data.latest_revenue))
    chart = line_chart(
        [m.month for m in data.months],
        [m.revenue for m in data.months],
        title=f"Revenue per month, {data.months[0].month} to {data.latest_month}",
        unit="revenue (sum of total_cost)",
        x_title="sales month",
        color=BLUE,
    )
    return head + chart


def top_sellers(data: sp.TopSellers) -> str:
    if not data.sellers:
        return empty("No sales loaded yet.")
    chart = hbar_chart(
        [f"{s.full_name} (store {s.store_id})" for s in data.sellers],
        [s.total_sales for s in data.sellers],
        title=f"Top sales people of {data.month}",
        unit=f"total sales in {data.month} (sum of total_cost)",
        colors=[BLUE],
        notes=[f"{full(s.total_sales)}, incentive {full(s.incentive)}" for s in data.sellers],
    )
    return f'<p class="note">Sales month {escape(str(data.month))}.</p>' + chart


def segments(data: sp.Segments) -> str:
    if not data.segments:
        return empty(NO_ANALYTICS)
    chart = hbar_chart(
        [s.segment for s in data.segments],
        [s.customers for s in data.segments],
        title=f"Customers per segment, snapshot {data.snapshot_month}",
        unit="customers",
        colors=PALETTE,
        integer=True,
    )
    head = figures(
        figure("segment_customers", f"Customers in snapshot {data.snapshot_month}", data.customers)
    )
    return head + chart


def movers(data: sp.Movers) -> str:
    if not data.movers:
        return empty(NO_ANALYTICS)
    parts = [f'<p class="note">Change from the month before {escape(str(data.month))}.</p>']
    for level in ("product", "store", "sales_person"):
        found = [m for m in data.movers if m.level == level]
        if not found:
            continue
        parts.append(f"<h3>{escape(level.replace('_', ' '))}</h3>")
        parts.append(
            hbar_chart(
                [m.entity_name or f"#{m.entity_id}" for m in found],
                [m.mom_change for m in found],
                title=f"Biggest month-over-month changes by {level}, {data.month}",
                unit="change in total sales from the month before",
                colors=[GREEN if m.mom_change >= 0 else RED for m in found],
                notes=[_change(m) for m in found],
            )
        )
    return "".join(parts)


def _change(mover: sp.Mover) -> str:
    sign = "+" if mover.mom_change >= 0 else ""
    pct = f" ({sign}{mover.mom_change_pct}%)" if mover.mom_change_pct is not None else ""
    return f"{sign}{full(mover.mom_change)}{pct}"


# Each panel's renderer (the same names as panels.PANELS; a test holds the two tables equal).
RENDERERS: dict[str, Callable[[Any], str]] = {
    "freshness": freshness,
    "outcomes": outcomes,
    "runs": runs,
    "rejects": rejects,
    "quarantined": quarantined,
    "in_flight": in_flight,
    "revenue": revenue,
    "top_sellers": top_sellers,
    "segments": segments,
    "movers": movers,
}
