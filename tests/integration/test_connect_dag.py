"""The DAG with its Spark job on a Spark Connect server (issue 24): the ``salesflow_spark`` connection
of type ``spark_connect`` makes ``transform_and_load`` run the job as a plain Python client of the
session's warm server (``spark_connect``), with the narrowing of a spark-submit job: a file the job
dies of is found by the next attempt, alone, and the others load in the same run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from include.sample_data.generate import HEADER
from tests.support.e2e import (
    expected_marts,
    marts,
    query,
    upload_a_batch_the_job_dies_of,
    valid_rows,
)

# Heavy: a whole DAG with a job that dies and its narrowing, beside the comparison of the two ways
# to run the job that test_connect.py makes in `make test`.
pytestmark = [pytest.mark.heavy, pytest.mark.e2e]

HEADER_LINE = ",".join(HEADER)


def point_spark_at_connect(monkeypatch, server) -> None:
    """The salesflow_spark connection as the provider's ``spark_connect`` type, its token the password."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_SPARK",
        json.dumps(
            {
                "conn_type": "spark_connect",
                "host": "localhost",
                "port": server.port,
                "password": server.password,
            }
        ),
    )


def test_a_file_the_job_dies_of_on_the_connect_server_is_found_and_the_others_load(
    environment, spark_connect, monkeypatch
):
    """Issue 21's hostile file (a quoted value longer than Spark's reader takes) kills the whole job;
    the retry narrows the batch with jobs on the same server, which outlives every one of them."""
    from airflow.dag_processing.dagbag import DagBag

    from salesflow.paths import PROJECT_ROOT

    point_spark_at_connect(monkeypatch, spark_connect)
    monkeypatch.setenv("SALESFLOW__LIMITS__MAX_CELL_BYTES", "2000")
    monkeypatch.setenv("SALESFLOW_RETRY_DELAY_SECONDS", "1")
    settings = environment("connect_dag")
    good = upload_a_batch_the_job_dies_of(settings)
    server_pid = spark_connect.running_pid()
    when = datetime(2024, 6, 1, tzinfo=UTC)
    run = (
        DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
        .dags["sales_pipeline"]
        .test(logical_date=when, run_after=when)
    )

    assert run.state == "success"
    ledger = {
        key: (status, reason, rows_read, attempts)
        for key, status, reason, rows_read, attempts in query(
            settings, "SELECT object_key, status, reason, rows_read, attempts FROM file_ledger"
        )
    }
    status, reason, _, _ = ledger.pop("sales_data/long_value.csv")
    assert status == "QUARANTINED"
    assert reason.startswith("load_failed:com.univocity.parsers.common.TextParsingException: Length"), reason
    assert ledger == {f"sales_data/{f.name}": ("LOADED", None, 30, 1) for f in good}
    assert marts(settings) == expected_marts(valid_rows(good))
    assert spark_connect.running_pid() == server_pid
