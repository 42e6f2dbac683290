"""The run's Spark job on real files, the real ledger and MySQL, in the test session's Spark."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from include.sample_data.generate import HEADER, GeneratedFile, good_files
from tests.support.e2e import TABLES, analytics, expected_analytics, expected_marts, marts, query, valid_rows
from tests.support.runs import job_rejects, put_files, run_job
from tests.support.services import mysql_connection

HEADER_LINE = ",".join(HEADER)
AS_OF = date(2024, 6, 30)


def ledger_rows(settings) -> dict[str, tuple]:
    rows = query(
        settings, "SELECT object_key, status, rows_read, rows_loaded, rows_rejected, reason FROM file_ledger"
    )
    return {r[0]: r[1:] for r in rows}


def checksums(settings) -> dict[str, int]:
    return {table: query(settings, f"CHECKSUM TABLE {table}")[0][1] for table in TABLES}


def test_the_job_loads_facts_summaries_marts_and_the_ledger(spark, environment):
    settings = environment("job")
    put_files(
        settings,
        {
            "sales_data/good.csv": (HEADER_LINE + "\n1,121,sugar,2024-01-02,2,50.00,3,150.00\n"
                                    "2,122,maida,2024-01-03,6,20.00,2,40.00\n").encode(),
            "sales_data/mixed.csv": (
                b"Store_ID,customer_id,product_name,sales_date,sales_person_id,price,quantity,total_cost,payment_mode\n"
                b"121,1,sugar,2024-02-02,2,50.00,3,150.00,UPI\n"
                b"121,1,sugar,2024-02-02,2,50.00,3,150.50,cash\n"
                b"121,1,sugar,2099-01-02,2,50.00,3,150.00,card\n"
            ),
        },
    )  # fmt: skip
    result = run_job(spark, settings, "run-1", AS_OF)

    assert ledger_rows(settings) == {
        "sales_data/good.csv": ("LOADED", 2, 2, 0, None),
        "sales_data/mixed.csv": ("LOADED", 3, 1, 2, None),
    }
    good, mixed = (f for _, f in sorted((f.object_key, int(i)) for i, f in result.files.items()))
    assert query(
        settings,
        "SELECT file_id, line_number, customer_id, total_cost, additional_column FROM sales ORDER BY 1, 2",
    ) == [
        (good, 2, 1, Decimal("150.00"), None),
        (good, 3, 2, Decimal("40.00"), None),
        (mixed, 2, 1, Decimal("150.00"), '{"payment_mode":"UPI"}'),
    ]
    assert query(
        settings, "SELECT ledger_id, reason_code, row_count FROM file_ledger_rejects ORDER BY 2"
    ) == [
        (mixed, "future_sales_date", 1),
        (mixed, "total_cost_mismatch", 1),
    ]
    assert query(settings, "SELECT id, max_sales_date FROM file_ledger ORDER BY id") == [
        (good, date(2024, 1, 3)),
        (mixed, date(2024, 2, 2)),
    ]
    assert query(
        settings, "SELECT customer_id, sales_date_month, total_sales FROM customers_data_mart ORDER BY 1, 2"
    ) == [
        (1, "2024-01", Decimal("150.00")),
        (1, "2024-02", Decimal("150.00")),
        (2, "2024-01", Decimal("40.00")),
    ]
    assert query(
        settings,
        "SELECT file_id, customer_id, sales_month, total_sales, sales_count FROM customer_month_summary ORDER BY 1, 2",
    ) == [
        (good, 1, "2024-01", Decimal("150.00"), 1),
        (good, 2, "2024-01", Decimal("40.00"), 1),
        (mixed, 1, "2024-02", Decimal("150.00"), 1),
    ]
    rows = job_rejects(settings, "run-1", mixed)
    assert [
        (
            r["line_number"],
            r["reject_reason"],
            r["total_cost"],
            r["payment_mode"] if "payment_mode" in r else r["additional_column"],
        )
        for r in rows
    ] == [
        ("3", "total_cost_mismatch", "150.50", '{"payment_mode":"cash"}'),
        ("4", "future_sales_date", "150.00", '{"payment_mode":"card"}'),
    ]
    assert result.months_written["customers_data_mart"] == ["2024-01", "2024-02"]
    assert sorted(result.rows_written) == sorted(
        ["sales", "customers_data_mart", "sales_team_data_mart", "sales_comparison_mart", "customer_segments"]
    )


def test_a_file_whose_data_breaks_the_load_is_set_aside_and_the_rest_loads(spark, environment):
    """A dimension outgrew the fact's column (a customer name of 250 characters): LOAD DATA would cut
    it. The batch fails, is split, and only the file with that customer is quarantined."""
    settings = environment("isolation")
    conn = mysql_connection(settings.database)
    with conn.cursor() as cursor:
        cursor.execute("ALTER TABLE customer MODIFY first_name VARCHAR(300) NOT NULL")
        cursor.execute("UPDATE customer SET first_name = %s WHERE customer_id = 3", ("N" * 250,))
    conn.commit()
    conn.close()
    files = {
        f"sales_data/f{n}.csv": (HEADER_LINE + f"\n{n},121,sugar,2024-01-0{n},2,50.00,1,50.00\n").encode()
        for n in (1, 2, 3, 4, 5)
    }
    put_files(settings, files)
    result = run_job(spark, settings, "run-1", AS_OF)

    ledger = ledger_rows(settings)
    assert ledger.pop("sales_data/f3.csv")[:2] == ("QUARANTINED", 1)
    assert ledger == {f"sales_data/f{n}.csv": ("LOADED", 1, 1, 0, None) for n in (1, 2, 4, 5)}
    (reason,) = query(settings, "SELECT reason FROM file_ledger WHERE object_key = 'sales_data/f3.csv'")[0]
    assert reason.startswith("load_failed:LoadWarningsError: LOAD DATA") and "customer_full_name" in reason
    assert query(settings, "SELECT customer_id FROM sales ORDER BY 1") == [(1,), (2,), (4,), (5,)]
    assert query(settings, "SELECT COUNT(*) FROM customers_data_mart") == [(4,)]
    assert {f.object_key: f.status for f in result.files.values()}["sales_data/f3.csv"] == "QUARANTINED"


def test_months_to_recompute_are_rebuilt_when_every_file_of_the_run_is_set_aside(spark, environment):
    """Issue 26, point 1: the months to recompute travel with the first batch; when that batch (the
    run's only file) is set aside, they are rebuilt all the same, never dropped with a green task."""
    settings = environment("recompute_alone")
    put_files(
        settings,
        {"sales_data/f1.csv": (HEADER_LINE + "\n1,121,sugar,2024-01-05,2,50.00,2,100.00\n").encode()},
    )
    run_job(spark, settings, "run-1", AS_OF)
    conn = mysql_connection(settings.database)
    with conn.cursor() as cursor:  # a mart row gone wrong: what recompute_months is for
        cursor.execute("UPDATE customers_data_mart SET total_sales = 1 WHERE customer_id = 1")
        cursor.execute("ALTER TABLE customer MODIFY first_name VARCHAR(300) NOT NULL")
        cursor.execute("UPDATE customer SET first_name = %s WHERE customer_id = 3", ("N" * 250,))
    conn.commit()
    conn.close()
    put_files(
        settings, {"sales_data/f3.csv": (HEADER_LINE + "\n3,121,sugar,2024-01-06,2,50.00,1,50.00\n").encode()}
    )
    result = run_job(spark, settings, "run-2", AS_OF, recompute=["2024-01"])

    assert ledger_rows(settings)["sales_data/f3.csv"][0] == "QUARANTINED"
    assert query(
        settings,
        "SELECT total_sales FROM customers_data_mart WHERE customer_id = 1 AND sales_date_month = '2024-01'",
    ) == [(Decimal("100.00"),)]
    assert result.months_written["customers_data_mart"] == ["2024-01"]


def random_runs(seed: int) -> list[dict[str, bytes]]:
    """A seeded sequence of runs: batches spread over months, a month split over runs, a corrected
    file (same key, new bytes), a re-sent copy (same bytes, new key) and a bad file."""
    rng = random.Random(seed)
    months = [date(2023, 11, 1), date(2024, 1, 1), date(2024, 2, 1), date(2024, 12, 1), date(2025, 2, 1)]
    runs: list[dict[str, bytes]] = []
    sent: dict[str, bytes] = {}
    for index in range(5):
        batch = {}
        for month in rng.sample(months, k=2):
            (generated,) = good_files(
                rows=rng.randrange(40, 120), files=1, seed=rng.randrange(10**6), start_month=month, months=1
            )
            batch[f"sales_data/{index}_{generated.name}"] = generated.content
        if index == 2:  # a corrected file: a key sent earlier, new bytes
            key = sorted(sent)[0]
            (generated,) = good_files(rows=30, files=1, seed=99, start_month=months[1], months=1)
            batch[key] = generated.content
        if index == 3:  # a re-sent copy under another name, and a file that is quarantined
            batch["sales_data/copy.csv"] = sent[sorted(sent)[1]]
            batch["sales_data/bad.csv"] = b"customer_id,store_id\n1,121\n"
        sent.update(batch)
        runs.append(batch)
    return runs


def final_rows(runs: list[dict[str, bytes]]) -> list[dict[str, str]]:
    """The rows that must be loaded once every run is in, read with Python's csv module: each key's
    last bytes sent (a correction replaces a version whatever the order), the same bytes once (a
    re-sent copy is a duplicate), no file without the mandatory columns."""
    last: dict[str, bytes] = {}
    for batch in runs:
        last.update(batch)
    contents = {content for key, content in last.items() if key != "sales_data/bad.csv"}
    return valid_rows([GeneratedFile(f"{n}.csv", content) for n, content in enumerate(sorted(contents))])


@pytest.mark.parametrize("order", ["as_sent", "reversed"])
def test_runs_in_any_order_end_as_the_plain_python_sums_of_the_final_files(spark, environment, order):
    runs = random_runs(seed=2026)
    runs = runs if order == "as_sent" else runs[::-1]
    settings = environment(f"incremental_{order}")
    for index, batch in enumerate(runs):
        put_files(settings, batch)
        run_job(spark, settings, f"run-{index}", date(2025, 3, 31))
    assert query(settings, "SELECT status, COUNT(*) FROM file_ledger GROUP BY status ORDER BY 1") == [
        ("DUPLICATE", 1),
        ("LOADED", 10),
        ("QUARANTINED", 1),
        ("SUPERSEDED", 1),
    ]
    rows = final_rows(runs)
    assert query(settings, "SELECT COUNT(*), SUM(total_cost) FROM sales") == [
        (len(rows), sum(Decimal(r["total_cost"]) for r in rows))
    ]
    assert marts(settings) == expected_marts(rows)
    assert analytics(settings) == expected_analytics(settings)
    assert all(analytics(settings)), "no comparison or segment row: the analytics were not exercised"
    if order == "as_sent":
        # A rebuild of every month from the loaded facts gives the same tables back, also where a
        # mart and a summary row were damaged (a rebuild that did nothing would leave them so).
        incremental = checksums(settings)
        conn = mysql_connection(settings.database)
        with conn.cursor() as cursor:
            cursor.execute("UPDATE customers_data_mart SET total_sales = total_sales + 1 LIMIT 1")
            cursor.execute("UPDATE sales_team_month_summary SET total_sales = 0 LIMIT 1")
        conn.commit()
        conn.close()
        assert checksums(settings) != incremental
        months = [m for (m,) in query(settings, "SELECT DISTINCT sales_month FROM sales ORDER BY 1")]
        assert len(months) == 5
        run_job(spark, settings, "rebuild", date(2025, 3, 31), recompute=months)
        assert checksums(settings) == incremental
        assert marts(settings) == expected_marts(rows)
