"""One run of the DAG (``airflow dags test``) and what it did: per-task times, memory, the ledger.

The tasks are whatever the run had, read from Airflow's metadata DB (mapped instances of a task
merged into one span); nothing here names a task. The Spark tasks are told apart by their operator:
the DAG's tasks whose class is a ``SparkSubmitOperator`` (or a subclass).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, ROOT, BenchError
from benchmarks.latency import latencies
from benchmarks.memory import MemorySampler
from benchmarks.services import Sandbox, Sitting, pymysql_connect
from include.processes import stop_child
from include.sample_data.generate import GeneratedFile

DAG_ID = "sales_pipeline"
NOT_RUN = ("skipped", "upstream_failed", "removed")
DAG_TEST_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*\[DAG TEST\] "
    r"(?P<what>starting task|end task task)_id=(?P<task>[\w.-]+)"
)
RUN_FINISHED_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*DagRun Finished: .*?run_id=(?P<run_id>[^,]+),"
)


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(text: str | None) -> float | None:
    return _utc(text).timestamp() if text else None


def spark_task_ids(dags_folder: Path, dag_id: str = DAG_ID) -> frozenset[str]:
    """The DAG's tasks that submit a Spark job: those whose operator is a SparkSubmitOperator."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    bag = DagBag(dag_folder=str(dags_folder))
    if dag_id not in bag.dags:
        errors = "; ".join(f"{path}: {error}" for path, error in bag.import_errors.items())
        raise BenchError(f"no DAG {dag_id} in {dags_folder}{f' ({errors})' if errors else ''}")
    spark = set()
    for task in bag.dags[dag_id].tasks:
        operator = getattr(task, "operator_class", type(task))  # a mapped task names its class here
        if isinstance(operator, type) and issubclass(operator, SparkSubmitOperator):
            spark.add(task.task_id)
    return frozenset(spark)


# --------------------------------------------------------------------------------------------------
# The run


def run_dag(
    env: dict[str, str], log_path: Path, logical_date: datetime, server_pid: int | None = None
) -> tuple[int, float, MemorySampler]:
    """``airflow dags test`` as a child in its own session, its memory (and the Spark Connect
    server's, ``server_pid``) sampled meanwhile."""
    command = [str(BIN / "airflow"), "dags", "test", DAG_ID, logical_date.isoformat()]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        sampler = MemorySampler(process.pid, server_pid=server_pid)
        sampler.start()
        try:
            status = process.wait()
        except BaseException:
            stop_child(process, group=True)
            raise
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    if status != 0:
        stop_child(process, group=True)  # a failed run may leave a Spark JVM behind
    return status, seconds, sampler


# --------------------------------------------------------------------------------------------------
# What Airflow recorded of it


def read_dag_log(log_path: Path) -> dict[str, Any]:
    """Task start/end times from the ``[DAG TEST]`` lines, and the run id from ``DagRun Finished``."""
    tasks: dict[str, dict[str, float]] = {}
    first_start = finished = None
    run_id = None
    with log_path.open(errors="replace") as log:
        for line in log:
            if match := DAG_TEST_LINE.match(line):
                moment = _utc(match["ts"]).timestamp()
                entry = tasks.setdefault(match["task"], {})
                if match["what"] == "starting task":
                    entry.setdefault("start", moment)
                    first_start = moment if first_start is None else min(first_start, moment)
                else:
                    entry["end"] = moment
            elif match := RUN_FINISHED_LINE.match(line):
                finished = _utc(match["ts"]).timestamp()
                run_id = match["run_id"].strip()
    return {"tasks": tasks, "first_start": first_start, "finished": finished, "run_id": run_id}


def _merge_instance(
    entry: dict[str, Any], state: str, start: float | None, end: float | None, tries: int
) -> None:
    """Adds one task instance (a map index) to its task: one span, the most tries, one state or several."""
    entry["instances"] += 1
    entry["tries"] = max(entry["tries"], tries or 0)
    if entry["state"] is None:
        entry["state"] = state
    elif entry["state"] != state:
        entry["state"] = "mixed"
    if start is not None:
        entry["start"] = start if entry["start"] is None else min(entry["start"], start)
    if end is not None:
        entry["end"] = end if entry["end"] is None else max(entry["end"], end)


def _latest_run_id(conn: sqlite3.Connection, db_path: Path) -> str:
    row = conn.execute(
        "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
    ).fetchone()
    if row is None:
        raise BenchError(f"no run of {DAG_ID} in {db_path}")
    return row[0]


def read_metadata(db_path: Path, run_id: str | None) -> dict[str, Any]:
    """The run's state and its tasks, in the order they started, from Airflow's SQLite metadata DB."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        run_id = run_id or _latest_run_id(conn, db_path)
        state, end_date = conn.execute(
            "SELECT state, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
        ).fetchone()
        tasks: dict[str, dict[str, Any]] = {}
        for task_id, operator, task_state, start, end, tries in conn.execute(
            "SELECT task_id, operator, state, start_date, end_date, try_number FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date, task_id, map_index",
            (DAG_ID, run_id),
        ):
            entry = tasks.setdefault(
                task_id,
                {"operator": operator, "state": None, "tries": 0, "instances": 0, "start": None, "end": None},
            )
            _merge_instance(entry, task_state, _timestamp(start), _timestamp(end), tries)
        return {"run_id": run_id, "state": state, "end": _timestamp(end_date), "tasks": tasks}
    finally:
        conn.close()


def task_timings(
    meta: dict[str, Any], logged: dict[str, Any], sampler: MemorySampler, spark_tasks: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """Each task of the run: operator, Spark or not, state, tries, seconds, peak memory while it ran."""
    tasks: dict[str, dict[str, Any]] = {}
    for task_id, ti in meta["tasks"].items():
        start, end = ti["start"], ti["end"]
        if start is None or end is None:  # not in the metadata DB: the log lines instead
            start, end = (logged["tasks"].get(task_id, {}).get(key) for key in ("start", "end"))
        seconds = round(end - start, 3) if start is not None and end is not None else None
        ran = ti["state"] not in NOT_RUN and seconds is not None
        tasks[task_id] = {
            "operator": ti["operator"],
            "spark": task_id in spark_tasks,
            "state": ti["state"],
            "tries": ti["tries"],
            "instances": ti["instances"],
            "seconds": seconds,
            "peak_mb": sampler.peaks(start, end) if ran else {},
        }
    return tasks


def end_to_end(meta: dict[str, Any], logged: dict[str, Any]) -> tuple[float, str]:
    """First task start to the end of the run, from the log; else from the metadata DB."""
    if logged["first_start"] is not None and logged["finished"] is not None:
        return logged["finished"] - logged["first_start"], "dag test log"
    starts = [t["start"] for t in meta["tasks"].values() if t["start"] is not None]
    return meta["end"] - min(starts), "metadata DB"


def check_ledger(settings: Any, good: list[GeneratedFile]) -> dict[str, Any]:
    """Every good file is LOADED with all its rows and none rejected; else one line saying which."""
    conn = pymysql_connect(settings.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                f"SELECT object_key, status, rows_loaded, rows_rejected FROM `{settings.tables.ledger}`"  # noqa: S608
            )
            ledger = {key: (status, loaded, rejected) for key, status, loaded, rejected in cursor.fetchall()}
    finally:
        conn.close()
    wrong = []
    for generated in good:
        key = settings.prefixes.source + generated.name
        status, loaded, rejected = ledger.get(key, ("absent", None, None))
        if status != "LOADED" or loaded != generated.rows or rejected:
            wrong.append(f"{key} {status} (rows loaded {loaded} of {generated.rows}, rejected {rejected})")
    if wrong:
        raise BenchError(f"{len(wrong)} of {len(good)} good files not fully LOADED, first: {wrong[0]}")
    statuses: dict[str, int] = {}
    for status, _, _ in ledger.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "good_files_loaded": len(good),
        "good_rows_loaded": sum(f.rows for f in good),
        "rows_loaded_all_files": sum(
            loaded or 0 for status, loaded, _ in ledger.values() if status == "LOADED"
        ),
        "files_by_status": dict(sorted(statuses.items())),
    }


# --------------------------------------------------------------------------------------------------
# One run, measured


def measure_run(sitting: Sitting, box: Sandbox, good: list[GeneratedFile], name: str) -> dict[str, Any]:
    """Runs the DAG over what the sandbox's bucket holds, checks that `good` was loaded, and times it."""
    dag_log = box.log(f"{name}-dag_test")
    print(f"bench: {box.tag}: running the DAG ({name}; log {dag_log})", flush=True)
    status, command_seconds, sampler = run_dag(
        box.env, dag_log, sitting.logical_date(), sitting.spark_server_pid
    )
    logged = read_dag_log(dag_log)
    meta = read_metadata(Path(box.env["AIRFLOW_HOME"]) / "airflow.db", logged["run_id"])
    if status != 0 or meta["state"] != "success":
        box.keep_folders = True
        raise BenchError(
            f"the DAG run ended {meta['state']} (exit {status}), see {dag_log} "
            f"(work and error folders kept in {box.scratch})"
        )
    ledger = check_ledger(box.settings, good)
    # The newest of the good files' commits: what the run's slowest file waited from its upload.
    landed = latencies(box.settings, [box.settings.prefixes.source + f.name for f in good])
    tasks = task_timings(meta, logged, sampler, sitting.spark_tasks)
    retried = [task_id for task_id, task in tasks.items() if (task["tries"] or 0) > 1]
    if retried:
        print(f"bench: {box.tag}: retried, so timed with the retries: {', '.join(retried)}")
    e2e, source = end_to_end(meta, logged)
    return {
        "run_id": meta["run_id"],
        "e2e_seconds": round(e2e, 3),
        "e2e_source": source,
        "landed_to_committed_seconds": round(landed[-1], 3) if landed else None,
        "airflow_command_seconds": round(command_seconds, 3),
        "between_tasks_seconds": round(e2e - sum(t["seconds"] or 0 for t in tasks.values()), 3),
        "rows_per_second": round(ledger["good_rows_loaded"] / e2e, 1),
        "spark_seconds": round(sum(t["seconds"] or 0 for t in tasks.values() if t["spark"]), 3),
        "tasks": tasks,
        "peak_mb": sampler.peaks(),
        "memory_samples": len(sampler.samples),
        "ledger": ledger,
        "dag_log": str(dag_log),
    }
