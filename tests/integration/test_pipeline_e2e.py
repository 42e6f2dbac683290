"""The whole DAG with dag.test() against the real services, asserted file by file and row by row."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from include.sample_data.generate import bad_case_files, good_files
from salesflow.db import connect
from salesflow.ledger import FileLedger
from salesflow.storage import s3_hook

pytestmark = pytest.mark.e2e


@pytest.fixture
def isolated(monkeypatch, tmp_path, s3_endpoint, mysql_database, airflow_db):
    """A bucket and local folders of this test's own."""
    bucket = f"sf-e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SALESFLOW__STORAGE__BUCKET", bucket)
    monkeypatch.setenv("SALESFLOW__LOCAL__WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("SALESFLOW__LOCAL__ERROR_DIR", str(tmp_path / "error"))
    s3_hook().create_bucket(bucket_name=bucket)
    from salesflow.config import load_settings

    return load_settings()


def run_dag(logical_date: datetime):
    from airflow.dag_processing.dagbag import DagBag

    from salesflow.paths import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("sales_pipeline")
    return dag.test(logical_date=logical_date)


def listing(bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3_hook().iter_file_metadata(prefix="", bucket_name=bucket))


def test_first_half_claims_validates_and_quarantines(isolated):
    settings = isolated
    hook = s3_hook()
    good = good_files(rows=300, files=2, seed=7, start_month=date(2024, 1, 1), months=2)
    bad = bad_case_files(seed=7, start_month=date(2024, 1, 1))
    files = {f"sales_data/{g.name}": g for g in good + bad}
    for key, generated in files.items():
        hook.load_bytes(generated.content, key=key, bucket_name=settings.bucket)
    copy_key = "sales_data/zz_copy_of_first.csv"  # the same bytes as the first good file
    hook.load_bytes(good[0].content, key=copy_key, bucket_name=settings.bucket)

    dag_run = run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    assert dag_run.state == "success"

    # Ledger: every file version has its outcome and exact counts.
    with connect(settings) as conn:
        entries = {
            e.object_key: e
            for e in FileLedger(conn, settings.tables).entries_for_run(settings.bucket, dag_run.run_id)
        }
    expected = {}
    for key, generated in files.items():
        data_lines = generated.content.count(b"\n") - 1
        if generated.expected == "valid":
            expected[key] = ("VALIDATED", None, data_lines, len(generated.rejected_reasons))
        else:
            expected[key] = ("QUARANTINED", generated.expected, None, None)
    first_key = f"sales_data/{good[0].name}"
    expected[copy_key] = ("DUPLICATE", f"duplicate_of:{first_key} (CLAIMED)", None, None)
    assert {k: (e.status, e.reason, e.rows_read, e.rows_rejected) for k, e in entries.items()} == expected
    assert entries[copy_key].duplicate_of == entries[first_key].id
    assert sum(e.rows_read or 0 for e in entries.values()) == 300 + 6 + 4 + 18

    # S3: bad files moved to the error prefix with reason files; rejected rows in the rejects prefix.
    bad_rows_id = entries["sales_data/sales_bad_rows.csv"].id
    assert listing(settings.bucket) == sorted(
        [f"sales_data/{g.name}" for g in good]
        + ["sales_data/sales_bad_rows.csv", "sales_data/sales_extra_columns.csv", copy_key]
        + [
            f"sales_data_error/{name}{suffix}"
            for name in ("sales_empty.csv", "sales_missing_column.csv", "sales_summary.xlsx")
            for suffix in ("", ".reason.json")
        ]
        + [f"sales_data_rejects/sales_bad_rows.csv.{bad_rows_id}.rejected.csv"]
    )
    rejects = hook.read_key(
        f"sales_data_rejects/sales_bad_rows.csv.{bad_rows_id}.rejected.csv", settings.bucket
    )
    reasons = Counter(row["reject_reason"] for row in csv.DictReader(io.StringIO(rejects)))
    bad_rows_file = next(g for g in bad if g.name == "sales_bad_rows.csv")
    assert reasons == Counter(bad_rows_file.rejected_reasons)

    # Local: the error folder holds each quarantined file, byte for byte, with its reason file.
    error_files = sorted(p.name for p in settings.error_dir.iterdir())
    assert error_files == sorted(
        f"{n}{s}"
        for n in ("sales_empty.csv", "sales_missing_column.csv", "sales_summary.xlsx")
        for s in ("", ".reason.json")
    )
    assert (settings.error_dir / "sales_missing_column.csv").read_bytes() == files[
        "sales_data/sales_missing_column.csv"
    ].content
    reason = json.loads((settings.error_dir / "sales_missing_column.csv.reason.json").read_text())
    assert reason["reason"] == "missing_columns:total_cost"
