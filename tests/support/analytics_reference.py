"""SPEC "Analytics" computed the plain way, from loaded facts, for tests to compare against.

Plain Python with ``Decimal`` and ``date``, no Spark, and none of ``spark_jobs.analytics``: it is
the second, independent reading of the SPEC that the Spark code and the pipeline's tables must
agree with. Slow and simple on purpose; fine for the few thousand facts of a test.

A fact is a mapping with ``customer_id``, ``store_id``, ``sales_person_id``, ``product_id``,
``sales_date`` (date), ``total_cost`` (Decimal) and ``quantity`` (int). Rows come back as tuples in
the column order of the tables (``sales_comparison_mart``, ``customer_segments``), sorted by key.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

Fact = Mapping[str, Any]
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
LEVEL_KEYS = (("product", "product_id"), ("store", "store_id"), ("sales_person", "sales_person_id"))


# ------------------------------------------------------------------------------------- months
def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(month: str, n: int) -> str:
    """The month ``n`` months after ``month`` (before, for a negative ``n``)."""
    year, month_number = int(month[:4]), int(month[5:7])
    for _ in range(abs(n)):
        if n > 0:
            year, month_number = (year + 1, 1) if month_number == 12 else (year, month_number + 1)
        else:
            year, month_number = (year - 1, 12) if month_number == 1 else (year, month_number - 1)
    return f"{year:04d}-{month_number:02d}"


def calendar_months(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last``, both included."""
    months = [first]
    while months[-1] < last:
        months.append(shift(months[-1], 1))
    return months


def last_day(month: str) -> date:
    year, month_number = int(month[:4]), int(month[5:7])
    return date(year, month_number, calendar.monthrange(year, month_number)[1])


# ------------------------------------------------------------------------- period over period
def percent(change: Decimal, prior: Decimal) -> Decimal | None:
    """round(change / prior * 100, 2), halves away from zero; None for a prior of 0.

    Computed to 200 significant digits before the one rounding: an exact quotient of two cent
    amounts below 10^40 that is not itself a half cent lies further than 10^-45 from one, so the
    rounding to 200 digits cannot carry it across.
    """
    if prior == 0:
        return None
    with localcontext() as context:
        context.prec = 200
        return (change * 100 / prior).quantize(CENT, rounding=ROUND_HALF_UP)


def entity_month_totals(facts: Iterable[Fact]) -> dict[tuple[str, int, str], tuple[Decimal, int, int]]:
    """(level, entity_id, month) -> (total_sales, quantity_sold, sales_count) of the months with sales."""
    totals: dict[tuple[str, int, str], tuple[Decimal, int, int]] = {}
    for fact in facts:
        month = month_of(fact["sales_date"])
        for level, key in LEVEL_KEYS:
            total, quantity, count = totals.get((level, fact[key], month), (ZERO, 0, 0))
            totals[(level, fact[key], month)] = (
                total + fact["total_cost"],
                quantity + fact["quantity"],
                count + 1,
            )
    return totals


def _prior(totals: Mapping, level: str, entity: int, month: str, first: str) -> Decimal | None:
    if month < first:
        return None
    return totals.get((level, entity, month), (ZERO, 0, 0))[0]


def _change(total: Decimal, prior: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    if prior is None:
        return None, None
    return total - prior, percent(total - prior, prior)


def comparison_rows(facts: Iterable[Fact], names: Mapping[tuple[str, int], str]) -> list[tuple]:
    """The whole ``sales_comparison_mart``: every calendar month from the data's first to its last."""
    totals = entity_month_totals(facts)
    if not totals:
        return []
    data_months = sorted({month for _, _, month in totals})
    first = data_months[0]
    entities_of: dict[str, set[tuple[str, int]]] = {}
    for level, entity, month in totals:
        entities_of.setdefault(month, set()).add((level, entity))
    rows = []
    for month in calendar_months(first, data_months[-1]):
        before = shift(month, -1)
        for level, entity in sorted(entities_of.get(month, set()) | entities_of.get(before, set())):
            total, quantity, count = totals.get((level, entity, month), (ZERO, 0, 0))
            prev_month = _prior(totals, level, entity, before, first)
            prev_year = _prior(totals, level, entity, shift(month, -12), first)
            rows.append(
                (level, entity, month, names[(level, entity)], total, Decimal(quantity), count,
                 prev_month, *_change(total, prev_month), prev_year, *_change(total, prev_year))
            )  # fmt: skip
    return sorted(rows)


# ---------------------------------------------------------------------------------------- RFM
def segment(r: int, f: int) -> str:
    """SPEC's segment table, read row by row."""
    if r == 5 and f in (4, 5):
        return "Champions"
    if r in (3, 4) and f in (4, 5):
        return "Loyal"
    if r in (4, 5) and f in (2, 3):
        return "Potential Loyalists"
    if r == 5 and f == 1:
        return "New Customers"
    if r == 4 and f == 1:
        return "Promising"
    if r == 3 and f == 3:
        return "Need Attention"
    if r == 3 and f in (1, 2):
        return "About to Sleep"
    if r in (1, 2) and f == 5:
        return "Can't Lose Them"
    if r in (1, 2) and f in (3, 4):
        return "At Risk"
    if r in (1, 2) and f in (1, 2):
        return "Hibernating"
    raise ValueError(f"no segment for R={r}, F={f}")


def score(k: int, n: int) -> int:
    """ceil(5 * k / n) for 1 <= k <= n, in integers."""
    return -(-5 * k // n)


def customer_month_stats(facts: Iterable[Fact]) -> dict[tuple[int, str], tuple[Decimal, int, date]]:
    """(customer_id, month) -> (total_sales, sales_count, last_purchase_date) of the months with sales."""
    stats: dict[tuple[int, str], tuple[Decimal, int, date]] = {}
    for fact in facts:
        key = (fact["customer_id"], month_of(fact["sales_date"]))
        total, count, last = stats.get(key, (ZERO, 0, fact["sales_date"]))
        stats[key] = (total + fact["total_cost"], count + 1, max(last, fact["sales_date"]))
    return stats


def _snapshot(stats: Mapping, snapshot: str) -> list[tuple]:
    window = {shift(snapshot, -back) for back in range(12)}
    measures: dict[int, tuple[date, int, Decimal]] = {}
    for (customer, month), (total, count, last) in stats.items():
        if month in window:
            seen_last, frequency, monetary = measures.get(customer, (last, 0, ZERO))
            measures[customer] = (max(seen_last, last), frequency + count, monetary + total)
    n = len(measures)
    recencies = sorted((last_day(snapshot) - last).days for last, _, _ in measures.values())
    frequencies = sorted(frequency for _, frequency, _ in measures.values())
    monetaries = sorted(monetary for _, _, monetary in measures.values())
    rows = []
    for customer, (last, frequency, monetary) in measures.items():
        recency = (last_day(snapshot) - last).days
        r = score(n - bisect_left(recencies, recency), n)  # k: recencies no lower than this one
        f = score(bisect_right(frequencies, frequency), n)  # k: frequencies no higher
        m = score(bisect_right(monetaries, monetary), n)
        rows.append((customer, snapshot, recency, frequency, monetary, r, f, m, f"{r}{f}{m}", segment(r, f)))
    return rows


def segment_rows(facts: Iterable[Fact]) -> list[tuple]:
    """The whole ``customer_segments``: one snapshot for each month holding a fact."""
    stats = customer_month_stats(facts)
    rows = [row for snapshot in sorted({month for _, month in stats}) for row in _snapshot(stats, snapshot)]
    return sorted(rows)


# ------------------------------------------------------------------ inputs of the Spark functions
def entity_month_rows(facts: Iterable[Fact], names: Mapping[tuple[str, int], str]) -> list[tuple]:
    """The compact per-entity input (``spark_jobs.analytics.ENTITY_MONTH_SCHEMA`` order)."""
    return [
        (level, entity, names[(level, entity)], month, total, Decimal(quantity), count)
        for (level, entity, month), (total, quantity, count) in sorted(entity_month_totals(facts).items())
    ]


def customer_month_rows(facts: Iterable[Fact]) -> list[tuple]:
    """The compact per-customer input (``spark_jobs.analytics.CUSTOMER_MONTH_SCHEMA`` order)."""
    return [
        (customer, month, total, count, last)
        for (customer, month), (total, count, last) in sorted(customer_month_stats(facts).items())
    ]
