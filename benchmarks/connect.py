"""The run's job on a warm Spark Connect server against the same job through spark-submit (issue 24):
the wall time of the job's process, from its start to its exit, on the same generated file.

    source scripts/env.sh && python -m benchmarks.connect [--rows 10000] [--repeat 3] [--master local[2]]

Everything is its own and stopped by PID at the end: a MariaDB in a temporary folder, a moto server,
and a Connect server (``include.spark_connect``). Each repeat gets a bucket and database of its own,
and the run up to its job (claim, download with the file checks, quarantine: the DAG's functions);
then the job runs once each way, alternately. The spark-submit command is the operator's (the jars,
the Spark conf with S3A, the driver's JVM options: the class-data-sharing archive, C1 only below
100 MB). The Connect job is a fresh Python process with ``SPARK_REMOTE`` set. The first job on the
server (a cold JVM) is reported apart from the repeats.

    python -m benchmarks.connect --memory-runs 50

The server's memory run after run (issue 24): the Connect job alone, that many times on one server,
and after each job the RSS of its JVM and, every ``HEAP_EVERY`` jobs, its live heap after a full
collection (``jcmd GC.run``, then ``GC.heap_info``): a job that left anything behind on the server
(a session, a cached frame, a view) shows as a live heap that grows; the cached frames it holds
are counted too (``include.spark_connect.cached_frames``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from benchmarks.common import BIN, ROOT

JOB = ROOT / "spark_jobs" / "transform.py"
AS_OF = date(2024, 6, 30)
S3_KEYS = ("sf-bench-access-key", "sf-bench-secret-key")
HEAP_EVERY = 5
HEAP_USED = re.compile(r"used (\d+)K")
STEP = re.compile(r"transform: (?P<step>[A-Za-z ]+?)(?: of \d+ files)? took (?P<seconds>[0-9.]+) s")


def environment(scratch: Path) -> None:
    """This process's settings: Airflow's home (no metadata DB is needed), the dev config."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(scratch / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "SALESFLOW_ENV": "dev",
            "SALESFLOW__LOCAL__ERROR_DIR": str(scratch / "error"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
        }
    )


def prepared_run(
    tag: str, content: bytes, bucket: str | None = None, run_id: str = "bench"
) -> tuple[str, int]:
    """A database (and, unless ``bucket`` is given, a bucket) of its own with the file claimed,
    checked and staged by run ``run_id``: the spec's URI and the input's size."""
    from salesflow.config import load_settings
    from salesflow.db import init_database
    from salesflow.operators.quarantine import QuarantineOperator
    from salesflow.run_files import spec_uri
    from salesflow.steps.claim import claim_new_files
    from salesflow.steps.download import download_claimed_files
    from salesflow.storage import s3_hook

    os.environ["SALESFLOW__STORAGE__BUCKET"] = bucket or f"sf-bench-connect-{tag}"
    os.environ["SALESFLOW__MYSQL__DATABASE"] = f"sf_bench_connect_{tag}"
    settings = load_settings()
    hook = s3_hook()
    hook.create_bucket(bucket_name=settings.bucket)
    init_database(settings)
    hook.load_bytes(content, key="sales_data/sales.csv", bucket_name=settings.bucket, replace=True)
    claim_new_files(settings, run_id, lambda _run: "success")
    download_claimed_files(settings, run_id, AS_OF)
    QuarantineOperator(task_id="quarantine_invalid_files", stage="intake").execute({"run_id": run_id})
    return spec_uri(settings, run_id), len(content)


def submit_command(spec: str, input_bytes: int, master: str) -> list[str]:
    """spark-submit of the job as ``SalesflowSparkSubmitOperator`` makes it."""
    from salesflow.config import load_settings
    from salesflow.operators.spark import driver_java_options
    from salesflow.spark_setup import S3Access, spark_jars

    settings = load_settings()
    conf = {**settings.spark_conf, **S3Access.from_environment().spark_conf()}
    conf = driver_java_options(conf, input_bytes)
    command = [str(BIN / "spark-submit"), "--master", master, "--jars", ",".join(spark_jars(settings))]
    for name, value in sorted(conf.items()):
        command += ["--conf", f"{name}={value}"]
    return [*command, str(JOB), "--spec", spec]


def timed_job(command: list[str], env: dict[str, str], log: Path) -> tuple[float, dict[str, float]]:
    """The job's wall time, and the time of each of its steps as it logs them (``... took N s``)."""
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    lines = log.read_text(errors="replace").splitlines()
    if done.returncode != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"the job failed (exit {done.returncode}):\n{tail}")
    steps = {}
    for line in lines:
        if found := STEP.search(line):
            steps[found["step"]] = float(found["seconds"])
    return elapsed, steps


def check_loaded(rows: int) -> None:
    """The job did load the file (a job that found nothing to do would be fast for nothing)."""
    from salesflow.config import load_settings
    from salesflow.db import connect

    with connect(load_settings()) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT status, rows_read FROM file_ledger")
        found = [tuple(row) for row in cursor.fetchall()]
    assert found == [("LOADED", rows)], f"the job did not load the file: {found}"


def drop_database() -> None:
    from salesflow.config import load_settings
    from salesflow.db import connect

    with connect(load_settings(), database=None) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{os.environ['SALESFLOW__MYSQL__DATABASE']}`")


def live_heap_mb(pid: int) -> float:
    """The server's heap in use after a full collection (what it still holds), in MB."""
    subprocess.run(["jcmd", str(pid), "GC.run"], check=True, capture_output=True, timeout=120)
    info = subprocess.run(["jcmd", str(pid), "GC.heap_info"], check=True, capture_output=True, text=True)
    found = HEAP_USED.search(info.stdout)
    if found is None:
        raise RuntimeError(f"no heap figure in jcmd GC.heap_info: {info.stdout[:300]}")
    return round(int(found[1]) / 1024, 1)


def measure_memory(args: argparse.Namespace, scratch: Path, content: bytes, job_env: dict[str, str]) -> dict:
    """The same job ``args.memory_runs`` times on one server: its JVM's RSS after each, its live heap
    every HEAP_EVERY jobs (and after the first)."""
    import psutil

    from include.spark_connect import SparkConnectServer, cached_frames

    rss, threads, heap, frames, times = [], [], {}, {}, []
    with SparkConnectServer(scratch / "connect", port=0, master=args.master) as server:
        pid = server.running_pid()
        connect_env = {**job_env, **server.environment()}
        # One bucket for every job, as in production: S3A keeps a file system (and its thread
        # pools) per bucket for the JVM's life, so a bucket per job would grow the server by them.
        bucket = f"sf-bench-connect-m{uuid.uuid4().hex[:6]}"
        for index in range(1, args.memory_runs + 1):
            spec, _ = prepared_run(f"m{index}", content, bucket=bucket, run_id=f"bench-{index}")
            command = [sys.executable, str(JOB), "--spec", spec]
            elapsed, _ = timed_job(command, connect_env, scratch / f"memory-{index}.log")
            check_loaded(args.rows)
            drop_database()
            times.append(round(elapsed, 1))
            rss.append(round(psutil.Process(pid).memory_info().rss / 1024 / 1024, 1))
            threads.append(psutil.Process(pid).num_threads())
            if index == 1 or index % HEAP_EVERY == 0:
                heap[index] = live_heap_mb(pid)
                frames[index] = cached_frames(pid)
            print(
                f"bench: job {index}: {elapsed:.1f} s, server RSS {rss[-1]} MB, {threads[-1]} threads, "
                f"heap {heap.get(index)}, "
                f"cached frames {frames.get(index)}",
                flush=True,
            )
    return {
        "rows": args.rows,
        "master": args.master,
        "jobs": args.memory_runs,
        "job_seconds": times,
        "server_rss_mb_after_each_job": rss,
        "server_threads_after_each_job": threads,
        "server_live_heap_mb_after_full_gc": heap,
        "server_cached_frames": frames,
        "rss_first_last_max_mb": [rss[0], rss[-1], max(rss)],
        "load_average_after": os.getloadavg(),
    }


def measure(args: argparse.Namespace, scratch: Path) -> dict:
    from include.local_s3 import MotoServer, connection_json
    from include.local_services import MariaDB
    from include.sample_data.generate import good_files
    from include.spark_connect import SparkConnectServer

    (generated,) = good_files(rows=args.rows, files=1, seed=24, start_month=date(2024, 3, 1), months=2)
    with MariaDB(scratch / "mysql") as mysql, MotoServer(log_path=scratch / "moto.log") as s3:
        address = mysql.environment()
        os.environ["AIRFLOW_CONN_SALESFLOW_MYSQL"] = json.dumps(
            {
                "conn_type": "mysql",
                "host": address["SALESFLOW_MYSQL_HOST"],
                "port": int(address["SALESFLOW_MYSQL_PORT"]),
                "login": "root",
                "password": mysql.password,
                "extra": {"local_infile": True},
            }
        )
        os.environ["AIRFLOW_CONN_SALESFLOW_S3"] = connection_json(s3.endpoint, *S3_KEYS)
        from salesflow.spark_setup import S3Access

        s3_env = S3Access.from_connection().environment()
        os.environ.update(s3_env)
        job_env = {**os.environ, "SALESFLOW_JDBC_PASSWORD": mysql.password}
        if args.memory_runs:
            return measure_memory(args, scratch, generated.content, job_env)
        started = time.monotonic()
        with SparkConnectServer(scratch / "connect", port=0, master=args.master) as server:
            server_start = time.monotonic() - started
            connect_env = {**job_env, **server.environment()}
            times: dict[str, list[float]] = {"connect": [], "submit": []}
            steps: dict[str, list[dict[str, float]]] = {"connect": [], "submit": []}
            first = None
            for index in range(args.repeat + 1):
                for way in ("connect", "submit") if index % 2 else ("submit", "connect"):
                    if index == 0 and way == "submit":
                        continue  # the first round warms the server only
                    spec, size = prepared_run(f"{way}{index}{uuid.uuid4().hex[:6]}", generated.content)
                    log = scratch / f"{way}-{index}.log"
                    if way == "connect":
                        command = [sys.executable, str(JOB), "--spec", spec]
                        elapsed, took = timed_job(command, connect_env, log)
                    else:
                        elapsed, took = timed_job(submit_command(spec, size, args.master), job_env, log)
                    check_loaded(args.rows)
                    drop_database()
                    if index == 0:
                        first = elapsed
                    else:
                        times[way].append(elapsed)
                        steps[way].append(took)
                    which = "(cold server)" if index == 0 else index
                    print(f"bench: {way} {which}: {elapsed:.1f} s {took}", flush=True)
    return {
        "rows": args.rows,
        "master": args.master,
        "server_start_s": round(server_start, 1),
        "connect_cold_server_s": round(first or 0, 1),
        "connect_s": [round(t, 1) for t in times["connect"]],
        "submit_s": [round(t, 1) for t in times["submit"]],
        "connect_median_s": round(statistics.median(times["connect"]), 1),
        "submit_median_s": round(statistics.median(times["submit"]), 1),
        "step_medians_s": {
            way: {step: round(statistics.median(r[step] for r in runs), 1) for step in runs[0]}
            for way, runs in steps.items()
        },
        "load_average_after": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.connect", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--memory-runs", type=int, default=0, help="the server's memory over this many jobs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="salesflow-bench-connect-") as folder:
        environment(Path(folder))
        print(json.dumps(measure(args, Path(folder)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
