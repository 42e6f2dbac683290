"""The benchmark script runs end to end at a tiny size and writes its JSON.

No timing thresholds here: the numbers are only checked to be present and sane. The benchmark starts
its own moto server (a free port), its own scratch database (``sf_bench_<its pid>_1``) and its own
Airflow home under tmp_path, so it never touches the session's services.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from salesflow.paths import PROJECT_ROOT
from tests.conftest import mysql_connection

pytestmark = pytest.mark.e2e

ROWS, FILES = 2000, 2


@pytest.fixture(scope="module")
def dag_task_ids() -> set[str]:
    from airflow.dag_processing.dagbag import DagBag

    return set(DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"].task_ids)


def test_bench_runs_and_writes_its_json(tmp_path, dag_task_ids):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable,
        "-m",
        "benchmarks.pipeline",
        "--rows",
        str(ROWS),
        "--files",
        str(FILES),
    ]
    result = subprocess.run(
        [*command, "--repeat", "1", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    [path] = tmp_path.glob(f"bench-{ROWS}-{FILES}-*.json")
    report = json.loads(path.read_text())
    assert str(path) in result.stdout and "ratio e2e / floors" in result.stdout

    assert report["parameters"] == {
        "rows": ROWS,
        "files": FILES,
        "repeat": 1,
        "seed": 42,
        "bad_cases": False,
        "start_month": "2024-01",
        "months": 3,
    }
    assert report["input"]["good_rows"] == ROWS and report["input"]["good_files"] == FILES
    [run] = report["repeats"]
    assert run["ledger"]["good_rows_loaded"] == ROWS
    assert run["ledger"]["files_by_status"] == {"LOADED": FILES}

    assert run["e2e_seconds"] > 0 and run["airflow_command_seconds"] >= run["e2e_seconds"]
    assert run["rows_per_second"] == pytest.approx(ROWS / run["e2e_seconds"], rel=0.01)
    assert set(run["tasks"]) == dag_task_ids
    for task_id, task in run["tasks"].items():
        expected = "skipped" if task_id == "keep_run_folder" else "success"
        assert task["state"] == expected, task_id
        assert task["seconds"] is not None and task["seconds"] >= 0, task_id
    assert sum(t["seconds"] for t in run["tasks"].values()) <= run["e2e_seconds"]
    assert run["peak_mb"]["spark_jvm"] > 0 and run["peak_mb"]["airflow_process"] > 0
    assert run["memory_samples"] > 0

    assert set(run["floors_seconds"]) == {"s3_download", "csv_parse", "mysql_load"}
    assert all(seconds > 0 for seconds in run["floors_seconds"].values())
    assert run["floors_sum_seconds"] == pytest.approx(sum(run["floors_seconds"].values()), abs=0.01)
    assert run["floor_bytes_downloaded"] == report["input"]["bytes_uploaded"]
    assert run["ratio"] > 0

    median = report["median"]
    assert median["e2e_seconds"] == run["e2e_seconds"] and median["ratio"] == run["ratio"]
    assert set(median["tasks_seconds"]) == dag_task_ids

    # Everything it started is gone: its scratch database and its work folders.
    assert run["database"].startswith("sf_bench_")
    conn = mysql_connection()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (run["database"],)
        )
        assert cursor.fetchone()[0] == 0
    conn.close()
    assert not list(tmp_path.glob("tmp-*"))
