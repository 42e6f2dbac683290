"""Issue 26, reprocess on demand, as an operator meets it: rows rejected for a customer the dimension
did not have yet, a file quarantined under a limit since raised, a file quarantined for its content;
then one run with the ``reprocess`` param."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from include.sample_data.generate import good_files
from salesflow.paths import sanitize_name
from salesflow.storage import s3_hook
from tests.support.e2e import (
    analytics,
    expected_analytics,
    expected_marts,
    listing,
    marts,
    put,
    query,
    run_dag,
    upload,
    valid_rows,
)
from tests.support.services import mysql_connection

pytestmark = pytest.mark.e2e


def customers_of(generated, counted: bool = False):
    found = Counter(int(line.split(",")[0]) for line in generated.content.decode().splitlines()[1:])
    return found if counted else set(found)


def execute(settings, sql: str, args: tuple = ()) -> None:
    conn = mysql_connection(settings.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def test_a_reprocessed_file_loads_its_rows_once_and_the_report_says_what_became_of_each_request(
    environment, monkeypatch
):
    settings = environment("reprocess")
    daily, large, other = good_files(rows=1200, files=3, seed=91, start_month=date(2024, 5, 1), months=1)
    daily = dataclasses.replace(daily, name="daily.csv")
    upload(settings, [daily, other, large])
    put(settings, "sales_data/empty.csv", b"")
    # A customer of the daily file (and of no loaded other) is not in the dimension yet: its rows
    # are rejected.
    customer_id = min(customers_of(daily) - customers_of(other))
    customer = query(settings, f"SELECT * FROM customer WHERE customer_id = {customer_id}")[0]
    execute(settings, "DELETE FROM customer WHERE customer_id = %s", (customer_id,))
    missing_rows = customers_of(daily, counted=True)[customer_id]
    # A size limit the large file is over (all three hold 400 rows: it is the largest by a few bytes).
    assert len(large.content) > max(len(daily.content), len(other.content))
    monkeypatch.setenv("SALESFLOW__LIMITS__MAX_FILE_BYTES", str(len(large.content) - 1))
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))

    first = {
        r[0]: r[1:] for r in query(settings, "SELECT object_key, id, status, rows_rejected FROM file_ledger")
    }
    daily_id, _, daily_rejected = first["sales_data/daily.csv"]
    large_id = first[f"sales_data/{large.name}"][0]
    assert (first["sales_data/daily.csv"][1], daily_rejected) == ("LOADED", missing_rows) and missing_rows > 0
    assert first[f"sales_data/{large.name}"][1] == first["sales_data/empty.csv"][1] == "QUARANTINED"

    # The operator adds the customer, raises the limit, and asks for the three files again.
    columns = [c[0] for c in query(settings, "SHOW COLUMNS FROM customer")]
    placeholders = ", ".join(["%s"] * len(columns))
    execute(settings, f"INSERT INTO customer ({', '.join(columns)}) VALUES ({placeholders})", customer)
    monkeypatch.delenv("SALESFLOW__LIMITS__MAX_FILE_BYTES")
    asked = [str(daily_id), f"sales_data/{large.name}", "sales_data/empty.csv", "sales_data/never_sent.csv"]
    when = datetime(2024, 6, 2, tzinfo=UTC)
    run = run_dag(when, run_conf={"reprocess": asked})

    rows = query(
        settings,
        "SELECT l.id, l.object_key, l.status, l.reason, l.rows_loaded, l.rows_rejected, r.origin_id "
        "FROM file_ledger AS l LEFT JOIN file_ledger_reprocess AS r ON r.ledger_id = l.id ORDER BY l.id",
    )
    by_origin = {r[6]: r for r in rows if r[6] is not None}
    daily_again, large_again = by_origin[daily_id], by_origin[large_id]
    empty_id = first["sales_data/empty.csv"][0]
    assert daily_again[2:6] == ("LOADED", None, 400, 0)
    assert large_again[2:6] == ("LOADED", None, 400, 0)
    assert by_origin[empty_id][2:4] == ("QUARANTINED", "empty_file")
    # The earlier outcomes stay as history; the daily file's rows were replaced, not added to.
    earlier = {r[0]: r[2:4] for r in rows}
    assert earlier[daily_id] == ("SUPERSEDED", f"reprocessed_as:{daily_again[0]}")
    assert earlier[large_id][0] == earlier[empty_id][0] == "QUARANTINED"
    assert query(settings, f"SELECT COUNT(*) FROM sales WHERE file_id = {daily_id}") == [(0,)]
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(1200,)]
    assert marts(settings) == expected_marts(valid_rows([daily, other, large]))
    assert analytics(settings) == expected_analytics(settings)
    # The reprocessed bytes went where loaded files go; the file quarantined again stays quarantined.
    keys = set(listing(settings.bucket))
    assert {f"sales_data_processed/{large.name}", "sales_data_processed/daily.csv"} <= keys
    assert f"sales_data_error/{large.name}" not in keys
    assert "sales_data_error/empty.csv" in keys
    assert not [k for k in keys if k.startswith("sales_data/")]

    # The report lists every request with what became of it.
    report = json.loads(
        s3_hook().read_key(
            f"{settings.prefixes.reports}{sanitize_name(run.run_id)}/report.json", settings.bucket
        )
    )
    said = {r["requested"]: (r["ledger_id"], r["earlier_outcome"], r["outcome"]) for r in report["reprocess"]}
    assert said == {
        str(daily_id): (
            daily_id,
            "LOADED",
            f"LOADED as ledger id {daily_again[0]}: 400 rows loaded, 0 rejected "
            "(the rows it loaded before are replaced)",
        ),
        f"sales_data/{large.name}": (
            large_id,
            "QUARANTINED",
            f"LOADED as ledger id {large_again[0]}: 400 rows loaded, 0 rejected",
        ),
        "sales_data/empty.csv": (
            empty_id,
            "QUARANTINED",
            f"QUARANTINED again as ledger id {by_origin[empty_id][0]} (empty_file): nothing changed",
        ),
        "sales_data/never_sent.csv": (
            None,
            None,
            f"not reprocessed: the ledger has no file s3://{settings.bucket}/sales_data/never_sent.csv",
        ),
    }
