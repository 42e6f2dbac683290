"""What a salesflow Spark job needs around its work: the session, JDBC reads, ``main()``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from salesflow.contracts import SPARK_REMOTE_ENV, JdbcTarget, JobSpec, loads
from salesflow.isolation import OUTAGE
from salesflow.sql import identifier
from spark_jobs import object_store
from spark_jobs.mysql_load import JDBC_PASSWORD_ENV, failure_kind

# What the job's results depend on, set on its own session: a Connect server's sessions start from
# the server's defaults and are isolated from each other, so nothing else can set them for the job.
SESSION_CONF = {"spark.sql.session.timeZone": "UTC"}


def build_session(app_name: str, remote: str | None = None) -> SparkSession:
    """The job's session: a Spark Connect client when ``remote`` (or SPARK_REMOTE) names a server
    (``sc://host:port``; its token, if any, in pyspark's SPARK_CONNECT_AUTHENTICATE_TOKEN), else the
    session of a job run by spark-submit (master, jars and conf come from spark-submit).

    On a Connect server, ``stop()`` at the job's end releases this session only; the server, its
    JVM and its other sessions go on.
    """
    remote = remote or os.environ.get(SPARK_REMOTE_ENV)
    builder = SparkSession.builder.appName(app_name).config(map=SESSION_CONF)
    # The UI is a setting of the server's JVM on Connect (off there too: include/spark_connect.py).
    builder = builder.remote(remote) if remote else builder.config("spark.ui.enabled", "false")
    session = builder.getOrCreate()
    if remote:
        from pyspark.sql.connect.client.retries import DefaultPolicy

        # pyspark waits at least 10 minutes for a server that went away; a job gives it about 30 s
        # (50 ms growing fourfold to 10 s, 7 retries), then fails as an outage and its task retries.
        session.client.set_retry_policies([DefaultPolicy(max_retries=7, max_backoff=10_000)])
    return session


def read_jdbc_table(spark: SparkSession, jdbc: JdbcTarget, database: str, table: str) -> DataFrame:
    """A table read over JDBC; the password comes from the environment only, never argv."""
    return (
        spark.read.format("jdbc")
        .option("url", jdbc.url(database))
        .option("driver", jdbc.driver)
        .option("user", jdbc.user)
        .option("password", os.environ.get(JDBC_PASSWORD_ENV, ""))
        .option("dbtable", identifier(table))
        .load()
    )


def run_job(app_name: str, description: str, run: Callable[[SparkSession, JobSpec], Any]) -> int:
    """main() of a salesflow job: parse --spec (and --files), log to stdout (the task log), run, stop
    the session."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="the run's job spec (s3a://...), written by the DAG")
    parser.add_argument(
        "--files", help="only these ledger ids of the spec, comma-separated (a part of a batch that failed)"
    )
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = loads(object_store.read_bytes(args.spec), JobSpec)
    if args.files is not None:  # "" is no file: the job on nothing (a probe of its environment)
        only = {int(file_id) for file_id in args.files.split(",") if file_id}
        spec = dataclasses.replace(spec, files=[f for f in spec.files if f.file_id in only])
    spark = build_session(app_name)
    try:
        run(spark, spec)
    except Exception as error:
        # One line that says what failed, before the traceback the task log also gets; a lost
        # service says so (``outage:``), and the task then retries the batch without narrowing it.
        outage = OUTAGE + " " if failure_kind(error) == "infrastructure" else ""
        logging.getLogger(app_name).error(
            "%s failed: %s%s: %s", app_name, outage, type(error).__name__, error
        )
        raise
    finally:
        spark.stop()
    return 0
