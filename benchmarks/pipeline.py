"""End-to-end benchmark of sales_pipeline, side by side with this machine's floors.

    python -m benchmarks.pipeline --rows 400000 --files 4 --repeat 3 --out var/bench
    python -m benchmarks.pipeline --rows 200000 --files 10000 --repeat 3 --out var/bench

Each case starts from nothing: its own moto S3 server (a free loopback port, stopped by PID), bucket,
scratch database (``sf_bench_<pid>_<tag>``, dropped at the end) and work and error folders. It
uploads the seeded files and runs ``airflow dags test sales_pipeline <logical date>`` (the
environment of ``scripts/env.sh``, Airflow's SQLite metadata DB in ``<out>/airflow``, a logical date
of its own for every run), sampling the memory of the Airflow process and of the Spark JVMs it
starts. It checks that the run succeeded and that every good file is ``LOADED`` with all its rows.
It reports every task the run had, from Airflow's metadata DB, and the Spark tasks (those whose
operator is a ``SparkSubmitOperator``) together.

Then, on the same bytes, it measures the floors (S3 download, CSV parse, one ``LOAD DATA``); the
ratio is the run's end-to-end time (sensor start to run end) over the sum of the floors.

Medians over the repeats are printed and saved, with every repeat, in
``<out>/bench-<rows>-<files>-<timestamp>.json``. The machine is shared and noisy: compare ratios
measured in the same sitting, not seconds across days.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import summary
from benchmarks.airflow_run import spark_task_ids
from benchmarks.common import ROOT, BenchError
from benchmarks.modes import run_floors
from benchmarks.services import Sitting, airflow_environment, ensure_airflow_db


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400_000, help="good rows in all (default 400000)")
    parser.add_argument("--files", type=int, default=4, help="good files to spread them over (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the medians are reported (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-cases", action="store_true", help="also upload the bad files of the generator")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="results folder")
    args = parser.parse_args(argv)
    if min(args.rows, args.files, args.repeat) < 1:
        parser.error("--rows, --files and --repeat must be >= 1")
    if args.files > args.rows:
        parser.error("--files must not exceed --rows (every good file has at least one row)")
    return args


def stem(args: argparse.Namespace) -> str:
    """The results' file name without its suffix."""
    return f"bench-{args.rows}-{args.files}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def prepare(out: Path, name: str) -> tuple[Sitting, dict[str, Any]]:
    """The environment, Airflow's metadata DB, the machine's description, the DAG's Spark tasks."""
    base_env = airflow_environment(out)
    info = summary.machine()  # imports Airflow, which sets up logging: quiet the schema lines after it
    logging.getLogger("salesflow.db").setLevel(logging.WARNING)
    ensure_airflow_db(base_env)
    spark = spark_task_ids(Path(base_env.get("AIRFLOW__CORE__DAGS_FOLDER") or ROOT / "dags"))
    print(f"bench: the DAG's Spark tasks: {', '.join(sorted(spark)) or 'none'}", flush=True)
    return Sitting(out, name, base_env, spark), info


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = stem(args)
    try:
        sitting, info = prepare(out, name)
        report = run_floors(args, sitting, info)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        with contextlib.suppress(OSError):
            (out / f"tmp-{os.getpid()}").rmdir()  # only if empty: a failed repeat keeps its folders
    summary.save(report, out / f"{name}.json", summary.floors_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
