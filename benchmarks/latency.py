"""make bench-latency: landed to committed for a file that lands with nobody pressing anything.

Run by ``scripts/bench_latency.sh`` against the stack of ``make airflow`` (the real scheduler,
triggerer and api-server, its S3 events wired, its jobs on its Spark Connect server): the DAG is
switched on, then ``--files`` files of ``--rows`` rows are uploaded one after another, each once the
run of the one before has ended (the stack idle: ``max_active_runs`` is 1, so a file that lands
while a run publishes, archives and reports waits for it; ``--back-to-back``: each once the one
before is LOADED, which measures that wait too). Landed is the object's LastModified, committed
the ledger's move to LOADED (in the load's transaction); both are read from the ledger afterwards.
Prints and writes (JSON) the median, the 95th percentile (nearest rank), the minimum and the maximum.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from include.sample_data.generate import good_files
from salesflow.config import load_settings
from salesflow.dashboard.panels import nearest_rank
from salesflow.db import connect
from salesflow.sql import render
from salesflow.storage import s3_hook

LOADED_WITHIN_SECONDS = 600
JOB_TASK = "transform_and_load"
BENCH_SQL = Path(__file__).resolve().parent / "sql"


def api_token(base: str, password: str) -> str:
    """A token from /auth/token, as the UI gets one."""
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def switch_dag_on(base: str, token: str) -> None:
    """The DAG unpaused through the REST API."""
    patch = urllib.request.Request(
        f"{base}/api/v2/dags/sales_pipeline",
        data=json.dumps({"is_paused": False}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="PATCH",
    )
    urllib.request.urlopen(patch, timeout=30).close()


def api_get(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(f"{base}/api/v2/{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def runs_in_flight(base: str, token: str) -> int:
    """The DAG's runs that are queued or running."""
    found = api_get(base, token, "dags/sales_pipeline/dagRuns?state=queued&state=running&limit=1")
    return int(found["total_entries"])


def moment(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def before_the_job(base: str, token: str) -> list[dict[str, float]]:
    """For each run of the DAG, from the REST API: the seconds from the run's start to the job's
    task's start, and how many of them passed between tasks (one task's end to the next's start:
    the scheduler's and the executor's part, what ``[scheduler] scheduler_idle_sleep_time`` bears on)."""
    runs = api_get(base, token, "dags/sales_pipeline/dagRuns?limit=100")["dag_runs"]
    found = []
    for run in runs:
        run_id = urllib.parse.quote(run["dag_run_id"], safe="")
        tasks = api_get(base, token, f"dags/sales_pipeline/dagRuns/{run_id}/taskInstances")["task_instances"]
        spans = {
            t["task_id"]: (moment(t["start_date"]), moment(t["end_date"])) for t in tasks if t["end_date"]
        }
        if JOB_TASK not in spans or not run.get("start_date"):
            continue
        job_start = spans[JOB_TASK][0]
        earlier = sorted(span for task, span in spans.items() if span[1] <= job_start)
        ends = [moment(run["start_date"])] + [end for _, end in earlier]
        starts = [start for start, _ in earlier] + [job_start]
        found.append(
            {
                "run_start_to_job_start": round(job_start - ends[0], 2),
                "between_tasks": round(sum(max(0.0, b - a) for a, b in zip(ends, starts, strict=True)), 2),
            }
        )
    return found


def wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LOADED_WITHIN_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench-latency: {what} after {LOADED_WITHIN_SECONDS} s")
        time.sleep(0.5)


def status_of(settings, key: str) -> str | None:
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(render("latency/status_of_key.sql", settings.tables, root=BENCH_SQL), (key,))
        row = cursor.fetchone()
    return row[0] if row else None


def latencies(settings, keys: list[str]) -> list[float]:
    """Seconds from landing to committed of each key, from the ledger (the database's clock in UTC)."""
    statement = render(
        "latency/landed_to_committed.sql", settings.tables, value_lists={"keys": len(keys)}, root=BENCH_SQL
    )
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(statement, keys)
        return sorted(float(value) for (value,) in cursor.fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency")
    parser.add_argument("--base", required=True, help="the api-server, http://127.0.0.1:PORT")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--back-to-back",
        action="store_true",
        help="the next file once this one is LOADED, not once its run ended",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    token = api_token(args.base, json.loads(args.password_file.read_text())["admin"])
    switch_dag_on(args.base, token)
    time.sleep(25)  # the watcher's trigger starts once the unpaused DAG is parsed again
    hook, keys = s3_hook(), []
    for index in range(args.files):
        start = date(2024, 5, 1)
        (generated,) = good_files(rows=args.rows, files=1, seed=500 + index, start_month=start, months=1)
        key = f"{settings.prefixes.source}latency_{index:03d}.csv"
        hook.load_bytes(generated.content, key=key, bucket_name=settings.bucket, replace=True)
        try:
            wait_until(lambda key=key: status_of(settings, key) == "LOADED", f"{key} not LOADED")
            keys.append(key)
            print(f"bench-latency: {key} LOADED", file=sys.stderr)
            if not args.back_to_back:
                wait_until(lambda: runs_in_flight(args.base, token) == 0, f"the run of {key} not over")
        except TimeoutError as error:
            print(error, file=sys.stderr)
            return 1
    seconds = latencies(settings, keys)
    result = {
        "rows_per_file": args.rows,
        "each_after": "the one before was LOADED" if args.back_to_back else "the run of the one before ended",
        "files": len(seconds),
        "median_seconds": round(statistics.median(seconds), 2),
        "p95_seconds": round(nearest_rank(seconds, 95), 2),
        "min_seconds": round(seconds[0], 2),
        "max_seconds": round(seconds[-1], 2),
        "each_seconds": [round(s, 2) for s in seconds],
    }
    runs = before_the_job(args.base, token)
    for name in ("run_start_to_job_start", "between_tasks"):
        result[f"{name}_median_seconds"] = (
            round(statistics.median(r[name] for r in runs), 2) if runs else None
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"landed to committed, {args.rows} rows a file, {len(seconds)} files one after another: "
        f"median {result['median_seconds']} s, p95 {result['p95_seconds']} s "
        f"(min {result['min_seconds']} s, max {result['max_seconds']} s); before the job, median of "
        f"{len(runs)} runs: {result['run_start_to_job_start_median_seconds']} s from the run's start, "
        f"{result['between_tasks_median_seconds']} s of it between tasks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
