"""What the whole-DAG tests share: uploads, dag.test(), and independent expectations (plain
Python and Decimal, never the code under test)."""

from __future__ import annotations

import csv
import io
import sys
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from include.sample_data import dimensions as dims
from include.sample_data.generate import GeneratedFile
from salesflow.storage import s3_hook
from tests.support.services import mysql_connection

TABLES = (
    "sales",
    "customers_data_mart",
    "sales_team_data_mart",
    "customer_month_summary",
    "sales_team_month_summary",
    "product_month_summary",
    "sales_comparison_mart",
    "customer_segments",
    "file_ledger_rejects",
    "customer",
    "store",
    "product",
    "sales_team",
)


def upload(settings, files: list[GeneratedFile]) -> None:
    hook = s3_hook()
    for generated in files:
        hook.load_bytes(generated.content, key=f"sales_data/{generated.name}", bucket_name=settings.bucket)


def upload_a_batch_the_job_dies_of(settings) -> list[GeneratedFile]:
    """Three good files and issue 21's hostile one: a quoted value of 4,999 characters over 50
    short lines, which kills the Spark job for the whole batch once ``limits.max_cell_bytes`` is
    lowered under it (the caller sets ``SALESFLOW__LIMITS__MAX_CELL_BYTES=2000``). Returns the good
    files."""
    from datetime import date

    from include.sample_data.generate import HEADER, good_files

    good = good_files(rows=90, files=3, seed=21, start_month=date(2024, 3, 1), months=1)
    upload(settings, good)
    long_value = "\n".join(["p" * 99] * 50)  # 4,999 characters on 50 lines
    header = ",".join(HEADER)
    put(
        settings,
        "sales_data/long_value.csv",
        f'{header}\n17,121,"{long_value}",2024-03-05,2,1.00,1,1.00\n'.encode(),
    )
    return good


def run_dag(logical_date: datetime, **test_args):
    from airflow.dag_processing.dagbag import DagBag

    from salesflow.paths import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"]
    # A fixed run_after gives a fixed run id: the same call is the same run, run again.
    dag_run = dag.test(logical_date=logical_date, run_after=logical_date, **test_args)
    assert dag_run.state == "success"
    return dag_run


def listing(bucket: str) -> dict[str, int]:
    return {item["Key"]: item["Size"] for item in s3_hook().iter_file_metadata(prefix="", bucket_name=bucket)}


def query(settings, sql: str) -> list[tuple]:
    conn = mysql_connection(settings.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        conn.close()


def state(settings) -> dict:
    """Everything a run leaves behind: table checksums, the ledger, the S3 listing."""
    checksums = {table: query(settings, f"CHECKSUM TABLE {table}")[0][1] for table in TABLES}
    ledger = query(
        settings,
        "SELECT id, object_key, etag, size_bytes, sha256, status, run_id, attempts, rows_read, rows_loaded, "
        "rows_rejected, reason, duplicate_of, claimed_at, updated_at FROM file_ledger ORDER BY id",
    )
    return {"tables": checksums, "ledger": ledger, "s3": listing(settings.bucket)}


def valid_rows(files: list[GeneratedFile]) -> list[dict[str, str]]:
    """The rows that must load, read independently with Python's csv module."""
    rows = []
    for generated in files:
        if generated.expected != "valid":
            continue
        records = list(csv.DictReader(io.StringIO(generated.content.decode())))
        good_count = len(records) - len(generated.rejected_reasons)  # the bad rows come last
        rows += [{k.strip().lower(): v for k, v in r.items()} for r in records[:good_count]]
    return rows


def expected_marts(rows: list[dict[str, str]]) -> tuple[list[tuple], list[tuple]]:
    """Both marts computed independently: plain Python and Decimal."""
    customers = {c.customer_id: c for c in dims.customers()}
    people = {p.id: p for p in dims.sales_team()}
    by_customer: dict[tuple, Decimal] = defaultdict(Decimal)
    by_person: dict[tuple, Decimal] = defaultdict(Decimal)
    for r in rows:
        month = r["sales_date"][:7]
        by_customer[(int(r["customer_id"]), month)] += Decimal(r["total_cost"])
        by_person[(int(r["store_id"]), int(r["sales_person_id"]), month)] += Decimal(r["total_cost"])
    customers_data_mart = sorted(
        (cid, f"{customers[cid].first_name} {customers[cid].last_name}", customers[cid].address,
         customers[cid].phone_number, month, total)
        for (cid, month), total in by_customer.items()
    )  # fmt: skip
    best: dict[tuple, Decimal] = defaultdict(Decimal)
    for (store, _, month), total in by_person.items():
        best[(store, month)] = max(best[(store, month)], total)
    team_mart = sorted(
        (store, pid, f"{people[pid].first_name} {people[pid].last_name}", month, total,
         (total * Decimal("0.01")).quantize(Decimal("0.01"), ROUND_HALF_UP) if total == best[(store, month)]
         else Decimal("0.00"))
        for (store, pid, month), total in by_person.items()
    )  # fmt: skip
    return customers_data_mart, team_mart


def marts(settings) -> tuple[list[tuple], list[tuple]]:
    return (
        query(settings, "SELECT * FROM customers_data_mart ORDER BY customer_id, sales_date_month"),
        query(settings, "SELECT * FROM sales_team_data_mart ORDER BY store_id, sales_person_id, sales_month"),
    )


def put(settings, key: str, content: bytes) -> None:
    s3_hook().load_bytes(content, key=key, bucket_name=settings.bucket, replace=True)


def ledger(settings) -> dict[str, tuple]:
    rows = query(
        settings, "SELECT object_key, status, reason, rows_read, rows_loaded, rows_rejected FROM file_ledger"
    )
    return {r[0]: r[1:] for r in rows}


def rejects_of(settings, key: str) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)  # a rejected row may hold a 10 MB value
    (entry_id,) = query(settings, f"SELECT id FROM file_ledger WHERE object_key = '{key}'")[0]
    tail = key[len("sales_data/") :]
    content = s3_hook().read_key(f"sales_data_rejects/{tail}.{entry_id}.rejected.csv", settings.bucket)
    return list(csv.DictReader(io.StringIO(content)))


def analytics(settings) -> tuple[list[tuple], list[tuple]]:
    """The two analytics tables, sorted by their keys."""
    return (
        sorted(query(settings, "SELECT * FROM sales_comparison_mart")),
        sorted(query(settings, "SELECT * FROM customer_segments")),
    )


def expected_analytics(settings) -> tuple[list[tuple], list[tuple]]:
    """Both analytics recomputed in plain Python (tests/support/analytics_reference.py) from the
    loaded facts and the dimension tables."""
    from tests.support.analytics_reference import comparison_rows, segment_rows

    columns = (
        "customer_id",
        "store_id",
        "sales_person_id",
        "product_id",
        "sales_date",
        "total_cost",
        "quantity",
    )
    facts = [
        dict(zip(columns, row, strict=True))
        for row in query(settings, f"SELECT {', '.join(columns)} FROM sales")
    ]
    names = {("product", pid): name for pid, name in query(settings, "SELECT id, name FROM product")}
    names |= {("store", sid): address for sid, address in query(settings, "SELECT id, address FROM store")}
    names |= {
        ("sales_person", pid): f"{first} {last}"
        for pid, first, last in query(settings, "SELECT id, first_name, last_name FROM sales_team")
    }
    return sorted(comparison_rows(facts, names)), sorted(segment_rows(facts))
