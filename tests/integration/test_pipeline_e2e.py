"""The whole DAG with dag.test() against the real services, asserted file by file and row by row."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from include.sample_data.generate import bad_case_files, good_files
from salesflow.db import connect
from salesflow.ledger import FileLedger
from salesflow.storage import s3_hook
from tests.support.e2e import (
    analytics,
    expected_analytics,
    expected_marts,
    listing,
    marts,
    query,
    run_dag,
    state,
    upload,
    valid_rows,
)
from tests.support.services import mysql_connection

pytestmark = pytest.mark.e2e


def test_full_run_is_right_to_the_row_and_a_rerun_changes_nothing(environment):
    settings = environment("full")
    good = good_files(rows=3000, files=3, seed=7, start_month=date(2024, 1, 1), months=2)
    bad = bad_case_files(seed=7, start_month=date(2024, 1, 1))
    files = {f"sales_data/{g.name}": g for g in good + bad}
    upload(settings, good + bad)
    copy_key = "sales_data/zz_copy_of_first.csv"  # the same bytes as the first good file
    s3_hook().load_bytes(good[0].content, key=copy_key, bucket_name=settings.bucket)

    logical_date = datetime(2024, 6, 1, tzinfo=UTC)
    dag_run = run_dag(logical_date)

    # Ledger: every file version has its outcome and exact counts; read = loaded + rejected.
    with connect(settings) as conn:
        entries = {
            e.object_key: e
            for e in FileLedger(conn, settings.tables).entries_for_run(settings.bucket, dag_run.run_id)
        }
    expected = {}
    for key, generated in files.items():
        data_lines = generated.content.count(b"\n") - 1
        rejected = len(generated.rejected_reasons)
        if generated.expected == "valid":
            expected[key] = ("LOADED", None, data_lines, data_lines - rejected, rejected)
        else:
            expected[key] = ("QUARANTINED", generated.expected, None, None, None)
    first_key = f"sales_data/{good[0].name}"
    expected[copy_key] = ("DUPLICATE", f"duplicate_of:{first_key} (CLAIMED)", None, None, None)
    assert {
        k: (e.status, e.reason, e.rows_read, e.rows_loaded, e.rows_rejected) for k, e in entries.items()
    } == expected
    assert entries[copy_key].duplicate_of == entries[first_key].id

    # MySQL: the facts are the valid rows, each once; the marts equal an independent computation.
    rows = valid_rows(good + bad)
    assert query(settings, "SELECT COUNT(*), SUM(total_cost) FROM sales") == [
        (len(rows), sum(Decimal(r["total_cost"]) for r in rows))
    ]
    per_file = dict(query(settings, "SELECT file_id, COUNT(*) FROM sales GROUP BY file_id"))
    assert per_file == {e.id: e.rows_loaded for e in entries.values() if e.status == "LOADED"}
    extra = entries["sales_data/sales_extra_columns.csv"].id
    assert {
        row[0] for row in query(settings, f"SELECT additional_column FROM sales WHERE file_id = {extra}")
    } <= {
        '{"payment_mode":"UPI","channel":"store"}',
        '{"payment_mode":"cash","channel":"store"}',
        '{"payment_mode":"card","channel":"store"}',
    }
    assert marts(settings) == expected_marts(rows)
    assert analytics(settings) == expected_analytics(settings)

    # S3: loaded files archived, bad ones in the error prefix, rejects, Parquet, the report.
    bad_rows_id = entries["sales_data/sales_bad_rows.csv"].id
    keys = set(listing(settings.bucket))
    loaded_names = [g.name for g in good] + ["sales_bad_rows.csv", "sales_extra_columns.csv"]
    quarantined = [
        "sales_empty.csv",
        "sales_missing_column.csv",
        "sales_summary.xlsx",
        "zz_copy_of_first.csv",
    ]
    months = ["2024-01", "2024-02"]
    report_prefix = "sales_run_reports/" + dag_run.run_id.replace(":", "_").replace("+", "_")
    fact_files = query(settings, "SELECT DISTINCT file_id, sales_month, store_id FROM sales")
    snapshots = [m for (m,) in query(settings, "SELECT DISTINCT snapshot_month FROM customer_segments")]
    compared = [m for (m,) in query(settings, "SELECT DISTINCT month FROM sales_comparison_mart")]
    assert (snapshots, compared) == (months, months)
    assert keys == (
        {f"sales_data_processed/{name}" for name in loaded_names}
        | {f"sales_data_error/{name}{suffix}" for name in quarantined for suffix in ("", ".reason.json")}
        | {f"sales_data_rejects/sales_bad_rows.csv.{bad_rows_id}.rejected.csv"}
        | {
            f"sales_partitioned_data_mart/sales_month={m}/store_id={s}/part-{f:010d}-00000.parquet"
            for f, m, s in fact_files
        }
        | {f"customer_data_mart/sales_date_month={m}/part-00000.parquet" for m in months}
        | {f"sales_data_mart/sales_month={m}/part-00000.parquet" for m in months}
        | {f"sales_comparison_mart/month={m}/part-00000.parquet" for m in months}
        | {f"customer_segments/snapshot_month={m}/part-00000.parquet" for m in months}
        | {f"{report_prefix}/report.json", f"{report_prefix}/report.md"}
    )
    rejects = s3_hook().read_key(
        f"sales_data_rejects/sales_bad_rows.csv.{bad_rows_id}.rejected.csv", settings.bucket
    )
    reasons = Counter(row["reject_reason"] for row in csv.DictReader(io.StringIO(rejects)))
    assert reasons == Counter(next(g for g in bad if g.name == "sales_bad_rows.csv").rejected_reasons)

    # The report's counts match the tables.
    report = json.loads(s3_hook().read_key(f"{report_prefix}/report.json", settings.bucket))
    assert report["totals"]["rows_loaded"] == len(rows)
    assert (
        report["totals"]["rows_read"] == report["totals"]["rows_loaded"] + report["totals"]["rows_rejected"]
    )
    assert (report["totals"]["loaded"], report["totals"]["quarantined"], report["duplicates_skipped"]) == (
        5,
        3,
        1,
    )
    assert report["months_rewritten"]["customers_data_mart"] == months
    assert {k: v for k, v in report["rows_written"].items() if k.endswith("mart")} == {
        "customers_data_mart": len(marts(settings)[0]),
        "sales_team_data_mart": len(marts(settings)[1]),
        "sales_comparison_mart": len(analytics(settings)[0]),
    }
    assert report["unsettled"] == []
    by_key = {f["object_key"]: f for f in report["files"]}
    assert by_key["sales_data/sales_bad_rows.csv"]["rejected_by_reason"] == dict(sorted(reasons.items()))

    # Local: the error folder holds each quarantined file with its reason. The run's files in S3
    # (staged copies, the job's outputs) are gone.
    assert sorted(p.name for p in settings.error_dir.iterdir()) == sorted(
        f"{n}{s}" for n in quarantined for s in ("", ".reason.json")
    )
    assert (settings.error_dir / "sales_missing_column.csv").read_bytes() == files[
        "sales_data/sales_missing_column.csv"
    ].content
    assert not [k for k in listing(settings.bucket) if k.startswith(settings.prefixes.runs)]

    # The same run again changes nothing: tables, ledger, S3. (The sensor is passed over: the
    # source prefix is empty now, so it would skip the run before the claim even looks.)
    before = state(settings)
    again = run_dag(logical_date, mark_success_pattern="^wait_for_files$")
    assert again.run_id == dag_run.run_id
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert (states["claim_files"], states["download_files"], states["remove_run_files"]) == (
        "success",
        "skipped",
        "success",
    )
    assert state(settings) == before


@pytest.mark.heavy  # three whole DAG runs: make test-heavy
def test_a_month_over_two_runs_ends_as_one_run_over_both(environment):
    first = good_files(rows=1200, files=2, seed=21, start_month=date(2024, 5, 1), months=1)
    second = good_files(rows=900, files=1, seed=22, start_month=date(2024, 5, 1), months=1)

    split = environment("split")
    upload(split, first)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    after_first = marts(split)
    upload(split, second)
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))

    together = environment("together")
    upload(together, first + second)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))

    assert marts(split) == marts(together) == expected_marts(valid_rows(first + second))
    assert after_first == expected_marts(valid_rows(first))
    assert (
        query(split, "SELECT COUNT(*) FROM sales")
        == query(together, "SELECT COUNT(*) FROM sales")
        == [(2100,)]
    )


def test_recompute_months_param_rebuilds_marts_from_loaded_facts(environment):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    from salesflow.paths import PROJECT_ROOT

    settings = environment("recompute")
    files = good_files(rows=600, files=1, seed=81, start_month=date(2024, 2, 1), months=1)
    upload(settings, files)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    # A dimension is corrected after the load: the mart still shows the old name.
    customer_id = query(settings, "SELECT customer_id FROM customers_data_mart ORDER BY customer_id LIMIT 1")[
        0
    ][0]
    conn = mysql_connection(settings.database)
    with conn.cursor() as cursor:
        cursor.execute("UPDATE customer SET first_name = 'Corrected' WHERE customer_id = %s", (customer_id,))
    conn.commit()
    conn.close()

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"]
    with pytest.raises(ParamValidationError):
        dag.test(run_conf={"recompute_months": ["2024-13"]})
    # No new file: the run does not wait, recomputes February from the facts, and loads nothing.
    when = datetime(2024, 6, 2, tzinfo=UTC)
    dag_run = dag.test(logical_date=when, run_after=when, run_conf={"recompute_months": ["2024-02"]})
    assert dag_run.state == "success"
    names = query(
        settings, f"SELECT DISTINCT full_name FROM customers_data_mart WHERE customer_id = {customer_id}"
    )
    assert len(names) == 1 and names[0][0].startswith("Corrected ")
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(600,)]
    assert marts(settings)[1] == expected_marts(valid_rows(files))[1]
