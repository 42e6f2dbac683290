"""End-to-end benchmark of sales_pipeline: against this machine's floors, or a month with history.

    python -m benchmarks.pipeline --rows 400000 --files 4 --repeat 3 --out var/bench
    python -m benchmarks.pipeline --rows 200000 --files 10000 --repeat 3 --out var/bench
    python -m benchmarks.pipeline --history --history-facts 2000000 --rows 10000 --repeat 3

The sitting runs one moto S3 server (a free loopback port, stopped by PID) and, unless ``--spark
submit``, one Spark Connect server in front of it, as ``make airflow`` does: every job is a client of
that warm server, whose first (untimed) run loads and compiles its classes. Each case starts from
nothing else: its own bucket, scratch database (``sf_bench_<pid>_<tag>``, dropped at the end) and
work and error folders. It uploads the seeded files and runs ``airflow dags test sales_pipeline
<logical date>`` (the environment of ``scripts/env.sh``, Airflow's SQLite metadata DB in
``<out>/airflow``, a logical date of its own for every run), sampling the memory of the Airflow
process, of the Spark JVMs it starts and of the Connect server. It checks that the run succeeded and
that every good file is ``LOADED`` with all its rows. It reports every task the run had, from
Airflow's metadata DB, and the Spark tasks (those whose operator is a ``SparkSubmitOperator``)
together, and landed to committed (the object's LastModified to the ledger's LOADED).

- Default mode: then, on the same bytes, the floors (S3 download, CSV parse, one ``LOAD DATA``); the
  ratio is the run's end-to-end time (sensor start to run end) over the sum of the floors. Then one
  file of ``--latency-rows`` rows (10,000), as many times: the most common daily case.
- ``--history`` (issue #10): a ``--rows`` file of one month run on an empty database, and run after a
  first DAG run loaded ``--history-facts`` facts of the same month (``--history-files`` files, not
  compared); the ratio is the busy run over the empty one.

Medians, with the minimum and maximum, are printed and saved, with every repeat, in
``<out>/bench-<rows>-<files>-<timestamp>.json`` (``bench-history-<facts>-<rows>-...`` for the
history). The machine is shared and noisy: compare ratios measured in the same sitting, not seconds
across days.
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
from benchmarks.modes import run_floors, run_history, warm_up
from benchmarks.services import SPARK_WAYS, Sitting, airflow_environment, ensure_airflow_db, sitting_services
from salesflow.intake import EXTENSIONS

DEFAULTS = {False: {"rows": 400_000, "files": 4}, True: {"rows": 10_000, "files": 1}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, help="good rows in all (default 400000; 10000 with --history)")
    parser.add_argument(
        "--files", type=int, help="good files to spread them over (default 4; 1 with --history)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; the medians are reported (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-cases", action="store_true", help="also upload the bad files of the generator")
    parser.add_argument("--format", default="csv", choices=sorted(EXTENSIONS), help="the good files' format")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="results folder")
    parser.add_argument(
        "--spark",
        choices=SPARK_WAYS,
        default="connect",
        help="the jobs as clients of the sitting's warm Spark Connect server (default), or spark-submit",
    )
    parser.add_argument(
        "--latency-rows",
        type=int,
        default=10_000,
        help="then one file of this many rows, --repeat times: end to end, landed to committed (0: none)",
    )
    history = parser.add_argument_group("history mode (issue #10)")
    history.add_argument("--history", action="store_true", help="the file into an empty month and a busy one")
    history.add_argument("--history-facts", type=int, default=2_000_000, help="facts already in the month")
    history.add_argument("--history-files", type=int, default=10, help="files they are loaded from")
    args = parser.parse_args(argv)
    for name, value in DEFAULTS[args.history].items():
        setattr(args, name, value if getattr(args, name) is None else getattr(args, name))
    if min(args.rows, args.files, args.repeat, args.history_facts, args.history_files) < 1:
        parser.error("--rows, --files, --repeat, --history-facts and --history-files must be >= 1")
    if args.files > args.rows or args.history_files > args.history_facts:
        parser.error("a file has at least one row: --files <= --rows, --history-files <= --history-facts")
    if args.latency_rows < 0:
        parser.error("--latency-rows is 0 (none) or a number of rows")
    if args.history and args.bad_cases:
        parser.error("--bad-cases goes with the default mode, not with --history")
    return args


def stem(args: argparse.Namespace) -> str:
    """The results' file name without its suffix."""
    now = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if args.history:
        return f"bench-history-{args.history_facts}-{args.rows}-{now}"
    fmt = "" if args.format == "csv" else f"-{args.format}"
    return f"bench-{args.rows}-{args.files}{fmt}-{now}"


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
        with sitting_services(sitting, args.spark):
            warm_up(sitting)
            report = (run_history if args.history else run_floors)(args, sitting, info)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        with contextlib.suppress(OSError):
            (out / f"tmp-{os.getpid()}").rmdir()  # only if empty: a failed repeat keeps its folders
    table = summary.history_table(report) if args.history else summary.floors_table(report)
    summary.save(report, out / f"{name}.json", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
