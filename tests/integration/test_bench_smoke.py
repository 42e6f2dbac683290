"""The benchmark script runs end to end at a tiny size, in both modes, and writes its JSON.

No timing thresholds here: the numbers are only checked to be present and sane. Heavy (``make
test-heavy``): each case runs the whole DAG through ``airflow dags test`` in processes of its own. The
benchmark starts its own moto server and Spark Connect server (free ports), its own scratch databases
(``sf_bench_<its pid>_<case>``) and its own Airflow home under tmp_path, so it never touches the
session's services. The end-to-end mode runs its jobs on the Connect server (the default), the
history mode through spark-submit: both ways stay measurable. Nothing here names a
task: the expected tasks, their states and which of them run Spark come from the DAG itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from salesflow.paths import PROJECT_ROOT
from tests.support.services import mysql_connection

pytestmark = [pytest.mark.heavy, pytest.mark.e2e]

ROWS, FILES, LATENCY_ROWS = 2000, 2, 300
CONNECT_LINE = "the job runs as a client of the Spark Connect server"
HISTORY_FACTS, HISTORY_ROWS = 2000, 200


@dataclass(frozen=True)
class DagShape:
    task_ids: set[str]
    skipped: set[str]  # the tasks a run that goes well skips: those that run only when one failed
    spark: set[str]  # the tasks whose operator submits a Spark job


@pytest.fixture(scope="module")
def dag() -> DagShape:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from airflow.sdk import TriggerRule

    tasks = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"].tasks
    return DagShape(
        task_ids={t.task_id for t in tasks},
        skipped={t.task_id for t in tasks if t.trigger_rule == TriggerRule.ONE_FAILED},
        spark={t.task_id for t in tasks if issubclass(t.operator_class, SparkSubmitOperator)},
    )


def run_bench(tmp_path, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m benchmarks.pipeline`` with one repeat into tmp_path; the result and its JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.pipeline", *arguments, "--repeat", "1", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    [path] = tmp_path.glob("bench-*.json")
    assert str(path) in result.stdout
    return result, json.loads(path.read_text())


def check_run(run: dict, dag: DagShape, *, connect: bool) -> None:
    """A measured DAG run: every task with its state and time, the Spark ones marked, memory sampled
    (on Connect, the server's JVM), landed to committed, the job run the way asked."""
    assert run["e2e_seconds"] > 0 and run["airflow_command_seconds"] >= run["e2e_seconds"]
    # From the upload (just before the command) to the commit (before the run's end).
    assert 0 < run["landed_to_committed_seconds"] < run["airflow_command_seconds"] + 5
    with open(run["dag_log"], errors="replace") as log:
        assert (CONNECT_LINE in log.read()) == connect
    rows_per_second = run["ledger"]["good_rows_loaded"] / run["e2e_seconds"]
    assert run["rows_per_second"] == pytest.approx(rows_per_second, rel=0.01, abs=0.05)  # rounded to 0.1
    assert set(run["tasks"]) == dag.task_ids
    for task_id, task in run["tasks"].items():
        assert task["state"] == ("skipped" if task_id in dag.skipped else "success"), task_id
        assert task["seconds"] is not None and task["seconds"] >= 0, task_id
        assert task["spark"] == (task_id in dag.spark), task_id
    assert sum(t["seconds"] for t in run["tasks"].values()) <= run["e2e_seconds"]
    assert dag.spark and run["spark_seconds"] == pytest.approx(
        sum(run["tasks"][t]["seconds"] for t in dag.spark), abs=0.01
    )
    assert run["peak_mb"]["spark_jvm"] > 0 and run["peak_mb"]["airflow_process"] > 0
    assert run["memory_samples"] > 0


def assert_dropped(*databases: str) -> None:
    conn = mysql_connection()
    with conn.cursor() as cursor:
        for database in databases:
            assert database.startswith("sf_bench_")
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)
            )
            assert cursor.fetchone()[0] == 0, database
    conn.close()


def test_bench_runs_and_writes_its_json(tmp_path, dag):
    result, report = run_bench(
        tmp_path, "--rows", str(ROWS), "--files", str(FILES), "--latency-rows", str(LATENCY_ROWS)
    )
    assert "ratio e2e / floors" in result.stdout
    assert "the server's first run (not counted)" in result.stdout

    assert report["parameters"] == {
        "rows": ROWS,
        "files": FILES,
        "repeat": 1,
        "seed": 42,
        "bad_cases": False,
        "format": "csv",
        "spark": "connect",
        "latency_rows": LATENCY_ROWS,
        "start_month": "2024-01",
        "months": 3,
    }
    assert report["input"]["good_rows"] == ROWS and report["input"]["good_files"] == FILES
    [run] = report["repeats"]
    assert run["ledger"]["good_rows_loaded"] == ROWS
    assert run["ledger"]["files_by_status"] == {"LOADED": FILES}
    check_run(run, dag, connect=True)

    assert set(run["floors_seconds"]) == {"s3_download", "csv_parse", "mysql_load"}
    assert all(seconds > 0 for seconds in run["floors_seconds"].values())
    assert run["floors_sum_seconds"] == pytest.approx(sum(run["floors_seconds"].values()), abs=0.01)
    assert run["floor_bytes_downloaded"] == report["input"]["bytes_uploaded"]
    assert run["ratio"] > 0

    median = report["median"]
    assert median["e2e_seconds"] == run["e2e_seconds"] and median["ratio"] == run["ratio"]
    assert median["e2e_spread"] == {
        "median": run["e2e_seconds"],
        "min": run["e2e_seconds"],
        "max": run["e2e_seconds"],
    }
    assert set(median["tasks_seconds"]) == dag.task_ids

    # The most common daily case: one file, its end to end and landed to committed, and their spread.
    latency = report["latency"]
    [one] = latency["repeats"]
    assert latency["rows"] == LATENCY_ROWS and one["ledger"]["files_by_status"] == {"LOADED": 1}
    assert one["ledger"]["good_rows_loaded"] == LATENCY_ROWS
    check_run(one, dag, connect=True)
    assert latency["median"]["landed_to_committed_spread"]["max"] == one["landed_to_committed_seconds"]
    assert f"{LATENCY_ROWS} rows r1" in result.stdout and "landed to committed (s)" in result.stdout

    # Everything it started is gone: its scratch databases and its work folders, the server's too.
    assert_dropped(run["database"], one["database"])
    assert not list(tmp_path.glob("tmp-*"))


def test_bench_history_mode_times_the_file_on_an_empty_and_a_busy_month(tmp_path, dag):
    result, report = run_bench(
        tmp_path,
        "--history",
        "--history-facts",
        str(HISTORY_FACTS),
        "--history-files",
        "2",
        "--rows",
        str(HISTORY_ROWS),
        "--spark",
        "submit",
    )
    assert "ratio busy / empty" in result.stdout
    assert report["parameters"] == {
        "rows": HISTORY_ROWS,
        "files": 1,
        "history_facts": HISTORY_FACTS,
        "history_files": 2,
        "repeat": 1,
        "seed": 42,
        "spark": "submit",
        "history_seed": 1042,
        "month": "2024-01",
    }
    [repeat] = report["repeats"]
    empty, busy = repeat["empty"], repeat["busy"]
    for run in (empty, busy):
        check_run(run, dag, connect=False)
        assert run["ledger"]["good_rows_loaded"] == HISTORY_ROWS
    assert empty["ledger"]["rows_loaded_all_files"] == HISTORY_ROWS
    assert empty["ledger"]["files_by_status"] == {"LOADED": 1}
    # The busy run's month already held the history, loaded by a DAG run of its own before it.
    assert busy["history_run"]["facts_in_month_before"] == HISTORY_FACTS
    assert busy["history_run"]["files"] == 2 and busy["history_run"]["e2e_seconds"] > 0
    assert busy["ledger"]["rows_loaded_all_files"] == HISTORY_FACTS + HISTORY_ROWS
    assert busy["ledger"]["files_by_status"] == {"LOADED": 3}
    assert len({empty["run_id"], busy["history_run"]["run_id"], busy["run_id"]}) == 3  # a date each

    assert repeat["ratio"] == pytest.approx(busy["e2e_seconds"] / empty["e2e_seconds"], abs=0.01)
    median = report["median"]
    assert median["empty"]["e2e_seconds"] == empty["e2e_seconds"]
    assert median["busy"]["e2e_seconds"] == busy["e2e_seconds"]
    assert median["ratio"] == pytest.approx(busy["e2e_seconds"] / empty["e2e_seconds"], abs=0.01)

    assert_dropped(empty["database"], busy["database"])
    assert not list(tmp_path.glob("tmp-*"))
