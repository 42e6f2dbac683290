"""Measures the dashboard's endpoints on a database of production size (the README quotes it).

    python -m benchmarks.dashboard                 # 100,000 ledger rows, 2,000 runs, 5M facts
    python -m benchmarks.dashboard --facts 500000  # a quicker look

It fills a scratch MySQL database with ``INSERT ... SELECT`` from a digits table (no data crosses
the network: 5 million facts take about a minute), adds the Airflow runs to a scratch metadata DB
(SQLite) and files waiting in a moto S3 bucket, then calls every endpoint through the real app
with a real JWT and prints the median time of each. Everything it made is removed at the end
(``--keep`` leaves the database for a look with EXPLAIN).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from include.local_s3 import MotoServer, connection_json
from include.processes import free_port
from salesflow.db import connect, drop_database, execute_script, init_database
from salesflow.sql import render

BENCH_SQL = Path(__file__).resolve().parent / "sql"

RUN_SPACING_HOURS = 8  # 2,000 runs about three a day: some 22 months of history
FACTS_PER_STATEMENT = 1_000_000  # facts.sql counts with six digits


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=int, default=100_000, help="ledger rows (file versions)")
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--facts", type=int, default=5_000_000)
    parser.add_argument("--waiting", type=int, default=200, help="files waiting in the source prefix")
    parser.add_argument("--repeat", type=int, default=21, help="calls per endpoint (after 2 warm-ups)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, help="also write the medians here as JSON")
    return parser.parse_args()


def isolate(workdir: Path, s3_port: int) -> None:
    """The scratch database, metadata DB and S3 endpoint, before anything reads its settings."""
    os.environ.update(
        {
            "SALESFLOW__MYSQL__DATABASE": f"sf_dash_bench_{os.getpid()}",
            "SALESFLOW__STORAGE__BUCKET": f"sf-dash-bench-{os.getpid()}",
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{workdir / 'airflow' / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # No generated password to print: the token is made in-process for the admin user.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW_CONN_SALESFLOW_S3": connection_json(
                f"http://127.0.0.1:{s3_port}", "bench", "bench-secret"
            ),
        }
    )
    (workdir / "airflow").mkdir(parents=True)


@contextmanager
def timed(what: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    print(f"  {what}: {time.monotonic() - start:.1f} s", flush=True)


# ----------------------------------------------------------------------------------- the data
def run_sql(conn: Any, name: str, tables: Any, params: dict[str, Any] | None = None) -> None:
    """One statement of benchmarks/sql/dashboard with named values, or a whole script."""
    statement = render(f"dashboard/{name}.sql", tables, root=BENCH_SQL)
    if params is None:
        execute_script(conn, statement)
        return
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
    conn.commit()


def fill(conn: Any, settings: Any, args: argparse.Namespace) -> None:
    """Ledger, rejects, facts, marts and analytics: all INSERT ... SELECT inside MySQL."""
    tables = settings.tables
    shape = {
        "bucket": settings.bucket,
        "ledger": args.ledger,
        "runs": args.runs,
        "facts": args.facts,
        "per_run": max(args.ledger // args.runs, 1),
        "per_file": max(args.facts // args.ledger, 1),
        "spacing": RUN_SPACING_HOURS,
    }
    run_sql(conn, "digits", tables)
    with timed("ledger and rejects"):
        run_sql(conn, "ledger", tables, shape)
        run_sql(conn, "rejects", tables)
    with timed("facts"):
        run_sql(conn, "facts_prepare", tables)
        for first in range(0, args.facts, FACTS_PER_STATEMENT):
            run_sql(conn, "facts", tables, {**shape, "first": first})
        run_sql(conn, "facts_finish", tables)
    with timed("marts and analytics"):
        run_sql(conn, "marts_and_analytics", tables)


def add_dag_runs(runs: int) -> None:
    from datetime import UTC, datetime, timedelta

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    now = datetime.now(UTC)
    with create_session() as session:
        for i in range(runs):
            at = now - timedelta(hours=RUN_SPACING_HOURS * (runs - 1 - i))
            run = DagRun(
                dag_id="sales_pipeline",
                run_id=f"scheduled__{at.isoformat()}",
                run_type=DagRunType.SCHEDULED,
                state=DagRunState.SUCCESS if i % 20 else DagRunState.FAILED,
                start_date=at - timedelta(minutes=5),
                run_after=at,
            )
            run.end_date = at
            session.add(run)


def upload_waiting(settings: Any, count: int) -> None:
    from salesflow.storage import concurrently, s3_hook

    hook = s3_hook()
    hook.create_bucket(bucket_name=settings.bucket)
    client = hook.get_conn()
    keys = [f"{settings.prefixes.source}incoming/file{i:05d}.csv" for i in range(count)]
    concurrently(lambda key: client.put_object(Bucket=settings.bucket, Key=key, Body=b"a,b\n1,2\n"), keys)


# ------------------------------------------------------------------------------- measurement
def token() -> str:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


def measure(settings: Any, repeat: int) -> dict[str, dict[str, float]]:
    """Median milliseconds per endpoint: the JSON and the HTML fragment the page loads."""
    from fastapi.testclient import TestClient

    from salesflow.dashboard.app import create_app
    from salesflow.dashboard.render import PANELS

    client = TestClient(create_app(settings), headers={"Authorization": f"Bearer {token()}"})
    medians: dict[str, dict[str, float]] = {}
    for name in PANELS:
        medians[name] = {}
        for kind in ("api", "panels"):
            times = []
            for i in range(repeat + 2):
                start = time.perf_counter()
                response = client.get(f"/{kind}/{name}")
                elapsed = (time.perf_counter() - start) * 1000
                response.raise_for_status()
                if i >= 2:
                    times.append(elapsed)
            medians[name][kind] = round(statistics.median(times), 1)
    return medians


def sizes(conn: Any, tables: Any) -> dict[str, int]:
    with conn.cursor() as cursor:
        cursor.execute(render("dashboard/sizes.sql", tables, root=BENCH_SQL))
        names = [column[0] for column in cursor.description]
        return dict(zip(names, (int(v) for v in cursor.fetchone()), strict=True))


def build(args: argparse.Namespace, settings: Any, conn: Any) -> None:
    print(
        f"filling {settings.database}: {args.ledger:,} ledger rows, {args.runs:,} runs, {args.facts:,} facts"
    )
    fill(conn, settings, args)
    with timed("Airflow runs and waiting files"):
        subprocess.run(["airflow", "db", "migrate"], check=True, capture_output=True)
        add_dag_runs(args.runs)
        upload_waiting(settings, args.waiting)


def report(medians: dict[str, dict[str, float]], counts: dict[str, int], out: Path | None) -> None:
    print(f"\nsizes: {json.dumps(counts)}")
    print(f"{'endpoint':<14}{'JSON ms':>10}{'panel ms':>10}")
    for name, times in medians.items():
        print(f"{name:<14}{times['api']:>10.1f}{times['panels']:>10.1f}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"sizes": counts, "median_ms": medians}, indent=2))


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sf-dash-bench-"))
    s3_port = free_port()
    isolate(workdir, s3_port)
    from salesflow.config import load_settings

    settings = load_settings()
    try:
        with MotoServer(s3_port, workdir / "moto.log"):
            init_database(settings)
            with connect(settings) as conn:
                build(args, settings, conn)
                counts = sizes(conn, settings.tables)
            report(measure(settings, args.repeat), counts, args.out)
    finally:
        if not args.keep:
            drop_database(settings)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
