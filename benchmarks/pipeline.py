"""End-to-end benchmark of sales_pipeline, side by side with this machine's floors.

    python -m benchmarks.pipeline --rows 400000 --files 4 --repeat 3 --out var/bench
    python -m benchmarks.pipeline --rows 200000 --files 10000 --repeat 3 --out var/bench

Each repeat starts from nothing: its own moto S3 server (a free loopback port, stopped by PID), bucket,
scratch database (``sf_bench_<pid>_<repeat>``, dropped at the end) and work and error folders. It
uploads the seeded files, runs ``airflow dags test sales_pipeline <logical date>`` (the environment of
``scripts/env.sh``, Airflow's SQLite metadata DB in ``<out>/airflow``) and samples the memory of the
Airflow process and of the Spark JVMs it starts every 0.2 s. It checks that the run succeeded and that
every good file is ``LOADED`` with all its rows. Then, on the same bytes, it measures the floors:

- ``s3_download``: every uploaded object from the local S3 (boto3, 64 MB parts, 4 threads);
- ``csv_parse``: every good file parsed once with ``pyarrow.csv``;
- ``mysql_load``: the same rows, in one file, by one ``LOAD DATA LOCAL INFILE`` into a plain table
  (a primary key only), committed.

The ratio is the DAG run's end-to-end time (sensor start to run end) over the sum of the floors.
Medians over the repeats are printed and saved, with every repeat, in
``<out>/bench-<rows>-<files>-<timestamp>.json``. The machine is shared and noisy: compare ratios
measured in the same sitting, not seconds across days.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from include.sample_data.generate import HEADER, GeneratedFile, bad_case_files, good_files

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "sales_pipeline"
MB = 1024 * 1024
START_MONTH = date(2024, 1, 1)
MONTHS = 3
SAMPLE_SECONDS = 0.2
UPLOAD_THREADS = 32
FLOOR_PART_BYTES = 64 * MB
FLOOR_THREADS = 4
S3_LOGIN = {"login": "sf-bench-access-key", "password": "sf-bench-secret-key"}
FLOOR_TABLE_DDL = """
CREATE TABLE bench_floor (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    store_id INT NOT NULL,
    product_name VARCHAR(255) NOT NULL,
    sales_date DATE NOT NULL,
    sales_person_id INT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    quantity INT NOT NULL,
    total_cost DECIMAL(12, 2) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
FLOOR_LOAD = (
    "LOAD DATA LOCAL INFILE %s INTO TABLE bench_floor CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' "
    f"({', '.join(HEADER)})"
)
DAG_TEST_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*\[DAG TEST\] "
    r"(?P<what>starting task|end task task)_id=(?P<task>[\w.-]+)"
)
RUN_FINISHED_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*DagRun Finished: .*?run_id=(?P<run_id>[^,]+),"
)


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message is the one line the user sees."""


@dataclass
class Input:
    """The generated files, the same bytes for every repeat."""

    files: list[GeneratedFile]
    good: list[GeneratedFile]
    md5: dict[str, str] = field(default_factory=dict)  # file name -> hex MD5 (the ETag of one PUT)

    @property
    def good_rows(self) -> int:
        return sum(f.rows for f in self.good)


# --------------------------------------------------------------------------------------------------
# Processes: the moto server and the DAG run, started and stopped by their PID


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto S3 server on a free loopback port; stopped by its PID."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> str:
        port = _free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)
                return self.endpoint
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"the moto server did not start, see {self.log_path}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _stop_group(process: subprocess.Popen) -> None:
    """Stops a child started in its own session, and what it started (Spark JVMs), by its group id."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def project_environment() -> dict[str, str]:
    """The environment of scripts/env.sh: this one if it is sourced already, else this one + env.sh.

    env.sh is sourced only once: sourcing it again would re-expand the ``AIRFLOW_CONN_*`` defaults.
    """
    if "SALESFLOW_ROOT" in os.environ:
        env = os.environ.copy()
    else:
        result = subprocess.run(
            ["bash", "-c", f'source "{ROOT}/scripts/env.sh" && env -0'],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        pairs = (item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
        env = {name: value for name, value in pairs if name != "_"}
    for name in ("AIRFLOW_CONN_SALESFLOW_MYSQL", "AIRFLOW_CONN_SALESFLOW_SPARK"):
        value = env.get(name, "")
        if not value:
            raise BenchError(f"{name} is not set (source scripts/env.sh first)")
        if value.lstrip().startswith("{"):
            try:
                json.loads(value)
            except ValueError:
                raise BenchError(f"{name} is not valid JSON (was scripts/env.sh sourced twice?)") from None
    return env


class MemorySampler(threading.Thread):
    """Samples the RSS of a process tree: the root itself, the Spark trees below it, the rest.

    A direct child whose command line names Spark (spark-submit, spark-class, SparkSubmit) or Java
    roots a Spark tree: every process below it (the JVM, the Python driver, the Python workers)
    counts to that tree, and its ``java`` processes to the JVM figure.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int, int, int, int]] = []  # time, root, jvm, spark tree, other
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            sample = self._sample(root, psutil)
            if sample is not None:
                self.samples.append(sample)
            self._stop_event.wait(self.interval)

    @staticmethod
    def _is_spark(process: Any, psutil: Any) -> bool:
        try:
            command = " ".join(process.cmdline())
            return process.name() == "java" or any(
                mark in command for mark in ("spark-submit", "spark-class", "SparkSubmit")
            )
        except psutil.Error:
            return False

    def _sample(self, root: Any, psutil: Any) -> tuple[float, int, int, int, int] | None:
        now = time.time()
        try:
            root_rss = root.memory_info().rss
            descendants = root.children(recursive=True)
        except psutil.Error:
            return None
        parents: dict[int, int] = {}
        for process in descendants:
            try:
                parents[process.pid] = process.ppid()
            except psutil.Error:
                continue
        spark_roots = {
            p.pid for p in descendants if parents.get(p.pid) == root.pid and self._is_spark(p, psutil)
        }
        jvm = spark = other = 0
        for process in descendants:
            top = process.pid
            while parents.get(top, root.pid) != root.pid:
                top = parents[top]
            try:
                rss = process.memory_info().rss
                is_java = process.name() == "java"
            except psutil.Error:
                continue
            if top in spark_roots:
                spark += rss
                jvm += rss if is_java else 0
            else:
                other += rss
        return now, root_rss, jvm, spark, other

    def peaks(self, start: float | None = None, end: float | None = None) -> dict[str, float]:
        """Peaks in MB over the samples from start to end (widened by one interval: short tasks)."""
        start = None if start is None else start - self.interval
        end = None if end is None else end + self.interval
        window = [
            s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)
        ]
        if not window:
            return {}

        def peak(values) -> float:
            return round(max(values) / MB, 1)

        return {
            "spark_jvm": peak(s[2] for s in window),
            "spark_tree": peak(s[3] for s in window),
            "airflow_process": peak(s[1] for s in window),
            "airflow_other_children": peak(s[4] for s in window),
            "whole_tree": peak(s[1] + s[3] + s[4] for s in window),
        }


# --------------------------------------------------------------------------------------------------
# S3 and MySQL


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_LOGIN["login"],
        aws_secret_access_key=S3_LOGIN["password"],
        region_name="us-east-1",
        config=Config(max_pool_connections=UPLOAD_THREADS, retries={"max_attempts": 5, "mode": "standard"}),
    )


def upload(client: Any, bucket: str, prefix: str, files: list[GeneratedFile]) -> float:
    """Creates the bucket and puts every file under the prefix, many at a time; returns seconds."""
    client.create_bucket(Bucket=bucket)
    started = time.perf_counter()

    def put(generated: GeneratedFile) -> None:
        client.put_object(Bucket=bucket, Key=prefix + generated.name, Body=generated.content)

    with ThreadPoolExecutor(max_workers=max(1, min(UPLOAD_THREADS, len(files)))) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - started


def mysql_login() -> dict[str, Any]:
    from salesflow.config import MYSQL_CONN_ID
    from salesflow.db import mysql_hook

    connection = mysql_hook(None).get_connection(MYSQL_CONN_ID)
    return {
        "host": connection.host or "127.0.0.1",
        "port": int(connection.port or 3306),
        "user": connection.login or "root",
        "password": connection.password or "",
    }


def pymysql_connect(database: str | None = None, **extra: Any):
    import pymysql

    try:
        return pymysql.connect(**mysql_login(), database=database, charset="utf8mb4", **extra)
    except pymysql.err.OperationalError as error:
        login = mysql_login()
        raise BenchError(
            f"cannot connect to MySQL at {login['host']}:{login['port']} as {login['user']!r}: "
            f"error {error.args[0]}"
        ) from None


def drop_database(database: str) -> None:
    conn = pymysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------
# The DAG run and what Airflow recorded of it


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ensure_airflow_db(home: Path, env: dict[str, str]) -> None:
    marker = home / ".migrated"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    print(f"bench: preparing Airflow's metadata DB (SQLite, {home})", flush=True)
    with (home / "migrate.log").open("wb") as log:
        status = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    if status != 0:
        raise BenchError(f"airflow db migrate failed (exit {status}), see {home / 'migrate.log'}")
    marker.touch()


def run_dag(env: dict[str, str], log_path: Path, logical_date: datetime) -> tuple[int, float, MemorySampler]:
    """``airflow dags test`` as a child in its own session, its memory sampled meanwhile."""
    command = [str(BIN / "airflow"), "dags", "test", DAG_ID, logical_date.isoformat()]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        sampler = MemorySampler(process.pid)
        sampler.start()
        try:
            status = process.wait()
        except BaseException:
            _stop_group(process)
            raise
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    if status != 0:
        _stop_group(process)  # a failed run may leave a Spark JVM behind
    return status, seconds, sampler


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


def read_metadata(db_path: Path, run_id: str | None) -> dict[str, Any]:
    """The run's state and its task instances from Airflow's SQLite metadata DB."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        if run_id is None:
            row = conn.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
            ).fetchone()
            if row is None:
                raise BenchError(f"no run of {DAG_ID} in {db_path}")
            run_id = row[0]
        state, end_date = conn.execute(
            "SELECT state, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
        ).fetchone()
        tasks = {}
        for task_id, task_state, start, end, tries in conn.execute(
            "SELECT task_id, state, start_date, end_date, try_number FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date, task_id",
            (DAG_ID, run_id),
        ):
            tasks[task_id] = {
                "state": task_state,
                "tries": tries,
                "start": _utc(start).timestamp() if start else None,
                "end": _utc(end).timestamp() if end else None,
            }
        return {
            "run_id": run_id,
            "state": state,
            "end": _utc(end_date).timestamp() if end_date else None,
            "tasks": tasks,
        }
    finally:
        conn.close()


def check_ledger(settings: Any, data: Input) -> dict[str, Any]:
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
    for generated in data.good:
        key = settings.prefixes.source + generated.name
        status, loaded, rejected = ledger.get(key, ("absent", None, None))
        if status != "LOADED" or loaded != generated.rows or rejected:
            wrong.append(f"{key} {status} (rows loaded {loaded} of {generated.rows}, rejected {rejected})")
    if wrong:
        raise BenchError(f"{len(wrong)} of {len(data.good)} good files not fully LOADED, first: {wrong[0]}")
    statuses: dict[str, int] = {}
    for status, _, _ in ledger.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "good_files_loaded": len(data.good),
        "good_rows_loaded": sum(f.rows for f in data.good),
        "rows_loaded_all_files": sum(
            loaded or 0 for status, loaded, _ in ledger.values() if status == "LOADED"
        ),
        "files_by_status": dict(sorted(statuses.items())),
    }


# --------------------------------------------------------------------------------------------------
# The floors


def floor_download(client: Any, bucket: str, data: Input, target: Path) -> tuple[float, int]:
    """Downloads the objects with the uploaded bytes, wherever the run moved them; returns seconds."""
    from boto3.s3.transfer import TransferConfig

    by_content: dict[tuple[str, int], str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            by_content.setdefault((item["ETag"].strip('"'), int(item["Size"])), item["Key"])
    jobs = []
    for index, generated in enumerate(data.files):
        key = by_content.get((data.md5[generated.name], len(generated.content)))
        if key is None:
            raise BenchError(f"the floor download cannot find the bytes of {generated.name} in s3://{bucket}")
        jobs.append((key, target / f"{index:05d}-{generated.name}"))
    target.mkdir(parents=True, exist_ok=True)
    config = TransferConfig(
        multipart_threshold=FLOOR_PART_BYTES,
        multipart_chunksize=FLOOR_PART_BYTES,
        max_concurrency=FLOOR_THREADS,
        use_threads=True,
    )

    def get(job: tuple[str, Path]) -> None:
        client.download_file(bucket, job[0], str(job[1]), Config=config)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(FLOOR_THREADS, len(jobs)))) as pool:
        list(pool.map(get, jobs))
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for _, path in jobs)
    expected = sum(len(f.content) for f in data.files)
    if size != expected:
        raise BenchError(f"the floor download got {size} bytes, expected {expected}")
    return seconds, size


def good_paths(data: Input, folder: Path) -> list[Path]:
    index = {id(f): i for i, f in enumerate(data.files)}
    return [folder / f"{index[id(f)]:05d}-{f.name}" for f in data.good]


def floor_parse(paths: list[Path], rows: int) -> float:
    """Parses every good file once with pyarrow.csv (types inferred, all cores); returns seconds."""
    from pyarrow import csv as pacsv

    started = time.perf_counter()
    parsed = sum(pacsv.read_csv(path).num_rows for path in paths if path.stat().st_size)
    seconds = time.perf_counter() - started
    if parsed != rows:
        raise BenchError(f"the parse floor read {parsed} rows, expected {rows}")
    return seconds


def floor_load(database: str, paths: list[Path], rows: int, scratch: Path) -> float:
    """One LOAD DATA LOCAL INFILE of all good rows into a plain table, committed; returns seconds.

    The rows of all files are put into one headerless file first (not timed): the floor is loading
    this many rows, whatever files they came in.
    """
    combined = scratch / "floor_rows.csv"
    with combined.open("wb") as out:
        for path in paths:
            with path.open("rb") as source:
                source.readline()
                shutil.copyfileobj(source, out, 16 * MB)
    conn = pymysql_connect(database, local_infile=True, autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_floor")
            cursor.execute(FLOOR_TABLE_DDL)
            started = time.perf_counter()
            loaded = cursor.execute(FLOOR_LOAD, (str(combined),))
            conn.commit()
            seconds = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_floor")
    finally:
        conn.close()
    if loaded != rows:
        raise BenchError(f"the load floor loaded {loaded} rows, expected {rows}")
    return seconds


# --------------------------------------------------------------------------------------------------
# One repeat


def run_repeat(index: int, data: Input, out: Path, stem: str, base_env: dict[str, str]) -> dict[str, Any]:
    from salesflow.config import load_settings
    from salesflow.db import init_database

    pid = os.getpid()
    scratch = out / f"tmp-{pid}" / f"r{index}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    dag_log = logs / f"{stem}-r{index}-dag_test.log"
    moto = MotoServer(logs / f"{stem}-r{index}-moto.log")
    overrides = {
        "SALESFLOW__MYSQL__DATABASE": f"sf_bench_{pid}_{index}",
        "SALESFLOW__STORAGE__BUCKET": f"sf-bench-{pid}-{index}",
        "SALESFLOW__LOCAL__WORK_ROOT": str(scratch / "work"),
        "SALESFLOW__LOCAL__ERROR_DIR": str(scratch / "error"),
    }
    os.environ.update(overrides)
    settings = load_settings()
    database_made = keep_folders = False
    try:
        endpoint = moto.start()
        connection = {
            "conn_type": "aws",
            **S3_LOGIN,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        overrides["AIRFLOW_CONN_SALESFLOW_S3"] = json.dumps(connection)
        os.environ.update(overrides)
        database_made = True
        init_database(settings)
        client = s3_client(endpoint)
        upload_seconds = upload(client, settings.bucket, settings.prefixes.source, data.files)

        env = {**base_env, **overrides}
        print(f"bench: repeat {index}: running the DAG (log {dag_log})", flush=True)
        status, command_seconds, sampler = run_dag(env, dag_log, datetime.now(UTC).replace(microsecond=0))
        logged = read_dag_log(dag_log)
        meta = read_metadata(Path(env["AIRFLOW_HOME"]) / "airflow.db", logged["run_id"])
        if status != 0 or meta["state"] != "success":
            keep_folders = True  # the run's work folder and the error folder, for a look
            raise BenchError(
                f"the DAG run ended {meta['state']} (exit {status}), see {dag_log} "
                f"(work and error folders kept in {scratch})"
            )
        ledger = check_ledger(settings, data)
        retried = sorted(t for t, ti in meta["tasks"].items() if (ti["tries"] or 0) > 1)
        if retried:
            print(f"bench: repeat {index}: retried, so timed with the retries: {', '.join(retried)}")

        tasks: dict[str, dict[str, Any]] = {}
        for task_id, ti in meta["tasks"].items():
            start, end = ti["start"], ti["end"]
            if start is None or end is None:  # not in the metadata DB: the log lines instead
                start, end = (
                    logged["tasks"].get(task_id, {}).get("start"),
                    logged["tasks"].get(task_id, {}).get("end"),
                )
            seconds = round(end - start, 3) if start is not None and end is not None else None
            ran = ti["state"] not in ("skipped", "upstream_failed", "removed")
            tasks[task_id] = {
                "state": ti["state"],
                "tries": ti["tries"],
                "seconds": seconds,
                "peak_mb": sampler.peaks(start, end) if ran and seconds is not None else {},
            }
        if logged["first_start"] is not None and logged["finished"] is not None:
            e2e, source = logged["finished"] - logged["first_start"], "dag test log"
        else:
            starts = [t["start"] for t in meta["tasks"].values() if t["start"] is not None]
            e2e, source = meta["end"] - min(starts), "metadata DB"

        floor_dir = scratch / "floor"
        download_seconds, size = floor_download(client, settings.bucket, data, floor_dir)
        paths = good_paths(data, floor_dir)
        parse_seconds = floor_parse(paths, data.good_rows)
        load_seconds = floor_load(settings.database, paths, data.good_rows, scratch)
        floors = {"s3_download": download_seconds, "csv_parse": parse_seconds, "mysql_load": load_seconds}
        floors_sum = sum(floors.values())
        ran_seconds = sum(t["seconds"] or 0 for t in tasks.values())
        return {
            "repeat": index,
            "database": settings.database,
            "bucket": settings.bucket,
            "e2e_seconds": round(e2e, 3),
            "e2e_source": source,
            "airflow_command_seconds": round(command_seconds, 3),
            "between_tasks_seconds": round(e2e - ran_seconds, 3),
            "rows_per_second": round(data.good_rows / e2e, 1),
            "upload_seconds": round(upload_seconds, 3),
            "tasks": tasks,
            "peak_mb": sampler.peaks(),
            "memory_samples": len(sampler.samples),
            "floors_seconds": {name: round(value, 4) for name, value in floors.items()},
            "floors_sum_seconds": round(floors_sum, 4),
            "floor_bytes_downloaded": size,
            "ratio": round(e2e / floors_sum, 2),
            "ledger": ledger,
            "dag_log": str(dag_log),
        }
    finally:
        moto.stop()
        if database_made:
            try:
                drop_database(settings.database)
            except Exception as error:  # the one line above matters more; say what is left
                print(f"bench: could not drop {settings.database}: {error}", file=sys.stderr)
        if keep_folders:
            shutil.rmtree(scratch / "floor", ignore_errors=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Medians, the table, the JSON


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def medians(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    task_ids = list(dict.fromkeys(t for r in repeats for t in r["tasks"]))
    return {
        "e2e_seconds": _median([r["e2e_seconds"] for r in repeats]),
        "airflow_command_seconds": _median([r["airflow_command_seconds"] for r in repeats]),
        "between_tasks_seconds": _median([r["between_tasks_seconds"] for r in repeats]),
        "rows_per_second": _median([r["rows_per_second"] for r in repeats]),
        "tasks_seconds": {
            t: _median([r["tasks"].get(t, {}).get("seconds") for r in repeats]) for t in task_ids
        },
        "peak_mb": {k: _median([r["peak_mb"].get(k) for r in repeats]) for k in repeats[0]["peak_mb"]},
        "floors_seconds": {
            k: _median([r["floors_seconds"][k] for r in repeats]) for k in repeats[0]["floors_seconds"]
        },
        "floors_sum_seconds": _median([r["floors_sum_seconds"] for r in repeats]),
        "ratio": _median([r["ratio"] for r in repeats]),
    }


def _pick(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def table(report: dict[str, Any]) -> str:
    """The repeats side by side and their medians, one metric a line."""
    repeats, median = report["repeats"], report["median"]
    metrics: list[tuple[str, tuple[str, ...], tuple[str, ...], str]] = [
        ("end to end (s)", ("e2e_seconds",), ("e2e_seconds",), ".1f"),
        ("rows/s", ("rows_per_second",), ("rows_per_second",), ",.0f"),
    ]
    for task_id in median["tasks_seconds"]:
        if all(_pick(r, ("tasks", task_id, "state")) == "skipped" for r in repeats):
            continue
        metrics.append((f"  {task_id} (s)", ("tasks", task_id, "seconds"), ("tasks_seconds", task_id), ".1f"))
    metrics += [
        ("  between tasks (s)", ("between_tasks_seconds",), ("between_tasks_seconds",), ".1f"),
        ("airflow command (s)", ("airflow_command_seconds",), ("airflow_command_seconds",), ".1f"),
        ("peak Spark JVMs (MB)", ("peak_mb", "spark_jvm"), ("peak_mb", "spark_jvm"), ".0f"),
        ("peak Spark trees (MB)", ("peak_mb", "spark_tree"), ("peak_mb", "spark_tree"), ".0f"),
        ("peak Airflow process (MB)", ("peak_mb", "airflow_process"), ("peak_mb", "airflow_process"), ".0f"),
    ]
    for name in median["floors_seconds"]:
        metrics.append((f"floor {name} (s)", ("floors_seconds", name), ("floors_seconds", name), ".2f"))
    metrics += [
        ("floors sum (s)", ("floors_sum_seconds",), ("floors_sum_seconds",), ".2f"),
        ("ratio e2e / floors", ("ratio",), ("ratio",), ".1f"),
    ]
    lines = [["", *(f"r{r['repeat']}" for r in repeats), "median"]]
    for label, path, median_path, fmt in metrics:
        values = [*(_pick(r, path) for r in repeats), _pick(median, median_path)]
        lines.append([label, *(format(v, fmt) if v is not None else "-" for v in values)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
        for line in lines
    )


def machine() -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "memory_mb": round(psutil.virtual_memory().total / MB),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    conn = pymysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            info["mysql"] = cursor.fetchone()[0]
    finally:
        conn.close()
    return info


def generate(args: argparse.Namespace) -> Input:
    good = good_files(args.rows, args.files, args.seed, START_MONTH, MONTHS)
    files = good + (bad_case_files(args.seed, START_MONTH) if args.bad_cases else [])
    data = Input(files=files, good=good)
    data.md5 = {f.name: hashlib.md5(f.content).hexdigest() for f in files}  # the ETag of a single PUT
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400_000, help="good rows in all (default 400000)")
    parser.add_argument("--files", type=int, default=4, help="good files to spread them over (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the medians are reported (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-cases", action="store_true", help="also upload the bad files of the generator")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="results folder")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.files < 1 or args.repeat < 1:
        parser.error("--rows, --files and --repeat must be >= 1")
    if args.files > args.rows:
        parser.error("--files must not exceed --rows (every good file has at least one row)")

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{args.rows}-{args.files}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    try:
        base_env = project_environment()
        airflow_home = out / "airflow"
        base_env.update(
            {
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # the [DAG TEST] lines are INFO
                "PYTHONUNBUFFERED": "1",
            }
        )
        # This process reads the same settings and connections (Airflow's own home included).
        os.environ.update({k: base_env[k] for k in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")})
        for name in ("AIRFLOW_CONN_SALESFLOW_MYSQL", "SALESFLOW_ENV"):
            os.environ.setdefault(name, base_env[name])
        info = machine()  # imports Airflow, which sets up logging: quiet the schema lines after it
        logging.getLogger("salesflow.db").setLevel(logging.WARNING)
        ensure_airflow_db(airflow_home, base_env)

        started = time.perf_counter()
        data = generate(args)
        generate_seconds = time.perf_counter() - started
        size = sum(len(f.content) for f in data.files)
        print(
            f"bench: {data.good_rows:,} good rows in {len(data.good):,} files"
            f"{' + bad cases' if args.bad_cases else ''}, {size / MB:.1f} MB, "
            f"generated in {generate_seconds:.1f} s; {args.repeat} repeat(s)",
            flush=True,
        )
        repeats = []
        for index in range(1, args.repeat + 1):
            try:
                repeats.append(run_repeat(index, data, out, stem, base_env))
            except BenchError as error:
                raise BenchError(f"repeat {index}: {error}") from None
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        with contextlib.suppress(OSError):
            (out / f"tmp-{os.getpid()}").rmdir()  # only if empty: a failed repeat keeps its folders

    report = {
        "benchmark": f"{DAG_ID} end to end against the floors",
        "parameters": {
            "rows": args.rows,
            "files": args.files,
            "repeat": args.repeat,
            "seed": args.seed,
            "bad_cases": args.bad_cases,
            "start_month": f"{START_MONTH:%Y-%m}",
            "months": MONTHS,
        },
        "input": {
            "files_uploaded": len(data.files),
            "good_files": len(data.good),
            "good_rows": data.good_rows,
            "bytes_uploaded": size,
            "good_bytes": sum(len(f.content) for f in data.good),
            "generate_seconds": round(generate_seconds, 3),
        },
        "machine": info,
        "method": {
            "e2e": "first [DAG TEST] task start to 'DagRun Finished' (sensor to end of run)",
            "tasks": "task_instance start_date/end_date in Airflow's metadata DB",
            "memory": f"psutil RSS of the airflow process tree every {SAMPLE_SECONDS} s",
            "s3_download": f"boto3 download_file, {FLOOR_PART_BYTES // MB} MB parts, {FLOOR_THREADS} threads",
            "csv_parse": "pyarrow.csv.read_csv of every good file",
            "mysql_load": "one LOAD DATA LOCAL INFILE (PyMySQL) of all good rows into a table with a "
            "primary key only, committed",
            "ratio": "e2e_seconds / floors_sum_seconds, per repeat; median of the ratios",
        },
        "repeats": repeats,
        "median": medians(repeats),
    }
    path = out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table(report))
    print(f"\nbench: results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
