"""No file holds the others hostage, and none is left in flight (README "Limits", "Guarantees").

The whole DAG with dag.test() against the real services: extreme values dropped beside good files,
the two hostile files that used to stop their batch, and runs that fail part-way.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from include.sample_data.extremes import MIB, extreme_files, overflowing_sums_file
from include.sample_data.generate import HEADER, good_files
from tests.support.e2e import put, query, run_dag, upload, upload_a_batch_the_job_dies_of

pytestmark = pytest.mark.e2e

HEADER_LINE = ",".join(HEADER)
GOOD_ROW = "17,121,sugar,2024-03-05,2,50.00,3,150.00"


def dag_test(when: datetime):
    """One run of the DAG, whatever its end (run_dag asserts success)."""
    from airflow.dag_processing.dagbag import DagBag

    from salesflow.paths import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"]
    return dag.test(logical_date=when, run_after=when)


def outcomes(settings) -> dict[str, tuple]:
    rows = query(
        settings,
        "SELECT object_key, status, reason, rows_read, rows_loaded, rows_rejected, attempts FROM file_ledger",
    )
    return {key: tuple(rest) for key, *rest in rows}


def rejected_by_reason(settings, key: str) -> Counter:
    rows = query(
        settings,
        "SELECT r.reason_code, r.row_count FROM file_ledger_rejects r JOIN file_ledger l ON l.id = r.ledger_id "
        f"WHERE l.object_key = '{key}'",
    )
    return Counter(dict(rows))


def in_flight(settings) -> list[tuple]:
    return query(
        settings,
        "SELECT object_key, status FROM file_ledger WHERE status IN ('CLAIMED', 'VALIDATED', 'FAILED')",
    )


def check_extremes(settings, seed: int) -> None:
    files = extreme_files(seed)
    upload(settings, files)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))

    ledger = outcomes(settings)
    for generated in files:
        key = f"sales_data/{generated.name}"
        rejected = len(generated.rejected_reasons)
        if generated.expected == "valid":
            assert ledger[key] == ("LOADED", None, generated.rows, generated.rows - rejected, rejected, 1), (
                key
            )
            assert rejected_by_reason(settings, key) == Counter(generated.rejected_reasons), key
        else:
            assert ledger[key][:2] == ("QUARANTINED", generated.expected), key
    assert in_flight(settings) == []
    # What was stored is what was sent: control characters, NUL and 4-byte UTF-8 whole, the JSON just
    # under the limit whole, the sums exact.
    (rows_file,) = [f for f in files if f.name.endswith("_rows.csv")]
    notes = {
        json.loads(v)["note"]
        for (v,) in query(
            settings, "SELECT additional_column FROM sales WHERE additional_column LIKE '{\"note\"%'"
        )
    }
    notes.discard(None)  # the rows without a note
    assert "nul\x00inside" in notes
    assert any(n.startswith("\x01\x02\x03") for n in notes) and any("\U0001f600" in n for n in notes)
    assert max(len(n) for n in notes) > MIB - 200
    (sums_file,) = [f for f in files if f.name.endswith("_big_sums.csv")]
    assert query(
        settings,
        "SELECT total_sales FROM customers_data_mart WHERE customer_id = 1 AND sales_date_month = '2024-03'",
    ) == [(Decimal("9999999999.00") * sums_file.rows + customer_one_elsewhere(settings),)]
    assert query(settings, "SELECT MIN(sales_date) FROM sales") == [(date(1000, 1, 1),)]
    assert rows_file.rows > 0


def customer_one_elsewhere(settings) -> Decimal:
    """Customer 1's March total from the files other than the big sums one (random good rows)."""
    (total,) = query(
        settings,
        "SELECT COALESCE(SUM(s.total_cost), 0) FROM sales s JOIN file_ledger l ON l.id = s.file_id "
        "WHERE s.customer_id = 1 AND s.sales_month = '2024-03' AND l.object_key NOT LIKE '%big_sums%'",
    )[0]
    return total


def test_extreme_values_each_get_their_outcome(environment):
    check_extremes(environment("extremes"), seed=1)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_extreme_values_each_get_their_outcome_more_seeds(environment, seed):
    check_extremes(environment(f"extremes{seed}"), seed=seed)


def test_the_files_that_stopped_their_batch_now_load_beside_the_others(environment):
    """Issue 15's two files: a 1 MiB extra value, and 20,000 valid rows whose sum passed the mart's
    old DECIMAL(16,2). Each loaded with the good file in the same run; the next run is green too."""
    settings = environment("hostage")
    value_of_one_mib = "v" * MIB
    just_under = "w" * 1_000_000
    rows = [f"{GOOD_ROW},{value_of_one_mib}", f"{GOOD_ROW.replace('17', '18', 1)},{just_under}"]
    upload(settings, [overflowing_sums_file("big_sums.csv", 20_000, date(2024, 3, 5))])
    good = good_files(rows=10, files=1, seed=3, start_month=date(2024, 3, 1), months=1)
    upload(settings, good)
    put(settings, "sales_data/one_mib.csv", (HEADER_LINE + ",note\n" + "\n".join(rows) + "\n").encode())
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))

    assert outcomes(settings) == {
        "sales_data/big_sums.csv": ("LOADED", None, 20_000, 20_000, 0, 1),
        f"sales_data/{good[0].name}": ("LOADED", None, 10, 10, 0, 1),
        "sales_data/one_mib.csv": ("LOADED", None, 2, 1, 1, 1),
    }
    assert rejected_by_reason(settings, "sales_data/one_mib.csv") == Counter(
        {"value_too_long:additional_column": 1}
    )
    assert query(
        settings,
        "SELECT customer_id, CHAR_LENGTH(additional_column) FROM sales WHERE additional_column IS NOT NULL",
    ) == [(18, len('{"note":""}') + 1_000_000)]
    big = query(settings, "SELECT total_sales FROM sales_team_data_mart ORDER BY total_sales DESC LIMIT 1")
    assert big[0][0] >= Decimal("199999999980000.00")

    later = good_files(rows=10, files=1, seed=4, start_month=date(2024, 3, 1), months=1)
    upload(settings, later)
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))
    assert outcomes(settings)[f"sales_data/{later[0].name}"] == ("LOADED", None, 10, 10, 0, 1)
    assert in_flight(settings) == []


def test_files_a_failed_run_left_in_flight_are_taken_by_the_next_run(environment, monkeypatch, tmp_path):
    settings = environment("limbo")
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("SALESFLOW_FAULT_DIR", str(faults))
    monkeypatch.setenv("SALESFLOW_RETRY_DELAY_SECONDS", "1")
    files = good_files(rows=300, files=2, seed=5, start_month=date(2024, 3, 1), months=1)
    upload(settings, files)
    (faults / "download_files").write_text("raise always")  # every try of the download fails
    failed = dag_test(datetime(2024, 6, 1, tzinfo=UTC))
    assert failed.state == "failed"
    assert {s for _, s in in_flight(settings)} == {"CLAIMED"}
    (lasts,) = set(query(settings, "SELECT last_error FROM file_ledger"))
    assert lasts[0].startswith("download_files: InjectedFault: fault injected at download_files")

    (faults / "download_files").unlink()
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))
    assert outcomes(settings) == {f"sales_data/{f.name}": ("LOADED", None, 150, 150, 0, 2) for f in files}
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(300,)]


@pytest.mark.heavy  # a job that dies and the narrowing's jobs: make test-heavy
def test_a_file_the_spark_job_dies_of_is_found_and_the_others_load_in_the_same_run(environment, monkeypatch):
    """Issue 21: a value longer than Spark's reader takes (a quoted value over many short lines,
    so no line is over its limit) kills the job for the whole batch. The next attempt narrows the
    batch: that file alone is quarantined with the parser's error, the others load in this run."""
    monkeypatch.setenv("SALESFLOW__LIMITS__MAX_CELL_BYTES", "2000")
    monkeypatch.setenv("SALESFLOW_RETRY_DELAY_SECONDS", "1")
    settings = environment("job_dies")
    good = upload_a_batch_the_job_dies_of(settings)
    run = dag_test(datetime(2024, 6, 1, tzinfo=UTC))

    assert run.state == "success"
    ledger = outcomes(settings)
    status, reason, *_ = ledger.pop("sales_data/long_value.csv")
    assert status == "QUARANTINED"
    assert reason.startswith("load_failed:com.univocity.parsers.common.TextParsingException: Length"), reason
    assert ledger == {f"sales_data/{f.name}": ("LOADED", None, 30, 30, 0, 1) for f in good}
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(90,)]
    assert in_flight(settings) == []
    from salesflow.storage import s3_hook

    assert s3_hook().check_for_key("sales_data_error/long_value.csv", settings.bucket)
