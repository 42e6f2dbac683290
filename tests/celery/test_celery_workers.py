"""Issue 22: the DAG on the CeleryExecutor with two workers that share no disk.

A real Airflow (scripts/airflow.sh, SALESFLOW_EXECUTOR=celery): PostgreSQL, a Redis broker, the
api-server, scheduler, dag-processor and triggerer, and two Celery workers, each in a mount and UTS
namespace of its own (``unshare``): its /tmp, Airflow's log folder and the error folder are empty
tmpfs no other process sees, and it has a host name of its own. Task logs go to S3. Spark runs in
the worker that runs the job (local mode), so its executors too see only S3 and MySQL.

- a run converges to what a ``local[*]`` run of the same files leaves (ledger, tables, Parquet);
- a worker killed (SIGKILL to every process of its namespace) while it runs the download and the
  file checks, and another while it runs the Spark job inside its load: the retries on the other
  worker converge to the same state, no row twice, none lost;
- the log of a task that ran on a worker that is gone is still served by the REST API.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest

from include.sample_data.generate import bad_case_files, good_files
from salesflow.storage import s3_hook
from tests.support.airflow_stack import Api, airflow_stack
from tests.support.e2e import TABLES, query, run_dag, upload

pytestmark = [pytest.mark.heavy, pytest.mark.e2e]

DAG = "sales_pipeline"
WORKERS = ("alpha", "beta")
# A killed worker's task is failed this long after its last heartbeat (5 minutes by default).
HEARTBEAT_TIMEOUT_SECONDS = 30
FIRST = good_files(rows=1200, files=2, seed=71, start_month=date(2024, 3, 1), months=1) + bad_case_files(
    seed=71, start_month=date(2024, 3, 1)
)
SECOND = good_files(rows=1500, files=3, seed=72, start_month=date(2024, 4, 1), months=2)


@pytest.fixture(scope="module")
def stack(mysql_database, tmp_path_factory):
    state = tmp_path_factory.mktemp("celery-stack")
    faults = state / "faults"
    faults.mkdir(parents=True)
    extra = {
        "SALESFLOW_EXECUTOR": "celery",
        "SALESFLOW_FAULT_DIR": str(faults),
        "SALESFLOW_RETRY_DELAY_SECONDS": "3",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    }
    try:
        with airflow_stack(state, extra) as started:
            for name in WORKERS:
                started.start_worker(name)
            yield started
    finally:
        shutil.rmtree(state, ignore_errors=True)


def outcome(settings) -> dict:
    """What runs left behind that must not depend on where or how often a task ran: the ledger,
    the tables, and every published object (Parquet by its rows; run ids and bucket left out)."""
    hook = s3_hook()
    published = (
        "partitioned_mart",
        "customers_data_mart",
        "sales_team_data_mart",
        "comparison_mart",
        "customer_segments",
    )
    kept = tuple(getattr(settings.prefixes, name) for name in (*published, "processed", "error", "rejects"))
    objects = {}
    for item in hook.iter_file_metadata(prefix="", bucket_name=settings.bucket):
        key = item["Key"]
        if not key.startswith(kept):
            continue
        content = hook.get_key(key, settings.bucket).get()["Body"].read()
        if key.endswith(".parquet"):
            content = repr(pq.read_table(io.BytesIO(content)).to_pylist()).encode()
        elif key.endswith(".reason.json"):  # it names the run and the bucket
            document = {k: v for k, v in json.loads(content).items() if k != "run_id"}
            content = json.dumps(document).replace(settings.bucket, "<bucket>").encode()
        objects[key] = hashlib.sha256(content).hexdigest()
    return {
        "ledger": query(
            settings,
            "SELECT id, object_key, sha256, status, attempts, rows_read, rows_loaded, rows_rejected, reason "
            "FROM file_ledger ORDER BY id",
        ),
        "tables": {table: query(settings, f"CHECKSUM TABLE {table}")[0][1] for table in TABLES},
        "s3": objects,
    }


def local_outcomes(environment) -> list[dict]:
    """The same two batches through dag.test() and Spark local[*] in this process."""
    settings = environment("celery_reference")
    outcomes = []
    for day, files in ((1, FIRST), (2, SECOND)):
        upload(settings, files)
        run_dag(datetime(2024, 6, day, tzinfo=UTC))
        outcomes.append(outcome(settings))
    return outcomes


def trigger(api: Api) -> str:
    return api.call("POST", f"/dags/{DAG}/dagRuns", {"logical_date": None})["dag_run_id"]


def wait_until_running(api: Api, run_id: str, task_id: str, faults, point: str) -> str:
    """Waits until the task is paused at its fault point; the worker (host) running it."""
    deadline = time.monotonic() + 600
    while not (faults / f"{point}.reached").exists():
        assert time.monotonic() < deadline, f"{task_id} never reached {point}"
        time.sleep(0.5)
    return api.task_instances(DAG, run_id)[task_id]["hostname"]


def test_two_workers_sharing_no_disk_converge_after_either_dies(stack, environment):
    settings = stack.settings
    faults = stack.state / "faults"
    api = Api(stack.base, stack.password)
    api.wait_for_dag(DAG)
    api.call("PATCH", f"/dags/{DAG}", {"is_paused": False})
    # Unpausing schedules the latest interval too: let it end (it finds no file and is skipped).
    api.wait_for_runs(DAG, 1)

    # (a) A clean run on two workers.
    upload(settings, FIRST)
    first = trigger(api)
    assert api.wait_for_run(DAG, first)["state"] == "success"
    first_hosts = {t: ti["hostname"] for t, ti in api.task_instances(DAG, first).items() if ti["hostname"]}
    assert set(first_hosts.values()) <= set(WORKERS)
    after_first = outcome(settings)

    # (c) The worker running the download and file checks dies after its first file; then (b) the
    # worker running the Spark job dies inside the load, before its commit. Each retry runs on the
    # other worker (the dead one is started again, empty, between the two).
    upload(settings, SECOND)
    (faults / "download_files").write_text("pause")
    (faults / "transform_and_load").write_text("pause")
    second = trigger(api)
    killed_downloading = wait_until_running(api, second, "download_files", faults, "download_files")
    stack.kill_worker(killed_downloading)
    (faults / "download_files.release").touch()
    killed_loading = wait_until_running(api, second, "transform_and_load", faults, "transform_and_load")
    stack.start_worker(killed_downloading)
    stack.kill_worker(killed_loading)
    (faults / "transform_and_load.release").touch()
    assert api.wait_for_run(DAG, second, timeout=900)["state"] == "success"
    instances = api.task_instances(DAG, second)
    for task_id, killed in (("download_files", killed_downloading), ("transform_and_load", killed_loading)):
        assert instances[task_id]["try_number"] == 2, instances[task_id]
        assert instances[task_id]["hostname"] in set(WORKERS) - {killed}, instances[task_id]
    after_second = outcome(settings)

    # The same ledger, tables and published objects as the same files run locally, in the same order.
    reference = local_outcomes(environment)
    for got, expected in ((after_first, reference[0]), (after_second, reference[1])):
        assert got["ledger"] == expected["ledger"]
        assert got["tables"] == expected["tables"]
        assert got["s3"] == expected["s3"]
    loaded = query(settings, "SELECT COUNT(*), COUNT(DISTINCT file_id, line_number) FROM sales")[0]
    assert (
        loaded[0]
        == loaded[1]
        == sum(r for (r,) in query(settings, "SELECT rows_loaded FROM file_ledger WHERE status = 'LOADED'"))
    )

    # A finished task's log outlives its worker: served from S3 after the worker is gone.
    gone = [(t, host) for t, host in first_hosts.items() if host == killed_loading and t != "wait_for_files"]
    assert gone, f"no task of the first run ran on {killed_loading}: {first_hosts}"
    task_id, _ = gone[0]
    log = api.task_log(DAG, first, task_id, 1)
    assert task_id in log or "salesflow" in log, log[:2000]
    assert "airflow-task-logs" in json.dumps(
        [
            item["Key"]
            for item in s3_hook().iter_file_metadata(prefix="airflow-task-logs/", bucket_name=settings.bucket)
        ]
    )
