"""The promises of the README's "Guarantees" section, each tried hard against the real services."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from include.sample_data.generate import HEADER, good_files
from salesflow.paths import PROJECT_ROOT
from salesflow.storage import s3_hook
from tests.support.e2e import (
    expected_marts,
    ledger,
    listing,
    marts,
    put,
    query,
    rejects_of,
    run_dag,
    upload,
    valid_rows,
)

pytestmark = pytest.mark.e2e

GOOD_ROW = "17,121,sugar,2024-03-05,2,50.00,3,150.00"
HEADER_LINE = ",".join(HEADER)


DAG_TEST_SCRIPT = """
import sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["sales_pipeline"]
when = datetime.fromisoformat(sys.argv[2])
run = dag.test(logical_date=when, run_after=when)
sys.exit(0 if run.state == "success" else 1)
"""


def start_dag_test(when: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """dag.test() in its own process, everything it prints going to `log`."""
    return subprocess.Popen(
        [sys.executable, "-c", DAG_TEST_SCRIPT, str(PROJECT_ROOT / "dags"), when],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_hostile_and_broken_input_each_gets_its_outcome(environment):
    settings = environment("hostile")
    sql = "'; DROP TABLE sales; --"
    rows = "\n".join(
        [
            GOOD_ROW,
            "17,121,sugar,2024-03-05,2,50.00,3",  # too few fields
            "17,121,sugar,2024-03-05,2,50.00,3,150.00,extra",  # too many fields
            "99999999999,121,sugar,2024-03-05,2,50.00,3,150.00",  # int overflow
            "17,121,sugar,2024-03-05,2,99999999999.00,1,99999999999.00",  # decimal overflow
            "17,121,sugar,2024-03-05,2,inf,3,150.00",
            "17,121,sugar,2024-03-05,2,-1.00,3,-3.00",
            "17,121,sugar,2023-02-30,2,50.00,3,150.00",
            "17,121,sugar,05/03/2024,2,50.00,3,150.00",
            f'17,121,"{sql}",2024-03-05,2,50.00,3,150.00',
            '17,121,"sugar ""quoted"", with comma\nand newline",2024-03-05,2,50.00,3,150.00',
            "17,121," + "x" * (10 * 1024 * 1024) + ",2024-03-05,2,50.00,3,150.00",  # a 10 MB line
        ]
    )
    cases = {
        "sales_data/mixed rows.csv": (HEADER_LINE + "\n" + rows + "\n").encode(),
        "sales_data/bom_crlf.csv": ("\ufeff" + HEADER_LINE + "\r\n" + GOOD_ROW + "\r\n").encode(),
        "sales_data/header_only.csv": (HEADER_LINE + "\n").encode(),
        "sales_data/zero.csv": b"",
        "sales_data/dup_columns.csv": (HEADER_LINE + ",price\n" + GOOD_ROW + ",1\n").encode(),
        "sales_data/blank_column.csv": (HEADER_LINE + ",,x\n" + GOOD_ROW + ",,1\n").encode(),
        "sales_data/wide.csv": (",".join([HEADER_LINE, *[f"c{i}" for i in range(10_000)]]) + "\n").encode(),
        "sales_data/gzipped.csv": gzip.compress((HEADER_LINE + "\n" + GOOD_ROW + "\n").encode()),
        "sales_data/latin1.csv": (HEADER_LINE + "\n17,121,café,2024-03-05,2,50.00,3,150.00\n").encode(
            "latin-1"
        ),
        "sales_data/../../escape.csv": (HEADER_LINE + "\n" + GOOD_ROW + "\n").encode(),
        "sales_data//leading_slash.csv": (
            HEADER_LINE + "\n" + GOOD_ROW.replace("17", "20", 1) + "\n"
        ).encode(),
        f"sales_data/we ird;'\"name ünï {sql}.csv": (
            HEADER_LINE + "\n" + GOOD_ROW.replace("17", "18", 1) + "\n"
        ).encode(),
        "sales_data/" + "k" * 980 + ".csv": (
            HEADER_LINE + "\n" + GOOD_ROW.replace("17", "19", 1) + "\n"
        ).encode(),
    }
    for key, content in cases.items():
        put(settings, key, content)

    run_dag(datetime(2024, 6, 1, tzinfo=UTC))

    weird_key = f"sales_data/we ird;'\"name ünï {sql}.csv"
    long_key = "sales_data/" + "k" * 980 + ".csv"
    assert ledger(settings) == {
        "sales_data/mixed rows.csv": ("LOADED", None, 12, 1, 11),
        "sales_data/bom_crlf.csv": ("LOADED", None, 1, 1, 0),
        "sales_data/header_only.csv": ("LOADED", None, 0, 0, 0),
        "sales_data/zero.csv": ("QUARANTINED", "empty_file", None, None, None),
        "sales_data/dup_columns.csv": ("QUARANTINED", "duplicate_columns:price", None, None, None),
        "sales_data/blank_column.csv": ("QUARANTINED", "blank_column_name:position_9", None, None, None),
        "sales_data/wide.csv": ("QUARANTINED", "too_many_columns:10008", None, None, None),
        "sales_data/gzipped.csv": ("QUARANTINED", "binary_content", None, None, None),
        "sales_data/latin1.csv": ("QUARANTINED", "bad_encoding:not_utf8", None, None, None),
        "sales_data/../../escape.csv": ("QUARANTINED", "unsafe_key", None, None, None),
        "sales_data//leading_slash.csv": ("QUARANTINED", "unsafe_key", None, None, None),
        weird_key: ("LOADED", None, 1, 1, 0),
        long_key: ("LOADED", None, 1, 1, 0),
    }
    # Line numbers count records from the header (line 1): the quoted value with a newline is one
    # record, so the 10 MB row is record 13.
    reasons = {
        (r["line_number"], r["reject_reason"]) for r in rejects_of(settings, "sales_data/mixed rows.csv")
    }
    assert reasons == {
        ("3", "malformed_row"),
        ("4", "malformed_row"),
        ("5", "invalid_type:customer_id"),
        ("6", "invalid_type:price"),
        ("7", "invalid_type:price"),
        ("8", "negative_price"),
        ("9", "invalid_type:sales_date"),
        ("10", "invalid_type:sales_date"),
        ("11", "unknown_product"),
        ("12", "unknown_product"),
        ("13", "unknown_product"),
    }
    assert query(settings, "SELECT customer_id FROM sales ORDER BY customer_id") == [
        (17,),
        (17,),
        (18,),
        (19,),
    ]
    assert query(settings, "SHOW TABLES LIKE 'sales'") == [("sales",)]
    # Nothing escaped the error folder; the escaping key is kept under its ledger id.
    error_files = {
        p.relative_to(settings.error_dir).as_posix() for p in settings.error_dir.rglob("*") if p.is_file()
    }
    assert all(not name.startswith("..") for name in error_files)
    assert len([n for n in error_files if n.startswith("unsafe_keys/")]) == 4
    assert not (settings.error_dir.parent / "escape.csv").exists()
    keys = set(listing(settings.bucket))
    assert "sales_data_error/../../escape.csv" in keys and f"sales_data_processed/{weird_key[11:]}" in keys


def test_a_run_that_died_between_load_and_archive_converges(environment):
    settings = environment("died")
    files = good_files(rows=600, files=2, seed=41, start_month=date(2024, 3, 1), months=1)
    upload(settings, files)
    # The archive and everything after it never ran (as if the worker died after the load).
    run_dag(
        datetime(2024, 6, 1, tzinfo=UTC),
        mark_success_pattern="^(archive_files|run_report|remove_run_files)$",
    )
    assert {k for k in listing(settings.bucket) if k.startswith("sales_data/")} == {
        f"sales_data/{f.name}" for f in files
    }
    assert set(ledger(settings).values()) == {("LOADED", None, 300, 300, 0)}

    new = good_files(rows=300, files=1, seed=42, start_month=date(2024, 3, 1), months=1)
    upload(settings, new)
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))
    keys = set(listing(settings.bucket))
    assert not {k for k in keys if k.startswith("sales_data/")}
    assert {k for k in keys if k.startswith("sales_data_processed/")} == {
        f"sales_data_processed/{f.name}" for f in files + new
    }
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(900,)]
    assert marts(settings) == expected_marts(valid_rows(files + new))


@pytest.mark.heavy  # two whole DAG runs in processes of their own: make test-heavy
def test_two_runs_at_once_each_load_their_own_claims_and_leave_the_others_alone(environment, tmp_path):
    """Two runs of one Airflow (one metadata DB) overlap: the first holds its claimed files while
    the second starts; the second leaves them alone (their run is running) and takes only the new
    ones. Each file is loaded once, by the run that claimed it."""
    settings = environment("together")
    first = good_files(rows=1000, files=4, seed=51, start_month=date(2024, 4, 1), months=2)
    second = [
        dataclasses.replace(f, name=f"later_{f.name}")
        for f in good_files(rows=1000, files=4, seed=52, start_month=date(2024, 5, 1), months=1)
    ]
    upload(settings, first)
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "claim_files").write_text("pause")  # the first run waits right after its claim
    holding = start_dag_test(
        "2030-07-01T00:00:00+00:00",
        {**os.environ, "SALESFLOW_FAULT_DIR": str(faults)},
        tmp_path / "run-1.log",
    )
    deadline = time.monotonic() + 300
    while not (faults / "claim_files.reached").exists():
        assert holding.poll() is None and time.monotonic() < deadline, (tmp_path / "run-1.log").read_text()[
            -3000:
        ]
        time.sleep(0.2)
    upload(settings, second)
    later = start_dag_test("2030-07-02T00:00:00+00:00", dict(os.environ), tmp_path / "run-2.log")
    assert later.wait(timeout=900) == 0, (tmp_path / "run-2.log").read_text()[-3000:]
    (faults / "claim_files.release").touch()
    assert holding.wait(timeout=900) == 0, (tmp_path / "run-1.log").read_text()[-3000:]

    keys_by_run = {}
    for run_id, key in query(settings, "SELECT run_id, object_key FROM file_ledger"):
        keys_by_run.setdefault(run_id, set()).add(key)
    assert keys_by_run == {
        "manual__2030-07-01T00:00:00+00:00": {f"sales_data/{f.name}" for f in first},
        "manual__2030-07-02T00:00:00+00:00": {f"sales_data/{f.name}" for f in second},
    }
    assert all(status == ("LOADED", None, 250, 250, 0) for status in ledger(settings).values())
    files = first + second
    assert query(settings, "SELECT COUNT(*), COUNT(DISTINCT file_id, line_number) FROM sales") == [
        (2000, 2000)
    ]
    assert query(settings, "SELECT SUM(total_cost) FROM sales") == [
        (sum(Decimal(r["total_cost"]) for r in valid_rows(files)),)
    ]
    assert marts(settings) == expected_marts(valid_rows(files))


def test_no_secret_reaches_a_log_a_report_or_an_output(environment, monkeypatch, tmp_path):
    """The run uses a MySQL user with only the rights of the README's GRANTs and a password; the
    Fernet key is set. Neither they nor the S3 secret appear in anything the run wrote."""
    import json
    import secrets

    from cryptography.fernet import Fernet

    from tests.support.services import MySqlAddress, mysql_connection

    settings = environment("secrets")
    user, password = f"sf_app_{secrets.token_hex(3)}", "Pw-" + secrets.token_hex(12)
    fernet_key = Fernet.generate_key().decode()
    conn = mysql_connection()
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{settings.database}`.* TO '{user}'@'%'")
    conn.close()
    monkeypatch.setenv("SALESFLOW_FERNET_KEY", fernet_key)
    server = MySqlAddress.from_environment()
    session_connection = os.environ["AIRFLOW_CONN_SALESFLOW_MYSQL"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_MYSQL",
        json.dumps({"conn_type": "mysql", "host": server.host, "port": server.port, "login": user,
                    "password": password, "extra": {"local_infile": True}}),
    )  # fmt: skip
    try:
        files = good_files(rows=500, files=2, seed=61, start_month=date(2024, 2, 1), months=1)
        upload(settings, files)
        log = tmp_path / "run.log"
        assert start_dag_test("2024-06-01T00:00:00+00:00", dict(os.environ), log).wait(timeout=900) == 0
        assert query(settings, "SELECT COUNT(*) FROM sales") == [(500,)]  # the rights were enough

        s3_secret = json.loads(os.environ["AIRFLOW_CONN_SALESFLOW_S3"])["password"]
        texts = {"everything the run printed": log.read_text(errors="replace")}
        for root in (Path(os.environ["AIRFLOW_HOME"]) / "logs", settings.error_dir):
            for path in root.rglob("*") if root.exists() else []:
                if path.is_file():
                    texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
        hook = s3_hook()
        for item in hook.iter_file_metadata(prefix="", bucket_name=settings.bucket):
            if not item["Key"].endswith(".parquet"):
                texts[item["Key"]] = hook.read_key(item["Key"], settings.bucket)
        assert "salesflow.transform" in texts["everything the run printed"]  # the job logs were captured
        for secret in (password, fernet_key, s3_secret):
            leaks = [where for where, text in texts.items() if secret in text]
            assert leaks == [], f"a secret appears in {leaks}"
    finally:
        # The session's connection again: the fixture's teardown drops the test's database.
        monkeypatch.setenv("AIRFLOW_CONN_SALESFLOW_MYSQL", session_connection)
        conn = mysql_connection()
        with conn.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


def test_a_corrected_file_replaces_its_earlier_version(environment):
    settings = environment("corrected")
    (first,) = good_files(rows=400, files=1, seed=71, start_month=date(2024, 5, 1), months=1)
    (other,) = good_files(rows=200, files=1, seed=72, start_month=date(2024, 5, 1), months=1)
    key = "sales_data/daily_sales.csv"
    put(settings, key, first.content)
    put(settings, "sales_data/other.csv", other.content)
    run_dag(datetime(2024, 7, 1, tzinfo=UTC))
    # The corrected file: same key, new bytes, rows in May (replacing) and in June (new).
    (corrected,) = good_files(rows=300, files=1, seed=73, start_month=date(2024, 5, 1), months=2)
    put(settings, key, corrected.content)
    run_dag(datetime(2024, 7, 2, tzinfo=UTC))

    statuses = query(settings, "SELECT object_key, status, reason FROM file_ledger ORDER BY id")
    (old_id,), (new_id,) = query(
        settings, f"SELECT id FROM file_ledger WHERE object_key = '{key}' ORDER BY id"
    )
    assert statuses == [
        (key, "SUPERSEDED", f"superseded_by:{new_id}"),
        ("sales_data/other.csv", "LOADED", None),
        (key, "LOADED", None),
    ]
    assert query(settings, f"SELECT COUNT(*) FROM sales WHERE file_id = {old_id}") == [(0,)]
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(500,)]
    assert marts(settings) == expected_marts(valid_rows([other, corrected]))
    # Both versions' bytes are kept: the new one under its key, the earlier one beside it.
    hook = s3_hook()
    assert (
        hook.read_key("sales_data_processed/daily_sales.csv", settings.bucket).encode() == corrected.content
    )
    kept = f"sales_data_processed/daily_sales.csv.superseded-{old_id}"
    assert hook.read_key(kept, settings.bucket).encode() == first.content
    # The superseded version's fact files are gone from the Parquet, the new version's are there.
    parquet = [k for k in listing(settings.bucket) if k.startswith("sales_partitioned_data_mart/")]
    assert not [k for k in parquet if f"/part-{old_id:010d}-" in k]
    assert {k.split("/")[1] for k in parquet if f"/part-{new_id:010d}-" in k} == {
        "sales_month=2024-05",
        "sales_month=2024-06",
    }


def test_a_copy_sent_again_of_a_quarantined_file_is_its_duplicate_and_leaves_the_landing_prefix(
    environment,
):
    """Issue 26, point 5: the same bytes under the same key, sent again after the first copy was
    quarantined, get an outcome of their own instead of waiting in the landing prefix for ever."""
    settings = environment("resent")
    put(settings, "sales_data/empty.csv", b"")
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    ((first_id, first_status, first_reason),) = query(settings, "SELECT id, status, reason FROM file_ledger")
    assert first_status == "QUARANTINED"
    time.sleep(1.1)  # a later LastModified (S3 keeps whole seconds)
    put(settings, "sales_data/empty.csv", b"")
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))
    rows = query(settings, "SELECT id, status, reason, duplicate_of FROM file_ledger ORDER BY id")
    assert rows == [
        (first_id, "QUARANTINED", first_reason, None),
        (rows[1][0], "DUPLICATE", "duplicate_of:sales_data/empty.csv (QUARANTINED)", first_id),
    ]
    keys = set(listing(settings.bucket))
    assert not {k for k in keys if k.startswith("sales_data/")}
    assert "sales_data_error/empty.csv" in keys


@pytest.mark.heavy  # two whole DAG runs: make test-heavy
def test_an_old_run_published_again_never_moves_a_month_backwards(environment):
    """Issue 26, point 4: a run whose publish never ran, cleared days later after a newer run
    rewrote its months and superseded its file, publishes nothing over the newer run's Parquet."""
    from salesflow.steps.publish import publish_outputs

    settings = environment("backwards")
    (first,) = good_files(rows=200, files=1, seed=71, start_month=date(2024, 3, 1), months=1)
    corrected = good_files(rows=300, files=1, seed=72, start_month=date(2024, 3, 1), months=1)[0]
    upload(settings, [first])
    old_run = run_dag(
        datetime(2024, 6, 1, tzinfo=UTC), mark_success_pattern="^(publish_outputs|remove_run_files)$"
    )
    put(settings, f"sales_data/{first.name}", corrected.content)  # same key, new bytes
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))

    def published() -> dict[str, str]:
        outputs = [
            settings.prefixes.partitioned_mart,
            settings.prefixes.customers_data_mart,
            settings.prefixes.sales_team_data_mart,
            settings.prefixes.comparison_mart,
            settings.prefixes.customer_segments,
        ]
        items = s3_hook().iter_file_metadata(prefix="", bucket_name=settings.bucket)
        return {i["Key"]: i["ETag"] for i in items if i["Key"].startswith(tuple(outputs))}

    newer = published()
    assert any("sales_month=2024-03/" in key for key in newer)
    assert publish_outputs(settings, old_run.run_id) == {
        "facts": 0,
        "customers_data_mart": 0,
        "sales_team_data_mart": 0,
        "sales_comparison": 0,
        "customer_segments": 0,
        "rejects": 0,
    }
    assert published() == newer
