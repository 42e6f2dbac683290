"""The DAG with its Spark job on a Spark Connect server (issue 24): the ``salesflow_spark`` connection
of type ``spark_connect`` makes ``transform_and_load`` run the job as a plain Python client of the
session's warm server (``spark_connect``), with the narrowing of a spark-submit job: a file the job
dies of is found by the next attempt, alone, and the others load in the same run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from include.sample_data.generate import HEADER
from include.spark_connect import cached_frames
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
    frames_before = cached_frames(server_pid)
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
    # Every job, the ones that died of the file too, unpersisted its dimension tables: the server's
    # cache outlives its sessions, and kept them job after job.
    assert cached_frames(server_pid) == frames_before


def test_the_server_killed_during_the_job_fails_the_try_as_an_outage_and_the_retry_converges(
    environment, spark_connect, monkeypatch, tmp_path
):
    """The fault matrix's case for the warm Spark: the Connect server's JVM is killed (SIGKILL) while
    a job is on it, and a new one is started on the same port right away. The try fails as an
    outage (no file is blamed, none narrowed, no attempt counted) and the task's retry, on the new
    server, loads every file once."""
    import os
    import signal
    import time
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag

    from include.sample_data.generate import good_files
    from include.spark_connect import SparkConnectServer
    from salesflow.paths import PROJECT_ROOT
    from tests.support.e2e import upload
    from tests.support.faults import AtPause

    point_spark_at_connect(monkeypatch, spark_connect)
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("SALESFLOW_FAULT_DIR", str(faults))
    monkeypatch.setenv("SALESFLOW_RETRY_DELAY_SECONDS", "15")  # the new server is up by then
    settings = environment("connect_killed")
    good = good_files(rows=600, files=3, seed=24, start_month=date(2024, 4, 1), months=1)
    upload(settings, good)
    killed: list[int] = []

    def kill_the_server() -> None:
        pid = spark_connect.running_pid()
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        # Gone once its threads have ended and its sockets with them (its command line goes first).
        while Path(f"/proc/{pid}").exists() or spark_connect.answers(spark_connect.port):
            time.sleep(0.1)

    def start_it_again() -> None:
        SparkConnectServer(spark_connect.folder, port=spark_connect.port, master="local[2]").up()

    # Paused where the job has read its files and is about to compute and load the batch.
    pause = AtPause(faults, "transform_and_load.batch", kill_the_server, after=start_it_again)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    run = (
        DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
        .dags["sales_pipeline"]
        .test(logical_date=when, run_after=when)
    )
    pause.check()

    assert run.state == "success"
    assert killed and spark_connect.running_pid() not in (None, killed[0])
    rows = query(
        settings, "SELECT object_key, status, attempts, last_error FROM file_ledger ORDER BY object_key"
    )
    assert [(key, status, attempts) for key, status, attempts, _ in rows] == [
        (f"sales_data/{f.name}", "LOADED", 1) for f in sorted(good, key=lambda f: f.name)
    ]
    assert all("outage:" in (last_error or "") for *_, last_error in rows), rows
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(600,)]
    assert marts(settings) == expected_marts(valid_rows(good))
