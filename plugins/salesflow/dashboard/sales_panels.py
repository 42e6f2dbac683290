"""The panels of the sales numbers: revenue by month, the top sellers, the customer segments and
the biggest movers month over month, from the marts and analytics tables (never the facts)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from salesflow.dashboard.sources import Sources, query_rows
from salesflow.months import month_range

REVENUE_MONTHS = 24
TOP_SELLERS = 10
MOVERS_PER_LEVEL = 5


# ------------------------------------------------------------------------------------- revenue
@dataclass(frozen=True)
class MonthRevenue:
    month: str
    revenue: Decimal


@dataclass(frozen=True)
class Revenue:
    """Revenue per month (sum of total_cost), the latest months, a month without sales as 0."""

    months: list[MonthRevenue]
    latest_month: str | None
    latest_revenue: Decimal | None


def revenue(sources: Sources) -> Revenue:
    found = dict(query_rows(sources, "revenue_by_month", (REVENUE_MONTHS,)))
    if not found:
        return Revenue([], None, None)
    months = month_range(min(found), max(found))
    series = [MonthRevenue(month, found.get(month, Decimal("0.00"))) for month in months]
    return Revenue(series, series[-1].month, series[-1].revenue)


# --------------------------------------------------------------------------------- top sellers
@dataclass(frozen=True)
class Seller:
    store_id: int
    sales_person_id: int
    full_name: str
    total_sales: Decimal
    incentive: Decimal


@dataclass(frozen=True)
class TopSellers:
    month: str | None
    sellers: list[Seller]


def top_sellers(sources: Sources) -> TopSellers:
    rows = query_rows(sources, "top_sellers", (TOP_SELLERS,))
    sellers = [
        Seller(store, person, name, total, incentive) for _m, store, person, name, total, incentive in rows
    ]
    return TopSellers(rows[0][0] if rows else None, sellers)


# ------------------------------------------------------------------------------------ segments
@dataclass(frozen=True)
class SegmentCount:
    segment: str
    customers: int


@dataclass(frozen=True)
class Segments:
    """Customers per RFM segment in the latest snapshot; empty until the analytics hold rows."""

    snapshot_month: str | None
    segments: list[SegmentCount]
    customers: int


def segments(sources: Sources) -> Segments:
    rows = query_rows(sources, "segments_latest", folder="analytics")
    counts = [SegmentCount(segment, int(customers)) for _month, segment, customers in rows]
    return Segments(rows[0][0] if rows else None, counts, sum(c.customers for c in counts))


# -------------------------------------------------------------------------------------- movers
@dataclass(frozen=True)
class Mover:
    level: str
    entity_id: int
    entity_name: str | None
    total_sales: Decimal
    prev_month_total_sales: Decimal
    mom_change: Decimal
    mom_change_pct: Decimal | None


@dataclass(frozen=True)
class Movers:
    """The latest month's biggest month-over-month changes per level; empty until analytics land."""

    month: str | None
    movers: list[Mover]


def movers(sources: Sources) -> Movers:
    rows = query_rows(sources, "movers", (MOVERS_PER_LEVEL,))
    found = [
        Mover(level, eid, name, total, prev, change, pct)
        for level, eid, name, _m, total, prev, change, pct in rows
    ]
    return Movers(rows[0][3] if rows else None, found)
