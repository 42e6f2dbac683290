"""A known, realistic state for the dashboard: ledger rows of three runs with every outcome, files
in flight, rejects per reason, the sales team mart over months with a gap, and (optionally) the
analytics tables. Times are set relative to the database's clock, as the pipeline writes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class LedgerRow:
    key: str
    status: str
    run_id: str
    minutes_ago: int
    rows: tuple[int, int, int] | None = None  # read, loaded, rejected
    reason: str | None = None
    max_sales_date: date | None = None
    last_error: str | None = None


DAY = 24 * 60
XSS_KEY = "sales_data/<script>alert(1)</script>.csv"
LEDGER = [
    LedgerRow(
        "sales_data/a1.csv",
        "LOADED",
        "scheduled__A",
        45 * DAY,
        (100, 98, 2),
        max_sales_date=date(2024, 1, 31),
    ),
    # The earlier version of a file that a later run corrected: loaded long ago, superseded yesterday.
    LedgerRow(
        "sales_data/b1.csv",
        "SUPERSEDED",
        "scheduled__A",
        1 * DAY,
        (40, 40, 0),
        max_sales_date=date(2024, 5, 31),
    ),
    LedgerRow(
        "sales_data/b1.csv", "LOADED", "manual__B", 2 * DAY, (1000, 990, 10), max_sales_date=date(2024, 2, 28)
    ),
    LedgerRow(
        "sales_data/b2.csv", "LOADED", "manual__B", 2 * DAY, (500, 500, 0), max_sales_date=date(2024, 4, 15)
    ),
    LedgerRow(
        "sales_data/b_bad.csv", "QUARANTINED", "manual__B", 2 * DAY, reason="missing_columns:total_cost"
    ),
    LedgerRow(
        "sales_data/b_dup.csv", "DUPLICATE", "manual__B", 2 * DAY, reason="duplicate_of:sales_data/b2.csv"
    ),
    LedgerRow(
        "sales_data/c1.csv", "LOADED", "manual__C", 30, (200, 197, 3), max_sales_date=date(2024, 4, 30)
    ),
    LedgerRow(XSS_KEY, "QUARANTINED", "manual__C", 29, reason="not_csv"),
    LedgerRow(
        "sales_data/c_fail.csv", "FAILED", "manual__C", 28, last_error="transform_and_load: MySQL gone"
    ),
    LedgerRow("sales_data/c_claimed.csv", "CLAIMED", "manual__C", 180),
    LedgerRow("sales_data/c_valid.csv", "VALIDATED", "manual__C", 1),
]
# (ledger row index, reason code, rows)
REJECTS = [
    (0, "quantity_not_positive", 2),
    (2, "invalid_type:price", 6),
    (2, "unknown_customer", 4),
    (6, "invalid_type:price", 3),
]
# (store, sales person, name, month, total, incentive); no sales in 2024-03.
SALES_TEAM_MART = [
    (121, 1, "Sara Verma", "2024-01", Decimal("100.50"), Decimal("0.00")),
    (121, 2, "Krishna Nair", "2024-01", Decimal("200.25"), Decimal("2.00")),
    (122, 3, "Diya Sharma", "2024-02", Decimal("300.00"), Decimal("3.00")),
    (121, 1, "Sara Verma", "2024-04", Decimal("1000.10"), Decimal("10.00")),
    (121, 2, "Krishna Nair", "2024-04", Decimal("999.99"), Decimal("0.00")),
    (122, 3, "Diya Sharma", "2024-04", Decimal("500.05"), Decimal("5.00")),
]
# (customer, snapshot month, segment); the latest snapshot is 2024-04.
SEGMENTS = [
    (1, "2024-03", "Champions"),
    (2, "2024-03", "Champions"),
    (1, "2024-04", "Champions"),
    (2, "2024-04", "At Risk"),
    (3, "2024-04", "At Risk"),
    (4, "2024-04", "New Customers"),
]
# (level, entity, name, month, total, prev, change, pct)
COMPARISON = [
    ("product", 1, "quaker oats", "2024-03", Decimal("10.00"), None, None, None),
    (
        "product",
        1,
        "quaker oats",
        "2024-04",
        Decimal("50.00"),
        Decimal("10.00"),
        Decimal("40.00"),
        Decimal("400.00"),
    ),
    (
        "product",
        2,
        "sugar",
        "2024-04",
        Decimal("0.00"),
        Decimal("90.00"),
        Decimal("-90.00"),
        Decimal("-100.00"),
    ),
    ("product", 3, "maida", "2024-04", Decimal("20.00"), Decimal("0.00"), Decimal("20.00"), None),
    ("product", 4, "besan", "2024-04", Decimal("5.00"), None, None, None),
    (
        "store",
        121,
        "374 Park Street, Chennai",
        "2024-04",
        Decimal("70.00"),
        Decimal("100.00"),
        Decimal("-30.00"),
        Decimal("-30.00"),
    ),
]


def execute_many(conn: Any, statement: str, rows: list[tuple]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)
    conn.commit()


def fill_ledger(conn: Any, tables: Any, bucket: str) -> list[int]:
    """The LEDGER rows with their REJECTS; returns the ledger ids in LEDGER order."""
    ids = []
    with conn.cursor() as cursor:
        for i, row in enumerate(LEDGER):
            read, loaded, rejected = row.rows or (None, None, None)
            version = hashlib.sha256(f"{bucket}\0{row.key}\0{i}".encode()).hexdigest()
            cursor.execute(
                f"INSERT INTO {tables.ledger} (bucket, object_key, etag, size_bytes, status, run_id, rows_read,"
                " rows_loaded, rows_rejected, reason, last_error, max_sales_date, version_key, claimed_at, updated_at)"
                " VALUES (%s, %s, %s, 10, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " CURRENT_TIMESTAMP(6) - INTERVAL %s MINUTE, CURRENT_TIMESTAMP(6) - INTERVAL %s MINUTE)",
                (
                    bucket,
                    row.key,
                    f"etag{i}",
                    row.status,
                    row.run_id,
                    read,
                    loaded,
                    rejected,
                    row.reason,
                    row.last_error,
                    row.max_sales_date,
                    version,
                    row.minutes_ago + 5,
                    row.minutes_ago,
                ),
            )
            ids.append(cursor.lastrowid)
        cursor.executemany(
            f"INSERT INTO {tables.ledger}_rejects (ledger_id, reason_code, row_count) VALUES (%s, %s, %s)",
            [(ids[index], code, count) for index, code, count in REJECTS],
        )
    conn.commit()
    return ids


def fill_marts(conn: Any, tables: Any) -> None:
    execute_many(
        conn,
        f"INSERT INTO {tables.sales_team_data_mart} (store_id, sales_person_id, full_name, sales_month,"
        " total_sales, incentive) VALUES (%s, %s, %s, %s, %s, %s)",
        SALES_TEAM_MART,
    )


def fill_analytics(conn: Any, tables: Any) -> None:
    execute_many(
        conn,
        f"INSERT INTO {tables.customer_segments} (customer_id, snapshot_month, recency_days, frequency,"
        " monetary, r_score, f_score, m_score, rfm_score, segment) VALUES (%s, %s, 1, 1, 1, 5, 5, 5, '555', %s)",
        SEGMENTS,
    )
    execute_many(
        conn,
        f"INSERT INTO {tables.sales_comparison_mart} (level, entity_id, entity_name, month, total_sales,"
        " quantity_sold, sales_count, prev_month_total_sales, mom_change, mom_change_pct)"
        " VALUES (%s, %s, %s, %s, %s, 1, 1, %s, %s, %s)",
        COMPARISON,
    )
